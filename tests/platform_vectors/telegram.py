"""Telegram Bot API: Updates of each kind ingest reads, shaped like the Bot API's Update objects
(https://core.telegram.org/bots/api#update and the samples at
https://core.telegram.org/bots/webhooks#testing-your-bot-with-updates), authenticated by the
secret token header. Telegram signs no body, so no case is ``body_signed``."""

import json
from typing import Any

from tests.platform_vectors import WebhookCase

SECRET_TOKEN = "tg-vectors_secret-Token_0123456789"
ACCOUNT = {"platform": "telegram", "account_id": "tg-vectors", "secret_token": SECRET_TOKEN}
USER_ID = 1111111
DATE = 1441645532


def sender(user_id: int = USER_ID, *, is_bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": is_bot,
        "first_name": "Test",
        "last_name": "Lastname",
        "username": "Test",
        "language_code": "en",
    }


def private_chat(chat_id: int = USER_ID) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": "Test", "username": "Test"}


def message(message_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "from": sender(),
        "chat": private_chat(),
        "date": DATE,
        "text": "/start",
    } | fields


def update(update_id: int, **kind: Any) -> dict[str, Any]:
    return {"update_id": update_id, **kind}


def text_update(message_id: int = 1365) -> dict[str, Any]:
    return update(10000, message=message(message_id))


def photo_update(message_id: int = 1366) -> dict[str, Any]:
    photo = [
        {
            "file_id": f"AgACAgIAAxkBAAIC{size}",
            "file_unique_id": f"AQAD{size}",
            "width": size,
            "height": size,
            "file_size": size * 10,
        }
        for size in (90, 320, 800)
    ]
    fields = {"photo": photo, "caption": "is this the right one?"}
    return update(
        10001, message={k: v for k, v in message(message_id, **fields).items() if k != "text"}
    )


def voice_update(message_id: int = 1367) -> dict[str, Any]:
    voice = {
        "file_id": "AwACAgIAAxkBAAIDvoice",
        "file_unique_id": "AgADvoice",
        "duration": 3,
        "mime_type": "audio/ogg",
        "file_size": 7024,
    }
    msg = message(message_id, voice=voice)
    del msg["text"]
    return update(10002, message=msg)


def location_update(message_id: int = 1368) -> dict[str, Any]:
    msg = message(message_id, location={"latitude": 31.2304, "longitude": 121.4737})
    del msg["text"]
    return update(10003, message=msg)


def edited_update(message_id: int = 1365, edit_date: int = DATE + 60) -> dict[str, Any]:
    return update(
        10004, edited_message=message(message_id, text="/start again", edit_date=edit_date)
    )


def callback_update(query_id: str = "4382bfdwdsb323b2d9") -> dict[str, Any]:
    bot_message = {
        "message_id": 1370,
        "from": sender(7000000, is_bot=True),
        "chat": private_chat(),
        "date": DATE,
        "text": "Pick one",
    }
    return update(
        10005,
        callback_query={
            "id": query_id,
            "from": sender(),
            "chat_instance": "-4390238",
            "data": "size:M",
            "message": bot_message,
        },
    )


def reaction_update(message_id: int = 1365) -> dict[str, Any]:
    return update(
        10006,
        message_reaction={
            "chat": private_chat(),
            "message_id": message_id,
            "user": sender(),
            "date": DATE + 5,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        },
    )


def member_update(status: str, date: int) -> dict[str, Any]:
    bot = sender(7000000, is_bot=True)
    return update(
        10007,
        my_chat_member={
            "chat": private_chat(),
            "from": sender(),
            "date": date,
            "old_chat_member": {"status": "left" if status == "member" else "member", "user": bot},
            "new_chat_member": {"status": status, "user": bot},
        },
    )


def _push(
    name: str, payload: dict[str, Any] | bytes, *event_types: str, status: int = 200
) -> WebhookCase:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookCase(
        name,
        "telegram",
        ACCOUNT,
        "POST",
        body=body,
        status=status,
        event_types=event_types,
        headers={
            "content-type": "application/json",
            "x-telegram-bot-api-secret-token": SECRET_TOKEN,
        },
        answer=b"" if status == 200 else None,
        source="https://core.telegram.org/bots/webhooks#testing-your-bot-with-updates (shape)",
    )


_text = json.dumps(text_update(1390)).encode()
MESSAGE = "scrm.message.received.v1"

CASES = [
    _push("text message", text_update(), MESSAGE),
    _push("photo with caption", photo_update(), MESSAGE),
    _push("voice", voice_update(), MESSAGE),
    _push("location", location_update(), MESSAGE),
    _push("edited message", edited_update(), MESSAGE),
    _push("callback query", callback_update(), MESSAGE),
    _push("reaction", reaction_update(), "scrm.reaction.added.v1"),
    _push("user started the bot", member_update("member", DATE - 100), "scrm.fan.followed.v1"),
    _push("user blocked the bot", member_update("kicked", DATE + 500), "scrm.fan.unfollowed.v1"),
    _push(
        "a bot's message",
        update(10008, message=message(1371, **{"from": sender(7000001, is_bot=True)})),
    ),
    _push(
        "channel post",
        update(
            10009,
            channel_post={
                "message_id": 5,
                "chat": {"id": -1001234, "type": "channel"},
                "date": DATE,
                "text": "news",
            },
        ),
    ),
    _push("authentic but not an Update", b'{"message": {"text": "no update_id"}}', status=400),
    _push("authentic but not JSON", b'{"update_id": 1, "message": ', status=400),
    WebhookCase(
        "wrong secret token",
        "telegram",
        ACCOUNT,
        "POST",
        body=_text,
        status=401,
        headers={"x-telegram-bot-api-secret-token": "guessed"},
    ),
    WebhookCase("no secret token", "telegram", ACCOUNT, "POST", body=_text, status=401),
    WebhookCase("GET: Telegram has no handshake", "telegram", ACCOUNT, "GET", status=400),
]
