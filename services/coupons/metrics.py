"""coupons' own metrics (the consumer and HTTP ones are shared). Labels are bounded: an order
status, a trigger, or an outcome from the closed sets of `refusals.py`; never a campaign, a
packet or a fan."""

from prometheus_client import Counter, Gauge, Histogram

from services.coupons import refusals

ORDERS = Counter("scrm_coupons_orders_total", "Order events recorded, by status.", ["status"])
PACKETS_ISSUED = Counter(
    "scrm_coupons_packets_issued_total",
    "Red packets issued, by trigger: a paid order, or an operator (manual).",
    ["trigger"],
)
ISSUE_REFUSALS = Counter(
    "scrm_coupons_issue_refusals_total",
    "Packets not issued, by reason (budget_exhausted, below_minimum_total, ...).",
    ["reason"],
)
CLAIMS = Counter(
    "scrm_coupons_claims_total",
    "Claims answered, by outcome: claimed, repeated (the same claim asked again), or the "
    "refusal's code.",
    ["outcome"],
)
CLAIM_BATCHES = Counter(
    "scrm_coupons_claim_batches_total",
    "Batches of the claim door's claims, by outcome: committed, redone (a claim raced another "
    "transaction: each claim made alone) or failed (each claim made alone).",
    ["outcome"],
)
CLAIM_BATCH_SIZE = Histogram(
    "scrm_coupons_claim_batch_size",
    "Claims in each batch of the claim door.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
REDEMPTIONS = Counter(
    "scrm_coupons_redemptions_total",
    "Redemptions answered, by outcome: redeemed, repeated (the same idempotency key again), or "
    "the refusal's code.",
    ["outcome"],
)
REVERSALS = Counter(
    "scrm_coupons_reversals_total",
    "Redemptions reversed, by trigger: refund (order.refunded) or api.",
    ["trigger"],
)

PACKETS_RETURNED = Counter(
    "scrm_coupons_packets_returned_total",
    "Packets whose unclaimed cents went back to the budget, by reason: expired (the claim "
    "window closed) or withdrawn (the order was refunded first).",
    ["reason"],
)
REWARDS = Counter(
    "scrm_coupons_referral_rewards_total",
    "Referral rewards, by outcome: rewarded, revoked (the first order refunded), or the "
    "refusal's reason (budget_exhausted, below_minimum_order, currency_mismatch).",
    ["outcome"],
)
INVARIANT_VIOLATIONS = Gauge(
    "scrm_coupons_invariant_violations",
    "Rows breaking each money invariant at the last check (`invariants.py`); 0 is healthy.",
    ["invariant"],
)
INVARIANT_CHECKS = Counter(
    "scrm_coupons_invariant_checks_total", "Invariant checks run, by result.", ["result"]
)
CAMPAIGNS_BY_BUDGET = Gauge(
    "scrm_coupons_campaigns",
    "Active campaigns by what is left of their budget: ok, low (under the low share), or "
    "exhausted (not enough for one more packet at the minimum).",
    ["budget"],
)
BUDGET_LEFT = Gauge(
    "scrm_coupons_budget_left_cents",
    "Budget not in packets or rewards, summed over the active campaigns, by currency.",
    ["currency"],
)
BUDGET_TOTAL = Gauge(
    "scrm_coupons_budget_cents",
    "Budgets of the active campaigns, summed by currency.",
    ["currency"],
)


def _create_series() -> None:
    """Every series from the start, so rate() sees the first of each."""
    for status in ("paid", "refunded"):
        ORDERS.labels(status)
    for trigger in ("order", "manual"):
        PACKETS_ISSUED.labels(trigger)
    for reason in refusals.ISSUE_REFUSALS:
        ISSUE_REFUSALS.labels(reason)
    for outcome in ("claimed", "repeated", *refusals.CLAIM_REFUSALS):
        CLAIMS.labels(outcome)
    for outcome in ("redeemed", "repeated", *refusals.REDEEM_REFUSALS):
        REDEMPTIONS.labels(outcome)
    for trigger in ("refund", "api"):
        REVERSALS.labels(trigger)
    for reason in ("expired", "withdrawn"):
        PACKETS_RETURNED.labels(reason)
    for outcome in ("rewarded", "revoked", *refusals.REWARD_REFUSALS):
        REWARDS.labels(outcome)
    for result in ("ok", "violated", "failed"):
        INVARIANT_CHECKS.labels(result)
    for state in ("ok", "low", "exhausted"):
        CAMPAIGNS_BY_BUDGET.labels(state)


_create_series()
