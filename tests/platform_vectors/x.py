"""X Account Activity: the CRC handshake, and signed activity pushes of each kind ingest reads,
shaped like the sample payloads in X's Account Activity API documentation
(https://docs.x.com/x-api/enterprise-gnip-2.0/fundamentals/account-activity). X publishes no
consumer secret with a matching signature, so every signature here is computed with
``x_signature`` (and checked against an independent HMAC in the unit tests)."""

import json
from typing import Any

from services.ingest.platforms.x import x_signature
from tests.platform_vectors import WebhookCase

BRAND = "3001969357"  # the subscribed user (for_user_id)
FAN = "2244994945"
CONSUMER_SECRET = "x-vectors-consumer-secret-0123456789abcdef"
ACCOUNT = {
    "platform": "x",
    "account_id": "x-vectors",
    "user_id": BRAND,
    "consumer_secret": CONSUMER_SECRET,
}
CRC_TOKEN = "Y2M3MjljYWItOWEwYS00ZjZlLWE5ZWUtNWYyNzNhNDFlZTJi"
CREATED_AT = "Wed Oct 10 20:19:24 +0000 2018"
TIMESTAMP_MS = "1539202764000"


def fan(user_id: str = FAN, followers: int = 1523) -> dict[str, Any]:
    return {
        "id": int(user_id),
        "id_str": user_id,
        "name": "A Fan",
        "screen_name": "a_fan",
        "followers_count": followers,
        "friends_count": 88,
        "verified": False,
    }


def brand_user() -> dict[str, Any]:
    return {
        "id": int(BRAND),
        "id_str": BRAND,
        "name": "Brand",
        "screen_name": "brand",
        "followers_count": 250000,
    }


def tweet(tweet_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "created_at": CREATED_AT,
        "id": int(tweet_id),
        "id_str": tweet_id,
        "text": "hello",
        "source": '<a href="https://mobile.x.com" rel="nofollow">X Web App</a>',
        "truncated": False,
        "in_reply_to_status_id": None,
        "in_reply_to_status_id_str": None,
        "in_reply_to_user_id": None,
        "in_reply_to_user_id_str": None,
        "user": fan(),
        "is_quote_status": False,
        "entities": {"hashtags": [], "urls": [], "user_mentions": [], "symbols": []},
        "timestamp_ms": TIMESTAMP_MS,
        "lang": "en",
    }
    return base | fields


def reply_tweet(tweet_id: str = "1050118621198921728") -> dict[str, Any]:
    return tweet(
        tweet_id,
        text="@brand my order never arrived",
        in_reply_to_status_id_str="1050118000000",
        in_reply_to_user_id_str=BRAND,
        in_reply_to_screen_name="brand",
        entities={"user_mentions": [{"id_str": BRAND, "screen_name": "brand", "indices": [0, 6]}]},
    )


def mention_tweet(tweet_id: str = "1050118621198921729") -> dict[str, Any]:
    return tweet(
        tweet_id,
        text="loving the new range from @brand",
        entities={
            "user_mentions": [{"id_str": BRAND, "screen_name": "brand", "indices": [26, 32]}]
        },
    )


def retweet(tweet_id: str = "1050118621198921730") -> dict[str, Any]:
    original = tweet("1050118000001", user=brand_user(), text="Our new range is here")
    return tweet(tweet_id, text="RT @brand: Our new range is here", retweeted_status=original)


def quote_tweet(tweet_id: str = "1050118621198921731") -> dict[str, Any]:
    original = tweet("1050118000002", user=brand_user(), text="Sale starts now")
    return tweet(
        tweet_id,
        text="finally!",
        is_quote_status=True,
        quoted_status=original,
        quoted_status_id_str="1050118000002",
    )


def favorite(fav_id: str = "a7ba59eab0bfcba386f7acedac279542") -> dict[str, Any]:
    return {
        "id": fav_id,
        "created_at": CREATED_AT,
        "timestamp_ms": int(TIMESTAMP_MS),
        "favorited_status": tweet("1050118000003", user=brand_user()),
        "user": fan(),
    }


def follow(kind: str = "follow", created: str = TIMESTAMP_MS) -> dict[str, Any]:
    return {
        "type": kind,
        "created_timestamp": created,
        "target": {"id": BRAND, "screen_name": "brand", "followers_count": 250000},
        "source": {"id": FAN, "screen_name": "a_fan", "followers_count": 1523},
    }


def direct_message(
    dm_id: str = "1050118621198921800", sender: str = FAN, media: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {"text": "hi, where is my parcel?", "entities": {}}
    if media:
        data["attachment"] = {
            "type": "media",
            "media": {
                "id": 1050118600000000000,
                "id_str": "1050118600000000000",
                "type": "photo",
                "media_url_https": "https://ton.x.com/1.1/ton/data/dm/1/2/abc.jpg",
            },
        }
    recipient = BRAND if sender != BRAND else FAN
    return {
        "type": "message_create",
        "id": dm_id,
        "created_timestamp": TIMESTAMP_MS,
        "message_create": {
            "target": {"recipient_id": recipient},
            "sender_id": sender,
            "message_data": data,
        },
    }


def activity(**events: Any) -> dict[str, Any]:
    return {"for_user_id": BRAND, **events}


def signed(payload: dict[str, Any] | bytes) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {
        "content-type": "application/json",
        "x-twitter-webhooks-signature": x_signature(CONSUMER_SECRET, body),
    }


def _push(
    name: str, payload: dict[str, Any] | bytes, *event_types: str, status: int = 200
) -> WebhookCase:
    body, headers = signed(payload)
    return WebhookCase(
        name,
        "x",
        ACCOUNT,
        "POST",
        body=body,
        headers=headers,
        status=status,
        event_types=event_types,
        body_signed=True,
        answer=b"{}" if status == 200 else None,
    )


_crc_answer = json.dumps({"response_token": x_signature(CONSUMER_SECRET, CRC_TOKEN.encode())})
_forged_body, _ = signed(activity(direct_message_events=[direct_message("1050118621198921899")]))

CASES = [
    WebhookCase(
        "CRC challenge",
        "x",
        ACCOUNT,
        "GET",
        query={"crc_token": CRC_TOKEN, "nonce": "MTQ2"},
        answer=_crc_answer.encode(),
        source="computed with x_signature",
    ),
    _push(
        "reply to the brand",
        activity(tweet_create_events=[reply_tweet()]),
        "scrm.comment.created.v1",
    ),
    _push(
        "mention of the brand",
        activity(tweet_create_events=[mention_tweet()]),
        "scrm.comment.created.v1",
    ),
    _push(
        "retweet and quote of the brand's tweets",
        activity(tweet_create_events=[retweet(), quote_tweet()]),
        "scrm.content.shared.v1",
        "scrm.content.shared.v1",
    ),
    _push(
        "the brand's own tweet",
        activity(tweet_create_events=[tweet("1050118621198921732", user=brand_user())]),
    ),
    _push("like", activity(favorite_events=[favorite()]), "scrm.reaction.added.v1"),
    _push(
        "follow then unfollow",
        activity(follow_events=[follow(), follow("unfollow", "1539202999000")]),
        "scrm.fan.followed.v1",
        "scrm.fan.unfollowed.v1",
    ),
    _push(
        "direct message with a photo",
        activity(
            direct_message_events=[direct_message(media=True)],
            users={FAN: fan(), BRAND: brand_user()},
        ),
        "scrm.message.received.v1",
    ),
    _push(
        "the brand's own DM, typing and read receipts",
        activity(
            direct_message_events=[direct_message("1050118621198921801", sender=BRAND)],
            direct_message_indicate_typing_events=[
                {
                    "created_timestamp": TIMESTAMP_MS,
                    "sender_id": FAN,
                    "target": {"recipient_id": BRAND},
                }
            ],
            direct_message_mark_read_events=[
                {
                    "created_timestamp": TIMESTAMP_MS,
                    "sender_id": FAN,
                    "target": {"recipient_id": BRAND},
                    "last_read_event_id": "1050118621198921801",
                }
            ],
        ),
    ),
    _push(
        "authentic but another user's activity", {**activity(), "for_user_id": "999"}, status=400
    ),
    _push(
        "authentic but not JSON",
        b'{"for_user_id": "3001969357", "tweet_create_events": [',
        status=400,
    ),
    WebhookCase(
        "signed with another secret",
        "x",
        ACCOUNT,
        "POST",
        body=_forged_body,
        status=401,
        headers={"x-twitter-webhooks-signature": x_signature("not-the-secret", _forged_body)},
    ),
    WebhookCase("no signature", "x", ACCOUNT, "POST", body=_forged_body, status=401),
]
