"""The claim door's group commit over HTTP, on the test's broker and database: claims that arrive
together are checked, written and announced together, and each gets the answer it would get
alone, including when a claim of the batch races another transaction on the fan's own rows."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from services.coupons.config import CouponsSettings
from services.coupons.domain import claim_day
from shared.db import asyncpg_dsn
from tests.coupons_http import ACCOUNT, OPERATOR, brand, coupons, settings
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
__all__ = ["brand", "coupons", "settings"]  # fixtures
HOST = "standard:shop-1:host"


def campaign(*, shares: int, cap: int | None = None) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "shares_per_packet": shares, "packet_rule": {"kind": "fixed", "total_cents": 300 * shares},
        "split": "lucky", "coupon": {"min_spend_cents": 1_000},
    }  # fmt: skip
    if cap is not None:
        terms["daily_claim_cap"] = cap
    return {"account": ACCOUNT, "name": "batches", "currency": "CNY", "budget_cents": 100_000,
            "terms": terms}  # fmt: skip


async def packets(coupons: httpx.AsyncClient, terms: dict[str, Any], count: int) -> list[Any]:
    made = (await coupons.post("/v1/campaigns", json=terms, headers=OPERATOR)).json()
    url = f"/v1/campaigns/{made['id']}/packets"
    return [
        (await coupons.post(url, json={"owner_fan_key": HOST}, headers=OPERATOR)).json()
        for _ in range(count)
    ]


async def claim(
    coupons: httpx.AsyncClient, brand: dict[str, str], packet: dict[str, Any], fan: str
) -> httpx.Response:
    url = f"/v1/packets/{packet['share_code']}/claims"
    return await coupons.post(url, json={"fan_key": f"standard:shop-1:{fan}"}, headers=brand)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def code(answer: httpx.Response) -> Any:
    return answer.json()["detail"]["code"] if answer.status_code == 409 else answer.status_code


async def test_claims_arriving_together_are_written_together_each_with_its_answer(
    coupons: httpx.AsyncClient, brand: dict[str, str]
) -> None:
    [packet] = await packets(coupons, campaign(shares=3), 1)
    assert code(await claim(coupons, brand, packet, "host")) == "own_packet"  # trusts the key
    claims_before = sample("scrm_coupons_claim_batch_size_sum")
    batches_before = sample("scrm_coupons_claim_batch_size_count")
    fans = [f"friend-{n}" for n in range(10)]
    answers = await asyncio.gather(
        *(claim(coupons, brand, packet, fan) for fan in fans),
        claim(coupons, brand, packet, "host"),
        claim(coupons, brand, {"share_code": "nosuchcode"}, "friend-0"),
    )
    codes = [code(answer) for answer in answers]
    assert sorted(map(str, codes[:10])) == ["201"] * 3 + ["packet_empty"] * 7
    assert codes[10:] == ["own_packet", 404]
    won = [answer.json() for answer in answers[:10] if answer.status_code == 201]
    assert sum(claimed["amount_cents"] for claimed in won) == 900
    assert len({claimed["coupon"]["code"] for claimed in won}) == 3
    batched = sample("scrm_coupons_claim_batch_size_sum") - claims_before
    batches = sample("scrm_coupons_claim_batch_size_count") - batches_before
    assert batched == 12
    assert batches < batched  # some claims shared a transaction
    again = await claim(coupons, brand, packet, won[0]["fan_key"].rpartition(":")[2])
    assert again.status_code == 200
    assert again.json() == won[0]
    assert (await coupons.get("/v1/invariants", headers=OPERATOR)).json()["holds"] is True


async def test_a_fans_claims_of_one_campaign_at_once_stop_at_the_daily_cap(
    coupons: httpx.AsyncClient, brand: dict[str, str]
) -> None:
    made = await packets(coupons, campaign(shares=2, cap=2), 4)
    assert code(await claim(coupons, brand, made[0], "host")) == "own_packet"  # trusts the key
    answers = await asyncio.gather(*(claim(coupons, brand, packet, "ann") for packet in made))
    assert sorted(map(str, map(code, answers))) == ["201", "201"] + ["daily_cap_reached"] * 2
    assert (await coupons.get("/v1/invariants", headers=OPERATOR)).json()["holds"] is True


async def test_a_claim_counted_past_the_cap_by_a_racing_transaction_is_made_alone(
    coupons: httpx.AsyncClient, brand: dict[str, str], settings: CouponsSettings
) -> None:
    """The fan's day is counted by another transaction while the batch's statement runs: the
    statement read the day under the cap, then waited for the other to commit and counted past
    it. The batch rolls back and the claim, made alone, is refused: the fan holds no share."""
    [packet] = await packets(coupons, campaign(shares=2, cap=1), 1)
    assert code(await claim(coupons, brand, packet, "host")) == "own_packet"  # trusts the key
    details = (await coupons.get(f"/v1/packets/{packet['share_code']}", headers=brand)).json()
    redone = sample("scrm_coupons_claim_batches_total", outcome="redone")
    other = await asyncpg.connect(asyncpg_dsn(settings.database_url.get_secret_value()))
    try:
        racing = other.transaction()
        await racing.start()
        day = claim_day(datetime.now(UTC), "UTC")
        await other.execute(
            "INSERT INTO coupons.claim_counters (campaign_id, fan_key, day, claims) "
            "VALUES ($1, 'standard:shop-1:ann', $2, 1)", uuid.UUID(packet["campaign_id"]), day,
        )  # fmt: skip
        answer = asyncio.create_task(claim(coupons, brand, packet, "ann"))
        await eventually(lambda: _waiting_for_a_lock(other), within=10)
        await racing.commit()
    finally:
        await other.close()
    assert code(await answer) == "daily_cap_reached"
    assert sample("scrm_coupons_claim_batches_total", outcome="redone") == redone + 1
    after = (await coupons.get(f"/v1/packets/{packet['share_code']}", headers=brand)).json()
    assert after["claims"] == details["claims"] == []
    assert after["claimed_cents"] == 0


async def _waiting_for_a_lock(connection: asyncpg.Connection) -> bool:
    waiting = await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    )
    return bool(waiting)
