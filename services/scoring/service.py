"""Scoring's rules. Takes the session first; flushes, never commits."""

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import coupon_signals, cursor, metrics, queries, repository, standings
from services.scoring.coupon_signals import ScoredCouponEvent
from services.scoring.domain import (
    ProfileRow,
    ScoringModel,
    announcement,
    new_profile,
    row_columns,
    snapshot,
)
from services.scoring.models import FanProfile
from services.scoring.scores.profile import NO_LABELS
from shared.contracts import FanEvent, FanLabelled, ProfileUpdated
from shared.db import after_commit
from shared.events import CloudEvent
from shared.outbox import Outbox


async def score_events(
    session: AsyncSession,
    events: Sequence[CloudEvent[FanEvent]],
    *,
    model: ScoringModel,
    outbox: Outbox,
    now: datetime,
) -> list[ProfileRow]:
    """Apply a batch of fan events (each once: the caller claimed their ids) to their fans'
    profiles, rescore them at `now`, and announce each fan whose profile changed in a way
    others use, once for the batch. Returns the profiles as written."""
    by_fan: defaultdict[str, list[CloudEvent[FanEvent]]] = defaultdict(list)
    for event in events:
        by_fan[event.data.fan_key].append(event)
    known = await repository.lock_profiles(session, list(by_fan))
    labels = await repository.labels_of(session, list(by_fan))
    brands = {(fan[0].data.platform, fan[0].data.account) for fan in by_fan.values()}
    standings = await repository.brand_standings(session, brands)
    written, announced = [], []
    for fan_key, fan_events in by_fan.items():
        first = fan_events[0].data
        before = known.get(fan_key)
        row = (before or new_profile(first, now=now)).changed(manual=labels.get(fan_key, NO_LABELS))
        for event in fan_events:
            row = row.applied(event.data, model)
        brand = standings.get((first.platform, first.account)) or model.unranked(
            first.platform, first.account
        )
        row = row.scored(model, brand, now=now)
        written.append(row)
        announced += _announced(session, before, row, cause=fan_events[-1].id)
    columns = [row_columns(row, model) for row in written]
    await repository.upsert_profiles(session, columns, locked=known)
    await outbox.add_all(session, announced)
    _count_events(session, events)
    return written


def _announced(
    session: AsyncSession, before: ProfileRow | None, row: ProfileRow, *, cause: str
) -> list[CloudEvent[ProfileUpdated]]:
    """The fan's snapshot, if the profile is new or changed in a way others use (`cause` makes
    its id); the change counted either way."""
    _count_changes(session, before, row)
    if before is not None and before.seen_by_others == row.seen_by_others:
        return []
    return [announcement(snapshot(row), cause=cause)]


def _count_changes(session: AsyncSession, before: ProfileRow | None, row: ProfileRow) -> None:
    if before is None:
        after_commit(session, metrics.PROFILES_CREATED.inc)
    if before is not None and before.tier != row.tier:
        after_commit(session, metrics.TIER_CHANGES.labels(row.tier).inc)


def _count_events(session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
    by_type = Counter(event.type for event in events)
    times = [event.time.timestamp() for event in events]

    def count() -> None:
        for event_type, applied in by_type.items():
            metrics.EVENTS_APPLIED.labels(event_type).inc(applied)
        committed = time.time()
        for at in times:
            metrics.EVENT_LAG.observe(max(committed - at, 0.0))

    after_commit(session, count)


async def label_fan(
    session: AsyncSession,
    decision: CloudEvent[FanLabelled],
    *,
    model: ScoringModel,
    outbox: Outbox,
    now: datetime,
) -> ProfileRow | None:
    """Keep an operator's labels and rescore the fan with them (a fan whose events have not
    come yet is scored with them when they do). Returns the profile as written, if any."""
    fan_key = decision.data.fan_key
    if not await repository.save_labels(session, decision.data):
        return None  # a later decision is kept already
    before = (await repository.lock_profiles(session, [fan_key])).get(fan_key)
    if before is None:
        return None
    [row] = await standings.rescore(session, [before], model=model, now=now)
    await outbox.add_all(session, _announced(session, before, row, cause=decision.id))
    return row


async def score_coupon_events(
    session: AsyncSession,
    events: Sequence[CloudEvent[ScoredCouponEvent]],
    *,
    model: ScoringModel,
    outbox: Outbox,
    now: datetime,
) -> list[ProfileRow]:
    """Apply a batch of red-packet events (each once: the caller claimed their ids) to the
    profiles of the fans they name (`coupon_signals`), rescore those at `now`, and announce
    each changed one as `score_events` does. Returns the profiles as written.

    Every fan named is locked in one statement, in key order, before the friends' pairs are
    kept. A fan with no profile yet gets one, rather than the signal being kept aside until
    the fan's own events come: kept aside, the events consumer would have to look for waiting
    signals whenever it makes a profile, and could miss those set aside while it made it. Made
    here, the profile is the fold of every event that names the fan, whichever topic brings
    it first; two transactions making the same profile are told apart by `upsert_profiles`."""
    known = await repository.lock_profiles(session, coupon_signals.fans_named(events))
    pairs = coupon_signals.friend_pairs(events)
    signals = coupon_signals.signals_by_fan(
        events, new_pairs=await repository.add_referral_friends(session, pairs)
    )
    befores = [known.get(fan_key) for fan_key in signals]
    folded = [
        coupon_signals.signalled(
            before or coupon_signals.profile_of(fan_key, at=fan_signals[0].at, now=now),
            fan_signals, model,
        )
        for before, (fan_key, fan_signals) in zip(befores, signals.items(), strict=True)
    ]  # fmt: skip
    written = await standings.rescore(session, folded, model=model, now=now, locked=known)
    announced = [
        update
        for before, row, fan_signals in zip(befores, written, signals.values(), strict=True)
        for update in _announced(
            session, before, row, cause=f"{fan_signals[-1].event_id}:{row.fan_key}"
        )
    ]
    await outbox.add_all(session, announced)
    _count_events(session, events)
    return written


async def get_profile(session: AsyncSession, fan_key: str) -> FanProfile | None:
    return await queries.get_profile(session, fan_key)


async def list_fans(
    session: AsyncSession,
    where: queries.FanFilter,
    *,
    sort: str,
    limit: int,
    after: str | None = None,
) -> tuple[list[FanProfile], str | None]:
    """A page of fans and the cursor of the next one (None: no more)."""
    keyset = cursor.read(after) if after else None
    page = await queries.list_fans(session, where, sort=sort, limit=limit + 1, after=keyset)
    if len(page) <= limit:
        return page, None
    last = page[limit - 1]
    value = getattr(last, queries.SORT_COLUMNS[sort].key)
    return page[:limit], cursor.write(Decimal(value), last.fan_key)


async def audience(session: AsyncSession, account: str) -> dict[str, dict[str | None, int]]:
    return await queries.audience_counts(session, account)
