import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.config import IngestSettings
from services.ingest.platforms import common
from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    VerificationError,
)
from services.ingest.platforms.line import (
    LineAccount,
    LineMessaging,
    line_signature,
    retry_key,
)
from shared.contracts import FanFollowed, FanUnfollowed, MessageReceived, ReplyRequested

# line/line-bot-sdk-python, tests/test_signature.py: SignatureValidator('channel_secret')
# validates 'bodybodybodybody' against this signature.
SDK_SECRET = "channel_secret"
SDK_BODY = b"bodybodybodybody"
SDK_SIGNATURE = "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="

SECRET = "8176d81992dfe486f0bc33852b35500b"
TOKEN = "line-test-access-token"
ACCOUNT = LineAccount(
    platform="line", account_id="line-unit", channel_secret=SECRET, channel_access_token=TOKEN
)
ADAPTER = LineMessaging(IngestSettings.model_construct())
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
USER = "U4af4980629aaaaaaaaaaaaaaaaaaaaaaaa"
TS = 1462629479859


def request(
    body: bytes,
    *,
    signature: str | None = None,
    method: str = "POST",
    secret: str = SECRET,
    query: dict[str, str] | None = None,
) -> InboundRequest:
    headers = {
        "x-line-signature": signature if signature is not None else line_signature(secret, body)
    }
    return InboundRequest(method, query or {}, headers, body, RECEIVED)


def webhook(*events: dict[str, Any]) -> bytes:
    return json.dumps(
        {"destination": "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "events": list(events)}
    ).encode()


def event(kind: str, event_id: str = "01FZ74A0TDDPYRVKNK77XKC3ZR", **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "mode": "active",
        "timestamp": TS,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
        **extra,
    }


def normalise(*events: dict[str, Any]) -> list[Any]:
    body = webhook(*events)
    req = request(body)
    ADAPTER.verify(ACCOUNT, req)
    return list(ADAPTER.normalise(ACCOUNT, req))


class TestSignature:
    def test_reproduces_the_sdk_published_vector(self) -> None:
        assert line_signature(SDK_SECRET, SDK_BODY) == SDK_SIGNATURE

    def test_accepts_the_sdk_published_vector(self) -> None:
        account = LineAccount(platform="line", account_id="x", channel_secret=SDK_SECRET)
        ADAPTER.verify(account, request(SDK_BODY, signature=SDK_SIGNATURE))

    @pytest.mark.parametrize(
        "body", [SDK_BODY + b" ", b"bodybodybodybodx", b""], ids=["trailing", "flipped", "empty"]
    )
    def test_refuses_a_body_that_is_not_the_signed_one(self, body: bytes) -> None:
        account = LineAccount(platform="line", account_id="x", channel_secret=SDK_SECRET)
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(account, request(body, signature=SDK_SIGNATURE))
        assert refused.value.reason == "signature"

    def test_refuses_a_missing_header(self) -> None:
        with pytest.raises(VerificationError):
            ADAPTER.verify(ACCOUNT, InboundRequest("POST", {}, {}, SDK_BODY, RECEIVED))

    def test_refuses_another_secret(self) -> None:
        with pytest.raises(VerificationError):
            ADAPTER.verify(ACCOUNT, request(SDK_BODY, secret="another"))

    def test_the_secret_is_not_in_the_error(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(ACCOUNT, request(SDK_BODY, signature="nope"))
        assert SECRET not in str(refused.value)


class TestHandshake:
    def test_get_is_not_part_of_the_protocol(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(ACCOUNT, request(b"", method="GET"))
        assert refused.value.reason == "unsupported"

    def test_the_verify_button_posts_no_events_and_gets_200(self) -> None:
        assert normalise() == []
        answer = ADAPTER.acknowledge(ACCOUNT, request(webhook()), [])
        assert (answer.status_code, answer.body) == (200, b"")


class TestNormalise:
    def test_text_message(self) -> None:
        [ce] = normalise(
            event(
                "message",
                message={
                    "id": "444573844083572737",
                    "type": "text",
                    "text": "Hello, world",
                    "quoteToken": "q",
                },
            )
        )
        data = ce.data
        assert isinstance(data, MessageReceived)
        assert (data.platform, data.account, data.user_id) == ("line", "line-unit", USER)
        assert data.message_id == "444573844083572737"
        assert data.platform_event_id == "01FZ74A0TDDPYRVKNK77XKC3ZR"
        assert (data.message_type, data.text) == ("text", "Hello, world")
        assert data.occurred_at == datetime(2016, 5, 7, 13, 57, 59, 859000, tzinfo=UTC)
        assert data.thread_ref == USER
        assert ce.subject == f"line:line-unit:{USER}"
        assert ce.type == "scrm.message.received.v1"

    def test_group_message_threads_on_the_group(self) -> None:
        raw = event("message", message={"id": "1", "type": "text", "text": "hi"})
        raw["source"] = {"type": "group", "groupId": "Cgroup", "userId": USER}
        [ce] = normalise(raw)
        assert ce.data.thread_ref == "Cgroup"
        raw["source"] = {"type": "room", "roomId": "Rroom", "userId": USER}
        [ce] = normalise(raw)
        assert ce.data.thread_ref == "Rroom"

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [("image", "image"), ("video", "video"), ("audio", "voice"), ("file", "file")],
    )
    def test_media_messages(self, kind: str, expected: str) -> None:
        message = {
            "id": "325708",
            "type": kind,
            "fileName": "a.pdf" if kind == "file" else None,
            "contentProvider": {"type": "line"},
        }
        [ce] = normalise(event("message", message=message))
        assert ce.data.message_type == expected
        assert ce.data.media[0].kind == expected
        assert ce.data.media[0].platform_media_id == "325708"

    def test_external_content_keeps_its_url(self) -> None:
        message = {
            "id": "9",
            "type": "image",
            "contentProvider": {
                "type": "external",
                "originalContentUrl": "https://example.com/a.jpg",
            },
        }
        [ce] = normalise(event("message", message=message))
        assert ce.data.media[0].url == "https://example.com/a.jpg"

    def test_location_and_sticker(self) -> None:
        loc = {
            "id": "1",
            "type": "location",
            "title": "my location",
            "address": "Tokyo",
            "latitude": 35.65910807942215,
            "longitude": 139.70372892916203,
        }
        sticker = {"id": "2", "type": "sticker", "packageId": "1", "stickerId": "1"}
        [location, stick] = normalise(
            event("message", "e1", message=loc), event("message", "e2", message=sticker)
        )
        assert location.data.message_type == "location"
        assert location.data.text == "my location Tokyo"
        assert location.data.media[0].url == "geo:35.65910807942215,139.70372892916203"
        assert stick.data.message_type == "sticker"
        assert stick.data.media[0].platform_media_id == "1/1"

    def test_unknown_message_type_is_other(self) -> None:
        [ce] = normalise(event("message", message={"id": "3", "type": "hologram"}))
        assert ce.data.message_type == "other"

    def test_follow_unfollow_postback(self) -> None:
        follow, unfollow, postback = normalise(
            event("follow", "e1"),
            event("unfollow", "e2"),
            event("postback", "e3", postback={"data": "action=buy&itemid=111"}),
        )
        assert isinstance(follow.data, FanFollowed)
        assert isinstance(unfollow.data, FanUnfollowed)
        assert isinstance(postback.data, MessageReceived)
        assert (postback.data.message_type, postback.data.text) == (
            "event",
            "action=buy&itemid=111",
        )

    def test_unused_kinds_and_userless_events_give_nothing(self) -> None:
        userless = event("message", message={"id": "1", "type": "text", "text": "x"})
        userless["source"] = {"type": "group", "groupId": "C1"}
        assert normalise(event("join"), event("beacon"), event("unsend"), userless) == []

    def test_a_redelivery_has_the_same_ids(self) -> None:
        raw = event("message", message={"id": "1", "type": "text", "text": "x"})
        first = normalise(raw)
        raw["deliveryContext"] = {"isRedelivery": True}
        raw["replyToken"] = "another"
        assert [e.id for e in normalise(raw)] == [e.id for e in first]

    def test_without_a_timestamp_it_is_the_receipt_time(self) -> None:
        raw = event("follow")
        del raw["timestamp"]
        [ce] = normalise(raw)
        assert ce.data.occurred_at == RECEIVED

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"not json",
            b"[]",
            b'{"events": 5}',
            b'{"events": [{"type": "follow", "timestamp": 1e30}]}',
            b"\xff\xfe",
        ],
    )
    def test_malformed_bodies(self, body: bytes) -> None:
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(body))

    def test_events_list_missing_is_malformed(self) -> None:
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(b'{"destination": "U1"}'))


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


class TestBatchTolerance:
    """A bad event is skipped (and warned about); the good ones in the same body are kept."""

    def bad(self) -> dict[str, Any]:
        return event(
            "message", "e-bad", timestamp=1e30,
            message={"id": "1", "type": "text", "text": SECRET_TEXT},
        )  # fmt: skip

    def test_a_bad_event_is_skipped_and_the_good_one_kept(self, warnings: Warnings) -> None:
        good = event("message", "e-good", message={"id": "2", "type": "text", "text": "hi"})
        events = normalise(self.bad(), good)
        assert [e.data.platform_event_id for e in events] == ["e-good"]
        assert [e.id for e in events] == [e.id for e in normalise(good)]  # the id does not change
        [(_, fields)] = warnings.calls
        assert (fields["platform"], fields["account"], fields["skipped"], fields["read"]) == (
            "line",
            "line-unit",
            1,
            1,
        )
        assert fields["errors"][0].startswith("events.0: timestamp")
        assert SECRET_TEXT not in repr(fields)

    def test_a_non_object_event_is_skipped(self, warnings: Warnings) -> None:
        body = json.dumps({"events": [1, event("follow")]}).encode()
        [ce] = ADAPTER.normalise(ACCOUNT, request(body))
        assert isinstance(ce.data, FanFollowed)
        assert len(warnings.calls) == 1

    def test_every_event_bad_is_malformed(self, warnings: Warnings) -> None:
        body = webhook(self.bad(), {"type": ["follow"]})
        with pytest.raises(MalformedPayload) as refused:
            ADAPTER.normalise(ACCOUNT, request(body))
        assert SECRET_TEXT not in str(refused.value)
        assert warnings.calls == []

    def test_a_clean_body_warns_nothing(self, warnings: Warnings) -> None:
        normalise(event("follow"), event("join"))
        assert warnings.calls == []


class TestFuzz:
    @given(
        body=st.binary(max_size=400),
        headers=st.dictionaries(st.text(max_size=20), st.text(max_size=60)),
    )
    def test_verify_and_normalise_only_raise_their_errors(
        self, body: bytes, headers: dict[str, str]
    ) -> None:
        req = InboundRequest("POST", {}, headers, body, RECEIVED)
        with contextlib.suppress(VerificationError):
            ADAPTER.verify(ACCOUNT, req)
        with contextlib.suppress(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, req)

    @given(
        events=st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["message", "follow", "unfollow", "postback", "x"])},
                optional={
                    "timestamp": st.one_of(st.integers(), st.floats(), st.text(max_size=5)),
                    "source": st.dictionaries(
                        st.sampled_from(["type", "userId", "groupId"]),
                        st.one_of(st.text(max_size=5), st.integers(), st.none()),
                    ),
                    "webhookEventId": st.one_of(st.text(max_size=5), st.none(), st.integers()),
                    "message": st.dictionaries(
                        st.sampled_from(["id", "type", "text", "latitude", "stickerId"]),
                        st.one_of(st.text(max_size=5), st.integers(), st.floats(), st.none()),
                    ),
                    "postback": st.dictionaries(st.just("data"), st.text(max_size=5)),
                },
            ),
            max_size=4,
        )
    )
    def test_structured_junk_only_raises_malformed(self, events: list[dict[str, Any]]) -> None:
        body = json.dumps({"events": events}).encode()
        with contextlib.suppress(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(body))

    @given(query=st.dictionaries(st.text(max_size=10), st.text(max_size=10)))
    def test_handshake_only_refuses(self, query: dict[str, str]) -> None:
        with pytest.raises(VerificationError):
            ADAPTER.handshake(ACCOUNT, InboundRequest("GET", query, {}, b"", RECEIVED))


REPLY = ReplyRequested(
    reply_id="r-1",
    conversation_id="c-1",
    platform="line",
    account="line-unit",
    user_id=USER,
    text="Thanks!",
)


def fake_line(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        assert req.method == "POST"
        assert req.url.path == "/v2/bot/message/push"
        assert req.headers["authorization"] == f"Bearer {TOKEN}"
        assert req.headers["x-line-retry-key"] == retry_key("r-1")
        assert json.loads(req.content) == {
            "to": USER,
            "messages": [{"type": "text", "text": "Thanks!"}],
        }
        return httpx.Response(status, json=body, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


class TestSend:
    async def test_delivered(self) -> None:
        http, seen = fake_line(
            200, {"sentMessages": [{"id": "461230966842064897", "quoteToken": "q"}]}
        )
        async with http:
            outcome = await ADAPTER.send(ACCOUNT, REPLY, http=http, base_url="https://line.test")
        assert outcome.delivered
        assert outcome.platform_message_id == "461230966842064897"
        assert len(seen) == 1

    def test_retry_key_is_a_stable_uuid(self) -> None:
        assert retry_key("r-1") == retry_key("r-1") != retry_key("r-2")
        assert len(retry_key("r-1")) == 36

    async def test_409_means_accepted_before(self) -> None:
        http, _ = fake_line(
            409,
            {"message": "The retry key is already accepted"},
            {"x-line-accepted-request-id": "req-1"},
        )
        async with http:
            outcome = await ADAPTER.send(ACCOUNT, REPLY, http=http, base_url="https://line.test/")
        assert outcome.delivered
        assert outcome.platform_message_id == "req-1"

    @pytest.mark.parametrize(
        ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (401, False)]
    )
    async def test_failures(self, status: int, retryable: bool) -> None:
        body = {
            "message": "The request body has 1 error(s)",
            "details": [{"message": "May not be empty", "property": "messages[0].text"}],
        }
        http, _ = fake_line(status, body)
        async with http:
            outcome = await ADAPTER.send(ACCOUNT, REPLY, http=http, base_url="https://line.test")
        assert not outcome.delivered
        assert outcome.retryable is retryable
        assert outcome.status_code == status
        assert outcome.error is not None
        assert "messages[0].text" in outcome.error
        assert TOKEN not in outcome.error

    async def test_without_a_token_it_fails_finally(self) -> None:
        account = LineAccount(platform="line", account_id="a", channel_secret=SECRET)
        async with httpx.AsyncClient() as http:
            outcome = await ADAPTER.send(account, REPLY, http=http, base_url="https://line.test")
        assert not outcome.delivered
        assert not outcome.retryable
