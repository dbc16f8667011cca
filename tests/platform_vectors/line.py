"""LINE Messaging API: the SDK's published signature vector, and signed webhook bodies shaped like
the examples in the Messaging API reference (https://developers.line.biz/en/reference/messaging-api/)."""

import json
from typing import Any

from services.ingest.platforms.line import line_signature
from tests.platform_vectors import WebhookCase

SECRET = "3f6b0c9e1d2a4b5c8e7f6a5b4c3d2e1f"
ACCOUNT = {
    "platform": "line",
    "account_id": "line-vectors",
    "channel_secret": SECRET,
    "channel_access_token": "line-vectors-token",
}
SDK_ACCOUNT = {
    "platform": "line",
    "account_id": "line-sdk-vector",
    "channel_secret": "channel_secret",
}
USER = "U4af4980629aaaaaaaaaaaaaaaaaaaaaaaa"
DESTINATION = "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
REFERENCE = "https://developers.line.biz/en/reference/messaging-api/#webhook-event-objects"


def _event(kind: str, webhook_event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "mode": "active",
        "timestamp": 1462629479859,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": webhook_event_id,
        "deliveryContext": {"isRedelivery": False},
        **extra,
    }


def _body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": DESTINATION, "events": list(events)}).encode()


def _signed(
    name: str, body: bytes, event_types: tuple[str, ...] = (), status: int = 200
) -> WebhookCase:
    return WebhookCase(
        name,
        "line",
        ACCOUNT,
        "POST",
        body=body,
        headers={
            "x-line-signature": line_signature(SECRET, body),
            "content-type": "application/json",
        },
        status=status,
        answer=b"" if status == 200 else None,
        event_types=event_types,
        body_signed=True,
        source=REFERENCE,
    )


_text = _body(
    _event(
        "message",
        "01FZ74A0TDDPYRVKNK77XKC3ZR",
        replyToken="r1",
        message={
            "id": "444573844083572737",
            "type": "text",
            "text": "Hello, world",
            "quoteToken": "q3Plxr4AgKd...",
        },
    )
)
_group = _event(
    "message",
    "01FZ74A0TDDPYRVKNK77XKC3ZS",
    message={"id": "444573844083572738", "type": "image", "contentProvider": {"type": "line"}},
)
_group["source"] = {"type": "group", "groupId": "Ca56f94637c000000000000000000000", "userId": USER}
_batch = _body(
    _group,
    _event(
        "message",
        "01FZ74A0TDDPYRVKNK77XKC3ZT",
        message={
            "id": "444573844083572739",
            "type": "sticker",
            "packageId": "446",
            "stickerId": "1988",
        },
    ),
    _event(
        "message",
        "01FZ74A0TDDPYRVKNK77XKC3ZU",
        message={
            "id": "444573844083572740",
            "type": "location",
            "title": "my location",
            "address": "Tokyo",
            "latitude": 35.65910807942215,
            "longitude": 139.70372892916203,
        },
    ),
)
_follow = _body(_event("follow", "01FZ74A0TDDPYRVKNK77XKC3ZV", replyToken="r2"))
_unfollow = _body(_event("unfollow", "01FZ74A0TDDPYRVKNK77XKC3ZW"))
_postback = _body(
    _event(
        "postback",
        "01FZ74A0TDDPYRVKNK77XKC3ZX",
        replyToken="r3",
        postback={"data": "action=buy&itemid=111"},
    )
)
_unused = _body(
    _event("join", "01FZ74A0TDDPYRVKNK77XKC3ZY"),
    _event("unsend", "01FZ74A0TDDPYRVKNK77XKC3ZZ", unsend={"messageId": "1"}),
)
# One unreadable event (a timestamp past the year 9999) between two good ones: the good events
# are kept, not refused with the batch.
_mixed = _body(
    _event(
        "message",
        "01FZ74A0TDDPYRVKNK77XKC400",
        message={"id": "444573844083572741", "type": "text", "text": "first"},
    ),
    _event(
        "message",
        "01FZ74A0TDDPYRVKNK77XKC401",
        timestamp=10**30,
        message={"id": "444573844083572742", "type": "text", "text": "lost"},
    ),
    _event("follow", "01FZ74A0TDDPYRVKNK77XKC402"),
)
_MSG = "scrm.message.received.v1"

CASES = [
    WebhookCase(
        "the SDK's signature vector (authentic, but its body is not a webhook)",
        "line",
        SDK_ACCOUNT,
        "POST",
        body=b"bodybodybodybody",
        headers={"x-line-signature": "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="},
        status=400,
        body_signed=True,
        source="line/line-bot-sdk-python tests/test_signature.py",
    ),
    _signed("the console's Verify button: no events", _body()),
    _signed("text message", _text, (_MSG,)),
    _signed("a batch: group image, sticker, location", _batch, (_MSG, _MSG, _MSG)),
    _signed(
        "a batch with an unreadable event keeps the good ones",
        _mixed,
        (_MSG, "scrm.fan.followed.v1"),
    ),
    _signed("follow", _follow, ("scrm.fan.followed.v1",)),
    _signed("unfollow", _unfollow, ("scrm.fan.unfollowed.v1",)),
    _signed("postback", _postback, (_MSG,)),
    _signed("join and unsend: not used", _unused),
    _signed("authentic but not JSON", b'{"destination": "U1", "events": [', status=400),
    WebhookCase(
        "forged: signed with another secret",
        "line",
        ACCOUNT,
        "POST",
        body=_text,
        headers={"x-line-signature": line_signature("not-the-secret", _text)},
        status=401,
    ),
    WebhookCase("GET is not part of LINE's protocol", "line", ACCOUNT, "GET", status=400),
]
