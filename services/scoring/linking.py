"""Identities linked into persons: the profiles a change must lock and rewrite, and each one's
person. Takes the session first; flushes, never commits.

A change to one identity of a person changes the person's state, so every identity of the
person is locked, rescored and written with it (`lock_people`, `joined`). A change to the graph
(an identifier seen on an identity for the first time, a merge, an unmerge, the first profile of
an identity an operator merged) regroups the identities it touches (`regroup`) under the
graph's lock, taken before any profile is locked: profiles are then locked in one statement in
key order, as every other writer locks them."""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import identity_graph, metrics, repository
from services.scoring.domain import ProfileRow
from services.scoring.identity_graph import Identified
from services.scoring.scores.engagement import EngagementPolicy
from services.scoring.scores.persons import combined
from services.scoring.scores.state import FanState
from shared.contracts import FanEvent
from shared.db import after_commit
from shared.events import CloudEvent


@dataclass(frozen=True)
class People:
    """The profiles locked for a change (those that exist), and the person of each identity
    that is in one."""

    rows: dict[str, ProfileRow]
    persons: Mapping[str, str | None]


def identified(events: Iterable[CloudEvent[FanEvent]]) -> set[Identified]:
    """The (kind, value, fan key) these events carry."""
    return {
        (kind, value, event.data.fan_key)
        for event in events
        if event.data.identifiers is not None
        for kind, value in event.data.identifiers.pairs()
    }


class GraphChangedMeanwhile(RuntimeError):
    """Another transaction changed the links of the caller's fans between its look and its
    lock: applied again, the caller's events find the change and take the graph's lock."""


async def lock_people(
    session: AsyncSession,
    fan_keys: Collection[str],
    *,
    max_fans: int,
    identifiers: Collection[Identified] = (),
    regrouped: Collection[str] = (),
) -> People:
    """Lock the profiles of these fans and of every other identity of their persons, after
    keeping the identifiers their events carry and regrouping what changed (and the identities
    in `regrouped`: the caller changed the graph around them).

    The graph's lock comes first: held shared, nobody regroups these fans until the caller
    commits; held alone (to change the graph), nobody reads a person meanwhile. Which one is
    needed is seen before taking it, and seen again under it."""
    changing = bool(await _seeds(session, fan_keys, identifiers, regrouped))
    await (identity_graph.lock(session) if changing else identity_graph.share(session))
    seeds = await _seeds(session, fan_keys, identifiers, regrouped)
    if seeds and not changing:
        raise GraphChangedMeanwhile("the links of a fan changed since it was looked at")
    persons: dict[str, str | None] = dict(await identity_graph.persons_of(session, fan_keys))
    if seeds:
        new = await identity_graph.unseen(session, identifiers)
        # Those an identifier linked before it was kept again: more may carry it than link.
        seeds |= await identity_graph.carriers(session, new, max_fans=max_fans)
        await identity_graph.add(session, new)
        placed = await regroup(session, seeds, max_fans=max_fans)
        persons |= placed
        _count_regroup(session, placed)
    rows = await repository.lock_profiles(session, sorted({*fan_keys, *persons}))
    return People(rows, persons)


async def _seeds(
    session: AsyncSession,
    fan_keys: Collection[str],
    identifiers: Collection[Identified],
    regrouped: Collection[str],
) -> set[str]:
    """The fans whose person must be worked out again: those carrying an identifier not kept
    yet, those an operator merged before their first profile, and `regrouped`."""
    new = await identity_graph.unseen(session, identifiers)
    merged = {fan for pair in await identity_graph.merges(session, fan_keys) for fan in pair}
    unplaced = merged & set(fan_keys)
    if unplaced:
        unplaced -= set(await identity_graph.persons_of(session, unplaced))
    return {fan for _, _, fan in new} | unplaced | set(regrouped)


async def regroup(
    session: AsyncSession, seeds: Collection[str], *, max_fans: int
) -> dict[str, str | None]:
    """The person of each identity connected to a seed now, and of each identity that was in a
    person with one of those (a link gone may have split it): the least fan key of its
    connected identities, or None for an identity on its own."""
    placed: dict[str, str | None] = {}
    pending = set(seeds)
    while pending:
        connected = await identity_graph.component(session, min(pending), max_fans=max_fans)
        person = min(connected) if len(connected) > 1 else None
        placed |= dict.fromkeys(connected, person)
        pending |= set(await identity_graph.persons_of(session, connected))
        pending -= set(placed)
    return placed


def joined(
    rows: Mapping[str, ProfileRow], persons: Mapping[str, str | None], policy: EngagementPolicy
) -> list[ProfileRow]:
    """Every row with its person and the person's state: the sum of the states of the
    person's identities among `rows` (which hold all of them that have a profile)."""
    members: dict[str, list[ProfileRow]] = {}
    for fan_key, row in sorted(rows.items()):
        person = persons.get(fan_key)
        if person is not None:
            members.setdefault(person, []).append(row)
    states = {
        person: combined((row.state for row in rows), policy) for person, rows in members.items()
    }
    return [_in_person(row, persons.get(fan_key), states) for fan_key, row in rows.items()]


def _in_person(row: ProfileRow, person: str | None, states: Mapping[str, FanState]) -> ProfileRow:
    if person is None:
        if row.person_key is None and row.person_state is None:
            return row
        return row.changed(person_key=None, person_state=None)
    return row.changed(person_key=person, person_state=states[person])


def _count_regroup(session: AsyncSession, placed: Mapping[str, str | None]) -> None:
    after_commit(session, lambda: metrics.IDENTITIES_REGROUPED.inc(len(placed)))
