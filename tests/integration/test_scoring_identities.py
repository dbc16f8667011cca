"""scoring's identities against a real PostgreSQL: identities linked into one person by the
identifiers their events carry and by operators' merges, split again by unmerges; the person's
scores read from the sum of its identities' states while each keeps its own; the same persons
whatever order, batches and repetitions the events and decisions come in."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import repository, service
from services.scoring.config import ScoringSettings
from services.scoring.models import FanProfile, infrastructure
from services.scoring.schemas import FanProfileOut
from services.scoring.scores.persons import combined
from services.scoring.scores.state import FanState
from shared.contracts import (
    FanEvent,
    FanFields,
    FanIdentifiers,
    FanMerged,
    FanUnmerged,
    MessageReceived,
    OperatorDecision,
    OrderPaid,
    ProfileUpdated,
)
from shared.db import transaction
from shared.events import CloudEvent
from tests.conftest import fresh_database
from tests.helpers import eventually
from tests.integration.test_scoring_profiles import START, Scoring

pytestmark = pytest.mark.integration
PHONE = "a" * 64  # a phone's SHA-256, as a shop sends it


def said(
    fan_key: str, hours: float, *, ident: FanIdentifiers | None = None, order: int = 0
) -> CloudEvent[FanEvent]:
    """A message (or, with `order` cents, a paid order) from the identity `platform:account:
    user`, carrying `ident`."""
    platform, account, user = fan_key.split(":")
    fields = FanFields(
        platform=platform, account=account, user_id=user,  # type: ignore[typeddict-item]
        occurred_at=START + timedelta(hours=hours), identifiers=ident,
    )  # fmt: skip
    data: FanEvent = (
        OrderPaid(**fields, order_id=uuid.uuid4().hex, amount_cents=order, currency="CNY")
        if order
        else MessageReceived(**fields, message_id=uuid.uuid4().hex, text="hi")
    )
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


def decided(data: OperatorDecision) -> CloudEvent[Any]:
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


def merge(fan_key: str, *others: str, hours: float) -> CloudEvent[Any]:
    at = START + timedelta(hours=hours)
    return decided(FanMerged(fan_key=fan_key, other_fan_keys=others, decided_at=at))


def unmerge(fan_key: str, *, hours: float) -> CloudEvent[Any]:
    return decided(FanUnmerged(fan_key=fan_key, decided_at=START + timedelta(hours=hours)))


class Identities(Scoring):
    """scoring's events handler and identity decisions over the test's database."""

    async def decide(self, decision: CloudEvent[Any]) -> None:
        async with transaction(self.sessionmaker) as session:
            await service.decide_identity(
                session, decision, model=self.model, outbox=self.outbox, now=self.now
            )

    async def feed(self, batch: Sequence[CloudEvent[Any]]) -> None:
        """A batch of fan events as the consumer applies it, decisions one by one."""
        events = [event for event in batch if isinstance(event.data, FanEvent)]
        if events:
            await self.apply(events)
        for decision in (event for event in batch if not isinstance(event.data, FanEvent)):
            await self.decide(decision)

    async def profiles(self) -> dict[str, FanProfile]:
        async with self.sessionmaker() as session:
            rows = await session.scalars(select(FanProfile).order_by(FanProfile.fan_key))
            return {row.fan_key: row for row in rows}

    async def persons(self) -> dict[str, str | None]:
        return {key: row.person_key for key, row in (await self.profiles()).items()}

    async def waiting_on_a_lock(self) -> bool | None:
        async with self.sessionmaker() as session:
            waiting = await session.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
        return True if waiting else None

    async def announced(self) -> list[ProfileUpdated]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(infrastructure.outbox.c.value).order_by(infrastructure.outbox.c.id)
            )
            return [ProfileUpdated.model_validate_json(row.value) for row in rows]


@pytest.fixture
async def identities(settings_for: Callable[..., Any]) -> AsyncIterator[Identities]:
    harness = Identities(settings_for(ScoringSettings, identifier_max_fans=3))
    yield harness
    await harness.engine.dispose()


A, B, C, D, E = (
    "weibo:brand:a", "standard:shop:b", "wechat:gh:c", "wechat:gh:d", "line:oa:e"
)  # fmt: skip


def the_log() -> list[CloudEvent[Any]]:
    """A and B carry one customer id, E is merged with A: one person. C carries B's phone and
    D's UnionID but was unmerged, then merged with D after: another. Five strangers share a
    phone more identities carry than an identifier may link: on their own."""
    strangers = [
        said(f"weibo:brand:s{n}", n, ident=FanIdentifiers(phone_sha256="b" * 64)) for n in range(4)
    ]
    return [
        said(A, 1, ident=FanIdentifiers(customer_id="c-1")),
        said(A, 2),
        said(B, 3, ident=FanIdentifiers(customer_id="c-1", phone_sha256=PHONE), order=90_000),
        said(C, 4, ident=FanIdentifiers(phone_sha256=PHONE, unionid="u-1")),
        said(D, 5, ident=FanIdentifiers(unionid="u-1")),
        said(E, 6),
        merge(E, A, hours=7),
        unmerge(C, hours=8),
        merge(C, D, hours=9),
        *strangers,
    ]


EXPECTED = {A: E, B: E, E: E, C: C, D: C} | {f"weibo:brand:s{n}": None for n in range(4)}


class TestPersons:
    async def test_identities_are_linked_by_identifiers_and_decisions(
        self, identities: Identities
    ) -> None:
        for event in the_log():
            await identities.feed([event])
        assert await identities.persons() == dict(sorted(EXPECTED.items()))

    async def test_the_persons_scores_are_read_from_the_sum_of_its_identities(
        self, identities: Identities
    ) -> None:
        await identities.feed(the_log())
        profiles = await identities.profiles()
        members = [profiles[key] for key in sorted((A, B, E))]
        person = combined(
            (FanState.from_dict(row.state) for row in members), identities.model.policy.engagement
        )
        for row in members:
            assert FanState.from_dict(row.person_state or {}) == person
            assert (row.monetary_cents, row.paid_orders) == (90_000, 1), "B's order is theirs"
            assert (row.wallet, row.priority) == (members[0].wallet, members[0].priority)
            out = FanProfileOut.of(row)
            assert out.scores["wallet"].total > 0
        own = {row.fan_key: row.interaction_count for row in members}
        assert own == {A: 2, B: 0, E: 1}, "each identity keeps its own channel data"
        alone = profiles["weibo:brand:s0"]
        assert (alone.person_key, alone.person_state) == (None, None)

    async def test_a_link_is_announced_to_every_identity_it_moves(
        self, identities: Identities
    ) -> None:
        await identities.feed([said(A, 1, ident=FanIdentifiers(customer_id="c-1"))])
        await identities.feed([said(B, 2, ident=FanIdentifiers(customer_id="c-1"), order=5_000)])
        last = {update.fan_key: update for update in await identities.announced()}
        assert last[A].person_key == last[B].person_key == B, "the least fan key names it"
        assert last[A].priority == last[B].priority

    async def test_an_unmerge_splits_the_person_and_a_later_merge_joins_it_again(
        self, identities: Identities
    ) -> None:
        await identities.feed(
            [said(A, 1, ident=FanIdentifiers(unionid="u-9")), said(B, 1), said(C, 1)]
        )
        await identities.feed([said(D, 2, ident=FanIdentifiers(unionid="u-9"))])
        await identities.decide(merge(B, C, hours=3))
        assert await identities.persons() == {B: B, C: B, A: D, D: D}
        await identities.decide(unmerge(D, hours=4))
        await identities.decide(unmerge(C, hours=4))
        assert await identities.persons() == {A: None, B: None, C: None, D: None}
        profiles = await identities.profiles()
        assert profiles[A].person_state is None
        await identities.decide(merge(C, B, hours=5))
        await identities.decide(merge(A, C, hours=2))  # before C was unmerged: undone by it
        assert await identities.persons() == {A: None, B: B, C: B, D: None}

    async def test_an_identifier_crossing_its_bound_in_one_batch_links_no_one_any_more(
        self, identities: Identities
    ) -> None:
        shared = FanIdentifiers(customer_id="placeholder")
        await identities.feed([said(key, 1, ident=shared) for key in (A, B, C)])
        assert set((await identities.persons()).values()) == {B}
        await identities.feed([said(D, 2, ident=shared), said(E, 2, ident=shared)])
        assert await identities.persons() == dict.fromkeys(sorted((A, B, C, D, E)))

    async def test_a_regroup_waits_for_a_batch_reading_the_persons_it_changes(
        self, identities: Identities, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await identities.feed([said(A, 1), said(B, 1), said(C, 1)])
        await identities.decide(merge(A, B, hours=2))
        await identities.decide(merge(B, C, hours=2))  # B and C stay one person without A
        reached, gate = asyncio.Event(), asyncio.Event()
        real = repository.lock_profiles

        async def held(session: AsyncSession, fan_keys: Sequence[str]) -> Any:
            if asyncio.current_task() is event_batch:  # the persons are read: hold them
                reached.set()
                await gate.wait()
            return await real(session, fan_keys)

        monkeypatch.setattr(repository, "lock_profiles", held)
        event_batch = asyncio.create_task(identities.feed([said(A, 5)]))
        await reached.wait()
        unmerging = asyncio.create_task(identities.decide(unmerge(A, hours=3)))
        await eventually(lambda: identities.waiting_on_a_lock())
        gate.set()
        await asyncio.gather(event_batch, unmerging)
        assert await identities.persons() == {A: None, B: B, C: B}
        profiles = await identities.profiles()
        assert profiles[B].person_state == profiles[C].person_state

    async def test_a_decision_replayed_or_older_than_one_kept_changes_nothing(
        self, identities: Identities
    ) -> None:
        await identities.feed([said(A, 1), said(B, 1)])
        later = merge(A, B, hours=5)
        await identities.decide(later)
        before = await identities.announced()
        await identities.decide(later)
        await identities.decide(unmerge(A, hours=4))
        assert await identities.persons() == {A: B, B: B}
        assert await identities.announced() == before

    async def test_a_merge_decided_before_the_fans_first_event_waits_for_it(
        self, identities: Identities
    ) -> None:
        await identities.feed([said(A, 1)])
        await identities.decide(merge(A, E, hours=2))
        assert await identities.persons() == {A: E}, "E has no profile yet, but is A's"
        await identities.feed([said(E, 3)])
        assert await identities.persons() == {A: E, E: E}

    async def test_two_identities_of_one_person_written_at_once_both_count(
        self, identities: Identities
    ) -> None:
        await identities.feed([said(A, 0), said(B, 0)])
        await identities.decide(merge(A, B, hours=0.5))
        await asyncio.gather(
            *(identities.feed([said(key, hour)]) for key in (A, B) for hour in range(1, 5))
        )
        profiles = await identities.profiles()
        own = [FanState.from_dict(profiles[key].state) for key in (A, B)]
        assert [state.activity.interactions for state in own] == [5, 5]
        for key in (A, B):
            person = FanState.from_dict(profiles[key].person_state or {})
            assert person == combined(own, identities.model.policy.engagement)


class TestOrderIndependence:
    @settings(
        max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(0, 16), max_size=5))
    async def test_any_order_batching_and_repetition_give_the_same_persons_and_scores(
        self, settings_for: Callable[..., Any], infrastructure: Any, order: Any, cuts: list[int]
    ) -> None:
        log = the_log()
        shuffled = [*log, *order.sample(log, 4)]
        order.shuffle(shuffled)
        bounds = [0, *sorted(cuts), len(shuffled)]
        results = []
        in_batches = [shuffled[s:e] for s, e in itertools.pairwise(bounds) if s < e]
        for feeding in ([[event] for event in log], in_batches):
            async with fresh_database(infrastructure) as url:
                harness = Identities(
                    settings_for(ScoringSettings, database_url=url, identifier_max_fans=3)
                )
                try:
                    for batch in feeding:
                        await harness.feed(batch)
                    results.append(
                        {
                            key: (
                                row.person_key,
                                row.person_state,
                                row.state,
                                FanProfileOut.of(row).model_dump(exclude={"scored_at"}),
                            )
                            for key, row in (await harness.profiles()).items()
                        }
                    )
                finally:
                    await harness.engine.dispose()
        in_order, shuffled_result = results
        assert {key: value[0] for key, value in in_order.items()} == dict(sorted(EXPECTED.items()))
        assert shuffled_result == in_order


def _outcome(profiles: dict[str, FanProfile]) -> dict[str, tuple[object, ...]]:
    """What a profile is, but the time it was scored at."""
    return {
        key: (row.person_key, row.person_state, row.state,
              FanProfileOut.of(row).model_dump(exclude={"scored_at"}))
        for key, row in profiles.items()
    }  # fmt: skip
