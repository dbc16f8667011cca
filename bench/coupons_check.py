"""The invariants ``make bench-coupons`` recomputes after its run, from PostgreSQL and from
``scrm.coupons.v1``: each a count of what breaks it, zero when it holds."""

import asyncio
import json
import time

import asyncpg

from bench.kafka_tools import read_topic

SHARE_CLAIMED = b"scrm.share.claimed.v1"
# name: a count of the rows that break it
IN_THE_DATABASE = {
    "claims_without_one_coupon": "SELECT count(*) FROM coupons.claims c LEFT JOIN coupons.coupons k"
                                 " ON k.claim_id = c.id WHERE k.id IS NULL",
    "coupons_off_their_claim": "SELECT count(*) FROM coupons.claims c JOIN coupons.coupons k"
                               " ON k.claim_id = c.id WHERE k.amount_cents <> c.amount_cents"
                               " OR k.holder_fan_key <> c.fan_key",
    "packets_over_claimed": "SELECT count(*) FROM (SELECT 1 FROM coupons.packets p JOIN"
                            " coupons.claims c ON c.packet_id = p.id GROUP BY p.id, p.shares"
                            " HAVING count(*) > p.shares) x",
    "shares_off_their_claim": "SELECT count(*) FROM coupons.packet_shares s FULL JOIN"
                              " coupons.claims c USING (packet_id, seq) WHERE (s.claimed_by IS"
                              " NULL) <> (c.id IS NULL) OR s.claimed_by <> c.fan_key"
                              " OR s.amount_cents <> c.amount_cents",
    "packets_off_their_total": "SELECT count(*) FROM (SELECT 1 FROM coupons.packets p JOIN"
                               " coupons.packet_shares s ON s.packet_id = p.id GROUP BY p.id,"
                               " p.total_cents HAVING sum(s.amount_cents) <> p.total_cents) x",
    "budgets_off_their_total": "SELECT count(*) FROM coupons.campaigns c WHERE c.budget_cents <>"
                               " (SELECT coalesce(sum(remaining_cents), 0) FROM"
                               " coupons.budget_slices b WHERE b.campaign_id = c.id) + (SELECT"
                               " coalesce(sum(total_cents - returned_cents), 0) FROM"
                               " coupons.packets p WHERE p.campaign_id = c.id)",
    "fans_with_two_claims_on_a_packet": "SELECT count(*) FROM (SELECT 1 FROM coupons.claims"
                                        " GROUP BY packet_id, fan_key HAVING count(*) > 1) x",
}  # fmt: skip
CLAIM_IDS = "SELECT id FROM coupons.claims"
PENDING = "SELECT count(*) FROM coupons.outbox_messages"


async def database(dsn: str, *, answered: int) -> tuple[dict[str, int], set[int]]:
    """The counts of what breaks each invariant (and the claims answered 201 but not stored, or
    stored but not answered), and the ids of the claims."""
    connection = await asyncpg.connect(dsn)
    try:
        broken = {name: int(await connection.fetchval(query))
                  for name, query in IN_THE_DATABASE.items()}  # fmt: skip
        ids = {int(row["id"]) for row in await connection.fetch(CLAIM_IDS)}
    finally:
        await connection.close()
    broken["claims_answered_and_stored_differ"] = abs(len(ids) - answered)
    return broken, ids


async def relayed(dsn: str, *, seconds: float = 60) -> bool:
    """Whether the outbox is empty (every event relayed) within `seconds`."""
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + seconds
        while await connection.fetchval(PENDING):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)
        return True
    finally:
        await connection.close()


async def claimed_events(bootstrap: str, topic: str) -> list[int]:
    """The claim id of every share-claimed event on the topic, as many times as it is there."""
    records = await read_topic(bootstrap, topic)
    return [int(json.loads(r.value or b"{}")["claim_id"]) for r in records
            if dict(r.headers).get("ce_type") == SHARE_CLAIMED]  # fmt: skip


def on_the_topic(claim_ids: set[int], events: list[int]) -> dict[str, int]:
    """One event per claim: none missing, none twice, none of a claim not stored."""
    seen = set(events)
    return {"claims_without_event": len(claim_ids - seen), "events_twice": len(events) - len(seen),
            "events_without_claim": len(seen - claim_ids)}  # fmt: skip
