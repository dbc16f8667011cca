import contextlib
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import InboundRequest, MalformedPayload, VerificationError
from services.ingest.platforms.douyin import (
    DouyinAccount,
    DouyinOpenPlatform,
    douyin_signature,
)
from shared.contracts import (
    CommentCreated,
    FanFollowed,
    FanUnfollowed,
    MessageReceived,
    ReactionAdded,
)

# The verification request as printed in the Douyin webhook overview's Go signing example
# (developer.open-douyin.com/docs/resource/zh-CN/dop/develop/webhooks/summarize); the page
# masks its secret, so the signature below is computed here, not published.
DOC_BODY = b'{"event":"verify_webhook","client_key":"abc","content":{"challenge":12345}}'
SECRET = "dy-unit-client-secret"
ACCOUNT = DouyinAccount(platform="douyin", account_id="douyin-unit", client_secret=SECRET)
ADAPTER = DouyinOpenPlatform(IngestSettings.model_construct())
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
FAN = "0da22181-d833-447f-995f-1beefea5bef3"
BRAND = "e3af6e1d-d83a-4116-8f9f-5cb8ac2413c7"


def request(
    body: bytes, *, signature: str | None = None, headers: dict[str, str] | None = None
) -> InboundRequest:
    sig = signature if signature is not None else douyin_signature(SECRET, body)
    return InboundRequest(
        "POST", {}, {"x-douyin-signature": sig, **(headers or {})}, body, RECEIVED
    )


def push(event: str, content: dict[str, Any] | str, **extra: Any) -> bytes:
    envelope = {
        "event": event,
        "from_user_id": FAN,
        "to_user_id": BRAND,
        "client_key": "awr8bfr64vxgk036",
        "content": content,
        **extra,
    }
    return json.dumps(envelope).encode()


def normalise(body: bytes, headers: dict[str, str] | None = None) -> list[Any]:
    req = request(body, headers=headers)
    ADAPTER.verify(ACCOUNT, req)
    return list(ADAPTER.normalise(ACCOUNT, req))


def im(message_type: str = "text", **extra: Any) -> dict[str, Any]:
    return {
        "conversation_short_id": "7183913289651",
        "server_message_id": "7183913289652",
        "conversation_type": 1,
        "message_type": message_type,
        "create_time": 1672799462123,
        **extra,
    }


class TestSignature:
    def test_is_sha1_of_secret_then_body(self) -> None:
        expected = hashlib.sha1(SECRET.encode() + DOC_BODY, usedforsecurity=False).hexdigest()
        assert douyin_signature(SECRET, DOC_BODY) == expected
        assert len(expected) == 40

    def test_accepts_the_documented_verification_body(self) -> None:
        ADAPTER.verify(ACCOUNT, request(DOC_BODY))

    def test_accepts_an_uppercase_hex_signature(self) -> None:
        ADAPTER.verify(
            ACCOUNT, request(DOC_BODY, signature=douyin_signature(SECRET, DOC_BODY).upper())
        )

    @pytest.mark.parametrize(
        "body",
        [DOC_BODY + b" ", DOC_BODY.replace(b"12345", b"12346"), b""],
        ids=["trailing", "changed", "empty"],
    )
    def test_refuses_a_body_that_is_not_the_signed_one(self, body: bytes) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(ACCOUNT, request(body, signature=douyin_signature(SECRET, DOC_BODY)))
        assert refused.value.reason == "signature"

    def test_refuses_missing_header_and_other_secret(self) -> None:
        with pytest.raises(VerificationError):
            ADAPTER.verify(ACCOUNT, InboundRequest("POST", {}, {}, DOC_BODY, RECEIVED))
        with pytest.raises(VerificationError):
            ADAPTER.verify(ACCOUNT, request(DOC_BODY, signature=douyin_signature("x", DOC_BODY)))

    def test_is_not_an_hmac(self) -> None:
        import hmac

        mac = hmac.new(SECRET.encode(), DOC_BODY, hashlib.sha1).hexdigest()
        with pytest.raises(VerificationError):
            ADAPTER.verify(ACCOUNT, request(DOC_BODY, signature=mac))


class TestUrlVerification:
    def test_answers_the_challenge_as_json(self) -> None:
        req = request(DOC_BODY)
        events = ADAPTER.normalise(ACCOUNT, req)
        assert events == []
        answer = ADAPTER.acknowledge(ACCOUNT, req, events)
        assert answer.status_code == 200
        assert answer.media_type == "application/json"
        assert json.loads(answer.body) == {"challenge": 12345}

    def test_a_verification_without_a_challenge_is_malformed(self) -> None:
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(push("verify_webhook", {})))

    def test_get_is_not_part_of_the_protocol(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(ACCOUNT, InboundRequest("GET", {}, {}, b"", RECEIVED))
        assert refused.value.reason == "unsupported"

    def test_other_pushes_get_an_empty_json_object(self) -> None:
        body = push("im_receive_msg", im(text="hi"))
        req = request(body)
        answer = ADAPTER.acknowledge(ACCOUNT, req, ADAPTER.normalise(ACCOUNT, req))
        assert (answer.body, answer.media_type) == (b"{}", "application/json")


class TestNormalise:
    def test_text_message(self) -> None:
        [ce] = normalise(push("im_receive_msg", im(text="你好"), log_id="2023010410310001"))
        data = ce.data
        assert isinstance(data, MessageReceived)
        assert (data.platform, data.account, data.user_id) == ("douyin", "douyin-unit", FAN)
        assert data.message_id == data.platform_event_id == "7183913289652"
        assert (data.message_type, data.text) == ("text", "你好")
        assert data.thread_ref == "7183913289651"
        assert data.occurred_at == datetime(2023, 1, 4, 2, 31, 2, 123000, tzinfo=UTC)
        assert ce.subject == f"douyin:douyin-unit:{FAN}"

    def test_content_as_a_json_string_is_the_same(self) -> None:
        as_object = normalise(push("im_receive_msg", im(text="hi")))
        as_string = normalise(push("im_receive_msg", json.dumps(im(text="hi"))))
        assert [e.id for e in as_object] == [e.id for e in as_string]
        assert as_string[0].data.text == "hi"

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [("image", "image"), ("video", "video"), ("emoji", "sticker"), ("card", "other")],
    )
    def test_other_message_types(self, kind: str, expected: str) -> None:
        [ce] = normalise(
            push("im_receive_msg", im(kind, resource_url="https://p3.douyinpic.com/x"))
        )
        assert ce.data.message_type == expected
        if expected != "other":
            assert ce.data.media[0].kind == expected

    def test_follow_and_unfollow_spellings(self) -> None:
        content = json.dumps({"action_type": 1, "action_time": 1686817996})
        for kind in ("new_follow_action", "follow"):
            [ce] = normalise(push(kind, content), headers={"msg-id": f"m-{kind}"})
            assert isinstance(ce.data, FanFollowed)
            assert ce.data.occurred_at == datetime.fromtimestamp(1686817996, UTC)
            assert ce.data.platform_event_id == f"m-{kind}"
        for kind in ("unfollow", "new_unfollow_action"):
            [ce] = normalise(push(kind, content))
            assert isinstance(ce.data, FanUnfollowed)

    def test_comment(self) -> None:
        content = {
            "comment_id": "@9VwL3I6FTRFbvP4H1ft8Qsyj",
            "item_id": "@9VwWjvGUTp9kKW",
            "content": "多少钱",
            "comment_user_id": "fan-2",
            "create_time": 1686817996,
        }
        [ce] = normalise(push("item_comment_reply", content))
        assert isinstance(ce.data, CommentCreated)
        assert (ce.data.user_id, ce.data.comment_id) == ("fan-2", "@9VwL3I6FTRFbvP4H1ft8Qsyj")
        assert (ce.data.post_id, ce.data.text) == ("@9VwWjvGUTp9kKW", "多少钱")

    def test_like(self) -> None:
        content = json.dumps({"action_type": 1, "action_time": 1686817996, "item_id": "@9Vw"})
        [ce] = normalise(push("new_video_digg", content, log_id="20230615163316517143EDD4CEF1"))
        assert isinstance(ce.data, ReactionAdded)
        assert (ce.data.target_id, ce.data.reaction) == ("@9Vw", "like")

    def test_unused_events_give_nothing(self) -> None:
        for kind in ("im_enter_direct_msg", "im_send_msg", "authorize", "create_video", "what"):
            assert normalise(push(kind, {"scopes": []})) == []

    def test_a_retry_has_the_same_ids(self) -> None:
        body = push("new_follow_action", {"action_time": 1686817996})
        assert [e.id for e in normalise(body)] == [e.id for e in normalise(body)]
        no_time = push("new_follow_action", {})
        assert [e.id for e in normalise(no_time)] == [e.id for e in normalise(no_time)]
        assert normalise(no_time)[0].data.occurred_at == RECEIVED

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"nope",
            b"[]",
            b'{"event": 1}',
            b'{"content": {}}',
            b'{"event": "im_receive_msg", "from_user_id": "u", "content": "not json"}',
            b'{"event": "im_receive_msg", "from_user_id": "u", "content": "[1]"}',
            b'{"event": "im_receive_msg", "from_user_id": "u", "content": {"create_time": -1}}',
            b"\xff\xfe",
        ],
    )
    def test_malformed(self, body: bytes) -> None:
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(body))


class TestFuzz:
    @given(
        body=st.binary(max_size=300),
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
        ADAPTER.acknowledge(ACCOUNT, req, [])

    @given(
        event=st.sampled_from(
            [
                "verify_webhook",
                "im_receive_msg",
                "new_follow_action",
                "item_comment_reply",
                "new_video_digg",
                "x",
            ]
        ),
        content=st.dictionaries(
            st.sampled_from(
                [
                    "challenge",
                    "message_type",
                    "text",
                    "create_time",
                    "comment_id",
                    "item_id",
                    "server_message_id",
                    "action_time",
                ]
            ),
            st.one_of(st.text(max_size=5), st.integers(), st.floats(), st.none(), st.booleans()),
        ),
        as_string=st.booleans(),
        user=st.one_of(st.none(), st.text(max_size=5), st.integers()),
    )
    def test_structured_junk_only_raises_malformed(
        self, event: str, content: dict[str, Any], as_string: bool, user: Any
    ) -> None:
        body = json.dumps(
            {
                "event": event,
                "from_user_id": user,
                "content": json.dumps(content) if as_string else content,
            }
        ).encode()
        req = request(body)
        with contextlib.suppress(MalformedPayload):
            events = ADAPTER.normalise(ACCOUNT, req)
            ADAPTER.acknowledge(ACCOUNT, req, events)

    @given(query=st.dictionaries(st.text(max_size=10), st.text(max_size=10)))
    def test_handshake_only_refuses(self, query: dict[str, str]) -> None:
        with pytest.raises(VerificationError):
            ADAPTER.handshake(ACCOUNT, InboundRequest("GET", query, {}, b"", RECEIVED))
