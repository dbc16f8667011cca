"""WeCom: the SDK sample's published URL check and message, signatures over the sealed body,
every message and event kind, fuzzing, and the application-message send API."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    SendOutcome,
    VerificationError,
    verify_push,
)
from services.ingest.platforms.wechat import MessageCrypt, WeCom, WeComAccount, sha1_signature
from shared.contracts import FanFollowed, FanUnfollowed, MessageReceived, ReplyRequested
from shared.events import event_id
from tests.platform_vectors import wecom as vectors
from tests.unit.wechat_helpers import NOW_TS, TS, FakeTencent, only_protocol_errors, request

SAMPLE = WeComAccount.model_validate(vectors.SAMPLE_ACCOUNT)
ACCOUNT = WeComAccount.model_validate(vectors.ACCOUNT)
ADAPTER = WeCom()


def push(xml: str, *, nonce: str = "1") -> InboundRequest:
    body, query = vectors.push(xml, timestamp=TS, nonce=nonce)
    return request(query=query, body=body)


def sample_url_check(query: dict[str, str]) -> InboundRequest:
    """The sample's URL check, received when it was made (in 2014)."""
    sent_at = datetime.fromtimestamp(int(vectors.VERIFY_QUERY["timestamp"]), UTC)
    return replace(request("GET", query), received_at=sent_at)


def only(xml: str) -> Any:
    req = push(xml)
    (event,) = ADAPTER.normalise(ACCOUNT, verify_push(ADAPTER, ACCOUNT, req))
    return event.data


class TestPublishedSample:
    """Tencent's WXBizMsgCrypt sample (token QDG6eK, CorpID wx5823bf96d3bd56c7)."""

    def test_the_verify_url_signature_reproduces(self) -> None:
        q = vectors.VERIFY_QUERY
        assert (
            sha1_signature(vectors.SAMPLE_TOKEN, q["timestamp"], q["nonce"], q["echostr"])
            == (q["msg_signature"])
        )

    def test_the_verify_url_get_answers_the_echostr_plaintext(self) -> None:
        answer = ADAPTER.handshake(SAMPLE, sample_url_check(vectors.VERIFY_QUERY))
        assert (answer.status_code, answer.body, answer.media_type) == (
            200, vectors.VERIFY_ANSWER, "text/plain")  # fmt: skip

    def test_the_verify_url_get_is_stale_now(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(SAMPLE, request("GET", vectors.VERIFY_QUERY))
        assert refused.value.reason == "stale_timestamp"

    def test_the_post_signature_reproduces(self) -> None:
        encrypt = vectors.POST_BODY.split(b"<![CDATA[")[2].split(b"]]>")[0].decode()
        q = vectors.POST_QUERY
        assert (
            sha1_signature(vectors.SAMPLE_TOKEN, q["timestamp"], q["nonce"], encrypt)
            == (q["msg_signature"])
        )

    def test_the_post_decrypts_to_a_text_hello_from_mycreate(self) -> None:
        req = request(query=vectors.POST_QUERY, body=vectors.POST_BODY)
        ADAPTER.verify(SAMPLE, req)  # a 2014 timestamp: not refused
        (event,) = ADAPTER.normalise(SAMPLE, verify_push(ADAPTER, SAMPLE, req))
        data = event.data
        assert isinstance(data, MessageReceived)
        assert (data.platform, data.account, data.user_id) == ("wecom", SAMPLE.account_id,
                                                               "mycreate")  # fmt: skip
        assert (data.message_type, data.text) == ("text", "hello")
        assert (data.message_id, data.thread_ref) == ("4561255354251345929", "218")
        assert data.occurred_at == datetime.fromtimestamp(1409659813, UTC)
        assert event.id == event_id("wecom", SAMPLE.account_id, data.event_type,
                                    "4561255354251345929")  # fmt: skip
        assert event.subject == f"wecom:{SAMPLE.account_id}:mycreate"

    def test_the_sample_is_not_for_another_corp(self) -> None:
        other = SAMPLE.model_copy(update={"corp_id": "ww-another"})
        with pytest.raises(VerificationError, match="another receive id"):
            ADAPTER.handshake(other, sample_url_check(vectors.VERIFY_QUERY))
        with pytest.raises(VerificationError, match="another receive id"):
            ADAPTER.verify(other, request(query=vectors.POST_QUERY, body=vectors.POST_BODY))

    @pytest.mark.parametrize("name", ["msg_signature", "timestamp", "nonce", "echostr"])
    def test_the_verify_url_get_refuses_a_changed_or_missing_parameter(self, name: str) -> None:
        for value in ("", "1"):
            with pytest.raises(VerificationError):
                ADAPTER.handshake(SAMPLE, request("GET", {**vectors.VERIFY_QUERY, name: value}))

    def test_the_post_refuses_any_byte_of_encrypt_flipped(self) -> None:
        body = vectors.POST_BODY
        start = body.index(b"<Encrypt>")
        for index in range(start, body.index(b"</Encrypt>") + len(b"</Encrypt>")):
            flipped = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
            with pytest.raises(VerificationError):
                ADAPTER.verify(SAMPLE, request(query=vectors.POST_QUERY, body=flipped))

    @pytest.mark.parametrize("name", ["msg_signature", "timestamp", "nonce"])
    def test_the_post_refuses_a_changed_or_missing_parameter(self, name: str) -> None:
        for value in ("", "1"):
            query = {**vectors.POST_QUERY, name: value}
            with pytest.raises(VerificationError):
                ADAPTER.verify(SAMPLE, request(query=query, body=vectors.POST_BODY))

    def test_a_wrong_token_is_refused(self) -> None:
        other = SAMPLE.model_copy(update={"token": SecretStr("another")})
        with pytest.raises(VerificationError, match="msg_signature"):
            ADAPTER.verify(other, request(query=vectors.POST_QUERY, body=vectors.POST_BODY))


def msg(kind: str, fields: str, msg_id: str = "1234567890123456") -> str:
    return vectors.message_xml(kind, fields, msg_id=msg_id, create_time=1348831860)


class TestNormalise:
    def test_text(self) -> None:
        data = only(msg("text", "<Content><![CDATA[this is a test]]></Content>"))
        assert (data.user_id, data.message_type, data.text) == (vectors.MEMBER, "text",
                                                                "this is a test")  # fmt: skip
        assert (data.thread_ref, data.message_id) == ("1000002", "1234567890123456")

    def test_image(self) -> None:
        data = only(msg("image", "<PicUrl>https://p/x</PicUrl><MediaId>m</MediaId>"))
        assert [(m.kind, m.platform_media_id, m.url) for m in data.media] == [
            ("image", "m", "https://p/x")
        ]

    def test_voice(self) -> None:
        data = only(msg("voice", "<MediaId>v</MediaId><Format>amr</Format>"))
        assert [(m.kind, m.platform_media_id, m.mime_type) for m in data.media] == [
            ("voice", "v", "audio/amr")
        ]

    def test_video(self) -> None:
        data = only(msg("video", "<MediaId>v</MediaId><ThumbMediaId>t</ThumbMediaId>"))
        assert [(m.kind, m.platform_media_id) for m in data.media] == [("video", "v")]

    def test_location(self) -> None:
        data = only(msg("location", "<Location_X>39.9</Location_X><Location_Y>116.4</Location_Y>"
                                    "<Label>北京</Label>"))  # fmt: skip
        assert (data.text, data.media[0].url) == ("北京", "geo:39.9,116.4")

    def test_link(self) -> None:
        data = only(msg("link", "<Title>T</Title><Url>https://e.com</Url>"))
        assert (data.text, data.media[0].url) == ("T", "https://e.com")

    def test_subscribe_and_unsubscribe(self) -> None:
        assert isinstance(only(vectors.event_xml("subscribe", None, create_time=1)), FanFollowed)
        assert isinstance(
            only(vectors.event_xml("unsubscribe", None, create_time=1)), FanUnfollowed
        )

    def test_click(self) -> None:
        data = only(vectors.event_xml("click", "#sendmsg#_0_0", create_time=1))
        assert (data.message_type, data.text) == ("event", "#sendmsg#_0_0")

    @pytest.mark.parametrize("event", ["enter_agent", "view", "location", "batch_job_result"])
    def test_events_the_system_does_not_use_give_nothing(self, event: str) -> None:
        req = push(vectors.event_xml(event, None, create_time=1))
        assert ADAPTER.normalise(ACCOUNT, verify_push(ADAPTER, ACCOUNT, req)) == []

    def test_a_retry_gives_the_same_event_ids(self) -> None:
        xml = vectors.event_xml("subscribe", None, create_time=1348831860)
        first, again = push(xml, nonce="1"), push(xml, nonce="2")
        ids = [
            [e.id for e in ADAPTER.normalise(ACCOUNT, verify_push(ADAPTER, ACCOUNT, r))]
            for r in (first, again)
        ]
        assert ids[0] == ids[1]
        assert len(ids[0]) == 1

    def test_authentic_but_not_xml_is_malformed(self) -> None:
        req = push("hello")
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, verify_push(ADAPTER, ACCOUNT, req))

    def test_acknowledges_with_an_empty_answer(self) -> None:
        answer = ADAPTER.acknowledge(ACCOUNT, push("<xml/>"), [])
        assert (answer.status_code, answer.body) == (200, b"")


class TestFuzz:
    @settings(max_examples=300, deadline=None)
    @given(
        query=st.dictionaries(
            st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr"]),
            st.text(max_size=120) | st.sampled_from(list(vectors.VERIFY_QUERY.values())),
        ),
        body=st.binary(max_size=600),
        method=st.sampled_from(["GET", "POST"]),
    )
    def test_arbitrary_requests_only_raise_the_protocol_errors(
        self, query: dict[str, str], body: bytes, method: str
    ) -> None:
        only_protocol_errors(ADAPTER, (SAMPLE, ACCOUNT), request(method, query, body))

    @settings(max_examples=200, deadline=None)
    @given(echo=st.binary(max_size=2000))
    def test_a_signed_echostr_opens_only_to_an_echo(self, echo: bytes) -> None:
        query = url_check(echo)
        try:
            assert ADAPTER.handshake(ACCOUNT, request("GET", query)).body == echo
        except VerificationError:
            assert not echo.isascii() or not echo.isalnum() or len(echo) > 64


class TestUrlCheckIsNoOracle:
    """Given a captured push's msg_signature, timestamp, nonce and <Encrypt> as its echostr, the
    URL check would answer the message: it answers only what is shaped like WeCom's echo."""

    @pytest.mark.parametrize(
        "echo", [b"1616140317555161061", b"5928175032616810435", b"a" * 64, b"Ab3"]
    )
    def test_an_echo_of_letters_and_digits_is_answered(self, echo: bytes) -> None:
        assert ADAPTER.handshake(ACCOUNT, request("GET", url_check(echo))).body == echo

    @pytest.mark.parametrize(
        "plain",
        [
            b"<xml><Content><![CDATA[hello]]></Content></xml>",
            b'{"msgtype": "text", "text": {"content": "hello"}}',
            b"a" * 65, b"", b"12 34", b"1234\n", "\uff11\uff12\uff13".encode(),
        ],
    )  # fmt: skip
    def test_any_other_plaintext_is_refused(self, plain: bytes) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(ACCOUNT, request("GET", url_check(plain)))
        assert refused.value.reason == "signature"

    def test_a_captured_push_gets_no_answer(self) -> None:
        body, query = vectors.push(vectors.KINDS[0][1], timestamp=NOW_TS, nonce="9")
        encrypt = body.split(b"<![CDATA[")[2].split(b"]]>")[0].decode()
        ADAPTER.verify(ACCOUNT, request(query=query, body=body))  # a genuine push
        with pytest.raises(VerificationError):
            ADAPTER.handshake(ACCOUNT, request("GET", {**query, "echostr": encrypt}))

    def test_a_url_check_outside_the_window_is_stale(self) -> None:
        query = url_check(b"1616140317555161061", timestamp=str(int(NOW_TS) - 301))
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(ACCOUNT, request("GET", query))
        assert refused.value.reason == "stale_timestamp"


def url_check(echo: bytes, *, timestamp: str = NOW_TS) -> dict[str, str]:
    echostr = MessageCrypt(vectors.AES_KEY, vectors.CORP_ID).encrypt(echo, b"r" * 16)
    return {"msg_signature": sha1_signature(vectors.TOKEN, timestamp, "1", echostr),
            "timestamp": timestamp, "nonce": "1", "echostr": echostr}  # fmt: skip


# --- the send API --------------------------------------------------------------------------------

SENDER = WeComAccount(platform="wecom", account_id="wecom-send", corp_id="wwSEND", token="t",
                      encoding_aes_key=vectors.AES_KEY, agent_id=1000002,
                      corp_secret="the-corp-secret")  # fmt: skip
BASE = "https://qyapi.weixin.test"


def fake(**kwargs: Any) -> FakeTencent:
    credentials = {"corpid": "wwSEND", "corpsecret": "the-corp-secret"}
    platform = FakeTencent("/cgi-bin/gettoken", "/cgi-bin/message/send", credentials, **kwargs)
    platform.success = {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "MSGID-1"}
    return platform


def reply() -> ReplyRequested:
    return ReplyRequested(reply_id="r-1", conversation_id="c-1", platform="wecom",
                          account=SENDER.account_id, user_id="ZhangSan", text="收到")  # fmt: skip


async def send_with(platform: FakeTencent, account: WeComAccount = SENDER) -> SendOutcome:
    async with platform.client() as http:
        return await WeCom().send(account, reply(), http=http, base_url=BASE)


class TestSend:
    async def test_sends_an_application_text_message(self) -> None:
        platform = fake()
        outcome = await send_with(platform)
        assert outcome == SendOutcome(delivered=True, status_code=200,
                                      platform_message_id="MSGID-1")  # fmt: skip
        assert platform.sent == [{"touser": "ZhangSan", "msgtype": "text", "agentid": 1000002,
                                  "text": {"content": "收到"}}]  # fmt: skip

    async def test_an_expired_token_is_fetched_again_once(self) -> None:
        platform = fake(send_answers=[(200, {"errcode": 42001, "errmsg": "access_token expired"})])
        outcome = await send_with(platform)
        assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-2"]

    async def test_gettoken_takes_the_corpsecret_in_the_query_and_has_no_forced_mode(
        self,
    ) -> None:
        """By WeCom's design; the same token handed back after a refusal is tried once more."""
        again = (200, {"errcode": 0, "access_token": "SAME", "expires_in": 7200})
        platform = fake(
            token_answers=[again, again],
            send_answers=[(200, {"errcode": 40014, "errmsg": "invalid token"})] * 2,
        )
        outcome = await send_with(platform)
        assert (outcome.delivered, outcome.retryable) == (False, True)
        assert platform.token_fetches == 2
        assert platform.tokens_used == ["SAME", "SAME"]
        assert (
            platform.urls[0] == f"{BASE}/cgi-bin/gettoken?corpid=wwSEND&corpsecret=the-corp-secret"
        )

    async def test_concurrent_sends_fetch_the_token_once(self) -> None:
        platform, adapter = fake(), WeCom()
        async with platform.client() as http:
            outcomes = await asyncio.gather(*(
                adapter.send(SENDER, reply(), http=http, base_url=BASE) for _ in range(10)
            ))  # fmt: skip
        assert all(o.delivered for o in outcomes)
        assert platform.token_fetches == 1

    @pytest.mark.parametrize(
        ("status", "payload", "retryable"),
        [
            (200, {"errcode": -1, "errmsg": "system busy"}, True),
            (200, {"errcode": 45009, "errmsg": "api freq out of limit"}, True),
            (200, {"errcode": 81013, "errmsg": "user & party & tag all invalid"}, False),
            (429, {}, True),
            (502, {}, True),
            (403, {}, False),
        ],
    )  # fmt: skip
    async def test_failures(self, status: int, payload: dict[str, Any], retryable: bool) -> None:
        outcome = await send_with(fake(send_answers=[(status, payload)]))
        assert (outcome.delivered, outcome.status_code, outcome.retryable) == (
            False, status, retryable)  # fmt: skip

    async def test_a_gettoken_error_is_the_outcome(self) -> None:
        platform = fake(token_answers=[(200, {"errcode": 40001, "errmsg": "invalid secret"})])
        outcome = await send_with(platform)
        assert (outcome.delivered, outcome.retryable) == (False, False)
        assert "40001" in (outcome.error or "")
        assert "the-corp-secret" not in (outcome.error or "")

    @pytest.mark.parametrize("missing", ["agent_id", "corp_secret"])
    async def test_an_account_without_agent_id_or_secret_cannot_send(self, missing: str) -> None:
        platform = fake()
        outcome = await send_with(platform, SENDER.model_copy(update={missing: None}))
        assert (outcome.delivered, outcome.retryable) == (False, False)
        assert platform.sent == []

    def test_the_default_base_url_is_the_real_api(self) -> None:
        assert WeCom.default_send_base_url == "https://qyapi.weixin.qq.com"
