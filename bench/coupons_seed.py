"""What ``make bench-coupons`` claims: campaigns, a brand API key and packets made through
coupons's operator API as an operator would, and the claims of fans, each a fan of their own."""

import asyncio
import json
import uuid
from dataclasses import dataclass

import httpx

from bench import loadgen

ACCOUNT = "bench-shop"


@dataclass(frozen=True)
class Seeded:
    """A brand key and the share codes of the spread packets and of the hot one."""

    key: str
    packets: list[str]
    hot_packet: str
    shares_per_packet: int


def campaign(name: str, shares: int) -> dict[str, object]:
    """The README's example terms (lucky split, new customers only, a daily cap, a referral),
    so each claim makes every check and write a real one does."""
    return {
        "account": ACCOUNT, "name": name, "currency": "CNY", "budget_cents": 10_000_000_000,
        "budget_slices": 16, "time_zone": "Asia/Shanghai",
        "terms": {"shares_per_packet": shares,
                  "packet_rule": {"kind": "fixed", "total_cents": 100 * shares},
                  "split": "lucky", "min_share_cents": 1, "claim_window_seconds": 86_400,
                  "audience": "new_customers", "daily_claim_cap": 3,
                  "coupon": {"min_spend_cents": 5_000, "validity_seconds": 604_800},
                  "referral": {"reward_cents": 1_000}},
    }  # fmt: skip


async def seed(port: int, token: str, *, packets: int, shares: int, hot_shares: int) -> Seeded:
    """Two campaigns (the spread packets', the hot packet's), a key, and the packets, issued
    by hand by 16 operators at once, one order each."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers,
                                 limits=limits, timeout=60) as operator:  # fmt: skip
        spread = await _create(operator, campaign("spread", shares))
        hot = await _create(operator, campaign("hot", hot_shares))
        made = await operator.post(f"/v1/accounts/{ACCOUNT}/api-keys", json={"name": "bench"})
        made.raise_for_status()
        gate = asyncio.Semaphore(16)
        codes = await asyncio.gather(
            *(_issue(operator, gate, spread, f"o-{n}") for n in range(packets))
        )
        hot_code = await _issue(operator, gate, hot, "o-hot")
    return Seeded(made.json()["key"], list(codes), hot_code, shares)


async def _create(operator: httpx.AsyncClient, body: dict[str, object]) -> str:
    answer = await operator.post("/v1/campaigns", json=body)
    answer.raise_for_status()
    return str(answer.json()["id"])


async def _issue(
    operator: httpx.AsyncClient, gate: asyncio.Semaphore, campaign_id: str, order_id: str
) -> str:
    async with gate:
        answer = await operator.post(
            f"/v1/campaigns/{campaign_id}/packets",
            json={"owner_fan_key": f"standard:{ACCOUNT}:owner-{order_id}", "order_id": order_id},
        )
    answer.raise_for_status()
    return str(answer.json()["share_code"])


def claims(port: int, key: str, codes: list[str], count: int, *, wave: str) -> list[bytes]:
    """`count` claims, each by a fan of its own, going round the packets in turn (so a packet's
    claims come `len(codes)` requests apart)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    requests = []
    for n in range(count):
        fan = f"standard:{ACCOUNT}:{wave}-{n}-{uuid.uuid4().hex[:8]}"
        body = json.dumps({"fan_key": fan}).encode()
        path = f"/v1/packets/{codes[n % len(codes)]}/claims"
        requests.append(loadgen.http_request(port, path, body, headers))
    return requests
