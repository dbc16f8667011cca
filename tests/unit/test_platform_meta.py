import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.platforms import common
from services.ingest.platforms.base import InboundRequest, MalformedPayload, VerificationError
from services.ingest.platforms.meta import (
    MetaAccount,
    MetaWebhooks,
    meta_signature,
    verify_meta_signature,
)
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanEvent,
    MessageReceived,
    ReactionAdded,
    ReplyRequested,
)
from shared.events import CloudEvent, event_id
from tests.platform_vectors import meta as vectors
from tests.platform_vectors.meta import (
    APP_SECRET,
    GITHUB_BODY,
    GITHUB_SECRET,
    GITHUB_SIGNATURE,
    IG_ID,
    IGSID,
    PAGE_ID,
    PHONE_ID,
    PSID,
    PYWA_BODY,
    PYWA_SECRET,
    PYWA_SIGNATURE,
    VERIFY_TOKEN,
    WA_ID,
)

ADAPTER = MetaWebhooks()
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
TOKEN = "EAAG-page-access-token-secret"
BASE = "https://graph.test"


def account(
    platform: str, account_id: str, *, token: str | None = TOKEN, object_id: str | None = None
) -> MetaAccount:
    return MetaAccount(
        platform=platform,
        account_id=account_id, app_secret=APP_SECRET, verify_token=VERIFY_TOKEN,
        access_token=token, object_id=object_id,
    )  # fmt: skip


MESSENGER = account("messenger", PAGE_ID)
INSTAGRAM = account("instagram", IG_ID)
WHATSAPP = account("whatsapp", PHONE_ID)
ACCOUNTS = {"messenger": MESSENGER, "instagram": INSTAGRAM, "whatsapp": WHATSAPP}


def request(
    raw: bytes = b"", *, headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
    method: str = "POST",
) -> InboundRequest:  # fmt: skip
    return InboundRequest(method, query or {}, headers or {}, raw, RECEIVED)


def normalise(acct: MetaAccount, payload: dict[str, Any]) -> Sequence[CloudEvent[FanEvent]]:
    raw = vectors.body(payload)
    req = request(raw, headers=vectors.signed_headers(raw))
    ADAPTER.verify(acct, req)
    return ADAPTER.normalise(acct, req)


def only(events: Sequence[CloudEvent[FanEvent]]) -> FanEvent:
    assert len(events) == 1, events
    return events[0].data


class TestSignature:
    def test_reproduces_githubs_published_vector_for_the_same_scheme(self) -> None:
        assert meta_signature(GITHUB_SECRET, GITHUB_BODY) == GITHUB_SIGNATURE

    def test_reproduces_pywas_published_whatsapp_vector(self) -> None:
        assert meta_signature(PYWA_SECRET, PYWA_BODY) == PYWA_SIGNATURE

    def test_accepts_the_published_vectors(self) -> None:
        for secret, raw, signature in [
            (PYWA_SECRET, PYWA_BODY, PYWA_SIGNATURE),
            (GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE),
        ]:
            verify_meta_signature(
                app_secret=secret, headers={"x-hub-signature-256": signature}, body=raw
            )

    def test_accepts_upper_case_hex(self) -> None:
        upper = "sha256=" + PYWA_SIGNATURE.removeprefix("sha256=").upper()
        verify_meta_signature(
            app_secret=PYWA_SECRET, headers={"x-hub-signature-256": upper}, body=PYWA_BODY
        )

    @pytest.mark.parametrize("position", [0, 1, len(PYWA_BODY) // 2, len(PYWA_BODY) - 1])
    def test_refuses_one_flipped_body_byte(self, position: int) -> None:
        tampered = bytearray(PYWA_BODY)
        tampered[position] ^= 0x01
        with pytest.raises(VerificationError) as refused:
            verify_meta_signature(
                app_secret=PYWA_SECRET, headers={"x-hub-signature-256": PYWA_SIGNATURE},
                body=bytes(tampered),
            )  # fmt: skip
        assert refused.value.reason == "signature"

    def test_refuses_a_reserialised_body(self) -> None:
        reserialised = json.dumps(json.loads(PYWA_BODY)).encode()
        with pytest.raises(VerificationError):
            verify_meta_signature(
                app_secret=PYWA_SECRET, headers={"x-hub-signature-256": PYWA_SIGNATURE},
                body=reserialised,
            )  # fmt: skip

    def test_checks_the_escaped_bytes_not_the_decoded_text(self) -> None:
        raw = vectors.body(vectors.WA_TEXT)
        assert b"\\u00bf" in raw  # "¿" travels as an escape
        headers = vectors.signed_headers(raw)
        verify_meta_signature(app_secret=APP_SECRET, headers=headers, body=raw)
        decoded = json.dumps(vectors.WA_TEXT, separators=(",", ":"), ensure_ascii=False).encode()
        with pytest.raises(VerificationError):
            verify_meta_signature(app_secret=APP_SECRET, headers=headers, body=decoded)

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"x-hub-signature-256": ""},
            {"x-hub-signature": "sha1=" + "0" * 40},
            {"x-hub-signature-256": PYWA_SIGNATURE.removeprefix("sha256=")},
            {"x-hub-signature-256": "sha1=" + PYWA_SIGNATURE.removeprefix("sha256=")},
            {"x-hub-signature-256": "sha256=" + "0" * 64},
            {"x-hub-signature-256": "sha256=zz"},
            {"x-hub-signature-256": "sha256=\u00e9\u00e9"},
        ],
        ids=["none", "empty", "sha1-only", "no-prefix", "wrong-prefix", "zeros", "not-hex",
             "non-ascii"],
    )  # fmt: skip
    def test_refuses_missing_or_wrong_signatures(self, headers: dict[str, str]) -> None:
        with pytest.raises(VerificationError):
            verify_meta_signature(app_secret=PYWA_SECRET, headers=headers, body=PYWA_BODY)

    def test_refuses_another_apps_secret(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(
                WHATSAPP, request(PYWA_BODY, headers={"x-hub-signature-256": PYWA_SIGNATURE})
            )
        assert APP_SECRET not in str(refused.value)


class TestHandshake:
    def query(self, **changes: str) -> dict[str, str]:
        return {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1158201444", **changes}  # fmt: skip

    @pytest.mark.parametrize("acct", [MESSENGER, INSTAGRAM, WHATSAPP], ids=lambda a: a.platform)
    def test_echoes_the_challenge_verbatim(self, acct: MetaAccount) -> None:
        answer = ADAPTER.handshake(acct, request(method="GET", query=self.query()))
        assert (answer.status_code, answer.body, answer.media_type) == (
            200, b"1158201444", "text/plain",
        )  # fmt: skip

    def test_echoes_a_non_numeric_challenge_too(self) -> None:
        answer = ADAPTER.handshake(
            MESSENGER, request(method="GET", query=self.query(**{"hub.challenge": "a-b_c"}))
        )
        assert answer.body == b"a-b_c"

    @pytest.mark.parametrize(
        "changes",
        [{"hub.verify_token": "guess"}, {"hub.verify_token": ""}, {"hub.mode": "unsubscribe"},
         {"hub.challenge": ""}, {"hub.challenge": "x" * 2000},
         {"hub.verify_token": VERIFY_TOKEN + "\u00e9"}],
        ids=["wrong-token", "no-token", "wrong-mode", "no-challenge", "huge-challenge",
             "non-ascii-token"],
    )  # fmt: skip
    def test_refuses_a_wrong_handshake(self, changes: dict[str, str]) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(MESSENGER, request(method="GET", query=self.query(**changes)))
        assert VERIFY_TOKEN not in str(refused.value)

    def test_refuses_an_empty_query(self) -> None:
        with pytest.raises(VerificationError):
            ADAPTER.handshake(MESSENGER, request(method="GET"))


class TestMessenger:
    def test_text_with_non_ascii(self) -> None:
        [event] = normalise(MESSENGER, vectors.MESSENGER_TEXT)
        message = event.data
        assert isinstance(message, MessageReceived)
        assert message.text == "Grüß dich 👋, is the shop open?"
        assert (message.platform, message.account, message.user_id) == (
            "messenger", PAGE_ID, PSID,
        )  # fmt: skip
        assert message.message_id == message.platform_event_id == "m_text_1"
        assert message.thread_ref == PSID
        assert message.occurred_at == datetime(2024, 11, 26, 5, 46, 40, 123000, tzinfo=UTC)
        assert event.subject == f"messenger:{PAGE_ID}:{PSID}"
        assert event.id == event_id("messenger", PAGE_ID, MessageReceived.event_type, "m_text_1")
        assert event.time == message.occurred_at

    def test_a_batch_gives_every_event_and_skips_read_delivery_and_echo(self) -> None:
        image, postback, reaction = [e.data for e in normalise(MESSENGER, vectors.MESSENGER_BATCH)]
        assert isinstance(image, MessageReceived)
        assert image.message_type == "image"
        assert [(m.kind, m.url) for m in image.media] == [
            ("image", "https://scontent.xx.fbcdn.net/v/a.jpg")
        ]
        assert isinstance(postback, MessageReceived)
        assert (postback.message_type, postback.text, postback.message_id) == (
            "event", "Get Started", "m_pb_1",
        )  # fmt: skip
        assert isinstance(reaction, ReactionAdded)
        assert (reaction.target_id, reaction.reaction) == ("m_text_1", "\u2764\ufe0f")

    def test_unreact_is_not_an_event(self) -> None:
        payload = vectors.page(vectors.page_entry([vectors.messaging(
            reaction={"mid": "m1", "action": "unreact", "reaction": "love"})]))  # fmt: skip
        assert normalise(MESSENGER, payload) == []

    @pytest.mark.parametrize(
        ("attachment", "message_type", "kind", "url"),
        [
            ({"type": "video", "payload": {"url": "https://v"}}, "video", "video", "https://v"),
            ({"type": "audio", "payload": {"url": "https://a"}}, "voice", "voice", "https://a"),
            ({"type": "file", "payload": {"url": "https://f"}}, "file", "file", "https://f"),
            ({"type": "image", "payload": {"url": "https://s", "sticker_id": 369239263222822}},
             "sticker", "sticker", "https://s"),
            ({"type": "location", "payload": {"coordinates": {"lat": 1.5, "long": -2.25}}},
             "location", "location", "geo:1.5,-2.25"),
            ({"type": "fallback", "payload": {"url": "https://l", "title": "A link"}},
             "link", "link", "https://l"),
        ],
    )  # fmt: skip
    def test_attachments(
        self, attachment: dict[str, Any], message_type: str, kind: str, url: str
    ) -> None:
        payload = vectors.page(vectors.page_entry([vectors.messaging(
            message={"mid": "m_att", "attachments": [attachment]})]))  # fmt: skip
        message = only(normalise(MESSENGER, payload))
        assert isinstance(message, MessageReceived)
        assert message.message_type == message_type
        assert [(m.kind, m.url) for m in message.media] == [(kind, url)]

    def test_unknown_attachment_is_other(self) -> None:
        payload = vectors.page(vectors.page_entry([vectors.messaging(
            message={"mid": "m_x", "attachments": [{"type": "hologram"}]})]))  # fmt: skip
        message = only(normalise(MESSENGER, payload))
        assert isinstance(message, MessageReceived)
        assert message.message_type == "other"

    def test_feed_comment_share_reaction_and_no_edit(self) -> None:
        comment, shared, reaction = [e.data for e in normalise(MESSENGER, vectors.MESSENGER_FEED)]
        assert isinstance(comment, CommentCreated)
        assert (comment.comment_id, comment.post_id, comment.text, comment.user_id) == (
            "900_501", f"{PAGE_ID}_900", "Love this!", "1000000001",
        )  # fmt: skip
        assert comment.occurred_at == datetime.fromtimestamp(1732600100, UTC)
        assert isinstance(shared, ContentShared)
        assert (shared.content_id, shared.platform_event_id) == (f"{PAGE_ID}_900", "900_777")
        assert isinstance(reaction, ReactionAdded)
        assert (reaction.target_id, reaction.reaction) == (f"{PAGE_ID}_900", "like")

    def test_the_pages_own_comment_is_not_a_fan_event(self) -> None:
        own = vectors.feed(item="comment", comment_id="900_9", message="Thanks!")
        own["value"]["from"] = {"id": PAGE_ID, "name": "The Brand"}
        assert normalise(MESSENGER, vectors.page(vectors.page_entry(changes=[own]))) == []

    def test_several_entries(self) -> None:
        two = vectors.page(
            vectors.page_entry([vectors.messaging(message={"mid": "a", "text": "1"})]),
            vectors.page_entry([vectors.messaging(message={"mid": "b", "text": "2"})]),
        )
        assert [e.data.platform_event_id for e in normalise(MESSENGER, two)] == ["a", "b"]

    def test_falls_back_to_the_entry_time_then_the_receipt_time(self) -> None:
        event = vectors.messaging(message={"mid": "m_t", "text": "x"})
        del event["timestamp"]
        entry = vectors.page_entry([event])
        assert only(normalise(MESSENGER, vectors.page(entry))).occurred_at == datetime(
            2024, 11, 26, 5, 46, 40, 456000, tzinfo=UTC
        )
        del entry["time"]
        assert only(normalise(MESSENGER, vectors.page(entry))).occurred_at == RECEIVED


class TestInstagram:
    def test_story_reply_and_reaction(self) -> None:
        reply, reaction = [e.data for e in normalise(INSTAGRAM, vectors.INSTAGRAM_DM)]
        assert isinstance(reply, MessageReceived)
        assert (reply.platform, reply.user_id, reply.thread_ref, reply.text) == (
            "instagram", IGSID, IGSID, "Is this in stock?",
        )  # fmt: skip
        assert [(m.kind, m.platform_media_id) for m in reply.media] == [
            ("link", "17900000000000001")
        ]
        assert isinstance(reaction, ReactionAdded)
        assert reaction.target_id == "aWdfZAG1faXRlbToxOklHTWVzc2FnZA"

    def test_comment_and_a_mention_without_author_is_skipped(self) -> None:
        comment = only(normalise(INSTAGRAM, vectors.INSTAGRAM_COMMENTS))
        assert isinstance(comment, CommentCreated)
        assert (comment.comment_id, comment.post_id, comment.user_id, comment.is_mention) == (
            "17865799348089039", "17887498072083520", "17841405309211844", False,
        )  # fmt: skip
        assert comment.text == "Where can I buy this? \U0001f60d"
        assert comment.occurred_at == datetime.fromtimestamp(1732600200, UTC)  # entry.time

    def test_a_mention_with_an_author(self) -> None:
        payload = vectors.instagram({"changes": [{"field": "mentions", "value": {
            "media_id": "m1", "comment_id": "c1", "from": {"id": "u1"}}}]})  # fmt: skip
        mention = only(normalise(INSTAGRAM, payload))
        assert isinstance(mention, CommentCreated)
        assert (mention.is_mention, mention.comment_id, mention.user_id) == (True, "c1", "u1")

    @pytest.mark.parametrize("time", [1732600200, 1732600200000, "1732600200"])
    def test_entry_time_in_seconds_or_milliseconds(self, time: int | str) -> None:
        payload = vectors.instagram({"changes": [{"field": "comments", "value": {
            "id": "c", "text": "t", "from": {"id": "u"}, "media": {"id": "m"}}}]})  # fmt: skip
        payload["entry"][0]["time"] = time
        comment = only(normalise(INSTAGRAM, payload))
        assert comment.occurred_at == datetime.fromtimestamp(1732600200, UTC)

    def test_our_own_echo_and_deleted_messages_are_skipped(self) -> None:
        payload = vectors.instagram({"messaging": [
            {"sender": {"id": IG_ID}, "recipient": {"id": IGSID}, "timestamp": 1,
             "message": {"mid": "e", "text": "ours", "is_echo": True}},
            {"sender": {"id": IGSID}, "recipient": {"id": IG_ID}, "timestamp": 1,
             "message": {"mid": "d", "is_deleted": True}},
        ]})  # fmt: skip
        assert normalise(INSTAGRAM, payload) == []


class TestWhatsApp:
    def test_pywas_published_push(self) -> None:
        pywa = MetaAccount.model_validate(vectors.PYWA_ACCOUNT)
        req = request(PYWA_BODY, headers={"x-hub-signature-256": PYWA_SIGNATURE})
        ADAPTER.verify(pywa, req)
        message = only(ADAPTER.normalise(pywa, req))
        assert isinstance(message, MessageReceived)
        assert (message.user_id, message.thread_ref, message.text) == (
            "972544401243", "972544401243", "Hey there! I am using PyWa.",
        )  # fmt: skip
        assert message.message_id.startswith("wamid.HBgMOTcyNTQ0NDAxMjQz")
        assert message.occurred_at == datetime.fromtimestamp(1730231903, UTC)

    def test_text(self) -> None:
        message = only(normalise(WHATSAPP, vectors.WA_TEXT))
        assert isinstance(message, MessageReceived)
        assert (message.platform, message.account, message.user_id, message.text) == (
            "whatsapp", PHONE_ID, WA_ID, "¿Tienen envío a domicilio?",
        )  # fmt: skip

    def test_a_batch_of_kinds(self) -> None:
        image, location, button, reaction, unsupported = [
            e.data for e in normalise(WHATSAPP, vectors.WA_BATCH)
        ]
        assert isinstance(image, MessageReceived)
        assert (image.message_type, image.text) == ("image", "this one")
        assert [(m.kind, m.platform_media_id, m.mime_type) for m in image.media] == [
            ("image", "1003383421387256", "image/jpeg")
        ]
        assert isinstance(location, MessageReceived)
        assert location.message_type == "location"
        assert location.text == "Philz Coffee, 101 Forest Ave, Palo Alto"
        assert location.media[0].url == "geo:37.48,-122.14"
        assert isinstance(button, MessageReceived)
        assert (button.message_type, button.text) == ("event", "Yes, please")
        assert isinstance(reaction, ReactionAdded)
        assert (reaction.target_id, reaction.reaction, reaction.platform_event_id) == (
            "wamid.OUT1", "\U0001f44d", "wamid.REACT1",
        )  # fmt: skip
        assert isinstance(unsupported, MessageReceived)
        assert unsupported.message_type == "other"

    @pytest.mark.parametrize(
        ("kind", "content", "message_type", "media_kind"),
        [
            ("audio", {"id": "a1", "mime_type": "audio/ogg; codecs=opus"}, "voice", "voice"),
            ("video", {"id": "v1", "mime_type": "video/mp4"}, "video", "video"),
            ("document", {"id": "d1", "filename": "invoice.pdf"}, "file", "file"),
            ("sticker", {"id": "s1", "mime_type": "image/webp", "animated": False},
             "sticker", "sticker"),
        ],
    )  # fmt: skip
    def test_media(
        self, kind: str, content: dict[str, Any], message_type: str, media_kind: str
    ) -> None:
        payload = vectors.whatsapp([vectors.wa_message("wamid.M", kind, **{kind: content})])
        message = only(normalise(WHATSAPP, payload))
        assert isinstance(message, MessageReceived)
        assert message.message_type == message_type
        assert [(m.kind, m.platform_media_id) for m in message.media] == [
            (media_kind, content["id"])
        ]

    def test_button_and_list_reply(self) -> None:
        payload = vectors.whatsapp([
            vectors.wa_message("wamid.B", "button", button={"text": "Stop", "payload": "STOP"}),
            vectors.wa_message("wamid.L", "interactive", interactive={
                "type": "list_reply", "list_reply": {"id": "r1", "title": "Row 1"}}),
        ])  # fmt: skip
        texts = [(e.data.message_type, e.data.text) for e in normalise(WHATSAPP, payload)]  # type: ignore[attr-defined]
        assert texts == [("event", "Stop"), ("event", "Row 1")]

    def test_a_removed_reaction_and_statuses_are_not_events(self) -> None:
        removed = vectors.wa_message("wamid.R", "reaction", reaction={"message_id": "wamid.X"})
        assert normalise(WHATSAPP, vectors.whatsapp([removed])) == []
        assert normalise(WHATSAPP, vectors.WA_STATUS) == []

    def test_other_fields_are_ignored(self) -> None:
        payload = vectors.whatsapp([])
        payload["entry"][0]["changes"] = [
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
        ]
        assert normalise(WHATSAPP, payload) == []


class TestEventIds:
    @pytest.mark.parametrize(
        ("platform", "payload"),
        [("messenger", vectors.MESSENGER_BATCH), ("messenger", vectors.MESSENGER_FEED),
         ("instagram", vectors.INSTAGRAM_DM), ("instagram", vectors.INSTAGRAM_COMMENTS),
         ("whatsapp", vectors.WA_BATCH)],
    )  # fmt: skip
    def test_a_retry_gives_the_same_ids_and_events_differ(
        self, platform: str, payload: dict[str, Any]
    ) -> None:
        first = normalise(ACCOUNTS[platform], payload)
        again = normalise(ACCOUNTS[platform], json.loads(json.dumps(payload)))
        assert [e.id for e in first] == [e.id for e in again]
        assert len({e.id for e in first}) == len(first)

    def test_the_same_message_id_on_another_account_is_another_event(self) -> None:
        other = account("messenger", "another-page")
        ours = normalise(MESSENGER, vectors.MESSENGER_TEXT)[0]
        theirs = normalise(other, vectors.MESSENGER_TEXT)[0]
        assert ours.id != theirs.id


class Warnings:
    """Stands in for the module's logger: what was warned, with its fields."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.calls.append((event, fields))


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> Warnings:
    recorder = Warnings()
    monkeypatch.setattr(common, "log", recorder)
    return recorder


SECRET_TEXT = "do-not-log-this-text"
BAD_MESSAGING = vectors.messaging(message={"mid": "m_bad", "text": SECRET_TEXT}, timestamp=1e300)
GOOD_MESSAGING = vectors.messaging(message={"mid": "m_good", "text": "fine"})


class TestBatchTolerance:
    """A bad item is skipped (and warned about); the good ones in the same push are kept."""

    def test_a_bad_messaging_item_is_skipped_and_the_good_one_kept(
        self, warnings: Warnings
    ) -> None:
        events = normalise(
            MESSENGER, vectors.page(vectors.page_entry([BAD_MESSAGING, GOOD_MESSAGING]))
        )
        alone = normalise(MESSENGER, vectors.page(vectors.page_entry([GOOD_MESSAGING])))
        assert [e.data.platform_event_id for e in events] == ["m_good"]
        assert [e.id for e in events] == [e.id for e in alone]  # the id does not change
        [(_, fields)] = warnings.calls
        assert (fields["platform"], fields["account"], fields["skipped"]) == (
            "messenger", PAGE_ID, 1,
        )  # fmt: skip
        assert fields["errors"][0].startswith("entry.0.messaging.0: timestamp")
        assert SECRET_TEXT not in repr(fields)

    def test_a_bad_entry_is_skipped(self, warnings: Warnings) -> None:
        bad_entry = {"id": PAGE_ID, "time": "yesterday", "messaging": [GOOD_MESSAGING]}
        payload = vectors.page(bad_entry, vectors.page_entry([GOOD_MESSAGING]))
        assert [e.data.platform_event_id for e in normalise(MESSENGER, payload)] == ["m_good"]
        assert warnings.calls[0][1]["errors"][0].startswith("entry.0: time")
        assert "yesterday" not in repr(warnings.calls)

    def test_a_bad_feed_change_is_skipped(self, warnings: Warnings) -> None:
        bad = vectors.feed(item="comment", comment_id="900_1", created_time=True)
        good = vectors.feed(item="comment", comment_id="900_2", message="ok")
        events = normalise(MESSENGER, vectors.page(vectors.page_entry(changes=[bad, good])))
        assert [e.data.platform_event_id for e in events] == ["900_2"]
        assert len(warnings.calls) == 1

    def test_a_bad_instagram_comment_is_skipped(self, warnings: Warnings) -> None:
        payload = vectors.instagram({"changes": [
            {"field": "comments", "value": {"id": ["not", "an", "id"], "from": {"id": "u"}}},
            {"field": "comments", "value": {"id": "c2", "text": "t", "from": {"id": "u"}}},
        ]})  # fmt: skip
        assert [e.data.platform_event_id for e in normalise(INSTAGRAM, payload)] == ["c2"]
        assert len(warnings.calls) == 1

    def test_a_bad_whatsapp_message_is_skipped(self, warnings: Warnings) -> None:
        bad = vectors.wa_message("wamid.BAD", "text", text={"body": SECRET_TEXT})
        bad["timestamp"] = "not a time"
        good = vectors.wa_message("wamid.GOOD", "text", text={"body": "hola"})
        events = normalise(WHATSAPP, vectors.whatsapp([bad, good]))
        alone = normalise(WHATSAPP, vectors.whatsapp([good]))
        assert [e.data.platform_event_id for e in events] == ["wamid.GOOD"]
        assert [e.id for e in events] == [e.id for e in alone]
        [(_, fields)] = warnings.calls
        assert fields["platform"] == "whatsapp"
        assert fields["errors"][0].startswith("entry.0.changes.0.value.messages.0: timestamp")
        assert SECRET_TEXT not in repr(fields)

    def test_a_clean_push_warns_nothing(self, warnings: Warnings) -> None:
        normalise(MESSENGER, vectors.MESSENGER_BATCH)
        normalise(WHATSAPP, vectors.WA_BATCH)
        assert warnings.calls == []

    @pytest.mark.parametrize(
        ("platform", "payload"),
        [
            ("messenger", vectors.page(vectors.page_entry([BAD_MESSAGING, BAD_MESSAGING]))),
            ("messenger", {"object": "page", "entry": [{"time": "yesterday"}, 1, []]}),
            ("messenger", vectors.page(vectors.page_entry(changes=[
                vectors.feed(created_time=True), {"field": ["feed"]}]))),
            ("whatsapp", vectors.whatsapp([{"id": {}}, {"from": [], "id": "w"}])),
        ],
        ids=["messaging", "entries", "changes", "whatsapp-messages"],
    )  # fmt: skip
    def test_every_item_bad_is_malformed(
        self, platform: str, payload: dict[str, Any], warnings: Warnings
    ) -> None:
        with pytest.raises(MalformedPayload) as refused:
            normalise(ACCOUNTS[platform], payload)
        assert SECRET_TEXT not in str(refused.value)
        assert warnings.calls == []

    def test_an_empty_batch_is_not_malformed(self) -> None:
        assert normalise(MESSENGER, vectors.page()) == []
        assert normalise(WHATSAPP, vectors.whatsapp([])) == []


OTHER_PAGE = "meta-vec-page-9999"


class TestAttribution:
    """With object_id set, entries for another page / account / number are skipped."""

    def two_pages(self) -> dict[str, Any]:
        theirs = vectors.page_entry([vectors.messaging(message={"mid": "theirs", "text": "x"})])
        theirs["id"] = OTHER_PAGE
        ours = vectors.page_entry([vectors.messaging(message={"mid": "ours", "text": "y"})])
        return vectors.page(theirs, ours)

    def test_without_object_id_every_entry_is_credited_to_the_path_account(self) -> None:
        events = normalise(MESSENGER, self.two_pages())
        assert [(e.data.platform_event_id, e.data.account) for e in events] == [
            ("theirs", PAGE_ID), ("ours", PAGE_ID),
        ]  # fmt: skip

    def test_messenger_skips_another_pages_entries(self, warnings: Warnings) -> None:
        acct = account("messenger", PAGE_ID, object_id=PAGE_ID)
        events = normalise(acct, self.two_pages())
        assert [e.data.platform_event_id for e in events] == ["ours"]
        assert [e.id for e in events] == [normalise(MESSENGER, self.two_pages())[1].id]
        assert warnings.calls == []  # not an error

    def test_object_id_may_differ_from_the_account_id(self) -> None:
        acct = account("messenger", "brand-page", object_id=OTHER_PAGE)
        [event] = normalise(acct, self.two_pages())
        assert (event.data.platform_event_id, event.data.account) == ("theirs", "brand-page")

    def test_only_other_objects_is_no_events_not_an_error(self) -> None:
        acct = account("messenger", "x", object_id="a-page-not-in-the-push")
        assert normalise(acct, self.two_pages()) == []

    def test_the_object_itself_is_not_a_fan(self) -> None:
        acct = account("messenger", "brand-page", object_id=PAGE_ID)
        own = vectors.feed(item="comment", comment_id="900_9", message="Thanks!")
        own["value"]["from"] = {"id": PAGE_ID}
        assert normalise(acct, vectors.page(vectors.page_entry(changes=[own]))) == []

    def test_instagram_skips_another_accounts_entries(self) -> None:
        payload = vectors.instagram({"changes": [{"field": "comments", "value": {
            "id": "c1", "text": "t", "from": {"id": "u"}}}]})  # fmt: skip
        theirs = json.loads(json.dumps(payload["entry"][0]))
        theirs["id"] = "another-ig-account"
        theirs["changes"][0]["value"]["id"] = "c0"
        payload["entry"].insert(0, theirs)
        acct = account("instagram", IG_ID, object_id=IG_ID)
        assert [e.data.platform_event_id for e in normalise(acct, payload)] == ["c1"]
        assert len(normalise(INSTAGRAM, payload)) == 2

    def test_whatsapp_skips_another_numbers_messages(self) -> None:
        payload = vectors.whatsapp([vectors.wa_message("wamid.OURS", "text", text={"body": "a"})])
        theirs = json.loads(json.dumps(payload["entry"][0]["changes"][0]))
        theirs["value"]["metadata"]["phone_number_id"] = 123456789  # numbers are ids too
        theirs["value"]["messages"][0]["id"] = "wamid.THEIRS"
        payload["entry"][0]["changes"].insert(0, theirs)
        acct = account("whatsapp", PHONE_ID, object_id=PHONE_ID)
        assert [e.data.platform_event_id for e in normalise(acct, payload)] == ["wamid.OURS"]
        other = account("whatsapp", "second-number", object_id="123456789")
        assert [e.data.platform_event_id for e in normalise(other, payload)] == ["wamid.THEIRS"]
        assert len(normalise(WHATSAPP, payload)) == 2


class TestMalformed:
    @pytest.mark.parametrize(
        ("platform", "obj"),
        [("messenger", "instagram"), ("instagram", "page"), ("whatsapp", "page"),
         ("messenger", "whatsapp_business_account"), ("messenger", "user")],
    )  # fmt: skip
    def test_refuses_an_object_of_another_platform(self, platform: str, obj: str) -> None:
        with pytest.raises(MalformedPayload):
            normalise(ACCOUNTS[platform], {"object": obj, "entry": []})

    @pytest.mark.parametrize(
        "raw",
        [b"", b"not json", b"[]", b"null", b'{"object":"page"}', b'{"object":"page","entry":{}}',
         b'{"object":"page","entry":[1]}', b'{"object":"page","entry":[{"messaging":{}}]}',
         b'{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"timestamp":1e300,'
         b'"message":{"mid":"m"}}]}]}',
         b'{"object":"page","entry":[{"time":"yesterday","messaging":[]}]}',
         b'{"object":"page","entry":[{"changes":[{"field":"feed","value":[1]}]}]}',
         b'{"object":"page","entry":[{"changes":[{"field":"feed","value":{"verb":"add",'
         b'"from":{"id":"u"},"item":"comment","comment_id":"c","created_time":true}}]}]}',
         b'{"object":"page","entry":[{"time":' + b"9" * 400 + b"}]}",
         b'{"object":"page","entry":[{"time":"9999-12-31T23:59:59-05:00"}]}',
         b'{"object":"page","entry":[{"time":"0001-01-01T00:00:00+05:00"}]}',
         b'\xff\xfe{"object":"page"}', b'{"object":"page","entry":[' * 500],
    )  # fmt: skip
    def test_refuses_what_it_cannot_read(self, raw: bytes) -> None:
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(MESSENGER, request(raw))

    def test_caps_long_text(self) -> None:
        payload = vectors.page(vectors.page_entry([vectors.messaging(
            message={"mid": "m_long", "text": "x" * 30_000})]))  # fmt: skip
        message = only(normalise(MESSENGER, payload))
        assert isinstance(message, MessageReceived)
        assert message.text == "x" * 20_000

    def test_acknowledges_with_event_received(self) -> None:
        answer = ADAPTER.acknowledge(MESSENGER, request(), [])
        assert (answer.status_code, answer.body, answer.media_type) == (
            200, b"EVENT_RECEIVED", "text/plain",
        )  # fmt: skip


# --- fuzz: only VerificationError / MalformedPayload, whatever arrives ---

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
KEYS = st.sampled_from(
    ["object", "entry", "messaging", "changes", "sender", "recipient", "id", "timestamp", "time",
     "message", "mid", "text", "attachments", "type", "payload", "url", "postback", "reaction",
     "action", "emoji", "field", "value", "from", "item", "verb", "comment_id", "post_id",
     "created_time", "media", "messages", "statuses", "image", "location", "latitude",
     "interactive", "button_reply", "title", "message_id", "is_echo", "coordinates", "lat"]
)  # fmt: skip
TIMES = st.builds(
    lambda when, hours: when.replace(tzinfo=timezone(timedelta(hours=hours))).isoformat(),
    st.datetimes(),
    st.integers(min_value=-23, max_value=23),
)
SHAPED = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    | st.integers(min_value=-(10**400), max_value=10**400) | TIMES
    | st.sampled_from(["add", "react", "comment", "share", "text", "image", "feed", "comments",
                       "mentions", "reaction", "location", "interactive", "1732600000"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)  # fmt: skip


def _only_expected(call: Callable[[], object]) -> None:
    with contextlib.suppress(VerificationError, MalformedPayload):
        call()


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300), platform=st.sampled_from(sorted(ACCOUNTS)))
def test_fuzz_normalise_arbitrary_bytes(raw: bytes, platform: str) -> None:
    _only_expected(lambda: ADAPTER.normalise(ACCOUNTS[platform], request(raw)))


@settings(max_examples=500, deadline=None)
@given(
    platform=st.sampled_from(sorted(ACCOUNTS)), entry=SHAPED,
    obj=st.sampled_from(["page", "instagram", "whatsapp_business_account"]),
)  # fmt: skip
def test_fuzz_normalise_payload_shapes(platform: str, entry: Any, obj: str) -> None:
    raw = json.dumps({"object": obj, "entry": [entry]}).encode()
    _only_expected(lambda: ADAPTER.normalise(ACCOUNTS[platform], request(raw)))


@settings(max_examples=200, deadline=None)
@given(payload=JSON)
def test_fuzz_normalise_any_json(payload: Any) -> None:
    raw = json.dumps(payload).encode()
    _only_expected(lambda: ADAPTER.normalise(WHATSAPP, request(raw)))


@settings(max_examples=200, deadline=None)
@given(headers=st.dictionaries(st.sampled_from(["x-hub-signature-256", "x-hub-signature",
                                                "content-type"]), st.text(max_size=80)),
       raw=st.binary(max_size=100))  # fmt: skip
def test_fuzz_verify(headers: dict[str, str], raw: bytes) -> None:
    _only_expected(lambda: ADAPTER.verify(MESSENGER, request(raw, headers=headers)))


@settings(max_examples=200, deadline=None)
@given(query=st.dictionaries(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge",
                                              "other"]), st.text(max_size=40)))  # fmt: skip
def test_fuzz_handshake(query: dict[str, str]) -> None:
    _only_expected(lambda: ADAPTER.handshake(INSTAGRAM, request(method="GET", query=query)))


# --- sending: a small fake of the Graph API send endpoints ---


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code,
                      "error_subcode": subcode, "fbtrace_id": "AbCdEf"}}  # fmt: skip


class FakeGraph:
    """Checks method, path, auth and JSON shape, then answers like the Graph API."""

    def __init__(self, answer: tuple[int, Any] | None = None) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        assert req.method == "POST"
        assert req.headers["authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in str(req.url)
        body = json.loads(req.content)
        if self.answer is not None:
            status, answer = self.answer
            return (
                httpx.Response(status, json=answer)
                if answer is not None
                else httpx.Response(status, text="<html>Bad Gateway</html>")
            )
        if req.url.path == "/v21.0/me/messages":
            assert body["messaging_type"] == "RESPONSE"
            assert set(body) == {"recipient", "messaging_type", "message"}
            assert isinstance(body["message"]["text"], str)
            return httpx.Response(200, json={"recipient_id": body["recipient"]["id"],
                                             "message_id": "m_sent_1"})  # fmt: skip
        assert req.url.path == f"/v21.0/{PHONE_ID}/messages"
        assert body["messaging_product"] == "whatsapp"
        assert body["recipient_type"] == "individual"
        assert body["type"] == "text"
        assert body["text"]["preview_url"] is False
        contact = {"input": body["to"], "wa_id": body["to"]}
        return httpx.Response(200, json={
            "messaging_product": "whatsapp", "contacts": [contact],
            "messages": [{"id": "wamid.SENT1"}]})  # fmt: skip


def reply(platform: str, user_id: str, in_reply_to: str | None = None) -> ReplyRequested:
    acct = ACCOUNTS[platform]
    return ReplyRequested(
        reply_id="r-1", conversation_id="c-1", platform=platform,
        account=acct.account_id, user_id=user_id, text="Thanks, on its way!",
        in_reply_to=in_reply_to,
    )  # fmt: skip


async def send(
    fake: FakeGraph, platform: str = "messenger", user_id: str = PSID,
    in_reply_to: str | None = None, acct: MetaAccount | None = None,
) -> Any:  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        return await ADAPTER.send(
            acct or ACCOUNTS[platform], reply(platform, user_id, in_reply_to), http=http,
            base_url=BASE,
        )  # fmt: skip


class TestSend:
    @pytest.mark.parametrize(("platform", "user"), [("messenger", PSID), ("instagram", IGSID)])
    async def test_messenger_and_instagram_use_the_send_api(self, platform: str, user: str) -> None:
        fake = FakeGraph()
        outcome = await send(fake, platform, user)
        assert (outcome.delivered, outcome.status_code, outcome.platform_message_id) == (
            True, 200, "m_sent_1",
        )  # fmt: skip
        sent = json.loads(fake.requests[0].content)
        assert sent == {"recipient": {"id": user}, "messaging_type": "RESPONSE",
                        "message": {"text": "Thanks, on its way!"}}  # fmt: skip
        assert str(fake.requests[0].url) == f"{BASE}/v21.0/me/messages"

    async def test_whatsapp_uses_the_cloud_api_with_context(self) -> None:
        fake = FakeGraph()
        outcome = await send(fake, "whatsapp", WA_ID, in_reply_to="wamid.IN1")
        assert (outcome.delivered, outcome.platform_message_id) == (True, "wamid.SENT1")
        sent = json.loads(fake.requests[0].content)
        assert sent == {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
            "type": "text", "text": {"preview_url": False, "body": "Thanks, on its way!"},
            "context": {"message_id": "wamid.IN1"},
        }  # fmt: skip

    async def test_whatsapp_without_in_reply_to_has_no_context(self) -> None:
        fake = FakeGraph()
        await send(fake, "whatsapp", WA_ID)
        assert "context" not in json.loads(fake.requests[0].content)

    @pytest.mark.parametrize(
        ("status", "answer", "retryable"),
        [
            (429, graph_error(4, "Application request limit reached"), True),
            (500, graph_error(2, "Service temporarily unavailable"), True),
            (503, None, True),
            (400, graph_error(613, "Calls to this api have exceeded the rate limit."), True),
            (400, graph_error(130429, "Rate limit hit"), True),
            (400, graph_error(131056, "(Business Account, Consumer Account) pair rate limit"),
             True),
            (400, {"error": {**graph_error(1200, "Temporary send message failure")["error"],
                             "is_transient": True}}, True),
            (400, graph_error(100, "(#100) The parameter recipient is required"), False),
            (400, graph_error(10, "(#10) This message is sent outside of allowed window.",
                              2018278), False),
            (401, graph_error(190, "Error validating access token: Session has expired", 463),
             False),
            (400, graph_error(131047, "Re-engagement message"), False),
            (400, {"error": {"code": [1], "message": "odd"}}, False),
            (404, None, False),
        ],
    )  # fmt: skip
    async def test_errors(self, status: int, answer: Any, retryable: bool) -> None:
        outcome = await send(FakeGraph((status, answer)))
        assert (outcome.delivered, outcome.status_code, outcome.retryable) == (
            False, status, retryable,
        )  # fmt: skip
        assert outcome.error
        assert str(status) in outcome.error
        if isinstance(answer, dict) and isinstance(answer["error"].get("code"), int):
            assert str(answer["error"]["code"]) in outcome.error

    async def test_the_token_never_appears_in_an_error(self) -> None:
        leaky = graph_error(190, f"Invalid OAuth access token {TOKEN}")
        outcome = await send(FakeGraph((401, leaky)))
        assert TOKEN not in (outcome.error or "")

    async def test_an_account_without_an_access_token_is_a_final_failure(self) -> None:
        fake = FakeGraph()
        outcome = await send(fake, acct=account("messenger", PAGE_ID, token=None))
        assert (outcome.delivered, outcome.retryable) == (False, False)
        assert fake.requests == []

    async def test_transport_errors_propagate(self) -> None:
        def refuse(req: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=req)

        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
            with pytest.raises(httpx.TransportError):
                await ADAPTER.send(MESSENGER, reply("messenger", PSID), http=http, base_url=BASE)

    def test_the_default_base_url_is_the_graph_api(self) -> None:
        assert MetaWebhooks.default_send_base_url == "https://graph.facebook.com"
