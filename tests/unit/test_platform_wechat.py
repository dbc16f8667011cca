"""WeChat Official Account: the SDK test's published crypto vectors, and signatures in plain and
safe mode."""

import base64
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import InboundRequest, VerificationError, verify_push
from services.ingest.platforms.wechat import (
    CryptoError,
    MessageCrypt,
    WeChatOfficialAccount,
    aes_key,
    sha1_signature,
)
from tests.platform_vectors import wechat as vectors
from tests.unit.wechat_helpers import ADAPTER, NOW, NOW_TS, PLAIN, SAFE, SDK, TS, msg, push, request


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
        query = {**vectors.plain_query(vectors.TOKEN, NOW_TS, "9"), "echostr": "abc123"}
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

    @pytest.mark.parametrize("offset", [-3600, -301, 301])
    def test_a_timestamp_outside_the_tolerance_is_stale(self, offset: int) -> None:
        """Its signature is a plain-mode push's: an old one proves no more here."""
        timestamp = str(int(NOW.timestamp()) + offset)
        query = {**vectors.plain_query(vectors.TOKEN, timestamp, "9"), "echostr": "e"}
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(PLAIN, request("GET", query))
        assert refused.value.reason == "stale_timestamp"

    @pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce", "echostr"])
    def test_refuses_a_missing_parameter(self, missing: str) -> None:
        query = {**vectors.plain_query(vectors.TOKEN, NOW_TS, "9"), "echostr": "abc123"}
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
