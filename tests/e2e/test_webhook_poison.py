"""Signed input that would poison what is behind ingest: refused at the door (400) with nothing
produced, or answered without letting the platform's echo be read as anything but text."""

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from shared.topics import EVENTS
from tests.conftest import Infrastructure
from tests.e2e.conftest import ACCOUNT
from tests.helpers import read_topic, running, signed_webhook
from tests.platform_vectors import all_cases

pytestmark = pytest.mark.e2e
STANDARD = f"/v1/webhooks/standard/{ACCOUNT}"


@pytest.fixture
def poison_settings(
    tmp_path: Path, settings_for: Callable[..., Any], accounts_file: Path
) -> IngestSettings:
    """The standard test account and every platform vector's account."""
    entries = {(c.platform, c.account_id): c.account for c in all_cases()}
    accounts = [*json.loads(accounts_file.read_text())["accounts"], *entries.values()]
    path = tmp_path / "poison-accounts.json"
    path.write_text(json.dumps({"accounts": accounts}))
    settings: IngestSettings = settings_for(IngestSettings, accounts_file=path)
    return settings


@pytest.fixture
async def ingest(
    poison_settings: IngestSettings,
) -> AsyncIterator[tuple[httpx.AsyncClient, IngestSettings]]:
    async with running(create_app(poison_settings)) as client:
        yield client, poison_settings


async def nothing_produced(infrastructure: Infrastructure, settings: IngestSettings) -> bool:
    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(EVENTS), expect=1, within=2
    )
    return records == []


def order(amount_cents: int, user_id: str = "buyer-1") -> dict[str, Any]:
    return {
        "type": "order.paid", "timestamp": datetime.now(UTC).isoformat(),
        "data": {"order_id": "o-1", "user_id": user_id, "amount_cents": amount_cents,
                 "currency": "CNY"},
    }  # fmt: skip


def message(user_id: str) -> dict[str, Any]:
    return {
        "type": "message.received", "timestamp": datetime.now(UTC).isoformat(),
        "data": {"message_id": "m-1", "user_id": user_id, "text": "hi"},
    }  # fmt: skip


class TestAContractRefusesPoison:
    @pytest.mark.parametrize(
        "payload",
        [message("fan\u0000-1"), order(100, user_id="buyer\u0007")],
        ids=["nul-in-a-message", "bell-in-an-order"],
    )
    async def test_a_control_character_in_a_user_id_gets_400_and_produces_nothing(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings], infrastructure: Infrastructure,
        payload: dict[str, Any],
    ) -> None:  # fmt: skip
        client, settings = ingest
        body, headers = signed_webhook(payload)
        refused = await client.post(STANDARD, content=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["reason"] == "malformed"
        assert await nothing_produced(infrastructure, settings)

    async def test_an_amount_beyond_int64_gets_400_and_produces_nothing(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings], infrastructure: Infrastructure
    ) -> None:
        client, settings = ingest
        body, headers = signed_webhook(order(2**63))
        refused = await client.post(STANDARD, content=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert await nothing_produced(infrastructure, settings)
        body, headers = signed_webhook(order(2**63 - 1))
        assert (await client.post(STANDARD, content=body, headers=headers)).status_code == 200
