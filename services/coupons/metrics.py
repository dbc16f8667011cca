"""coupons' own metrics (the consumer and HTTP ones are shared). Labels are bounded: an order
status, a trigger, or an outcome from the closed sets of `refusals.py`; never a campaign, a
packet or a fan."""

from prometheus_client import Counter

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


_create_series()
