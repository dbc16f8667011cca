"""Douyin Open Platform: the verification request from the webhook overview, and pushes shaped
like the event examples in its documentation, each signed here (the docs publish no signature)."""

import json
from typing import Any

from services.ingest.platforms.douyin import douyin_signature
from tests.platform_vectors import WebhookCase

SECRET = "dy-vectors-client-secret"
ACCOUNT = {"platform": "douyin", "account_id": "douyin-vectors", "client_secret": SECRET}
FAN = "0da22181-d833-447f-995f-1beefea5bef3"
BRAND = "e3af6e1d-d83a-4116-8f9f-5cb8ac2413c7"
OVERVIEW = "https://developer.open-douyin.com/docs/resource/zh-CN/dop/develop/webhooks/summarize"
IM_DOC = (
    "https://developer.open-douyin.com/docs/resource/zh-CN/dop/develop/openapi/"
    "search-management/private-message/private-msg-webhook"
)
DOC_BODY = b'{"event":"verify_webhook","client_key":"abc","content":{"challenge":12345}}'


def _push(event: str, content: dict[str, Any] | str, **extra: Any) -> bytes:
    envelope = {
        "event": event,
        "from_user_id": FAN,
        "to_user_id": BRAND,
        "client_key": "awr8bfr64vxgk036",
        "content": content,
        **extra,
    }
    return json.dumps(envelope, ensure_ascii=False).encode()


def _signed(
    name: str,
    body: bytes,
    event_types: tuple[str, ...] = (),
    *,
    status: int = 200,
    answer: bytes | None = b"{}",
    msg_id: str | None = None,
    source: str = IM_DOC,
) -> WebhookCase:
    headers = {"x-douyin-signature": douyin_signature(SECRET, body)}
    if msg_id:
        headers["msg-id"] = msg_id
    return WebhookCase(
        name,
        "douyin",
        ACCOUNT,
        "POST",
        body=body,
        headers=headers,
        status=status,
        answer=answer if status == 200 else None,
        event_types=event_types,
        body_signed=True,
        source=source,
    )


def _im(message_type: str, message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "conversation_short_id": "7183913289651",
        "server_message_id": message_id,
        "conversation_type": 1,
        "message_type": message_type,
        "create_time": 1672799462123,
        **extra,
    }


_MSG = "scrm.message.received.v1"
_follow = json.dumps({"action_type": 1, "action_time": 1686817996})

CASES = [
    _signed(
        "verify_webhook, the overview's example body: answers the challenge",
        DOC_BODY,
        answer=b'{"challenge": 12345}',
        source=f"{OVERVIEW} (body from the Go signing example; signature computed)",
    ),
    _signed(
        "im_receive_msg text",
        _push(
            "im_receive_msg",
            _im("text", "7183913289652", text="你好 请问有货吗"),
            log_id="2023010410310001",
        ),
        (_MSG,),
    ),
    _signed(
        "im_receive_msg image, content as a JSON string",
        _push("im_receive_msg", json.dumps(_im("image", "7183913289653", resource_url=""))),
        (_MSG,),
    ),
    _signed("im_enter_direct_msg: not used", _push("im_enter_direct_msg", {"scene": 1})),
    _signed(
        "new_follow_action",
        _push("new_follow_action", _follow, log_id="20230615163316517143EDD4CEF10721B6"),
        ("scrm.fan.followed.v1",),
        msg_id="dy-msg-follow-1",
    ),
    _signed(
        "unfollow",
        _push("unfollow", json.dumps({"action_time": 1686818100})),
        ("scrm.fan.unfollowed.v1",),
        msg_id="dy-msg-unfollow-1",
    ),
    _signed(
        "item_comment_reply",
        _push(
            "item_comment_reply",
            {
                "comment_id": "@9VwL3I6FTRFbvP4H1ft8QsyjZYwWbjFQtd8Xv2zxv6m7KbA",
                "item_id": "@9VwWjvGUTp9kKW+ma4huFs791WPtO",
                "content": "多少钱",
                "comment_user_id": FAN,
                "create_time": 1686817996,
            },
        ),
        ("scrm.comment.created.v1",),
    ),
    _signed(
        "new_video_digg",
        _push(
            "new_video_digg",
            json.dumps({"action_type": 1, "action_time": 1686817996, "item_id": "@9VwWjvGUTp9"}),
            log_id="20230615163316517143EDD4CEF10721B7",
        ),
        ("scrm.reaction.added.v1",),
    ),
    _signed(
        "authentic but content is not JSON",
        _push("im_receive_msg", "{not json"),
        status=400,
    ),
    WebhookCase(
        "forged: signed with another secret",
        "douyin",
        ACCOUNT,
        "POST",
        body=DOC_BODY,
        headers={"x-douyin-signature": douyin_signature("not-the-secret", DOC_BODY)},
        status=401,
    ),
    WebhookCase("GET is not part of Douyin's protocol", "douyin", ACCOUNT, "GET", status=400),
]
