import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr, ValidationError

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import InboundRequest, MalformedPayload, VerificationError
from services.ingest.platforms.standard import (
    StandardAccount,
    StandardWebhooks,
    standard_webhook_signature,
    verify_standard_webhook,
)

# The Standard Webhooks specification's published test vector.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = "1614265330"
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SIGNED_AT = datetime.fromtimestamp(int(TIMESTAMP), UTC)
TOLERANCE = timedelta(minutes=5)


def headers(signature: str = SIGNATURE, timestamp: str = TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": timestamp, "webhook-signature": signature}


def verify(hdrs: dict[str, str], body: bytes = BODY, now: datetime = SIGNED_AT) -> str:
    return verify_standard_webhook(
        secret=SECRET, headers=hdrs, body=body, now=now, tolerance=TOLERANCE
    )


class TestStandardWebhookSignature:
    def test_reproduces_the_published_test_vector(self) -> None:
        assert standard_webhook_signature(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE

    def test_accepts_the_published_test_vector_and_returns_the_message_id(self) -> None:
        assert verify(headers()) == MSG_ID

    def test_accepts_when_any_of_several_signatures_matches(self) -> None:
        rotated = f"v1,bm90LXRoZS1yaWdodC1vbmU= {SIGNATURE}"
        assert verify(headers(signature=rotated)) == MSG_ID

    @pytest.mark.parametrize(
        "body",
        [BODY + b" ", b'{"test":2432232314}', b'{"test": 2432232315}', b""],
        ids=["trailing-space", "reserialised", "changed", "empty"],
    )
    def test_refuses_a_body_that_is_not_byte_for_byte_the_signed_one(self, body: bytes) -> None:
        with pytest.raises(VerificationError) as refused:
            verify(headers(), body=body)
        assert refused.value.reason == "signature"

    def test_refuses_a_timestamp_outside_the_tolerance(self) -> None:
        with pytest.raises(VerificationError) as refused:
            verify(headers(), now=SIGNED_AT + TOLERANCE + timedelta(seconds=1))
        assert refused.value.reason == "stale_timestamp"

    def test_refuses_a_timestamp_from_the_future_too(self) -> None:
        with pytest.raises(VerificationError):
            verify(headers(), now=SIGNED_AT - TOLERANCE - timedelta(seconds=1))

    @pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
    def test_refuses_a_request_without_a_required_header(self, missing: str) -> None:
        hdrs = headers()
        del hdrs[missing]
        with pytest.raises(VerificationError):
            verify(hdrs)

    @pytest.mark.parametrize(
        "timestamp",
        ["yesterday", "1" + "0" * 400, "-1614265330", "\uff11\uff16\uff11\uff14", "16e8"],
    )
    def test_refuses_a_timestamp_that_is_not_epoch_seconds(self, timestamp: str) -> None:
        with pytest.raises(VerificationError):
            verify(headers(timestamp=timestamp))

    def test_refuses_a_signature_made_with_another_secret(self) -> None:
        other = standard_webhook_signature(
            "whsec_c2VjcmV0LW9mLWFub3RoZXItc2hvcA==", MSG_ID, TIMESTAMP, BODY
        )
        with pytest.raises(VerificationError):
            verify(headers(signature=other))


def order_body(timestamp: str) -> bytes:
    data = {"order_id": "o", "user_id": "u", "amount_cents": 1, "currency": "CNY"}
    return json.dumps({"type": "order.paid", "timestamp": timestamp, "data": data}).encode()


class TestAccountAndPayload:
    @pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="])
    def test_an_account_needs_a_usable_secret(self, secret: str) -> None:
        with pytest.raises(ValidationError):
            StandardAccount(platform="standard", account_id="shop", secret=SecretStr(secret))

    @pytest.mark.parametrize(
        "timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
    )
    def test_a_time_outside_utcs_range_is_malformed_not_a_crash(self, timestamp: str) -> None:
        body = order_body(timestamp)
        account = StandardAccount(platform="standard", account_id="shop", secret=SecretStr(SECRET))
        request = InboundRequest("POST", {}, {}, body, SIGNED_AT)
        with pytest.raises(MalformedPayload):
            StandardWebhooks(IngestSettings.model_construct()).normalise(account, request)

    def test_a_time_with_an_offset_becomes_utc(self) -> None:
        body = order_body("2026-11-24T17:30:00+08:00")
        account = StandardAccount(platform="standard", account_id="shop", secret=SecretStr(SECRET))
        request = InboundRequest("POST", {}, {}, body, SIGNED_AT)
        [event] = StandardWebhooks(IngestSettings.model_construct()).normalise(account, request)
        assert event.data.occurred_at == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
        assert event.data.occurred_at.utcoffset() == timedelta(0)
