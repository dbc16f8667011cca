"""coupons over HTTP with its whole lifespan, for the end-to-end tests: the app on the test's
broker and database with an operator token, a brand API key, and orders published to Kafka.
A test module imports the fixtures it uses."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from services.coupons.config import CouponsSettings
from services.coupons.main import create_app
from shared import topics
from shared.events import CloudEvent, encode
from shared.kafka import EventProducer
from tests.helpers import running

TOKEN = "operator-token-for-tests"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
ACCOUNT = "shop-1"


@pytest.fixture
def settings(settings_for: Callable[..., Any]) -> CouponsSettings:
    coupons_settings: CouponsSettings = settings_for(CouponsSettings, operator_token=TOKEN)
    return coupons_settings


@pytest.fixture
async def coupons(settings: CouponsSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings)) as client:
        yield client


@pytest.fixture
async def brand(coupons: httpx.AsyncClient) -> dict[str, str]:
    """The headers of a brand API key of the account."""
    made = await coupons.post(
        f"/v1/accounts/{ACCOUNT}/api-keys", json={"name": "claim page"}, headers=OPERATOR
    )
    assert made.status_code == 201
    return {"Authorization": f"Bearer {made.json()['key']}"}


async def publish(settings: CouponsSettings, *events: CloudEvent[Any]) -> None:
    """The events on the events topic, in this order."""
    producer = EventProducer(settings)
    await producer.start()
    try:
        for event in events:
            await producer.send(settings.topic(topics.EVENTS), encode(event))
    finally:
        await producer.stop()
