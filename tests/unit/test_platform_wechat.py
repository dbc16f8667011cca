"""WeChat Official Account: the SDK test's published crypto vectors, signatures in plain and safe
mode, every message and event kind, fuzzing, and the customer-service send API."""

import asyncio
import base64
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    SendOutcome,
    VerificationError,
    verify_push,
)
from services.ingest.platforms.wechat import WeChatAccount, WeChatOfficialAccount
from services.ingest.platforms.wechat_crypto import (
    CryptoError,
    MessageCrypt,
    aes_key,
    sha1_signature,
)
from shared.contracts import (
    FanEvent,
    FanFollowed,
    FanUnfollowed,
    MessageReceived,
    ReplyRequested,
)
from shared.events import CloudEvent, event_id
from tests.platform_vectors import wechat as vectors
from tests.unit.wechat_helpers import (
    NOW,
    NOW_TS,
    TS,
    FakeTencent,
    only_protocol_errors,
    request,
)

SDK = WeChatAccount.model_validate(vectors.SDK_ACCOUNT)
PLAIN = WeChatAccount.model_validate(vectors.PLAIN_ACCOUNT)
SAFE = WeChatAccount.model_validate(vectors.SAFE_ACCOUNT)
ADAPTER = WeChatOfficialAccount()


def push(xml: str, *, nonce: str = "1") -> InboundRequest:
    body, query = vectors.safe_push(xml, timestamp=TS, nonce=nonce)
    return request(query=query, body=body)


def events(xml: str) -> list[CloudEvent[FanEvent]]:
    req = push(xml)
    return list(ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req)))


def only(xml: str) -> Any:
    (event,) = events(xml)
    return event.data


def msg(kind: str, fields: str, msg_id: str = "6054768590064713728") -> str:
    return vectors.message_xml(kind, fields, msg_id=msg_id, create_time=1409735668)


class TestPublishedCryptoVectors:
    """Tencent's WXBizMsgCryptTest (chanjarster/weixin-java-tools WxCryptUtilTest.java)."""

    crypt = MessageCrypt(vectors.SDK_AES_KEY, vectors.SDK_APP_ID)

    def test_encrypt_reproduces_after_aes_encrypt(self) -> None:
        sealed = self.crypt.encrypt(vectors.SDK_REPLY.encode(), vectors.SDK_RANDOM)
        assert sealed == vectors.SDK_AFTER_AES_ENCRYPT

    def test_encrypt_reproduces_after_aes_encrypt2(self) -> None:
        sealed = self.crypt.encrypt(vectors.SDK_REPLY2.encode(), vectors.SDK_RANDOM)
        assert sealed == vectors.SDK_AFTER_AES_ENCRYPT2

    @pytest.mark.parametrize(
        ("ciphertext", "plain"),
        [(vectors.SDK_AFTER_AES_ENCRYPT, vectors.SDK_REPLY),
         (vectors.SDK_AFTER_AES_ENCRYPT2, vectors.SDK_REPLY2)],
    )  # fmt: skip
    def test_decrypt_opens_the_published_ciphertexts(self, ciphertext: str, plain: str) -> None:
        assert self.crypt.decrypt(ciphertext) == plain.encode()

    def test_a_published_ciphertext_pushed_with_its_msg_signature_verifies(self) -> None:
        encrypt = vectors.SDK_AFTER_AES_ENCRYPT2
        sig = sha1_signature(vectors.SDK_TOKEN, vectors.SDK_TIMESTAMP, vectors.SDK_NONCE, encrypt)
        req = request(
            query={"msg_signature": sig, "timestamp": vectors.SDK_TIMESTAMP,
                   "nonce": vectors.SDK_NONCE, "encrypt_type": "aes"},
            body=(vectors.SDK_XML_FORMAT % encrypt).encode(),
        )  # fmt: skip
        opened = verify_push(ADAPTER, SDK, req)  # a 2014 timestamp: not refused
        assert ADAPTER.normalise(SDK, opened) == []  # a passive reply: no MsgId, no event

    def test_the_same_ciphertext_is_not_for_another_app_id(self) -> None:
        with pytest.raises(CryptoError):
            MessageCrypt(vectors.SDK_AES_KEY, "wx-another-app").decrypt(
                vectors.SDK_AFTER_AES_ENCRYPT
            )

    def test_signature_is_sha1_of_the_sorted_strings(self) -> None:
        assert sha1_signature("b", "a", "c") == "a9993e364706816aba3e25717850c26c9cd0d89d"  # abc


def _raw_encrypt(key: bytes, plain: bytes) -> str:
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


class TestCryptoRefusals:
    key = aes_key(vectors.SDK_AES_KEY)
    crypt = MessageCrypt(vectors.SDK_AES_KEY, vectors.SDK_APP_ID)
    inner = b"r" * 16 + (3).to_bytes(4, "big") + b"abc" + vectors.SDK_APP_ID.encode()

    @pytest.mark.parametrize("pad", [0, 33, 255])
    def test_refuses_a_pad_value_outside_1_to_32(self, pad: int) -> None:
        body = self.inner + b"\x00" * (64 - len(self.inner) - 1) + bytes([pad])
        with pytest.raises(CryptoError, match="padding"):
            self.crypt.decrypt(_raw_encrypt(self.key, body))

    def test_refuses_inconsistent_padding_bytes(self) -> None:
        pad = 64 - len(self.inner)
        body = self.inner + bytes([pad - 1]) + bytes([pad]) * (pad - 1)
        with pytest.raises(CryptoError, match="padding"):
            self.crypt.decrypt(_raw_encrypt(self.key, body))

    def test_accepts_a_full_block_of_padding(self) -> None:
        body = self.inner + bytes([64 - len(self.inner)]) * (64 - len(self.inner))
        assert self.crypt.decrypt(_raw_encrypt(self.key, body)) == b"abc"

    def test_refuses_a_length_beyond_the_plaintext(self) -> None:
        inner = b"r" * 16 + (999).to_bytes(4, "big") + b"abc"
        body = inner + bytes([32 - len(inner) % 32]) * (32 - len(inner) % 32)
        with pytest.raises(CryptoError, match="length"):
            self.crypt.decrypt(_raw_encrypt(self.key, body))

    @pytest.mark.parametrize("ciphertext", ["", "not base64!", "YWJj", "A" * 22 + "=="])
    def test_refuses_what_is_not_whole_aes_blocks_of_base64(self, ciphertext: str) -> None:
        with pytest.raises(CryptoError):
            self.crypt.decrypt(ciphertext)

    @pytest.mark.parametrize("key", ["short", "a" * 44, "!" * 43])
    def test_an_encoding_aes_key_is_43_base64_characters(self, key: str) -> None:
        with pytest.raises(ValueError, match="43"):
            aes_key(key)


class TestHandshake:
    def test_echoes_echostr_as_text(self) -> None:
        query = {**vectors.plain_query(vectors.TOKEN, TS, "9"), "echostr": "abc123"}
        answer = ADAPTER.handshake(SAFE, request("GET", query))
        assert (answer.status_code, answer.body, answer.media_type) == (
            200,
            b"abc123",
            "text/plain",
        )

    def test_refuses_a_signature_made_with_another_token(self) -> None:
        query = {**vectors.plain_query("other", TS, "9"), "echostr": "abc123"}
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(PLAIN, request("GET", query))
        assert refused.value.reason == "signature"

    def test_an_old_timestamp_is_not_refused(self) -> None:
        """The URL check only echoes echostr: no freshness check."""
        query = {**vectors.plain_query(vectors.TOKEN, "1409304348", "9"), "echostr": "e"}
        assert ADAPTER.handshake(PLAIN, request("GET", query)).body == b"e"

    @pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce", "echostr"])
    def test_refuses_a_missing_parameter(self, missing: str) -> None:
        query = {**vectors.plain_query(vectors.TOKEN, TS, "9"), "echostr": "abc123"}
        del query[missing]
        with pytest.raises(VerificationError):
            ADAPTER.handshake(PLAIN, request("GET", query))


class TestVerify:
    text = msg("text", "<Content><![CDATA[hi]]></Content>")

    def test_plain_mode_checks_the_query_signature(self) -> None:
        req = request(query=vectors.plain_query(vectors.TOKEN, NOW_TS, "5"),
                      body=self.text.encode())  # fmt: skip
        ADAPTER.verify(PLAIN, req)
        assert only_plain(req).text == "hi"

    def test_plain_mode_refuses_a_wrong_signature(self) -> None:
        req = request(query=vectors.plain_query("x", NOW_TS, "5"), body=self.text.encode())
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(PLAIN, req)
        assert refused.value.reason == "signature"

    def test_a_safe_mode_account_refuses_plain_pushes(self) -> None:
        req = request(query=vectors.plain_query(vectors.TOKEN, NOW_TS, "5"),
                      body=self.text.encode())  # fmt: skip
        with pytest.raises(VerificationError, match="only accepts encrypted"):
            ADAPTER.verify(SAFE, req)

    def test_an_encrypted_push_to_an_account_without_a_key_is_refused(self) -> None:
        req = push(self.text)
        with pytest.raises(VerificationError, match="no EncodingAESKey"):
            ADAPTER.verify(PLAIN, req)

    def test_safe_mode_accepts_and_opens(self) -> None:
        req = push(self.text)
        (event,) = ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))
        assert event.data.text == "hi"  # type: ignore[attr-defined]

    def test_safe_mode_refuses_any_byte_of_encrypt_flipped(self) -> None:
        req = push(self.text)
        start = req.body.index(b"<Encrypt>")
        for index in range(start, req.body.index(b"</Encrypt>") + len(b"</Encrypt>")):
            body = req.body[:index] + bytes([req.body[index] ^ 0x01]) + req.body[index + 1 :]
            with pytest.raises(VerificationError):
                ADAPTER.verify(SAFE, request(query=dict(req.query), body=body))

    def test_the_unsigned_outer_fields_change_nothing(self) -> None:
        """Only <Encrypt> is signed; the outer ToUserName is never read."""
        req = push(self.text)
        expected = ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))
        for index in range(req.body.index(b"<Encrypt>")):
            body = req.body[:index] + bytes([req.body[index] ^ 0x01]) + req.body[index + 1 :]
            flipped = request(query=dict(req.query), body=body)
            try:
                ADAPTER.verify(SAFE, flipped)
            except VerificationError:
                continue
            assert ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, flipped)) == expected

    @pytest.mark.parametrize("name", ["msg_signature", "timestamp", "nonce"])
    def test_safe_mode_refuses_a_missing_or_changed_parameter(self, name: str) -> None:
        req = push(self.text)
        for value in ("", "2"):
            query = {**req.query, name: value}
            with pytest.raises(VerificationError):
                ADAPTER.verify(SAFE, request(query=query, body=req.body))

    def test_compatible_mode_uses_the_encrypted_part(self) -> None:
        inner = msg("text", "<Content><![CDATA[the sealed one]]></Content>", msg_id="77")
        body, query = vectors.safe_push(inner, timestamp=TS, nonce="3")
        clear = b"<Content><![CDATA[the clear one]]></Content><MsgType>text</MsgType>"
        compat = body.replace(b"<Encrypt>", clear + b"<Encrypt>")
        req = request(query=query, body=compat)
        (event,) = ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))
        assert event.data.text == "the sealed one"  # type: ignore[attr-defined]

    def test_a_sealed_message_for_another_app_is_refused(self) -> None:
        body, query = vectors.sealed(self.text.encode(), token=vectors.TOKEN,
                                     aes_key=vectors.AES_KEY, receive_id="wx-other",
                                     timestamp=TS, nonce="1",
                                     extra_query={"encrypt_type": "aes"})  # fmt: skip
        with pytest.raises(VerificationError, match="another receive id"):
            ADAPTER.verify(SAFE, request(query=query, body=body))

    def test_a_sealed_push_with_a_2014_timestamp_is_not_refused(self) -> None:
        """Safe mode has no freshness check: a replay only repeats the same sealed body."""
        body, query = vectors.safe_push(self.text, timestamp="1409304348", nonce="5")
        ADAPTER.verify(SAFE, request(query=query, body=body))


def plain_at(timestamp: str, body: bytes = b"", *, received_at: datetime = NOW) -> InboundRequest:
    """A plain-mode push, correctly signed for ``timestamp``."""
    return InboundRequest(method="POST", query=vectors.plain_query(vectors.TOKEN, timestamp, "5"),
                          headers={}, body=body, received_at=received_at)  # fmt: skip


class TestPlainModeFreshness:
    """Plain mode signs no body: a seen signature/timestamp/nonce triple (the URL check's, in an
    access log) must not carry another body later, so its timestamp must be recent."""

    text = msg("text", "<Content><![CDATA[hi]]></Content>").encode()

    @pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
    def test_a_timestamp_within_the_tolerance_is_accepted(self, offset: int) -> None:
        ADAPTER.verify(PLAIN, plain_at(str(int(NOW.timestamp()) + offset), self.text))

    @pytest.mark.parametrize("offset", [-3600, -301, 301, 86_400])
    def test_a_timestamp_outside_the_tolerance_is_stale(self, offset: int) -> None:
        req = plain_at(str(int(NOW.timestamp()) + offset), self.text)
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(PLAIN, req)
        assert refused.value.reason == "stale_timestamp"

    def test_the_url_check_query_replayed_later_with_a_body_is_refused(self) -> None:
        """The GET's signature/timestamp/nonce, replayed as a POST an hour on."""
        query = {**vectors.plain_query(vectors.TOKEN, NOW_TS, "9"), "echostr": "e"}
        ADAPTER.handshake(PLAIN, request("GET", query))
        later = InboundRequest(method="POST", query=query, headers={}, body=self.text,
                               received_at=NOW + timedelta(hours=1))  # fmt: skip
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(PLAIN, later)
        assert refused.value.reason == "stale_timestamp"

    @pytest.mark.parametrize(
        "timestamp",
        ["soon", "-1", "1.7e9", "\uff11\uff17\uff10\uff10", " 1767225600", "9" * 13, "0x69"],
    )
    def test_a_timestamp_that_is_not_seconds_is_a_signature_failure(self, timestamp: str) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(PLAIN, plain_at(timestamp, self.text))
        assert refused.value.reason == "signature"

    def test_a_wrong_signature_is_refused_as_such_whatever_the_timestamp(self) -> None:
        query = vectors.plain_query("another-token", "1409304348", "5")
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(PLAIN, request(query=query, body=self.text))
        assert refused.value.reason == "signature"

    def test_the_tolerance_is_the_settings_one(self) -> None:
        settings = IngestSettings.model_construct(webhook_tolerance_seconds=3_600)
        adapter = WeChatOfficialAccount(settings)
        adapter.verify(PLAIN, plain_at(str(int(NOW.timestamp()) - 3_000), self.text))
        with pytest.raises(VerificationError, match="tolerance"):
            adapter.verify(PLAIN, plain_at(str(int(NOW.timestamp()) - 3_601), self.text))


def only_plain(req: InboundRequest) -> Any:
    (event,) = ADAPTER.normalise(PLAIN, verify_push(ADAPTER, PLAIN, req))
    return event.data


class TestNormalise:
    def test_text(self) -> None:
        event = events(msg("text", "<Content><![CDATA[你好 <b>]]></Content>"))[0]
        data = event.data
        assert isinstance(data, MessageReceived)
        assert (data.platform, data.account, data.user_id) == ("wechat", SAFE.account_id,
                                                               vectors.FAN)  # fmt: skip
        assert (data.message_id, data.platform_event_id) == ("6054768590064713728",) * 2
        assert (data.message_type, data.text) == ("text", "你好 <b>")
        assert data.occurred_at == datetime.fromtimestamp(1409735668, UTC)
        assert event.subject == f"wechat:{SAFE.account_id}:{vectors.FAN}"
        assert event.id == event_id("wechat", SAFE.account_id, data.event_type,
                                    "6054768590064713728")  # fmt: skip
        assert event.time == data.occurred_at

    def test_image(self) -> None:
        data = only(msg("image", "<PicUrl><![CDATA[http://p/x.jpg]]></PicUrl>"
                                 "<MediaId><![CDATA[m1]]></MediaId>"))  # fmt: skip
        assert data.message_type == "image"
        assert [(m.kind, m.platform_media_id, m.url) for m in data.media] == [
            ("image", "m1", "http://p/x.jpg")
        ]

    def test_voice_with_recognition(self) -> None:
        data = only(msg("voice", "<MediaId>v1</MediaId><Format>AMR</Format>"
                                 "<Recognition><![CDATA[腾讯]]></Recognition>"))  # fmt: skip
        assert (data.message_type, data.text) == ("voice", "腾讯")
        assert [(m.kind, m.platform_media_id, m.mime_type) for m in data.media] == [
            ("voice", "v1", "audio/amr")
        ]

    @pytest.mark.parametrize("kind", ["video", "shortvideo"])
    def test_video(self, kind: str) -> None:
        data = only(msg(kind, "<MediaId>vid</MediaId><ThumbMediaId>th</ThumbMediaId>"))
        assert data.message_type == "video"
        assert [(m.kind, m.platform_media_id) for m in data.media] == [("video", "vid")]

    def test_location(self) -> None:
        fields = (
            "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y>"
            "<Scale>20</Scale><Label>位置信息</Label>"
        )
        data = only(msg("location", fields))
        assert (data.message_type, data.text) == ("location", "位置信息")
        assert [(m.kind, m.url) for m in data.media] == [("location", "geo:23.134521,113.358803")]

    def test_link(self) -> None:
        data = only(msg("link", "<Title>T</Title><Description>D</Description>"
                                "<Url>https://e.com/a</Url>"))  # fmt: skip
        assert (data.message_type, data.text) == ("link", "T\nD")
        assert [(m.kind, m.url) for m in data.media] == [("link", "https://e.com/a")]

    def test_an_unknown_message_type_is_other(self) -> None:
        data = only(msg("miniprogrampage", "<Title>x</Title>"))
        assert (data.message_type, data.text, data.media) == ("other", None, ())

    def test_an_unknown_message_type_without_msg_id_is_dropped(self) -> None:
        assert events(vectors.message_xml("newkind", "", msg_id=None, create_time=1)) == []

    def test_subscribe_by_scanning_a_code(self) -> None:
        (event,) = events(vectors.event_xml("subscribe", "qrscene_123123", create_time=1409735668))
        assert isinstance(event.data, FanFollowed)
        composite = f"{vectors.FAN}|1409735668|subscribe|qrscene_123123"
        assert event.data.platform_event_id == composite
        assert event.id == event_id("wechat", SAFE.account_id, "scrm.fan.followed.v1", composite)

    def test_unsubscribe(self) -> None:
        data = only(vectors.event_xml("unsubscribe", None, create_time=1409735668))
        assert isinstance(data, FanUnfollowed)
        assert data.user_id == vectors.FAN

    def test_click_is_a_message_of_type_event_with_the_key_as_text(self) -> None:
        data = only(vectors.event_xml("CLICK", "V1001_GOOD", create_time=1409735668))
        assert isinstance(data, MessageReceived)
        assert (data.message_type, data.text) == ("event", "V1001_GOOD")

    def test_scan(self) -> None:
        data = only(vectors.event_xml("SCAN", "123123", create_time=1409735668))
        assert (data.message_type, data.text) == ("event", "123123")

    @pytest.mark.parametrize("event", ["VIEW", "LOCATION", "TEMPLATESENDJOBFINISH", "", "WHAT"])
    def test_events_the_system_does_not_use_give_nothing(self, event: str) -> None:
        assert events(vectors.event_xml(event, "k", create_time=1409735668)) == []

    def test_a_retry_gives_the_same_event_ids(self) -> None:
        xml = vectors.event_xml("subscribe", None, create_time=1409735668)
        first = [e.id for e in events(xml)]
        again = push(xml, nonce="another-nonce")  # WeChat re-signs a retry
        assert [e.id for e in ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, again))] == first
        text = msg("text", "<Content>x</Content>")
        assert [e.id for e in events(text)] == [e.id for e in events(text)]

    def test_different_events_of_one_fan_at_one_second_differ(self) -> None:
        ids = {e.id for kind in ("subscribe", "CLICK", "SCAN")
               for e in events(vectors.event_xml(kind, "k", create_time=1))}  # fmt: skip
        assert len(ids) == 3

    def test_without_create_time_the_time_of_receipt(self) -> None:
        xml = "<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><MsgId>1</MsgId></xml>"
        assert only(xml).occurred_at == NOW

    @pytest.mark.parametrize(
        "xml",
        [
            "<xml><MsgType>text</MsgType><MsgId>1</MsgId></xml>",  # no FromUserName
            "<xml><FromUserName>u</FromUserName><MsgId>1</MsgId></xml>",  # no MsgType
            "<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><CreateTime>soon"
            "</CreateTime></xml>",
            "<xml><FromUserName>u</FromUserName><MsgType>location</MsgType><MsgId>1</MsgId>"
            "<Location_X>north</Location_X></xml>",
            "<notxml><FromUserName>u</FromUserName></notxml>",
            "<xml><FromUserName>u</FromUserName>",
            "not xml",
            '<!DOCTYPE x [<!ENTITY a "aaa">]><xml><FromUserName>&a;</FromUserName></xml>',
            "<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><MsgId>1</MsgId>"
            f"<Content>{'x' * 20_001}</Content></xml>",
        ],
        ids=["no-user", "no-type", "bad-time", "bad-location", "root", "truncated", "text",
             "entities", "too-long"],
    )  # fmt: skip
    def test_authentic_but_unreadable_is_malformed(self, xml: str) -> None:
        req = push(xml)
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))

    def test_acknowledges_with_success(self) -> None:
        answer = ADAPTER.acknowledge(SAFE, push("<xml/>"), [])
        assert (answer.status_code, answer.body, answer.media_type) == (
            200,
            b"success",
            "text/plain",
        )


QUERY_KEYS = st.sampled_from(["signature", "msg_signature", "timestamp", "nonce", "echostr",
                              "encrypt_type", "openid"])  # fmt: skip
QUERIES = st.dictionaries(QUERY_KEYS, st.text(max_size=80) | st.sampled_from(["aes", TS, "1"]))
BODIES = st.binary(max_size=600) | st.builds(
    lambda text: f"<xml><Encrypt>{text}</Encrypt></xml>".encode(), st.text(max_size=200)
)


class TestFuzz:
    @settings(max_examples=300, deadline=None)
    @given(query=QUERIES, body=BODIES, method=st.sampled_from(["GET", "POST"]))
    def test_arbitrary_requests_only_raise_the_protocol_errors(
        self, query: dict[str, str], body: bytes, method: str
    ) -> None:
        only_protocol_errors(ADAPTER, (PLAIN, SAFE, SDK), request(method, query, body))

    @settings(max_examples=300, deadline=None)
    @given(body=st.binary(max_size=600) | st.text(max_size=400).map(str.encode))
    def test_authentic_arbitrary_plaintexts_only_raise_malformed_payload(self, body: bytes) -> None:
        sealed, query = vectors.sealed(body, token=vectors.TOKEN, aes_key=vectors.AES_KEY,
                                       receive_id=vectors.APP_ID, timestamp=TS, nonce="1",
                                       extra_query={"encrypt_type": "aes"})  # fmt: skip
        req = request(query=query, body=sealed)
        with contextlib.suppress(MalformedPayload):
            ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))

    @settings(max_examples=200, deadline=None)
    @given(
        fields=st.dictionaries(
            st.sampled_from(["FromUserName", "CreateTime", "MsgType", "MsgId", "Content",
                             "Location_X", "Location_Y", "Event", "EventKey", "Format",
                             "MediaId", "PicUrl", "Title", "Url"]),
            st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
            | st.sampled_from(["event", "text", "subscribe", "CLICK", "1", "-5", "1e300",
                               "99999999999999", "nan", "inf"]),
        )
    )  # fmt: skip
    def test_authentic_arbitrary_fields_only_raise_malformed_payload(
        self, fields: dict[str, str]
    ) -> None:
        inner = "".join(f"<{k}><![CDATA[{v.replace(']]>', '')}]]></{k}>" for k, v in fields.items())
        req = push(f"<xml>{inner}</xml>")
        with contextlib.suppress(MalformedPayload):
            ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req))


# --- the send API, against a local fake of WeChat's --------------------------------------------


SENDER = WeChatAccount(platform="wechat", account_id="oa-send", app_id="wxSEND",
                       token="t", app_secret="the-app-secret")  # fmt: skip
BASE = "https://api.weixin.test"


def reply(text: str = "您好") -> ReplyRequested:
    return ReplyRequested(reply_id="r-1", conversation_id="c-1", platform="wechat",
                          account=SENDER.account_id, user_id="oFAN1", text=text)  # fmt: skip


def fake(**kwargs: Any) -> FakeTencent:
    return FakeTencent("/cgi-bin/stable_token", "/cgi-bin/message/custom/send",
                       {"grant_type": "client_credential", "appid": "wxSEND",
                        "secret": "the-app-secret"}, stable=True, **kwargs)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def send_with(
    platform: FakeTencent, adapter: WeChatOfficialAccount | None = None, times: int = 1
) -> list[SendOutcome]:
    adapter = adapter or WeChatOfficialAccount()
    async with platform.client() as http:
        return [await adapter.send(SENDER, reply(), http=http, base_url=BASE)
                for _ in range(times)]  # fmt: skip


class TestSend:
    async def test_sends_a_customer_service_text_and_caches_the_token(self) -> None:
        platform = fake()
        outcomes = await send_with(platform, times=2)
        assert outcomes == [SendOutcome(delivered=True, status_code=200)] * 2
        assert platform.sent == [{"touser": "oFAN1", "msgtype": "text",
                                  "text": {"content": "您好"}}] * 2  # fmt: skip
        assert platform.token_fetches == 1
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-1"]

    async def test_the_token_comes_from_the_stable_token_api_with_the_secret_in_the_body(
        self,
    ) -> None:
        platform = fake()
        await send_with(platform)
        token_url, send_url = platform.urls
        assert token_url == f"{BASE}/cgi-bin/stable_token"  # no query string at all
        assert send_url == f"{BASE}/cgi-bin/message/custom/send?access_token=TOKEN-1"
        assert platform.force_refreshes == [False]

    async def test_the_secret_is_in_no_url_even_when_the_token_is_refused(self) -> None:
        expired = (200, {"errcode": 42001, "errmsg": "access_token expired"})
        platform = fake(send_answers=[expired, expired])
        await send_with(platform, times=2)
        assert len(platform.urls) > 4
        assert not [url for url in platform.urls if "secret" in url]

    async def test_replicas_share_one_token(self) -> None:
        """Normal mode hands every replica the same token: none invalidates another's."""
        platform = fake()
        replicas = [WeChatOfficialAccount(), WeChatOfficialAccount()]
        for adapter in replicas * 2:
            (outcome,) = await send_with(platform, adapter)
            assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1"] * 4
        assert platform.force_refreshes == [False, False]

    @pytest.mark.parametrize("code", [40001, 40014, 42001])
    async def test_a_refused_token_is_fetched_again_in_normal_mode(self, code: int) -> None:
        """The token was replaced elsewhere (another party forced a refresh, or it expired): a
        normal fetch brings the new one."""
        platform = fake()
        adapter = WeChatOfficialAccount()
        await send_with(platform, adapter)
        platform.rotate()
        platform.send_answers = [(200, {"errcode": code, "errmsg": "invalid credential"})]
        (outcome,) = await send_with(platform, adapter)
        assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
        assert platform.force_refreshes == [False, False]

    async def test_the_refusal_comes_from_the_platform_checking_the_token(self) -> None:
        platform = fake()
        adapter = WeChatOfficialAccount()
        await send_with(platform, adapter)
        platform.rotate()
        (outcome,) = await send_with(platform, adapter)
        assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
        assert platform.force_refreshes == [False, False]

    @pytest.mark.parametrize("code", [40001, 40014, 42001])
    async def test_a_refreshed_token_is_forced_only_when_the_same_one_comes_back(
        self, code: int
    ) -> None:
        platform = fake(send_answers=[(200, {"errcode": code, "errmsg": "invalid credential"})])
        (outcome,) = await send_with(platform)
        assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-2"]
        assert platform.force_refreshes == [False, False, True]

    async def test_a_token_refused_twice_is_retryable_later(self) -> None:
        expired = (200, {"errcode": 42001, "errmsg": "access_token expired"})
        platform = fake(send_answers=[expired, expired])
        adapter = WeChatOfficialAccount()
        (outcome,) = await send_with(platform, adapter)
        assert (outcome.delivered, outcome.retryable) == (False, True)
        assert platform.force_refreshes == [False, False, True]
        (outcome,) = await send_with(platform, adapter)  # later: fetched again, normal mode
        assert outcome.delivered
        assert platform.force_refreshes == [False, False, True, False]
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-2", "TOKEN-2"]

    async def test_a_forced_refresh_that_fails_is_the_outcome(self) -> None:
        platform = fake(send_answers=[(200, {"errcode": 40001, "errmsg": "invalid credential"})])
        adapter = WeChatOfficialAccount()
        await send_with(platform, adapter)  # TOKEN-1 cached, then refused once and replaced
        platform.revoked.add("TOKEN-2")
        platform.token_answers = [(200, {"access_token": "TOKEN-2", "expires_in": 7000}),
                                  (200, {"errcode": -1, "errmsg": "system error"})]  # fmt: skip
        (outcome,) = await send_with(platform, adapter)
        assert (outcome.delivered, outcome.retryable) == (False, True)
        assert platform.force_refreshes[-2:] == [False, True]

    async def test_concurrent_refusals_of_one_token_force_one_refresh(self) -> None:
        platform, adapter = fake(), WeChatOfficialAccount()
        await send_with(platform, adapter)
        platform.revoked.add("TOKEN-1")  # refused, yet normal mode still hands it out
        async with platform.client() as http:
            outcomes = await asyncio.gather(*(
                adapter.send(SENDER, reply(), http=http, base_url=BASE) for _ in range(10)
            ))  # fmt: skip
        assert all(o.delivered for o in outcomes)
        assert platform.force_refreshes == [False, False, True]
        assert platform.tokens_used.count("TOKEN-2") == 10

    async def test_the_token_is_refreshed_five_minutes_before_it_expires(self) -> None:
        clock, platform = Clock(), fake()
        adapter = WeChatOfficialAccount(clock=clock)
        await send_with(platform, adapter)
        clock.now += 7200 - 300 - 1
        await send_with(platform, adapter)
        assert platform.token_fetches == 1
        clock.now += 2
        await send_with(platform, adapter)
        assert platform.token_fetches == 2
        assert platform.force_refreshes == [False, False]

    async def test_the_remaining_lifetime_is_what_is_cached(self) -> None:
        """A replica fetching late gets the shared token with the time it has left."""
        clock = Clock()
        platform = fake(token_answers=[(200, {"access_token": "TOKEN-1", "expires_in": 1000})])
        adapter = WeChatOfficialAccount(clock=clock)
        await send_with(platform, adapter)
        clock.now += 1000 - 300 + 1
        await send_with(platform, adapter)
        assert platform.token_fetches == 2

    async def test_concurrent_sends_fetch_the_token_once(self) -> None:
        platform, adapter = fake(), WeChatOfficialAccount()
        async with platform.client() as http:
            outcomes = await asyncio.gather(*(
                adapter.send(SENDER, reply(), http=http, base_url=BASE) for _ in range(10)
            ))  # fmt: skip
        assert all(o.delivered for o in outcomes)
        assert platform.token_fetches == 1

    @pytest.mark.parametrize(
        ("status", "payload", "retryable"),
        [
            (200, {"errcode": -1, "errmsg": "system error"}, True),
            (200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}, True),
            (200, {"errcode": 45011, "errmsg": "api minute-quota reach limit"}, True),
            (200, {"errcode": 45015, "errmsg": "response out of time limit"}, False),
            (200, {"errcode": 40003, "errmsg": "invalid openid"}, False),
            (429, {}, True),
            (500, {}, True),
            (503, {}, True),
            (400, {"errcode": 44002, "errmsg": "empty post data"}, False),
            (404, {}, False),
        ],
    )  # fmt: skip
    async def test_failures(self, status: int, payload: dict[str, Any], retryable: bool) -> None:
        (outcome,) = await send_with(fake(send_answers=[(status, payload)]))
        assert (outcome.delivered, outcome.status_code, outcome.retryable) == (
            False, status, retryable)  # fmt: skip
        if payload:
            assert str(payload["errcode"]) in (outcome.error or "")

    @pytest.mark.parametrize(
        ("status", "payload", "retryable"),
        [
            (200, {"errcode": 40125, "errmsg": "invalid appsecret"}, False),
            (200, {"errcode": -1, "errmsg": "system error"}, True),
            (500, {}, True),
            (200, {"expires_in": 7200}, True),
        ],
    )  # fmt: skip
    async def test_a_token_fetch_failure_is_the_outcome(
        self, status: int, payload: dict[str, Any], retryable: bool
    ) -> None:
        platform = fake(token_answers=[(status, payload)])
        (outcome,) = await send_with(platform)
        assert (outcome.delivered, outcome.retryable) == (False, retryable)
        assert platform.sent == []
        assert "the-app-secret" not in (outcome.error or "")

    async def test_an_account_without_an_app_secret_cannot_send(self) -> None:
        account = SENDER.model_copy(update={"app_secret": None})
        async with fake().client() as http:
            outcome = await WeChatOfficialAccount().send(account, reply(), http=http,
                                                         base_url=BASE)  # fmt: skip
        assert (outcome.delivered, outcome.retryable) == (False, False)

    async def test_transport_errors_propagate(self) -> None:
        def down(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("down")

        async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
            with pytest.raises(httpx.TransportError):
                await WeChatOfficialAccount().send(SENDER, reply(), http=http, base_url=BASE)

    def test_the_default_base_url_is_the_real_api(self) -> None:
        assert WeChatOfficialAccount.default_send_base_url == "https://api.weixin.qq.com"
