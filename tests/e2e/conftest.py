"""The services as apps with their whole lifespan (producer, consumers, outbox relay) running
against the test's broker and database, reached over HTTP."""

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.coupons.config import CouponsSettings
from services.coupons.main import create_app as create_coupons
from services.ingest.config import IngestSettings
from services.ingest.main import create_app as create_ingest
from services.responder.config import ResponderSettings
from services.responder.main import create_app as create_responder
from services.scoring.config import ScoringSettings
from services.scoring.main import create_app as create_scoring
from shared.kafka import EventProducer
from tests.helpers import SECRET, running

ACCOUNT = "shop-1"


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.json"
    accounts = [{"platform": "standard", "account_id": ACCOUNT, "secret": SECRET}]
    path.write_text(json.dumps({"accounts": accounts}))
    return path


@pytest.fixture
def ingest_settings(settings_for: Callable[..., Any], accounts_file: Path) -> IngestSettings:
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=accounts_file, max_body_bytes=64 * 1024
    )
    return settings


@pytest.fixture
async def ingest(ingest_settings: IngestSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_ingest(ingest_settings)) as client:
        yield client


@pytest.fixture
async def producer(scoring_settings: ScoringSettings) -> AsyncIterator[EventProducer]:
    """Publishes with the settings of the test module's `scoring_settings`."""
    producer = EventProducer(scoring_settings)
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def scoring(settings_for: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_scoring(settings_for(ScoringSettings))) as client:
        yield client


@pytest.fixture
async def responder(settings_for: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_responder(settings_for(ResponderSettings))) as client:
        yield client


@pytest.fixture
async def coupons(settings_for: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_coupons(settings_for(CouponsSettings))) as client:
        yield client
