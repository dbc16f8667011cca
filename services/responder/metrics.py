"""responder's own metrics (the consumer and HTTP ones are shared). Labels are bounded: the
platform (a fixed list), the target (three) and the outcome."""

from prometheus_client import Counter, Gauge, Histogram

INBOUND_MESSAGES = Counter(
    "scrm_responder_inbound_messages_total", "Fan messages and comments that need an answer."
)
# From 30 s to 48 h: a brand answering in minutes and one answering in a day both read here.
LATENCY_BUCKETS = (30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 14400, 28800, 86400,
                   172800)  # fmt: skip
REPLY_LATENCY = Histogram(
    "scrm_responder_reply_latency_seconds",
    "Business time from a fan's message to the agent's reply, pauses left out, by platform and "
    "target (first_reply, next_reply).",
    ["platform", "target"],
    buckets=LATENCY_BUCKETS,
)
SLA_OUTCOMES = Counter(
    "scrm_responder_sla_total",
    "SLA clocks' events, by target and what happened: started, warning, met, breached, paused, "
    "resumed, cancelled (resolved unanswered).",
    ["target", "event"],
)
BREACH_DETECTION = Histogram(
    "scrm_responder_breach_detection_seconds",
    "From a deadline to the commit of its breach (the timers' lag behind the clock).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TIMERS_PENDING = Gauge(
    "scrm_responder_timers_pending", "Timers this replica holds: deadlines, warnings, snooze ends."
)
OPEN_CONVERSATIONS = Gauge(
    "scrm_responder_open_conversations",
    "Conversations not resolved, by status (open: waiting on an agent; pending: on the fan; "
    "snoozed).",
    ["status"],
)
OLDEST_UNANSWERED = Gauge(
    "scrm_responder_oldest_unanswered_age_seconds",
    "Age of the oldest fan message still waiting for an answer (0: none waits).",
)
UNANSWERED_SHARE = Gauge(
    "scrm_responder_unanswered_share",
    "Share of the conversations not resolved that wait on an agent (0 to 1).",
)
TIME_TO_ASSIGNMENT = Histogram(
    "scrm_responder_time_to_assignment_seconds",
    "From the fan's earliest unanswered message to an agent taking the conversation.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400),
)
REASSIGNED = Counter(
    "scrm_responder_reassigned_total",
    "Conversations taken from an agent and put back in the queue, by why: agent_offline, "
    "warning_unanswered.",
    ["reason"],
)
CLAIMS = Counter(
    "scrm_responder_claims_total",
    "Claims of the next conversation, by outcome: claimed, empty (nothing the agent can take), "
    "full (no room left).",
    ["outcome"],
)
AGENTS = Gauge("scrm_responder_agents", "Agents by presence.", ["presence"])
QUEUE_DEPTH = Gauge(
    "scrm_responder_queue_depth", "Conversations waiting on an agent that no agent holds."
)
OLDEST_QUEUED = Gauge(
    "scrm_responder_oldest_queued_age_seconds",
    "Age of the oldest unanswered message of a conversation no agent holds (0: none).",
)
CAPACITY_IN_USE = Gauge(
    "scrm_responder_capacity_in_use",
    "Conversations held by agents online against what they can hold, 0 to 1.",
)
# Per team: teams are made by admins, and at most RESPONDER_METRIC_TEAMS of them get labels of
# their own (the largest by agents online); the others count as "other", agents of no team as
# "none".
TEAM_AGENTS_ONLINE = Gauge(
    "scrm_responder_team_agents_online", "Agents online, per team.", ["team"]
)
TEAM_CAPACITY_IN_USE = Gauge(
    "scrm_responder_team_capacity_in_use",
    "Conversations held by a team's agents online against what they can hold, 0 to 1.",
    ["team"],
)
OFFERS = Counter(
    "scrm_responder_offers_total",
    "Offers of conversations to agents (push routing), by outcome: made, accepted, declined, "
    "lapsed.",
    ["outcome"],
)
TIME_TO_FIRST_OFFER = Histogram(
    "scrm_responder_time_to_first_offer_seconds",
    "From the fan's earliest unanswered message to the conversation's first offer to an agent.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
