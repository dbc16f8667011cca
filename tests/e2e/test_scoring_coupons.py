"""scoring and fans' red packets: claims and referral rewards on the coupons topic in, the
social value, influence and tags they earn out over HTTP, and the counts behind them in the
profiles' stored state."""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.scoring.config import ScoringSettings
from services.scoring.coupon_signals import ScoredCouponEvent
from services.scoring.main import create_app
from services.scoring.models import FanProfile, infrastructure
from services.scoring.scores.facts import Amplification, Referrals
from services.scoring.scores.social import SocialPolicy, social_score
from services.scoring.scores.state import FanState
from shared.contracts import ReferralRewarded, ShareClaimed
from shared.db import create_engine
from shared.events import CloudEvent
from shared.kafka import EventProducer
from tests.e2e.test_scoring_profiles import ACCOUNT, messages, publish
from tests.helpers import eventually, metric_value, running

pytestmark = pytest.mark.e2e


def fan(user: str, account: str = ACCOUNT) -> str:
    return f"weibo:{account}:{user}"


def claim(
    friend: str, referrer: str, *, at: datetime | None = None, account: str = ACCOUNT
) -> CloudEvent[ScoredCouponEvent]:
    data = ShareClaimed(
        campaign_id="spring", fan_key=fan(friend, account), referrer_fan_key=fan(referrer, account),
        packet_id=f"p-{uuid.uuid4().hex[:8]}", coupon_code=uuid.uuid4().hex[:10], amount_cents=800,
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key, time=at)


def reward(
    referrer: str, referred: str, order_cents: int | None, *, at: datetime | None = None,
    account: str = ACCOUNT,
) -> CloudEvent[ScoredCouponEvent]:  # fmt: skip
    data = ReferralRewarded(
        campaign_id="spring", fan_key=fan(referrer, account),
        referred_fan_key=fan(referred, account), order_id=f"o-{uuid.uuid4().hex[:8]}",
        reward_cents=1_500, order_cents=order_cents,
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key, time=at)


@pytest.fixture
def scoring_settings(settings_for: Callable[..., Any]) -> ScoringSettings:
    settings: ScoringSettings = settings_for(ScoringSettings)
    return settings


class Stored:
    """What scoring keeps, read from its tables."""

    def __init__(self, settings: ScoringSettings) -> None:
        self.engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)

    async def state(self, user: str) -> FanState:
        async with self.engine.connect() as connection:
            state = await connection.scalar(
                select(FanProfile.state).where(FanProfile.fan_key == fan(user))
            )
        return FanState.from_dict(state)

    async def claims(self) -> int:
        """Event ids claimed, by every consumer group of scoring."""
        async with self.engine.connect() as connection:
            table = infrastructure.processed_events
            return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


@pytest.fixture
async def stored(scoring_settings: ScoringSettings) -> AsyncIterator[Stored]:
    found = Stored(scoring_settings)
    yield found
    await found.engine.dispose()


async def profile(client: httpx.AsyncClient, user: str) -> dict[str, Any] | None:
    response = await client.get(f"/v1/fans/{fan(user)}")
    found: dict[str, Any] | None = response.json() if response.status_code == 200 else None
    return found


def added_up(score: dict[str, Any]) -> bool:
    parts = sum((Decimal(value) for value in score["components"].values()), Decimal(0))
    return parts == Decimal(score["total"])


class TestRedPackets:
    async def test_friends_claims_and_referred_orders_raise_the_referrers_social_value(
        self, scoring_settings: ScoringSettings, producer: EventProducer, stored: Stored
    ) -> None:
        early = datetime.now(UTC) - timedelta(hours=3)
        twice = claim("bo", "host")
        red: list[CloudEvent[ScoredCouponEvent]] = [
            claim("ann", "host", at=early), claim("ann", "host"), twice, twice,
            reward("host", "ann", 50_000), reward("host", "bo", None),
        ]  # fmt: skip
        own = messages("host", 2)
        await publish(producer, [*own, *red])
        async with running(create_app(scoring_settings)) as client:
            await eventually(lambda: applied(stored, len(own) + len(red) - 1))
            host = await profile(client, "host")
            ann = await profile(client, "ann")
            await redelivered(client, producer, twice)
            assert await profile(client, "host") == host
        assert (await stored.state("host")).referrals == Referrals(
            friend_claims=3, friends_reached=2, first_orders=2, first_order_cents=50_000
        )
        expected = social_score((await stored.state("host")).referrals, Amplification(),
                                SocialPolicy())  # fmt: skip
        assert host is not None
        social = host["scores"]["social"]
        assert Decimal(social["total"]) == expected.total > 0
        assert social["components"] == {c.name: str(c.value) for c in expected.components}
        assert added_up(social)
        assert host["scores"]["influence"]["components"]["friends_reached"] == "0.48"  # log10(3)
        assert host["interaction_count"] == 2
        assert ann is not None, "a fan unknown before the claims has a profile"
        assert (ann["interaction_count"], ann["lifecycle"]) == (0, "new")
        assert datetime.fromisoformat(ann["first_seen_at"]) == early
        assert (await stored.state("ann")).purchases.coupon_claims == 2

    async def test_a_fan_who_claims_many_coupons_and_buys_nothing_is_a_coupon_hunter(
        self, scoring_settings: ScoringSettings, producer: EventProducer, stored: Stored
    ) -> None:
        await publish(producer, [claim("cara", "dora") for _ in range(5)])
        async with running(create_app(scoring_settings)) as client:
            await eventually(lambda: applied(stored, 5))
            cara, dora = await profile(client, "cara"), await profile(client, "dora")
        assert cara is not None
        assert "coupon_hunter" in cara["tags"]
        assert (await stored.state("cara")).purchases.coupon_claims == 5
        assert dora is not None, "a referrer unknown before has a profile"
        assert dora["lifecycle"] is None, "dora did nothing herself"
        assert dora["scores"]["social"]["components"]["friend_claims"] != "0"
        assert (await stored.state("dora")).referrals.friends_reached == 1


async def applied(stored: Stored, count: int) -> bool:
    return await stored.claims() == count


async def redelivered(
    client: httpx.AsyncClient, producer: EventProducer, event: CloudEvent[Any]
) -> None:
    """Until scoring has seen `event` again, and passed it over as a duplicate."""
    labels = {"service": "scoring", "outcome": "duplicate"}
    before = await metric_value(client, "scrm_consumer_events_total", **labels)
    await publish(producer, [event])

    async def counted() -> bool:
        return await metric_value(client, "scrm_consumer_events_total", **labels) > before

    await eventually(counted)
