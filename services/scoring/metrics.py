"""scoring's own metrics (the consumer and HTTP ones are shared), and the rebuild's."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PROFILES_CREATED = Counter("scrm_scoring_profiles_created_total", "Fan profiles created.")
EVENTS_APPLIED = Counter(
    "scrm_scoring_events_applied_total", "Fan events applied to profiles, by type.", ["type"]
)
TIER_CHANGES = Counter(
    "scrm_scoring_tier_changes_total", "Profiles that moved to a tier, by the tier.", ["tier"]
)
LIFECYCLE_CHANGES = Counter(
    "scrm_scoring_lifecycle_changes_total",
    "Profiles moved to a lifecycle stage by time passing, by the stage.",
    ["lifecycle"],
)
PROFILES_RESCORED = Counter(
    "scrm_scoring_profiles_rescored_total",
    "Profiles rescored by time passing, round and round in key order (SCORING_RESCORE_BATCH).",
)
CUT_POINT_REFRESHES = Counter(
    "scrm_scoring_cut_point_refreshes_total", "Brands whose cut points were recomputed and moved."
)
DRIFT_REFRESHES = Counter(
    "scrm_scoring_drift_refreshes_total",
    "Brands whose cut points were refreshed before their turn: their fans' tiers drifted "
    "(SCORING_CUT_POINTS_DRIFT_SHARE).",
)
# The cut point refreshes counter moves only when cut points do; this says the refresh runs.
CUT_POINTS_REFRESHED = Gauge(
    "scrm_scoring_cut_points_refreshed_timestamp_seconds",
    "Unix time this replica last committed a cut point refresh, moved or not (0 before its first).",
)
IDENTITIES_REGROUPED = Counter(
    "scrm_scoring_identities_regrouped_total",
    "Fan identities whose person was worked out again: an identifier seen on an identity for "
    "the first time, a merge or an unmerge.",
)
IDENTITY_DECISIONS = Counter(
    "scrm_scoring_identity_decisions_total",
    "Operators' merges and unmerges applied, by the decision (a replay of an older one is not "
    "counted).",
    ["decision"],
)
EVENT_LAG = Histogram(
    "scrm_scoring_event_lag_seconds",
    "From an event's time (ingest produced it) to the commit of the profile it changed.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30,
             60, 300),
)  # fmt: skip

# The rebuild (`python -m services.scoring rebuild`, services/scoring/rebuild.py) is a process of
# its own and serves only these: what it replays is not the service's traffic, and counting it
# with the service's metrics (events applied, their lag) would make those lie.
REBUILD_REGISTRY = CollectorRegistry()
REBUILD_PHASES = ("preparing", "reading", "ranking", "rescoring", "swapping", "done", "failed")
REBUILD_PHASE = Gauge(
    "scrm_scoring_rebuild_phase",
    "1 for the phase the rebuild is in, 0 for the others.",
    ["phase"],
    registry=REBUILD_REGISTRY,
)
REBUILD_EVENTS_TO_READ = Gauge(
    "scrm_scoring_rebuild_events_to_read",
    "Records of the events topic from its first offsets to the end offsets last taken.",
    registry=REBUILD_REGISTRY,
)
REBUILD_EVENTS_READ = Gauge(
    "scrm_scoring_rebuild_events_read",
    "Records of the events topic the rebuild has read.",
    registry=REBUILD_REGISTRY,
)
REBUILD_EVENTS_APPLIED = Gauge(
    "scrm_scoring_rebuild_events_applied",
    "Fan events the rebuild applied to profiles (the first copy of each event id).",
    registry=REBUILD_REGISTRY,
)
REBUILD_EVENTS_SKIPPED = Gauge(
    "scrm_scoring_rebuild_events_skipped",
    "Records the rebuild left out: not an event, or an event whose scoring failed.",
    registry=REBUILD_REGISTRY,
)
REBUILD_PROFILES_RESCORED = Gauge(
    "scrm_scoring_rebuild_profiles_rescored",
    "Rebuilt profiles rescored at the rebuild's instant.",
    registry=REBUILD_REGISTRY,
)
