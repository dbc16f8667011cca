"""``make smoke``: check a running system end to end, through its public HTTP surfaces.

Signs webhooks with the demo accounts' secrets (``data/accounts.json``, written by ``make run``):
Standard Webhooks, LINE and Telegram; then follows their effects into scoring, responder and
coupons. Prints each check; exits non-zero on the first failure.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.ingest.platforms.line import line_signature
from services.ingest.platforms.standard import standard_webhook_signature
from services.ingest.platforms.telegram import SECRET_HEADER

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_SECONDS = 30.0


class SmokeFailure(Exception):
    pass


def check(ok: bool, message: str) -> None:
    if not ok:
        raise SmokeFailure(message)
    sys.stdout.write(f"  ok  {message}\n")
    sys.stdout.flush()


async def eventually(probe: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.2)
    raise SmokeFailure(f"not within {DEADLINE_SECONDS:.0f}s: {what}")


class Stack:
    def __init__(self, client: httpx.AsyncClient, base: str, port_offset: int) -> None:
        ports = {"ingest": 8001, "scoring": 8002, "responder": 8003, "coupons": 8004}
        self.urls = {name: f"{base}:{port + port_offset}" for name, port in ports.items()}
        self.client = client

    def url(self, service: str, path: str) -> str:
        return self.urls[service] + path

    async def metric(self, service: str, name: str, **labels: str) -> float:
        text = (await self.client.get(self.url(service, "/metrics"))).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total


def signed(secret: str, payload: dict[str, Any], *, timestamp: int | None = None,
           msg_id: str | None = None) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    body = json.dumps(payload).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = str(timestamp if timestamp is not None else int(time.time()))
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": standard_webhook_signature(secret, msg_id, ts, body),
        "content-type": "application/json",
    }
    return body, headers


@dataclass(frozen=True)
class Shop:
    """The demo Standard Webhooks account, and the fan this run invents."""

    stack: Stack
    account: str
    secret: str
    user: str

    @property
    def fan(self) -> str:
        return f"standard:{self.account}:{self.user}"

    @property
    def webhook(self) -> str:
        return self.stack.url("ingest", f"/v1/webhooks/standard/{self.account}")

    async def post(
        self, payload: dict[str, Any], *, timestamp: int | None = None
    ) -> httpx.Response:
        body, headers = signed(self.secret, payload, timestamp=timestamp)
        return await self.stack.client.post(self.webhook, content=body, headers=headers)

    async def interactions(self) -> int | None:
        response = await self.stack.client.get(self.stack.url("scoring", f"/v1/fans/{self.fan}"))
        return int(response.json()["interaction_count"]) if response.status_code == 200 else None


async def run(stack: Stack, accounts: dict[str, dict[str, Any]]) -> None:
    await services_ready(stack)
    user = f"smoke-{uuid.uuid4().hex[:10]}"
    shop = Shop(stack, accounts["standard"]["account_id"], accounts["standard"]["secret"], user)
    message = {"type": "message.received", "timestamp": datetime.now(UTC).isoformat(),
               "data": {"message_id": f"m-{user}", "user_id": user,
                        "text": "Is my parcel late?"}}  # fmt: skip
    body, headers = signed(shop.secret, message)
    await message_is_profiled_and_queued(shop, body, headers)
    await redelivery_changes_nothing(shop, body, headers)
    await forgeries_are_refused(shop, body, headers, message)
    await order_is_recorded(shop)
    await line_message(stack, accounts["line"], user)
    await telegram_message(stack, accounts["telegram"])


async def services_ready(stack: Stack) -> None:
    for name in stack.urls:
        ready = await stack.client.get(stack.url(name, "/readyz"))
        check(ready.status_code == 200, f"{name} /readyz is 200")
        metrics = (await stack.client.get(stack.url(name, "/metrics"))).text
        families = list(text_string_to_metric_families(metrics))
        check(len(families) > 0, f"{name} /metrics parses ({len(families)} families)")


async def message_is_profiled_and_queued(shop: Shop, body: bytes, headers: dict[str, str]) -> None:
    client = shop.stack.client
    answer = await client.post(shop.webhook, content=body, headers=headers)
    check(answer.status_code == 200, f"signed message webhook accepted ({answer.status_code})")

    async def has_one() -> bool:
        return await shop.interactions() == 1

    await eventually(has_one, "scoring shows the fan with one interaction")
    check(True, f"scoring profile {shop.fan} has interaction_count 1")

    async def conversation_open() -> bool:
        url = shop.stack.url("responder", "/v1/conversations?limit=500")
        return any(c["fan_key"] == shop.fan for c in (await client.get(url)).json())

    await eventually(conversation_open, "responder opens a conversation for the fan")
    check(True, "responder has an open conversation for the fan")


async def redelivery_changes_nothing(shop: Shop, body: bytes, headers: dict[str, str]) -> None:
    counter = "scrm_ingest_webhooks_total"
    duplicates_before = await shop.stack.metric("ingest", counter, outcome="duplicate")
    replay = await shop.stack.client.post(shop.webhook, content=body, headers=headers)
    check(replay.status_code == 200, "the same webhook delivered again is acknowledged")
    duplicates_after = await shop.stack.metric("ingest", counter, outcome="duplicate")
    check(duplicates_after == duplicates_before + 1, "ingest recognised it and produced nothing")
    check(await shop.interactions() == 1,
          "the redelivery changed nothing (interaction_count still 1)")  # fmt: skip


async def forgeries_are_refused(
    shop: Shop, body: bytes, headers: dict[str, str], message: dict[str, Any]
) -> None:  # fmt: skip
    client = shop.stack.client
    tampered = await client.post(shop.webhook, content=body + b" ", headers=headers)
    check(tampered.status_code == 401, f"a tampered body is refused ({tampered.status_code})")
    stale = await shop.post(message, timestamp=int(time.time()) - 3600)
    check(stale.status_code == 401, f"a stale timestamp is refused ({stale.status_code})")
    unknown = await client.post(shop.stack.url("ingest", "/v1/webhooks/standard/no-such-shop"),
                                content=body, headers=headers)  # fmt: skip
    check(unknown.status_code == 404, f"an unknown account gets 404 ({unknown.status_code})")


async def order_is_recorded(shop: Shop) -> None:
    order_id = f"o-{shop.user}"
    order_data = {"order_id": order_id, "user_id": shop.user, "amount_cents": 12900,
                  "currency": "CNY"}  # fmt: skip
    now = datetime.now(UTC).isoformat()
    paid = await shop.post({"type": "order.paid", "timestamp": now, "data": order_data})
    check(paid.status_code == 200, "a signed order.paid webhook is accepted")

    async def order_recorded() -> bool:
        url = shop.stack.url("coupons", f"/v1/accounts/{shop.account}/orders/{order_id}")
        response = await shop.stack.client.get(url)
        return response.status_code == 200 and response.json()["status"] == "paid"

    await eventually(order_recorded, "coupons records the paid order")
    check(True, "coupons recorded the paid order (12900 cents)")


async def line_message(stack: Stack, line: dict[str, Any], user: str) -> None:
    """A LINE message, signed as LINE signs it, reaches scoring; a tampered one is refused."""
    body = json.dumps({"destination": "Udemo", "events": [{
        "type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
        "webhookEventId": f"01SMOKE{user}", "source": {"type": "user", "userId": f"U{user}"},
        "deliveryContext": {"isRedelivery": False}, "replyToken": "r",
        "message": {"id": f"m-{user}", "type": "text", "text": "スモークテスト"},
    }]}).encode()  # fmt: skip
    headers = {"x-line-signature": line_signature(line["channel_secret"], body),
               "content-type": "application/json"}  # fmt: skip
    url = stack.url("ingest", f"/v1/webhooks/line/{line['account_id']}")
    answer = await stack.client.post(url, content=body, headers=headers)
    check(answer.status_code == 200, f"a signed LINE webhook is accepted ({answer.status_code})")
    forged = await stack.client.post(url, content=body.replace(b"U", b"V", 1), headers=headers)
    check(forged.status_code == 401, f"a tampered LINE webhook is refused ({forged.status_code})")
    await profiled(stack, f"line:{line['account_id']}:U{user}")


async def telegram_message(stack: Stack, telegram: dict[str, Any]) -> None:
    """A Telegram update with the bot's secret token reaches scoring; a wrong token is refused."""
    chat_id = int(time.time() * 1000) % 10**9
    update = {"update_id": chat_id, "message": {
        "message_id": 1, "date": int(time.time()), "text": "hello from smoke",
        "from": {"id": chat_id, "is_bot": False, "first_name": "Smoke"},
        "chat": {"id": chat_id, "type": "private"},
    }}  # fmt: skip
    url = stack.url("ingest", f"/v1/webhooks/telegram/{telegram['account_id']}")
    answer = await stack.client.post(
        url, json=update, headers={SECRET_HEADER: telegram["secret_token"]}
    )
    check(answer.status_code == 200, f"a Telegram update is accepted ({answer.status_code})")
    wrong = await stack.client.post(url, json=update, headers={SECRET_HEADER: "wrong"})
    check(wrong.status_code == 401, f"a wrong Telegram secret is refused ({wrong.status_code})")
    await profiled(stack, f"telegram:{telegram['account_id']}:{chat_id}")


async def profiled(stack: Stack, fan: str) -> None:
    async def exists() -> bool:
        response = await stack.client.get(stack.url("scoring", f"/v1/fans/{fan}"))
        return response.status_code == 200

    await eventually(exists, f"scoring shows {fan}")
    check(True, f"scoring profile {fan} exists")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts-file", type=Path, default=ROOT / "data" / "accounts.json")
    parser.add_argument("--base-url", default="http://127.0.0.1")
    parser.add_argument("--port-offset", type=int, default=0)
    args = parser.parse_args(argv)
    entries = json.loads(args.accounts_file.read_text())["accounts"]
    accounts = {entry["platform"]: entry for entry in reversed(entries)}  # the first of each

    async def go() -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            await run(Stack(client, args.base_url, args.port_offset), accounts)

    sys.stdout.write("smoke test against the running system:\n")
    try:
        asyncio.run(go())
    except (SmokeFailure, httpx.HTTPError) as exc:
        sys.stdout.write(f"  FAIL {exc}\n")
        return 1
    sys.stdout.write("smoke test passed\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
