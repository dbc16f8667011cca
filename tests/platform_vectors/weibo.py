"""Weibo fan service platform: the URL verification and pushes shaped like the examples of the
developer-mode documentation, signed here (the documentation publishes no signature). The body is
not signed on this platform: only the query is."""

import json
import time
from typing import Any

from services.ingest.platforms.weibo import weibo_signature
from tests.platform_vectors import WebhookCase

SECRET = "wb-vectors-app-secret"
UID = "5175429990"
ACCOUNT = {"platform": "weibo", "account_id": UID, "app_secret": SECRET}
FAN = 1902538057
DOC = "https://open.weibo.com/wiki/粉丝服务平台开发者模式 (message formats)"
_NONCE = iter(range(1342416591, 1342416700))


def _query(secret: str = SECRET, **extra: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), str(next(_NONCE))
    signature = weibo_signature(secret, timestamp, nonce)
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def _push(kind: str, text: str | None, data: dict[str, Any], created_at: Any) -> bytes:
    payload = {
        "type": kind,
        "receiver_id": int(UID),
        "sender_id": FAN,
        "created_at": created_at,
        "text": text,
        "data": data,
    }
    return json.dumps(payload, ensure_ascii=False).encode()


def _case(
    name: str, body: bytes, event_types: tuple[str, ...] = (), status: int = 200
) -> WebhookCase:
    return WebhookCase(
        name,
        "weibo",
        ACCOUNT,
        "POST",
        body=body,
        query=_query(),
        headers={"content-type": "application/json"},
        status=status,
        answer=b"" if status == 200 else None,
        event_types=event_types,
        source=DOC,
    )


_MSG = "scrm.message.received.v1"
_AT = "Mon Jul 16 18:09:20 +0800 2012"

CASES = [
    WebhookCase(
        "URL verification echoes echostr",
        "weibo",
        ACCOUNT,
        "GET",
        query=_query(echostr="8fa3d2c1b5e4"),
        answer=b"8fa3d2c1b5e4",
        source=DOC,
    ),
    WebhookCase(
        "URL verification signed with another secret",
        "weibo",
        ACCOUNT,
        "GET",
        query=_query(secret="not-the-secret", echostr="8fa3d2c1b5e4"),
        status=401,
    ),
    _case("text", _push("text", "中华人民共和国", {}, _AT), (_MSG,)),
    _case("text, created_at in milliseconds", _push("text", "你好", {}, 1342433361000), (_MSG,)),
    _case(
        "image",
        _push(
            "image", "", {"vfid": 821804459, "tovfid": 821804469}, "Mon Jul 16 18:09:21 +0800 2012"
        ),
        (_MSG,),
    ),
    _case(
        "voice",
        _push(
            "voice", "", {"vfid": 821804460, "tovfid": 821804470}, "Mon Jul 16 18:09:22 +0800 2012"
        ),
        (_MSG,),
    ),
    _case(
        "position",
        _push("position", "我在这里", {"longitude": "116.308586", "latitude": "39.982525"}, _AT),
        (_MSG,),
    ),
    _case(
        "event follow",
        _push("event", "", {"subtype": "follow", "key": ""}, _AT),
        ("scrm.fan.followed.v1",),
    ),
    _case(
        "event unfollow",
        _push("event", "", {"subtype": "unfollow", "key": ""}, _AT),
        ("scrm.fan.unfollowed.v1",),
    ),
    _case(
        "event click", _push("event", "", {"subtype": "click", "key": "MENU_PRICE"}, _AT), (_MSG,)
    ),
    _case("event scan: not used", _push("event", "", {"subtype": "scan", "key": "qrscene_1"}, _AT)),
    _case(
        "mention in a comment",
        _push(
            "mention",
            "@品牌 好用",
            {"subtype": "comment", "id": 3500000000000002, "mid": "3500000000000001"},
            _AT,
        ),
        ("scrm.comment.created.v1",),
    ),
    _case("authentic but not JSON", b'{"type": "text", "sender_id": ', status=400),
    WebhookCase(
        "forged push: signed with another secret",
        "weibo",
        ACCOUNT,
        "POST",
        body=_push("text", "forged", {}, _AT),
        query=_query(secret="not-the-secret"),
        status=401,
    ),
]
