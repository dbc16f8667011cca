"""The identity graph's SQL: which fan identities are linked, and to which person each belongs.

Two identities are linked when both carry the same identifier (`IdentityKey`; unless more
identities carry it than `max_fans`, and unless either was unmerged), or when an operator merged
them after any unmerge of either (`IdentityMerge`, `IdentityUnmerge`). A person is a connected
set of linked identities; its key is the least fan key among them, so the grouping depends only
on the decisions and identifiers kept, never on the order they came in. Changes to the graph
take `GRAPH_LOCK` first, so two transactions never regroup the same identities at once."""

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Exists,
    Text,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from services.scoring.models import FanProfile, IdentityKey, IdentityMerge, IdentityUnmerge
from shared.contracts import FanMerged, FanUnmerged

T = TypeVar("T")
_Column = ColumnElement[T] | InstrumentedAttribute[T]
GRAPH_LOCK = 0x5C0_0003  # advisory lock key (the refresher's is ..01, the rebuild's ..02)
Identified = tuple[str, str, str]  # kind, value, fan key


async def lock(session: AsyncSession) -> None:
    """Wait for, and hold to the end of the transaction, the right to change the graph."""
    await session.execute(select(func.pg_advisory_xact_lock(GRAPH_LOCK)))


async def share(session: AsyncSession) -> None:
    """Wait for, and hold to the end of the transaction, a graph nobody changes meanwhile."""
    await session.execute(select(func.pg_advisory_xact_lock_shared(GRAPH_LOCK)))


def _array(name: str, values: Iterable[str]) -> BindParameter[Any]:
    return bindparam(name, sorted(set(values)), ARRAY(Text))


async def unseen(session: AsyncSession, identified: Collection[Identified]) -> set[Identified]:
    """Those of these (kind, value, fan key) not kept yet."""
    if not identified:
        return set()
    kinds, values, fans = zip(*sorted(identified), strict=True)
    given = (
        func.unnest(
            bindparam("kinds", list(kinds), ARRAY(Text)),
            bindparam("values", list(values), ARRAY(Text)),
            bindparam("fans", list(fans), ARRAY(Text)),
        )
        .table_valued("kind", "value", "fan_key")
        .render_derived()
    )
    kept = select(IdentityKey.kind).where(
        IdentityKey.kind == given.c.kind,
        IdentityKey.value == given.c.value,
        IdentityKey.fan_key == given.c.fan_key,
    )
    rows = await session.execute(select(given).where(~kept.exists()))
    return {(row.kind, row.value, row.fan_key) for row in rows}


async def add(session: AsyncSession, identified: Collection[Identified]) -> None:
    if identified:
        rows = [{"kind": k, "value": v, "fan_key": f} for k, v, f in sorted(identified)]
        await session.execute(insert(IdentityKey).values(rows).on_conflict_do_nothing())


async def save_merge(session: AsyncSession, decision: FanMerged) -> bool:
    """Keep the merge of each pair it names (the latest of a pair wins); True when it is the
    latest of at least one pair."""
    rows = [
        {"fan_key": min(one, other), "other_fan_key": max(one, other),
         "merged_at": decision.decided_at, "operator": decision.operator}
        for one, other in ((decision.fan_key, other) for other in set(decision.other_fan_keys))
        if one != other
    ]  # fmt: skip
    if not rows:
        return False
    new = insert(IdentityMerge).values(sorted(rows, key=lambda row: row["other_fan_key"]))
    kept = await session.execute(
        new.on_conflict_do_update(
            index_elements=[IdentityMerge.fan_key, IdentityMerge.other_fan_key],
            set_={"merged_at": new.excluded.merged_at, "operator": new.excluded.operator},
            where=IdentityMerge.merged_at < new.excluded.merged_at,
        ).returning(IdentityMerge.fan_key)
    )
    return bool(kept.all())


async def save_unmerge(session: AsyncSession, decision: FanUnmerged) -> bool:
    """Keep the unmerge unless a later one is kept; True when it is the latest."""
    values = {"fan_key": decision.fan_key, "unmerged_at": decision.decided_at,
              "operator": decision.operator}  # fmt: skip
    new = insert(IdentityUnmerge).values(values)
    kept = await session.execute(
        new.on_conflict_do_update(
            index_elements=[IdentityUnmerge.fan_key],
            set_={"unmerged_at": new.excluded.unmerged_at, "operator": new.excluded.operator},
            where=IdentityUnmerge.unmerged_at < new.excluded.unmerged_at,
        ).returning(IdentityUnmerge.fan_key)
    )
    return kept.first() is not None


def _unmerged_before(fan_key: _Column[str], at: _Column[datetime]) -> Exists:
    """An unmerge of `fan_key` at or after `at` (which undoes a merge at `at`)."""
    return (
        select(IdentityUnmerge.fan_key)
        .where(IdentityUnmerge.fan_key == fan_key, IdentityUnmerge.unmerged_at >= at)
        .exists()
    )


async def merges(session: AsyncSession, fan_keys: Collection[str]) -> set[tuple[str, str]]:
    """The merges in force that name any of these fans, as (fan key, other fan key)."""
    if not fan_keys:
        return set()
    named = _array("named", fan_keys)
    m = IdentityMerge
    rows = await session.execute(
        select(m.fan_key, m.other_fan_key).where(
            or_(m.fan_key == any_(named), m.other_fan_key == any_(named)),
            ~_unmerged_before(m.fan_key, m.merged_at),
            ~_unmerged_before(m.other_fan_key, m.merged_at),
        )
    )
    return {(row.fan_key, row.other_fan_key) for row in rows}


async def shared_identifiers(
    session: AsyncSession, fan_keys: Collection[str], *, max_fans: int
) -> list[set[str]]:
    """For each identifier these fans carry that links (no more than `max_fans` carry it), the
    identities that carry it and were not unmerged: each set is linked together."""
    if not fan_keys:
        return []
    theirs = select(IdentityKey.kind, IdentityKey.value).where(
        IdentityKey.fan_key == any_(_array("fans", fan_keys))
    )
    carrier = aliased(IdentityKey)
    unmerged = select(IdentityUnmerge.fan_key).where(IdentityUnmerge.fan_key == carrier.fan_key)
    linked = func.array_agg(carrier.fan_key).filter(~unmerged.exists())
    rows = await session.execute(
        select(linked.label("fans"))
        .where(tuple_(carrier.kind, carrier.value).in_(theirs))
        .group_by(carrier.kind, carrier.value)
        .having(and_(func.count() <= max_fans, func.count() > 1))
    )
    return [set(row.fans) for row in rows if row.fans and len(row.fans) > 1]


async def carriers(
    session: AsyncSession, identified: Collection[Identified], *, max_fans: int
) -> set[str]:
    """The identities that carry these identifiers, for each that links them (carried by no
    more than `max_fans`)."""
    if not identified:
        return set()
    pairs = sorted({(kind, value) for kind, value, _ in identified})
    rows = await session.execute(
        select(func.array_agg(IdentityKey.fan_key).label("fans"))
        .where(tuple_(IdentityKey.kind, IdentityKey.value).in_(pairs))
        .group_by(IdentityKey.kind, IdentityKey.value)
        .having(func.count() <= max_fans)
    )
    return {fan for row in rows for fan in row.fans}


async def neighbours(
    session: AsyncSession, fan_keys: Collection[str], *, max_fans: int
) -> set[str]:
    """The identities linked to any of these, these included."""
    linked = set(fan_keys)
    for one, other in await merges(session, fan_keys):
        linked |= {one, other}
    for carriers in await shared_identifiers(session, fan_keys, max_fans=max_fans):
        if carriers & set(fan_keys):
            linked |= carriers
    return linked


async def component(session: AsyncSession, fan_key: str, *, max_fans: int) -> set[str]:
    """The identities connected to `fan_key` through links, `fan_key` included."""
    found, frontier = {fan_key}, {fan_key}
    while frontier:
        reached = await neighbours(session, frontier, max_fans=max_fans)
        frontier = reached - found
        found |= frontier
    return found


async def persons_of(session: AsyncSession, fan_keys: Collection[str]) -> dict[str, str]:
    """The person of each of these fans in a person (as stored on their profiles), and of
    every other identity of those persons."""
    if not fan_keys:
        return {}
    persons = (
        select(FanProfile.person_key)
        .where(
            FanProfile.fan_key == any_(_array("fans", fan_keys)),
            FanProfile.person_key.is_not(None),
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(FanProfile.fan_key, FanProfile.person_key).where(
            FanProfile.person_key.is_not(None), FanProfile.person_key == any_(func.array(persons))
        )
    )
    return {row.fan_key: row.person_key for row in rows}


async def identifiers_of(session: AsyncSession, fan_keys: Collection[str]) -> dict[str, set[str]]:
    """The identifier kinds each of these fans carries (what the API shows of a link)."""
    rows = await session.execute(
        select(IdentityKey.fan_key, IdentityKey.kind).where(
            IdentityKey.fan_key == any_(_array("fans", fan_keys))
        )
    )
    kinds: dict[str, set[str]] = {}
    for row in rows:
        kinds.setdefault(row.fan_key, set()).add(row.kind)
    return kinds
