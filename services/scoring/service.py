"""Scoring's rules. Takes the session first; flushes, never commits."""

import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import (
    coupon_signals,
    cursor,
    identity_graph,
    linking,
    metrics,
    queries,
    repository,
    standings,
)
from services.scoring.coupon_signals import ScoredCouponEvent
from services.scoring.domain import (
    ProfileRow,
    ScoringModel,
    announcement,
    new_profile,
    snapshot,
)
from services.scoring.models import FanProfile
from shared.contracts import FanEvent, FanLabelled, FanMerged, FanUnmerged, ProfileUpdated
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
    profiles, rescore them at `now` with the other identities of their persons, and announce
    each fan whose profile changed in a way others use, once for the batch. Returns the
    profiles as written."""
    by_fan: defaultdict[str, list[CloudEvent[FanEvent]]] = defaultdict(list)
    for event in events:
        by_fan[event.data.fan_key].append(event)
    people = await linking.lock_people(
        session, list(by_fan), max_fans=model.identifier_max_fans,
        identifiers=linking.identified(events),
    )  # fmt: skip
    rows, causes = dict(people.rows), {}
    for fan_key, fan_events in by_fan.items():
        row = people.rows.get(fan_key) or new_profile(fan_events[0].data, now=now)
        for event in fan_events:
            row = row.applied(event.data, model)
        rows[fan_key], causes[fan_key] = row, fan_events[-1].id
    written = await _rewrite(
        session, people, rows, causes, cause=events[0].id, model=model, outbox=outbox, now=now
    )
    _count_events(session, events)
    return written


async def _rewrite(
    session: AsyncSession,
    people: linking.People,
    rows: dict[str, ProfileRow],
    causes: Mapping[str, str],
    *,
    cause: str,
    model: ScoringModel,
    outbox: Outbox,
    now: datetime,
) -> list[ProfileRow]:
    """Rescore and write the rows (folded by the caller) with their persons, and announce
    those changed for others; `causes` makes the id of a fan's snapshot, `cause` with the fan
    key that of the other identities of its person."""
    joined = linking.joined(rows, people.persons, model.policy.engagement)
    written = await standings.rescore(session, joined, model=model, now=now, locked=people.rows)
    announced = [
        update
        for row in written
        for update in _announced(
            session, people.rows.get(row.fan_key), row,
            cause=causes.get(row.fan_key) or f"{cause}:{row.fan_key}",
        )
    ]  # fmt: skip
    await outbox.add_all(session, announced)
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
    if before is None or before.tier != row.tier:
        brand = (row.platform, row.account)
        after_commit(session, lambda: standings.TIER_DRIFT.changed(brand))


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
    people = await linking.lock_people(
        session, coupon_signals.fans_named(events), max_fans=model.identifier_max_fans
    )
    pairs = coupon_signals.friend_pairs(events)
    signals = coupon_signals.signals_by_fan(
        events, new_pairs=await repository.add_referral_friends(session, pairs)
    )
    rows, causes = dict(people.rows), {}
    for fan_key, fan_signals in signals.items():
        before = people.rows.get(fan_key)
        new = before or coupon_signals.profile_of(fan_key, at=fan_signals[0].at, now=now)
        rows[fan_key] = coupon_signals.signalled(new, fan_signals, model)
        causes[fan_key] = f"{fan_signals[-1].event_id}:{fan_key}"
    written = await _rewrite(
        session, people, rows, causes, cause=events[0].id, model=model, outbox=outbox, now=now
    )
    _count_events(session, events)
    return written


async def decide_identity(
    session: AsyncSession,
    decision: CloudEvent[FanMerged] | CloudEvent[FanUnmerged],
    *,
    model: ScoringModel,
    outbox: Outbox,
    now: datetime,
) -> list[ProfileRow]:
    """Keep an operator's merge or unmerge, regroup the identities it names and those of their
    persons, and rescore and announce them. An older decision than one kept changes nothing.
    Returns the profiles as written."""
    await identity_graph.lock(session)
    data = decision.data
    if isinstance(data, FanMerged):
        kept = await identity_graph.save_merge(session, data)
        named, name = sorted({data.fan_key, *data.other_fan_keys}), "merge"
    else:
        kept = await identity_graph.save_unmerge(session, data)
        named, name = [data.fan_key], "unmerge"
    if not kept:
        return []
    after_commit(session, metrics.IDENTITY_DECISIONS.labels(name).inc)
    people = await linking.lock_people(
        session, named, max_fans=model.identifier_max_fans, regrouped=named
    )
    return await _rewrite(
        session, people, dict(people.rows), {}, cause=decision.id, model=model, outbox=outbox,
        now=now,
    )  # fmt: skip


async def get_profile(session: AsyncSession, fan_key: str) -> FanProfile | None:
    return await queries.get_profile(session, fan_key)


async def get_person(
    session: AsyncSession, fan_key: str
) -> tuple[FanProfile, list[dict[str, object]]] | None:
    """The fan's profile and the identities of its person (none: on its own)."""
    profile = await queries.get_profile(session, fan_key)
    if profile is None:
        return None
    if profile.person_key is None:
        return profile, []
    return profile, await queries.person_identities(session, profile.person_key)


async def missing_profiles(session: AsyncSession, fan_keys: Sequence[str]) -> list[str]:
    return await queries.missing_profiles(session, fan_keys)


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
