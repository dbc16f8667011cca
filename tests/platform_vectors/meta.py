"""Meta (Messenger, Instagram, WhatsApp): pywa's published WhatsApp signature vector, and signed
pushes shaped like the examples in Meta's webhook references:

- Messenger: https://developers.facebook.com/docs/messenger-platform/webhooks
- Page feed: https://developers.facebook.com/docs/graph-api/webhooks/reference/page/#feed
- Instagram: https://developers.facebook.com/docs/instagram-platform/webhooks
- WhatsApp: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples

Bodies are serialised the way Meta sends them: compact, non-ASCII as ``\\uXXXX`` escapes.
"""

import json
from typing import Any

from services.ingest.platforms.meta import meta_signature
from tests.platform_vectors import WebhookCase

APP_SECRET = "d1e7c0a9b8f6e5d4c3b2a1f0e9d8c7b6"
VERIFY_TOKEN = "meta-vectors-verify-token"
PAGE_ID = "meta-vec-page-1001"
IG_ID = "meta-vec-ig-2002"
PHONE_ID = "meta-vec-wa-3003"
PSID = "6912345678901234"
IGSID = "17841400000000001"
WA_ID = "16315551181"


def account(platform: str, account_id: str, secret: str = APP_SECRET) -> dict[str, Any]:
    return {
        "platform": platform, "account_id": account_id, "app_secret": secret,
        "verify_token": VERIFY_TOKEN, "access_token": f"{account_id}-token",
    }  # fmt: skip


MESSENGER = account("messenger", PAGE_ID)
INSTAGRAM = account("instagram", IG_ID)
WHATSAPP = account("whatsapp", PHONE_ID)
# One app serving two pages through one callback URL: object_id says which page this account is.
SHARED_PAGE_ID = "meta-vec-page-4004"
SHARED_APP_PAGE = {**account("messenger", "meta-vec-shared-app"), "object_id": SHARED_PAGE_ID}

# pywa's test suite (david-lev/pywa, tests/test_server.py, test_webhook_updates_validator): a real
# WhatsApp Cloud API push with its app secret (since reset) and X-Hub-Signature-256.
PYWA_SECRET = "1222e786b144d0e85b9f365372d93676"
PYWA_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"264937493375603","changes":[{"value":'
    b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550953877",'
    b'"phone_number_id":"277321005464405"},"contacts":[{"profile":{"name":"PyWa Tests"},'
    b'"wa_id":"972544401243"}],"messages":[{"from":"972544401243","id":"wamid.HBgMOTcyNTQ0NDAx'
    b'MjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA","timestamp":"1730231903","text":'
    b'{"body":"Hey there! I am using PyWa."},"type":"text"}]},"field":"messages"}]}]}'
)
PYWA_SIGNATURE = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
PYWA_SOURCE = (
    "https://github.com/david-lev/pywa tests/test_server.py (test_webhook_updates_validator)"
)
PYWA_ACCOUNT = account("whatsapp", "277321005464405", PYWA_SECRET)

# GitHub's published example for the same X-Hub-Signature-256 scheme.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
GITHUB_SOURCE = "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries"


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()  # ensure_ascii: \uXXXX, like Meta


def signed_headers(raw: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"x-hub-signature-256": meta_signature(secret, raw), "content-type": "application/json"}


# --- Messenger (object=page) ---


def messaging(sender: str = PSID, **event: Any) -> dict[str, Any]:
    return {
        "sender": {"id": sender}, "recipient": {"id": PAGE_ID}, "timestamp": 1732600000123,
        **event,
    }  # fmt: skip


def page(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": list(entries)}


def page_entry(
    messages: list[dict[str, Any]] | None = None, changes: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": PAGE_ID, "time": 1732600000456}
    if messages is not None:
        entry["messaging"] = messages
    if changes is not None:
        entry["changes"] = changes
    return entry


def feed(**value: Any) -> dict[str, Any]:
    return {"field": "feed", "value": {"from": {"id": "1000000001", "name": "Fan Name"},
                                       "post_id": f"{PAGE_ID}_900", "verb": "add",
                                       "created_time": 1732600100, **value}}  # fmt: skip


MESSENGER_TEXT = page(
    page_entry([messaging(message={"mid": "m_text_1", "text": "Grüß dich 👋, is the shop open?"})])
)
MESSENGER_BATCH = page(
    page_entry(
        [
            messaging(message={"mid": "m_img_1", "attachments": [
                {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/a.jpg"}}]}),
            messaging(postback={"mid": "m_pb_1", "title": "Get Started",
                                "payload": "GET_STARTED"}),
            messaging(reaction={"mid": "m_text_1", "action": "react", "reaction": "love",
                                "emoji": "\u2764\ufe0f"}),
            messaging(read={"watermark": 1732600000000}),
            messaging(sender=PAGE_ID, message={"mid": "m_echo_1", "text": "hi",
                                               "is_echo": True, "app_id": 1517776481860111}),
        ]
    ),
    page_entry([messaging(delivery={"mids": ["m_echo_1"], "watermark": 1732600000000})]),
)  # fmt: skip
MESSENGER_FEED = page(
    page_entry(
        changes=[
            feed(item="comment", comment_id="900_501", parent_id=f"{PAGE_ID}_900",
                 message="Love this!"),
            feed(item="share", share_id="900_777"),
            feed(item="reaction", reaction_type="like", parent_id=f"{PAGE_ID}_900"),
            feed(item="comment", verb="edited", comment_id="900_501", message="Edited"),
        ]
    )
)  # fmt: skip

# --- Instagram (object=instagram) ---


def instagram(entry: dict[str, Any]) -> dict[str, Any]:
    return {"object": "instagram", "entry": [{"id": IG_ID, "time": 1732600200, **entry}]}


INSTAGRAM_DM = instagram(
    {"messaging": [
        {"sender": {"id": IGSID}, "recipient": {"id": IG_ID}, "timestamp": 1732600200555,
         "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZA", "text": "Is this in stock?",
                     "reply_to": {"story": {"url": "https://lookaside.fbsbx.com/story.jpg",
                                            "id": "17900000000000001"}}}},
        {"sender": {"id": IGSID}, "recipient": {"id": IG_ID}, "timestamp": 1732600200999,
         "reaction": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZA", "action": "react",
                      "reaction": "love", "emoji": "\u2764"}},
    ]}
)  # fmt: skip
INSTAGRAM_COMMENTS = instagram(
    {"changes": [
        {"field": "comments", "value": {
            "id": "17865799348089039", "text": "Where can I buy this? \U0001f60d",
            "from": {"id": "17841405309211844", "username": "a_fan"},
            "media": {"id": "17887498072083520", "media_product_type": "FEED"}}},
        {"field": "mentions", "value": {"media_id": "17887498072083521",
                                        "comment_id": "17887498072083522"}},
    ]}
)  # fmt: skip

# --- WhatsApp (object=whatsapp_business_account) ---


def wa_message(wamid: str, kind: str, **content: Any) -> dict[str, Any]:
    return {"from": WA_ID, "id": wamid, "timestamp": "1732600300", "type": kind, **content}


def whatsapp(
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


WA_TEXT = whatsapp([wa_message("wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQUZBMDBFNkQ", "text",
                               text={"body": "¿Tienen envío a domicilio?"})])  # fmt: skip
WA_BATCH = whatsapp(
    [
        wa_message("wamid.IMG1", "image", image={
            "caption": "this one", "mime_type": "image/jpeg", "sha256": "abc",
            "id": "1003383421387256"}),
        wa_message("wamid.LOC1", "location", location={
            "latitude": 37.48, "longitude": -122.14, "name": "Philz Coffee",
            "address": "101 Forest Ave, Palo Alto"}),
        wa_message("wamid.BTN1", "interactive", interactive={
            "type": "button_reply", "button_reply": {"id": "yes", "title": "Yes, please"}}),
        wa_message("wamid.REACT1", "reaction", reaction={
            "message_id": "wamid.OUT1", "emoji": "\U0001f44d"}),
        wa_message("wamid.UNS1", "unsupported", errors=[{"code": 131051}]),
    ]
)  # fmt: skip
# One unreadable messaging item (a timestamp past the year 9999) between two good ones, and an
# unreadable entry: the good events are kept, not refused with the batch.
MESSENGER_MIXED = page(
    page_entry([
        messaging(message={"mid": "m_mixed_1", "text": "first"}),
        messaging(message={"mid": "m_mixed_bad", "text": "lost"}, timestamp=1e300),
        messaging(postback={"mid": "m_mixed_2", "title": "Menu", "payload": "MENU"}),
    ]),
    {"id": PAGE_ID, "time": "not a time", "messaging": []},
)  # fmt: skip
_other_page = page_entry([messaging(message={"mid": "m_other_page", "text": "not ours"})])
_other_page["id"] = PAGE_ID
_shared_page = page_entry([messaging(message={"mid": "m_shared_page", "text": "ours"})])
_shared_page["id"] = SHARED_PAGE_ID
MESSENGER_TWO_PAGES = page(_other_page, _shared_page)
WA_STATUS = whatsapp(
    statuses=[{"id": "wamid.OUT1", "status": "delivered", "timestamp": "1732600301",
               "recipient_id": WA_ID}]
)  # fmt: skip


def _post(
    name: str, platform: str, acct: dict[str, Any], payload: dict[str, Any],
    event_types: tuple[str, ...], source: str,
) -> WebhookCase:  # fmt: skip
    raw = body(payload)
    return WebhookCase(
        name, platform, acct, "POST", body=raw, headers=signed_headers(raw),
        answer=b"EVENT_RECEIVED", event_types=event_types, body_signed=True, source=source,
    )  # fmt: skip


MESSAGE = "scrm.message.received.v1"
COMMENT = "scrm.comment.created.v1"
REACTION = "scrm.reaction.added.v1"
SHARED = "scrm.content.shared.v1"
MESSENGER_REF = "https://developers.facebook.com/docs/messenger-platform/webhooks"
FEED_REF = "https://developers.facebook.com/docs/graph-api/webhooks/reference/page/#feed"
IG_REF = "https://developers.facebook.com/docs/instagram-platform/webhooks"
WA_REF = "https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples"

_not_json = b'{"object":"page","entry":[{"id":'
_wrong_object = body({"object": "instagram", "entry": []})


def _handshake(platform: str, acct: dict[str, Any], challenge: str) -> WebhookCase:
    return WebhookCase(
        f"{platform}: subscription handshake", platform, acct, "GET",
        query={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
               "hub.challenge": challenge},
        answer=challenge.encode(), source="https://developers.facebook.com/docs/graph-api/webhooks/getting-started",
    )  # fmt: skip


CASES = [
    WebhookCase(
        "whatsapp: pywa's published signed push",
        "whatsapp",
        PYWA_ACCOUNT,
        "POST",
        body=PYWA_BODY,
        headers={"x-hub-signature-256": PYWA_SIGNATURE},
        answer=b"EVENT_RECEIVED",
        event_types=(MESSAGE,),
        body_signed=True,
        source=PYWA_SOURCE,
    ),
    _handshake("messenger", MESSENGER, "1158201444"),
    _handshake("instagram", INSTAGRAM, "ig-challenge-42"),
    _handshake("whatsapp", WHATSAPP, "1903260781"),
    WebhookCase(
        "messenger: handshake with a wrong verify token",
        "messenger",
        MESSENGER,
        "GET",
        query={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        status=401,
    ),
    _post("messenger: text", "messenger", MESSENGER, MESSENGER_TEXT, (MESSAGE,), MESSENGER_REF),
    _post(
        "messenger: image, postback, reaction, read, echo, delivery",
        "messenger",
        MESSENGER,
        MESSENGER_BATCH,
        (MESSAGE, MESSAGE, REACTION),
        MESSENGER_REF,
    ),
    _post(
        "messenger: page feed comment, share, reaction, edit",
        "messenger",
        MESSENGER,
        MESSENGER_FEED,
        (COMMENT, SHARED, REACTION),
        FEED_REF,
    ),
    _post(
        "instagram: story reply and reaction",
        "instagram",
        INSTAGRAM,
        INSTAGRAM_DM,
        (MESSAGE, REACTION),
        IG_REF,
    ),
    _post(
        "instagram: comment and mention without author",
        "instagram",
        INSTAGRAM,
        INSTAGRAM_COMMENTS,
        (COMMENT,),
        IG_REF,
    ),
    _post(
        "messenger: a batch with an unreadable item and entry keeps the good events",
        "messenger",
        MESSENGER,
        MESSENGER_MIXED,
        (MESSAGE, MESSAGE),
        MESSENGER_REF,
    ),
    _post(
        "messenger: one app, two pages; object_id keeps only this account's page",
        "messenger",
        SHARED_APP_PAGE,
        MESSENGER_TWO_PAGES,
        (MESSAGE,),
        MESSENGER_REF,
    ),
    _post("whatsapp: text", "whatsapp", WHATSAPP, WA_TEXT, (MESSAGE,), WA_REF),
    _post(
        "whatsapp: image, location, button reply, reaction, unsupported",
        "whatsapp",
        WHATSAPP,
        WA_BATCH,
        (MESSAGE, MESSAGE, MESSAGE, REACTION, MESSAGE),
        WA_REF,
    ),
    _post("whatsapp: delivery status of our message", "whatsapp", WHATSAPP, WA_STATUS, (), WA_REF),
    WebhookCase(
        "messenger: authentic but not JSON",
        "messenger",
        MESSENGER,
        "POST",
        body=_not_json,
        headers=signed_headers(_not_json),
        status=400,
    ),
    WebhookCase(
        "messenger: authentic, but an Instagram object on the Messenger path",
        "messenger",
        MESSENGER,
        "POST",
        body=_wrong_object,
        headers=signed_headers(_wrong_object),
        status=400,
    ),
    WebhookCase(
        "whatsapp: signed with another app's secret",
        "whatsapp",
        WHATSAPP,
        "POST",
        body=body(WA_TEXT),
        headers=signed_headers(body(WA_TEXT), "not-the-app-secret"),
        status=401,
    ),
    WebhookCase(
        "instagram: no signature",
        "instagram",
        INSTAGRAM,
        "POST",
        body=body(INSTAGRAM_DM),
        status=401,
    ),
]
