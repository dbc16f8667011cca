"""scoring's own metrics (the consumer and HTTP ones are shared)."""

from prometheus_client import Counter

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
CUT_POINT_REFRESHES = Counter(
    "scrm_scoring_cut_point_refreshes_total", "Brands whose cut points were recomputed and moved."
)
