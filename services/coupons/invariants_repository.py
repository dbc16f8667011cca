"""SQL of the money invariants, recomputed from the tables: each query selects the rows that
break one (none when it holds). Each is one statement, so it reads one consistent snapshot
however many claims, issues and sweeps run meanwhile. They scan whole tables: run them every
few minutes, not on a hot path."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_PACKET_SUMS = """
    SELECT p.id AS packet_id, p.total_cents, coalesce(c.cents, 0) AS claimed_cents,
           coalesce(u.cents, 0) AS unclaimed_cents, p.returned_cents,
           coalesce(r.cents, 0) AS returned_shares_cents
    FROM coupons.packets p
    LEFT JOIN (SELECT packet_id, sum(amount_cents) AS cents FROM coupons.claims
               GROUP BY packet_id) c ON c.packet_id = p.id
    LEFT JOIN (SELECT packet_id, sum(amount_cents) AS cents FROM coupons.packet_shares
               WHERE claimed_by IS NULL GROUP BY packet_id) u ON u.packet_id = p.id
    LEFT JOIN (SELECT packet_id, sum(amount_cents) AS cents FROM coupons.returned_shares
               GROUP BY packet_id) r ON r.packet_id = p.id
    WHERE coalesce(c.cents, 0) + coalesce(u.cents, 0) + p.returned_cents <> p.total_cents
       OR coalesce(r.cents, 0) <> p.returned_cents
       OR (p.returned_at IS NOT NULL AND coalesce(u.cents, 0) <> 0)
"""
_BUDGET = """
    SELECT c.id AS campaign_id, c.budget_cents, coalesce(s.cents, 0) AS left_cents,
           coalesce(p.issued, 0) AS issued_cents, coalesce(p.returned, 0) AS returned_cents,
           coalesce(w.cents, 0) AS rewarded_cents
    FROM coupons.campaigns c
    LEFT JOIN (SELECT campaign_id, sum(remaining_cents) AS cents FROM coupons.budget_slices
               GROUP BY campaign_id) s ON s.campaign_id = c.id
    LEFT JOIN (SELECT campaign_id, sum(total_cents) AS issued, sum(returned_cents) AS returned
               FROM coupons.packets GROUP BY campaign_id) p ON p.campaign_id = c.id
    LEFT JOIN (SELECT campaign_id, sum(amount_cents) AS cents FROM coupons.referral_rewards
               WHERE revoked_at IS NULL GROUP BY campaign_id) w ON w.campaign_id = c.id
    WHERE coalesce(s.cents, 0) + coalesce(p.issued, 0) - coalesce(p.returned, 0)
          + coalesce(w.cents, 0) <> c.budget_cents
       OR EXISTS (SELECT 1 FROM coupons.budget_slices n
                  WHERE n.campaign_id = c.id AND n.remaining_cents < 0)
"""
_TWO_CLAIMS = """
    SELECT packet_id, fan_key, count(*) AS claims FROM coupons.claims
    GROUP BY packet_id, fan_key HAVING count(*) > 1
"""
_CLAIMS_MATCH_SHARES = """
    SELECT s.packet_id, s.seq, s.claimed_by, c.id AS claim_id, c.fan_key
    FROM coupons.packet_shares s FULL JOIN coupons.claims c USING (packet_id, seq)
    WHERE (s.claimed_by IS NULL) <> (c.id IS NULL) OR s.claimed_by <> c.fan_key
       OR s.amount_cents <> c.amount_cents
"""
_ONE_COUPON = """
    SELECT c.id AS claim_id, count(k.id) AS coupons FROM coupons.claims c
    LEFT JOIN coupons.coupons k ON k.claim_id = c.id AND k.amount_cents = c.amount_cents
    GROUP BY c.id HAVING count(k.id) <> 1
"""
_TWO_REDEMPTIONS = """
    SELECT coupon_id, count(*) AS active_redemptions FROM coupons.redemptions
    WHERE reversed_at IS NULL GROUP BY coupon_id HAVING count(*) > 1
"""
_REWARD_ORDER = """
    SELECT w.id AS reward_id, w.order_id, o.fan_key AS buyer, w.referred_fan_key,
           f.referrer_fan_key AS referral_referrer, w.referrer_fan_key
    FROM coupons.referral_rewards w
    LEFT JOIN coupons.orders o ON o.account = w.account AND o.order_id = w.order_id
    LEFT JOIN coupons.referrals f
           ON f.campaign_id = w.campaign_id AND f.referred_fan_key = w.referred_fan_key
    WHERE o.order_id IS NULL OR o.paid_at IS NULL OR o.fan_key <> w.referred_fan_key
       OR f.referrer_fan_key IS DISTINCT FROM w.referrer_fan_key
       OR o.paid_at < f.referred_at
       OR (w.refusal IS NULL) <> (w.amount_cents > 0)
"""
_REFUND_REVOKED = """
    SELECT w.id AS reward_id, w.order_id, o.status AS order_status, w.revoked_at
    FROM coupons.referral_rewards w
    JOIN coupons.orders o ON o.account = w.account AND o.order_id = w.order_id
    WHERE w.refusal IS NULL AND (o.status = 'refunded') <> (w.revoked_at IS NOT NULL)
"""
CHECKS: dict[str, str] = {
    "packet_sums": _PACKET_SUMS,
    "budget_conservation": _BUDGET,
    "one_claim_per_fan_and_packet": _TWO_CLAIMS,
    "claims_match_shares": _CLAIMS_MATCH_SHARES,
    "one_coupon_per_claim": _ONE_COUPON,
    "one_active_redemption_per_coupon": _TWO_REDEMPTIONS,
    "reward_matches_first_order": _REWARD_ORDER,
    "refunded_reward_revoked": _REFUND_REVOKED,
}


async def violations(
    session: AsyncSession, invariant: str, *, examples: int
) -> tuple[int, list[dict[str, Any]]]:
    """How many rows break the invariant, and up to `examples` of them."""
    query = text(
        f"SELECT count(*) OVER () AS violations, v.* FROM ({CHECKS[invariant]}) v LIMIT :examples"  # noqa: S608 (constant texts)
    )
    rows = (await session.execute(query, {"examples": examples})).mappings().all()
    if not rows:
        return 0, []
    return int(rows[0]["violations"]), [
        {key: value for key, value in row.items() if key != "violations"} for row in rows
    ]


_BUDGETS = text("""
    SELECT c.currency, c.budget_cents, coalesce(sum(s.remaining_cents), 0) AS left_cents,
           c.shares_per_packet * c.min_share_cents AS least_packet_cents
    FROM coupons.campaigns c JOIN coupons.budget_slices s ON s.campaign_id = c.id
    WHERE c.status = 'active'
    GROUP BY c.id
""")


async def active_budgets(session: AsyncSession) -> list[tuple[str, int, int, int]]:
    """Each active campaign's currency, budget, budget left and least packet total."""
    rows = (await session.execute(_BUDGETS)).all()
    return [(row[0], int(row[1]), int(row[2]), int(row[3])) for row in rows]
