"""scoring as a whole service: fan events on the events topic in, profiles that explain their
scores out over HTTP and on the profiles topic."""

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.scoring.config import ScoringSettings
from services.scoring.main import create_app
from shared.contracts import FanEvent, MessageReceived, OrderPaid, ReactionAdded
from shared.events import CloudEvent, decode, encode
from shared.kafka import EventProducer
from shared.topics import EVENTS, PROFILES
from tests.conftest import Infrastructure
from tests.helpers import eventually, metric_value, read_topic, running

pytestmark = pytest.mark.e2e
ACCOUNT = "brand-e2e"


def event(data: FanEvent) -> CloudEvent[FanEvent]:
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


def messages(user: str, count: int) -> list[CloudEvent[FanEvent]]:
    now = datetime.now(UTC)
    return [
        event(MessageReceived(platform="weibo", account=ACCOUNT, user_id=user,
                              occurred_at=now - timedelta(minutes=i), message_id=f"{user}-{i}"))
        for i in range(count)
    ]  # fmt: skip


def order(user: str, cents: int) -> CloudEvent[FanEvent]:
    return event(
        OrderPaid(platform="weibo", account=ACCOUNT, user_id=user, occurred_at=datetime.now(UTC),
                  order_id=f"o-{uuid.uuid4().hex[:8]}", amount_cents=cents, currency="CNY")
    )  # fmt: skip


@pytest.fixture
def scoring_settings(settings_for: Callable[..., Any]) -> ScoringSettings:
    # Profiles change by their events alone here (a redelivery must change nothing): the
    # rolling rescore, which rescores them as time passes, is off but in its own test.
    settings: ScoringSettings = settings_for(
        ScoringSettings, cut_points_refresh_seconds=0.3, rescore_batch=0
    )
    return settings


async def publish(producer: EventProducer, events: Sequence[CloudEvent[Any]]) -> None:
    for item in events:
        await producer.publish(item)


async def profile(client: httpx.AsyncClient, user: str, *, count: int) -> dict[str, Any] | None:
    response = await client.get(f"/v1/fans/weibo:{ACCOUNT}:{user}")
    found: dict[str, Any] | None = response.json() if response.status_code == 200 else None
    return found if found and found["interaction_count"] == count else None


async def profile_records(
    infrastructure: Infrastructure, settings: ScoringSettings, *, expect: int, within: float = 20
) -> list[CloudEvent[Any]]:
    topic = settings.topic(PROFILES)
    records = await read_topic(
        infrastructure.bootstrap_servers, topic, expect=expect, within=within
    )
    return [decode(record.headers, record.value) for record in records]


class TestProfilesFromTheEventsTopic:
    async def test_a_fans_events_make_a_profile_whose_scores_add_up(
        self, scoring_settings: ScoringSettings, producer: EventProducer
    ) -> None:
        reaction = event(ReactionAdded(platform="weibo", account=ACCOUNT, user_id="u1",
                                       occurred_at=datetime.now(UTC), target_id="p",
                                       reaction="like", follower_count=20_000))  # fmt: skip
        await publish(producer, [*messages("u1", 3), reaction, order("u1", 9_900)])
        async with running(create_app(scoring_settings)) as client:
            found = await eventually(lambda: profile(client, "u1", count=4))
        assert found is not None
        assert found["role"] == "kol"
        assert found["lifecycle"] == "new"
        for name, score in found["scores"].items():
            parts = sum((Decimal(v) for v in score["components"].values()), Decimal(0))
            assert parts == Decimal(score["total"]), name
        assert Decimal(found["scores"]["wallet"]["total"]) > 0

    async def test_a_redelivered_event_changes_nothing(
        self, scoring_settings: ScoringSettings, producer: EventProducer
    ) -> None:
        first = messages("u2", 2)
        await publish(producer, first)
        async with running(create_app(scoring_settings)) as client:
            before = await eventually(lambda: profile(client, "u2", count=2))
            duplicates = await metric_value(
                client, "scrm_consumer_events_total", service="scoring", outcome="duplicate"
            )
            await publish(producer, first[:1])

            async def counted() -> bool:
                now = await metric_value(
                    client, "scrm_consumer_events_total", service="scoring", outcome="duplicate"
                )
                return now > duplicates

            await eventually(counted)
            after = await profile(client, "u2", count=2)
        assert after == before

    async def test_a_batch_of_one_fans_events_is_announced_once(
        self, scoring_settings: ScoringSettings, producer: EventProducer,
        infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        # In one record batch: a broker may answer a fetch with one record batch of a partition,
        # and a fan's events fetched apart are two batches of the consumer, announced twice.
        topic = scoring_settings.topic(EVENTS)
        await producer.send_many([(topic, encode(item)) for item in messages("u3", 12)])
        async with running(create_app(scoring_settings)) as client:
            await eventually(lambda: profile(client, "u3", count=12))
            announced = await profile_records(infrastructure, scoring_settings, expect=2, within=3)
        assert [item.subject for item in announced] == [f"weibo:{ACCOUNT}:u3"]
        assert announced[0].data.interaction_count == 12
        assert announced[0].data.account == ACCOUNT


async def fans(client: httpx.AsyncClient, **params: str | int) -> dict[str, Any]:
    found: dict[str, Any] = (
        await client.get("/v1/fans", params={"account": ACCOUNT, **params})
    ).json()
    return found


def users(page: dict[str, Any]) -> list[str]:
    return [item["fan_key"].rsplit(":", 1)[1] for item in page["items"]]


@pytest.fixture
async def ranked_brand(
    scoring_settings: ScoringSettings, producer: EventProducer
) -> AsyncIterator[httpx.AsyncClient]:
    """Five fans of one brand, more engaged from a to e, d and e buyers; scoring running until
    the first cut point refresh moved their tiers."""
    for user, count in {"a": 1, "b": 2, "c": 3, "d": 4, "e": 6}.items():
        await publish(producer, messages(user, count))
    await publish(producer, [order("e", 50_000), order("d", 1_000)])
    async with running(create_app(scoring_settings)) as client:

        async def moved() -> dict[str, Any] | None:
            found = await profile(client, "e", count=6)
            return found if found and found["tier"] != "silent" else None

        await eventually(moved)
        yield client


class TestBrandStanding:
    async def test_refreshed_cut_points_move_tiers_and_announce_the_moves(
        self, ranked_brand: httpx.AsyncClient, scoring_settings: ScoringSettings,
        infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        announced = await profile_records(infrastructure, scoring_settings, expect=9)
        tiers = {item.subject: item.data.tier for item in announced}
        assert tiers[f"weibo:{ACCOUNT}:e"] == "occasional"
        assert tiers[f"weibo:{ACCOUNT}:a"] == "silent"
        moves = await metric_value(ranked_brand, "scrm_scoring_tier_changes_total")
        assert moves >= 4

    async def test_the_list_filters_sorts_and_pages(self, ranked_brand: httpx.AsyncClient) -> None:
        page = await fans(ranked_brand, limit=2, sort="engagement")
        seen = users(page)
        while page["next"]:
            page = await fans(ranked_brand, limit=2, sort="engagement", after=page["next"])
            seen += users(page)
        assert seen == ["e", "d", "c", "b", "a"]
        assert users(await fans(ranked_brand, sort="wallet"))[:2] == ["e", "d"]
        assert users(await fans(ranked_brand, tier="silent")) == ["a"]
        assert users(await fans(ranked_brand, min_priority=100)) == []

    async def test_the_audience_is_counted_by_tier_role_and_lifecycle(
        self, ranked_brand: httpx.AsyncClient
    ) -> None:
        audience = (await ranked_brand.get(f"/v1/accounts/{ACCOUNT}/audience")).json()
        assert audience["fans"] == 5
        assert audience["tiers"]["occasional"] == {"count": 4, "share": 0.8}
        assert audience["tiers"]["silent"] == {"count": 1, "share": 0.2}
        assert audience["roles"]["consumer"]["count"] == 5
        assert audience["lifecycles"]["new"]["count"] == 5
        for name in ("wallet", "social", "priority"):
            bands = audience["values"][name]
            assert next(iter(bands)) == "0-9"
            assert list(bands)[-1] == "90-100"
            assert sum(band["count"] for band in bands.values()) == 5, name
        wallets = (await fans(ranked_brand, sort="wallet"))["items"]
        top = min(int(wallets[0]["scores"]["wallet"]["total"]) // 10, 9)
        assert list(audience["values"]["wallet"].values())[top]["count"] >= 1
        empty = (await ranked_brand.get("/v1/accounts/nobody/audience")).json()
        assert empty["fans"] == 0
        assert empty["values"]["wallet"]["0-9"] == {"count": 0, "share": 0.0}

    async def test_the_top_fans_by_wallet_and_by_social_side_by_side(
        self, ranked_brand: httpx.AsyncClient
    ) -> None:
        top = (await ranked_brand.get(f"/v1/accounts/{ACCOUNT}/top", params={"limit": 2})).json()
        assert users({"items": top["by_wallet"]}) == ["e", "d"]
        assert len(top["by_social"]) == 2
        socials = [item["scores"]["social"]["total"] for item in top["by_social"]]
        assert socials == sorted(socials, key=int, reverse=True)
        too_many = await ranked_brand.get(f"/v1/accounts/{ACCOUNT}/top", params={"limit": 101})
        assert too_many.status_code == 422

    async def test_a_cursor_this_list_did_not_write_is_refused(
        self, scoring_settings: ScoringSettings
    ) -> None:
        async with running(create_app(scoring_settings)) as client:
            answer = await client.get("/v1/fans", params={"account": ACCOUNT, "after": "%%%"})
        assert answer.status_code == 400


async def test_profiles_are_rescored_as_time_passes_without_events(
    scoring_settings: ScoringSettings, producer: EventProducer
) -> None:
    await publish(producer, messages("still", 2))
    rolling = scoring_settings.model_copy(update={"rescore_batch": 10})
    async with running(create_app(rolling)) as client:
        first = await eventually(lambda: profile(client, "still", count=2))
        assert first is not None

        async def rescored() -> dict[str, Any] | None:
            again = await profile(client, "still", count=2)
            return again if again and again["scored_at"] > first["scored_at"] else None

        later = await eventually(rescored)
    assert later is not None
    assert Decimal(later["scores"]["engagement"]["total"]) <= Decimal(
        first["scores"]["engagement"]["total"]
    )
