import contextlib
import hashlib
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import InboundRequest, MalformedPayload, VerificationError
from services.ingest.platforms.weibo import (
    WeiboAccount,
    WeiboFanService,
    parse_created_at,
    weibo_signature,
)
from shared.contracts import (
    CommentCreated,
    FanFollowed,
    FanUnfollowed,
    MessageReceived,
    ReplyRequested,
)

SECRET = "wb-unit-app-secret"
TOKEN = "2.00wbUnitAccessToken"
ACCOUNT = WeiboAccount(
    platform="weibo", account_id="5175429989", app_secret=SECRET, access_token=TOKEN
)
ADAPTER = WeiboFanService(IngestSettings.model_construct())
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TIMESTAMP = str(int(NOW.timestamp()))
NONCE = "1342416591"
FAN = "1902538057"


def query(
    timestamp: str = TIMESTAMP, nonce: str = NONCE, secret: str = SECRET, **extra: str
) -> dict[str, str]:
    return {
        "signature": weibo_signature(secret, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        **extra,
    }


def request(
    body: bytes = b"", *, method: str = "POST", q: dict[str, str] | None = None
) -> InboundRequest:
    return InboundRequest(method, query() if q is None else q, {}, body, NOW)


def push(
    kind: str,
    text: str | None = None,
    data: dict[str, Any] | None = None,
    created_at: Any = "Mon Jul 16 18:09:20 +0800 2012",
) -> bytes:
    payload: dict[str, Any] = {
        "type": kind,
        "receiver_id": 5175429989,
        "sender_id": int(FAN),
        "created_at": created_at,
        "text": text,
        "data": data or {},
    }
    return json.dumps(payload, ensure_ascii=False).encode()


def normalise(body: bytes) -> list[Any]:
    req = request(body)
    ADAPTER.verify(ACCOUNT, req)
    return list(ADAPTER.normalise(ACCOUNT, req))


class TestSignature:
    def test_is_sha1_of_the_sorted_parts(self) -> None:
        joined = "".join(sorted([SECRET, TIMESTAMP, NONCE]))
        expected = hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()
        assert weibo_signature(SECRET, TIMESTAMP, NONCE) == expected

    def test_handshake_echoes(self) -> None:
        answer = ADAPTER.handshake(ACCOUNT, request(method="GET", q=query(echostr="8fa3d2c1")))
        assert (answer.status_code, answer.body) == (200, b"8fa3d2c1")

    @pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
    def test_refuses_missing_parameters(self, missing: str) -> None:
        q = query(echostr="x")
        del q[missing]
        with pytest.raises(VerificationError):
            ADAPTER.handshake(ACCOUNT, request(method="GET", q=q))
        with pytest.raises(VerificationError):
            ADAPTER.verify(ACCOUNT, request(q=q))

    def test_refuses_without_echostr(self) -> None:
        with pytest.raises(VerificationError):
            ADAPTER.handshake(ACCOUNT, request(method="GET"))

    def test_refuses_another_secret_or_a_changed_nonce(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(ACCOUNT, request(q=query(secret="other")))
        assert refused.value.reason == "signature"
        q = query()
        q["nonce"] = "1342416592"
        with pytest.raises(VerificationError):
            ADAPTER.verify(ACCOUNT, request(q=q))

    def test_refuses_a_stale_timestamp(self) -> None:
        old = str(int((NOW - timedelta(hours=1)).timestamp()))
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(ACCOUNT, request(q=query(timestamp=old)))
        assert refused.value.reason == "stale_timestamp"

    def test_accepts_a_millisecond_timestamp(self) -> None:
        ADAPTER.verify(ACCOUNT, request(q=query(timestamp=TIMESTAMP + "123")))

    def test_the_secret_is_not_in_errors(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(ACCOUNT, request(q=query(secret="x")))
        assert SECRET not in str(refused.value)


class TestNormalise:
    def test_text(self) -> None:
        [ce] = normalise(push("text", "中华人民共和国"))
        data = ce.data
        assert isinstance(data, MessageReceived)
        assert (data.platform, data.account, data.user_id) == ("weibo", "5175429989", FAN)
        assert (data.message_type, data.text) == ("text", "中华人民共和国")
        assert data.occurred_at == datetime(2012, 7, 16, 10, 9, 20, tzinfo=UTC)
        assert data.thread_ref == FAN
        assert ce.subject == f"weibo:5175429989:{FAN}"

    def test_created_at_in_milliseconds(self) -> None:
        [ce] = normalise(push("text", "hi", created_at=1342433360000))
        assert ce.data.occurred_at == datetime(2012, 7, 16, 10, 9, 20, tzinfo=UTC)
        assert parse_created_at("1342433360000") == parse_created_at(
            "Mon Jul 16 18:09:20 +0800 2012"
        )

    def test_media_and_position(self) -> None:
        [image] = normalise(push("image", data={"vfid": 821804459, "tovfid": 821804469}))
        [voice] = normalise(push("voice", data={"vfid": 821804460, "tovfid": 821804470}))
        [pos] = normalise(
            push("position", "我在这里", data={"longitude": "116.308586", "latitude": "39.982525"})
        )
        assert (image.data.message_type, image.data.media[0].platform_media_id) == (
            "image",
            "821804459",
        )
        assert (voice.data.message_type, voice.data.media[0].kind) == ("voice", "voice")
        assert pos.data.message_type == "location"
        assert pos.data.media[0].url == "geo:39.982525,116.308586"

    @pytest.mark.parametrize(
        ("subtype", "expected"),
        [
            ("follow", FanFollowed),
            ("subscribe", FanFollowed),
            ("scan_follow", FanFollowed),
            ("unfollow", FanUnfollowed),
            ("unsubscribe", FanUnfollowed),
        ],
    )
    def test_follow_events(self, subtype: str, expected: type) -> None:
        [ce] = normalise(push("event", data={"subtype": subtype, "key": "qrscene_1"}))
        assert isinstance(ce.data, expected)

    def test_click_is_an_event_message(self) -> None:
        [ce] = normalise(push("event", data={"subtype": "click", "key": "MENU_PRICE"}))
        assert (ce.data.message_type, ce.data.text) == ("event", "MENU_PRICE")

    def test_scan_and_view_are_not_used(self) -> None:
        assert normalise(push("event", data={"subtype": "scan", "key": "qrscene_1"})) == []
        assert normalise(push("event", data={"subtype": "view", "key": "https://x"})) == []

    def test_mentions(self) -> None:
        [status] = normalise(
            push("mention", "@品牌 求推荐", data={"subtype": "status", "id": 3500000000000001})
        )
        [comment] = normalise(
            push(
                "mention",
                "@品牌 好",
                data={"subtype": "comment", "id": 3500000000000002, "mid": "3500000000000001"},
            )
        )
        assert isinstance(status.data, CommentCreated)
        assert status.data.is_mention
        assert (status.data.comment_id, status.data.post_id) == ("3500000000000001",) * 2
        assert (comment.data.comment_id, comment.data.post_id) == (
            "3500000000000002",
            "3500000000000001",
        )

    def test_unknown_type_is_other(self) -> None:
        [ce] = normalise(push("hologram", "?"))
        assert ce.data.message_type == "other"

    def test_a_retry_has_the_same_id_and_different_texts_differ(self) -> None:
        body = push("text", "hi")
        assert [e.id for e in normalise(body)] == [e.id for e in normalise(body)]
        assert normalise(push("text", "hi"))[0].id != normalise(push("text", "ho"))[0].id

    def test_without_created_at_it_is_the_receipt_time(self) -> None:
        [ce] = normalise(push("text", "hi", created_at=None))
        assert ce.data.occurred_at == NOW

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"x",
            b"[]",
            b'{"type": "text"}',
            b'{"type": "text", "sender_id": ""}',
            push("text", "x", created_at="yesterday"),
            push("text", "x", created_at="9" * 30),
            push("text", "x", created_at="Mon Jan 01 00:00:00 +2359 0001"),
            b"\xff",
        ],
    )
    def test_malformed(self, body: bytes) -> None:
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(body))


class TestFuzz:
    @given(
        body=st.binary(max_size=300),
        q=st.dictionaries(
            st.sampled_from(["signature", "timestamp", "nonce", "echostr", "x"]),
            st.text(max_size=30),
        ),
    )
    def test_only_their_errors(self, body: bytes, q: dict[str, str]) -> None:
        for method in ("GET", "POST"):
            req = InboundRequest(method, q, {}, body, NOW)
            with contextlib.suppress(VerificationError):
                ADAPTER.handshake(ACCOUNT, req)
            with contextlib.suppress(VerificationError):
                ADAPTER.verify(ACCOUNT, req)
            with contextlib.suppress(MalformedPayload):
                ADAPTER.normalise(ACCOUNT, req)

    @given(
        kind=st.sampled_from(["text", "image", "voice", "position", "event", "mention", "zz"]),
        created_at=st.one_of(st.none(), st.integers(), st.text(max_size=40)),
        sender=st.one_of(st.none(), st.integers(), st.text(max_size=5)),
        data=st.dictionaries(
            st.sampled_from(["subtype", "key", "vfid", "longitude", "latitude", "id", "mid"]),
            st.one_of(st.text(max_size=5), st.integers(), st.floats(), st.none()),
        ),
    )
    def test_structured_junk(self, kind: str, created_at: Any, sender: Any, data: Any) -> None:
        body = json.dumps(
            {"type": kind, "sender_id": sender, "created_at": created_at, "data": data}
        ).encode()
        with contextlib.suppress(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(body))


REPLY = ReplyRequested(
    reply_id="r-1",
    conversation_id="c-1",
    platform="weibo",
    account="5175429989",
    user_id=FAN,
    text="谢谢 & thanks",
)


def fake_weibo(status: int, body: dict[str, Any]) -> httpx.AsyncClient:
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.method == "POST"
        assert req.url.path == "/2/messages/reply.json"
        assert req.headers["content-type"] == "application/x-www-form-urlencoded"
        form = dict(urllib.parse.parse_qsl(req.content.decode()))
        assert form["access_token"] == TOKEN
        assert (form["type"], form["receiver_id"], form["save_sender_box"]) == ("text", FAN, "1")
        assert json.loads(urllib.parse.unquote(form["data"])) == {"text": "谢谢 & thanks"}
        return httpx.Response(status, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


class TestSend:
    async def test_delivered(self) -> None:
        async with fake_weibo(200, {"result": True, "id": 3500000000000009}) as http:
            outcome = await ADAPTER.send(ACCOUNT, REPLY, http=http, base_url="https://wb.test/")
        assert outcome.delivered
        assert outcome.platform_message_id == "3500000000000009"

    @pytest.mark.parametrize(
        ("status", "body", "retryable"),
        [
            (403, {"error_code": 10023, "error": "User requests out of rate limit!"}, True),
            (403, {"error_code": 10024, "error": "User requests for (x) out of rate limit!"}, True),
            (500, {"error_code": 10001, "error": "system error!"}, True),
            (429, {}, True),
            (
                400,
                {
                    "error_code": 21332,
                    "error": f"invalid_access_token {TOKEN}",
                    "request": f"/2/messages/reply.json?access_token={TOKEN}",
                },
                False,
            ),
            (200, {"error_code": 20016, "error": "out of limit"}, False),
        ],
    )
    async def test_failures(self, status: int, body: dict[str, Any], retryable: bool) -> None:
        async with fake_weibo(status, body) as http:
            outcome = await ADAPTER.send(ACCOUNT, REPLY, http=http, base_url="https://wb.test")
        assert not outcome.delivered
        assert outcome.retryable is retryable
        assert outcome.error is not None
        assert TOKEN not in outcome.error

    async def test_without_a_token_it_fails_finally(self) -> None:
        account = WeiboAccount(platform="weibo", account_id="1", app_secret=SECRET)
        async with httpx.AsyncClient() as http:
            outcome = await ADAPTER.send(account, REPLY, http=http, base_url="https://wb.test")
        assert not outcome.delivered
        assert not outcome.retryable
