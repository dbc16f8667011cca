"""Standard Webhooks: the specification's published vector (now long stale, so refused as such)
and freshly signed order events."""

import time
from datetime import UTC, datetime

from services.ingest.platforms.standard import standard_webhook_signature
from tests.helpers import SECRET, signed_webhook
from tests.platform_vectors import WebhookCase

ACCOUNT = {"platform": "standard", "account_id": "shop-vectors", "secret": SECRET}


def _order(kind: str, order_id: str) -> tuple[bytes, dict[str, str]]:
    payload = {
        "type": kind, "timestamp": datetime.now(UTC).isoformat(),
        "data": {"order_id": order_id, "user_id": "buyer-1", "amount_cents": 12900,
                 "currency": "cny", "referral_code": "R-1"},
    }  # fmt: skip
    return signed_webhook(payload, msg_id=f"msg_{kind}_{order_id}_{time.time_ns()}")


_paid, _paid_headers = _order("order.paid", "o-1")
_refunded, _refunded_headers = _order("order.refunded", "o-1")
_GARBAGE = b'{"type": "order.paid", "data": '
_now = str(int(time.time()))
_garbage_headers = {
    "webhook-id": "msg_garbage", "webhook-timestamp": _now,
    "webhook-signature": standard_webhook_signature(SECRET, "msg_garbage", _now, _GARBAGE),
}  # fmt: skip

CASES = [
    WebhookCase(
        "the specification's vector, signed in 2021: stale",
        "standard",
        ACCOUNT,
        "POST",
        body=b'{"test": 2432232314}',
        status=401,
        headers={
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp": "1614265330",
            "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        },
        source="https://github.com/standard-webhooks/standard-webhooks (spec test vector)",
    ),
    WebhookCase(
        "order.paid",
        "standard",
        ACCOUNT,
        "POST",
        body=_paid,
        headers=_paid_headers,
        event_types=("scrm.order.paid.v1",),
        body_signed=True,
    ),
    WebhookCase(
        "order.refunded",
        "standard",
        ACCOUNT,
        "POST",
        body=_refunded,
        headers=_refunded_headers,
        event_types=("scrm.order.refunded.v1",),
        body_signed=True,
    ),
    WebhookCase(
        "authentic but not JSON",
        "standard",
        ACCOUNT,
        "POST",
        body=_GARBAGE,
        headers=_garbage_headers,
        status=400,
    ),
]
