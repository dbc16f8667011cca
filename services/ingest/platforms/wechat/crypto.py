"""The message crypto WeChat Official Accounts (safe mode) and WeCom share, after Tencent's
``WXBizMsgCrypt`` SDKs: a SHA-1 signature over the sorted strings, and AES-256-CBC with the key
inside the 43-character ``EncodingAESKey`` (IV = its first 16 bytes) over
``16 random bytes | 4-byte big-endian length | message | receive id`` with PKCS#7 padding to
32-byte blocks."""

import base64
import binascii
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WXBizMsgCrypt pads to 32 bytes, not AES's 16
RANDOM_BYTES = 16
MAX_CIPHERTEXT_CHARS = 2_000_000  # base64 text; bodies are capped well below this by ingest


class CryptoError(Exception):
    """The ciphertext does not open under this key, or is not for this receiver."""


def sha1_signature(*parts: str) -> str:
    """``sha1(''.join(sorted(parts)))`` as lower-case hex: WeChat's ``signature`` and
    ``msg_signature``."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 (the protocol)


def signature_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key inside an ``EncodingAESKey`` (43 base64 characters)."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("an EncodingAESKey is 43 base64 characters") from None
    if len(key) != BLOCK:
        raise ValueError("an EncodingAESKey is 43 base64 characters")
    return key


class MessageCrypt:
    """Opens (and, for tests and passive replies, seals) the ``Encrypt`` payloads of one
    account: ``receive_id`` is the Official Account's AppID or the WeCom CorpID."""

    def __init__(self, encoding_aes_key: str, receive_id: str) -> None:
        self._key = aes_key(encoding_aes_key)
        self._receive_id = receive_id.encode()

    def decrypt(self, ciphertext: str) -> bytes:
        """The message inside ``ciphertext`` (base64); raises CryptoError."""
        if len(ciphertext) > MAX_CIPHERTEXT_CHARS:
            raise CryptoError("ciphertext too long")
        try:
            raw = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("ciphertext is not whole AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= BLOCK or pad > len(padded) or padded[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding")
        plain = padded[:-pad]
        if len(plain) < RANDOM_BYTES + 4:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[RANDOM_BYTES : RANDOM_BYTES + 4])
        start = RANDOM_BYTES + 4
        if start + length > len(plain):
            raise CryptoError("message length beyond the plaintext")
        message, receive_id = plain[start : start + length], plain[start + length :]
        if not hmac.compare_digest(receive_id, self._receive_id):
            raise CryptoError("the message is for another receive id")
        return message

    def encrypt(self, message: bytes, random16: bytes) -> str:
        """Deterministic given ``random16`` (the SDK tests fix it); base64 ciphertext."""
        if len(random16) != RANDOM_BYTES:
            raise ValueError("random16 must be 16 bytes")
        plain = random16 + struct.pack(">I", len(message)) + message + self._receive_id
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
