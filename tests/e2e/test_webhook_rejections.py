"""What ingest refuses: answered with a clear status, recorded on scrm.ingest.rejected.v1."""

import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.config import IngestSettings
from shared.events import decode
from shared.topics import EVENTS, INGEST_REJECTED
from tests.conftest import Infrastructure
from tests.e2e.conftest import ACCOUNT
from tests.helpers import message_payload, read_topic, signed_webhook

pytestmark = pytest.mark.e2e
WEBHOOK = f"/v1/webhooks/standard/{ACCOUNT}"


async def rejections(
    infrastructure: Infrastructure, settings_: IngestSettings, expect: int
) -> list:  # type: ignore[type-arg]
    records = await read_topic(
        infrastructure.bootstrap_servers, settings_.topic(INGEST_REJECTED), expect=expect
    )
    return [decode(r.headers, r.value).data for r in records]


class TestRefusals:
    async def test_a_bad_signature_gets_401_and_is_recorded_with_secrets_redacted(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure,
        ingest_settings: IngestSettings,
    ) -> None:  # fmt: skip
        body, headers = signed_webhook(message_payload("u1", "m1"), secret="whsec_b3RoZXI=")
        refused = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["reason"] == "signature"
        [recorded] = await rejections(infrastructure, ingest_settings, expect=1)
        assert recorded.reason == "signature"
        assert recorded.status_code == 401
        assert recorded.account == ACCOUNT
        assert recorded.request_headers["webhook-signature"] == "[redacted]"
        assert recorded.body_excerpt == body.decode()

    async def test_a_stale_timestamp_is_refused(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure,
        ingest_settings: IngestSettings,
    ) -> None:  # fmt: skip
        hour_ago = int(time.time()) - 3600
        body, headers = signed_webhook(message_payload("u1", "m1"), timestamp=hour_ago)
        refused = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["reason"] == "stale_timestamp"
        [recorded] = await rejections(infrastructure, ingest_settings, expect=1)
        assert recorded.reason == "stale_timestamp"

    async def test_an_unknown_account_gets_404(self, ingest: httpx.AsyncClient) -> None:
        body, headers = signed_webhook(message_payload("u1", "m1"))
        refused = await ingest.post("/v1/webhooks/standard/nobody", content=body, headers=headers)
        assert refused.status_code == 404

    async def test_an_authentic_but_malformed_payload_gets_400(
        self, ingest: httpx.AsyncClient
    ) -> None:
        body, headers = signed_webhook({"type": "message.received", "data": {"text": 1}})
        refused = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert refused.status_code == 400
        assert refused.json()["reason"] == "malformed"

    async def test_a_body_over_the_limit_gets_413(self, ingest: httpx.AsyncClient) -> None:
        payload = message_payload("u1", "m1", text="x" * 70_000)
        body, headers = signed_webhook(payload)
        refused = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert refused.status_code == 413

    async def test_nothing_refused_reaches_the_events_topic(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure,
        ingest_settings: IngestSettings,
    ) -> None:  # fmt: skip
        body, headers = signed_webhook(message_payload("u1", "m1"), secret="whsec_b3RoZXI=")
        await ingest.post(WEBHOOK, content=body, headers=headers)
        events = await read_topic(
            infrastructure.bootstrap_servers, ingest_settings.topic(EVENTS), expect=1, within=2
        )
        assert events == []


class TestGarbageNeverCrashes:
    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        body=st.binary(max_size=512),
        headers=st.dictionaries(
            st.sampled_from(
                ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"]
            ),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
        ),
        account=st.sampled_from([ACCOUNT, "nobody", "%00", "a" * 300]),
    )
    async def test_any_body_and_headers_get_a_4xx_never_a_5xx(
        self, ingest: httpx.AsyncClient, body: bytes, headers: dict[str, str], account: str
    ) -> None:
        answer = await ingest.post(
            f"/v1/webhooks/standard/{account}", content=body, headers=headers
        )
        assert 400 <= answer.status_code < 500, answer.text
