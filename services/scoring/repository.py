"""All SQL of scoring."""

import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any
from typing import cast as cast_as

from sqlalchemy import (
    ColumnElement,
    Numeric,
    RowMapping,
    ScalarSelect,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.scoring.coupon_signals import FriendPair
from services.scoring.domain import SNAPSHOT_COLUMNS, Brand, ProfileRow, stored_snapshot
from services.scoring.models import BrandCutPoints, FanProfile, ManualLabel, ReferralFriend
from services.scoring.scores.profile import BrandStanding, ManualLabels
from services.scoring.scores.state import FanState
from services.scoring.scores.tiers import TierCutPoints
from services.scoring.scores.wallet import WalletCutPoints
from shared.contracts import FanLabelled, ProfileUpdated

PROFILES = cast_as(Table, FanProfile.__table__)  # the hot path's statements are Core
RankedColumn = InstrumentedAttribute[Decimal] | InstrumentedAttribute[int]


async def lock_profiles(session: AsyncSession, fan_keys: Sequence[str]) -> dict[str, ProfileRow]:
    """The stored profiles of these fans, locked until the transaction ends (in key order, so
    two transactions locking overlapping fans cannot deadlock): their state and what others see
    of them, not their scores, which the caller reads anew from the state.

    The state comes as JSON text for pydantic to parse: the JSON decoder's dicts validated into
    the state cost the consumer three times as much."""
    rows = await session.execute(
        select(
            *(PROFILES.c[name] for name in _LOCKED),
            cast(PROFILES.c.state, Text).label("state"),
            cast(PROFILES.c.person_state, Text).label("person_state"),
        )
        .where(PROFILES.c.fan_key == any_(bindparam("keys", sorted(fan_keys), ARRAY(Text))))
        .order_by(PROFILES.c.fan_key)
        .with_for_update()
    )
    return {row["fan_key"]: _locked_row(row) for row in rows.mappings()}


_LOCKED = ("fan_key", "platform", "account", "first_seen_at", "last_seen_at", "scored_at",
           "tier", "role", "priority", "tags", "lifecycle", "person_key")  # fmt: skip


def _locked_row(row: RowMapping) -> ProfileRow:
    return ProfileRow(
        **{name: row[name] for name in _LOCKED if name != "tags"},
        state=FanState.from_json(row["state"]),
        tags=tuple(row["tags"]),
        person_state=_state(row["person_state"]),
    )


def _state(text: str | None) -> FanState | None:
    return None if text is None else FanState.from_json(text)


def profile_row(profile: FanProfile) -> ProfileRow:
    return ProfileRow(
        fan_key=profile.fan_key, platform=profile.platform, account=profile.account,
        first_seen_at=profile.first_seen_at, last_seen_at=profile.last_seen_at,
        state=FanState.from_dict(profile.state),
        scored_at=profile.scored_at or profile.updated_at,
        engagement_numerator=int(profile.engagement_numerator),
        engagement=profile.engagement, influence=profile.influence, wallet=profile.wallet,
        social=profile.social, priority=profile.priority, tier=profile.tier, role=profile.role,
        lifecycle=profile.lifecycle, tags=tuple(profile.tags), components=profile.components,
        person_key=profile.person_key,
        person_state=None if profile.person_state is None
        else FanState.from_dict(profile.person_state),
    )  # fmt: skip


class ProfileCreatedMeanwhile(RuntimeError):
    """A profile the caller took for new was created by another transaction since it looked."""


async def upsert_profiles(
    session: AsyncSession,
    columns: Sequence[dict[str, object]],
    *,
    locked: Collection[str] | None = None,
) -> None:
    """Write these profiles, new or known, in one statement whatever their number: each column
    travels as one array parameter (asyncpg encodes arrays in C; a VALUES row per profile was
    compiled anew for each batch). JSON columns and the tags come as JSON text.

    Rows go in fan-key order, as every writer takes them, so that two transactions creating the
    same new profiles cannot wait on each other crosswise. `locked` names the profiles the
    caller locked (`lock_profiles`); it took the others for new. One of those another
    transaction created since (the events and coupons consumers both name fans) is not written
    over: `ProfileCreatedMeanwhile` rolls the caller's transaction back, and its events, applied
    again, find that profile."""
    if not columns:
        return
    ordered = sorted(columns, key=itemgetter("fan_key"))
    names = tuple(ordered[0])
    arrays: dict[str, object] = {name: [row[name] for row in ordered] for name in names}
    if locked is not None:
        arrays["locked"] = sorted(locked)
    written = await session.execute(_upsert(names, guarded=locked is not None), arrays)
    if locked is not None and written.rowcount != len(ordered):  # type: ignore[attr-defined]
        raise ProfileCreatedMeanwhile("a profile taken for new was created meanwhile")


@functools.lru_cache(maxsize=8)
def _upsert(names: tuple[str, ...], *, guarded: bool) -> Insert:
    """The statement of `upsert_profiles`, its arrays bound when it runs. Built once: made anew
    for every batch, it took longer to build than to run, and left its parts (which refer to
    each other) to the cycle collector."""
    arrays = [bindparam(name, type_=_array_type(name)) for name in names]
    rows = func.unnest(*arrays).table_valued(*names).render_derived()
    new = insert(PROFILES).from_select(names, select(*(_stored(rows.c[name]) for name in names)))
    updated = {name: new.excluded[name] for name in names if name != "fan_key"}
    guard = PROFILES.c.fan_key.in_(_keys("locked")) if guarded else None
    return new.on_conflict_do_update(index_elements=["fan_key"], set_=updated, where=guard)


def _keys(name: str) -> ScalarSelect[str]:
    """Fan keys (the array parameter `name`) as a subquery: PostgreSQL hashes it once, where
    `= ANY(array)` scans the whole array for every row."""
    return select(func.unnest(bindparam(name, type_=ARRAY(Text)))).scalar_subquery()


_AS_JSON = frozenset(("state", "components", "tags", "person_state"))


def _array_type(name: str) -> ARRAY[Any]:
    return ARRAY(Text if name in _AS_JSON else PROFILES.c[name].type)


def _stored(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A column of unnested rows as the table stores it."""
    if column.key == "tags":
        # Correlated with the row by hand: inside array() SQLAlchemy leaves the subquery its own
        # FROM, and each profile got the tags of every profile of the statement.
        elements = select(func.jsonb_array_elements_text(cast(column, JSONB)))
        return func.array(elements.correlate_except(None).scalar_subquery())
    return cast(column, JSONB) if column.key in _AS_JSON else column


async def labels_of(session: AsyncSession, fan_keys: Sequence[str]) -> dict[str, ManualLabels]:
    """What operators set on these fans by hand; a fan without labels is left out."""
    keys = bindparam("keys", list(fan_keys), ARRAY(Text))
    rows = await session.execute(
        select(ManualLabel.fan_key, ManualLabel.role, ManualLabel.tags).where(
            ManualLabel.fan_key == any_(keys)
        )
    )
    return {row.fan_key: ManualLabels(role=row.role, tags=frozenset(row.tags)) for row in rows}


async def save_labels(session: AsyncSession, decision: FanLabelled) -> bool:
    """Keep the operator's labels unless a later decision is already kept (a replay of an older
    one changes nothing); True when these are now the fan's labels."""
    values = {
        "fan_key": decision.fan_key, "role": decision.role, "tags": list(decision.tags),
        "operator": decision.operator, "decided_at": decision.decided_at,
    }  # fmt: skip
    new = insert(ManualLabel).values(values)
    kept = await session.execute(
        new.on_conflict_do_update(
            index_elements=[ManualLabel.fan_key],
            set_={name: new.excluded[name] for name in values if name != "fan_key"},
            where=ManualLabel.decided_at <= new.excluded.decided_at,
        ).returning(ManualLabel.fan_key)
    )
    return kept.first() is not None


async def brand_standings(
    session: AsyncSession, brands: Iterable[Brand]
) -> dict[Brand, BrandStanding]:
    """The stored cut points of these brands; a brand never ranked is left out."""
    rows = await session.scalars(
        select(BrandCutPoints).where(
            tuple_(BrandCutPoints.platform, BrandCutPoints.account).in_(list(brands))
        )
    )
    return {(row.platform, row.account): standing(row) for row in rows}


def standing(row: BrandCutPoints) -> BrandStanding:
    tiers = TierCutPoints(
        occasional=_whole(row.tier_occasional),
        frequent=_whole(row.tier_frequent),
        leader=_whole(row.tier_leader),
    )
    return BrandStanding(tiers=tiers, wallet=WalletCutPoints.model_validate(row.wallet))


def _numeric(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _whole(value: Decimal | None) -> int | None:
    return None if value is None else int(value)


async def try_lock(session: AsyncSession, key: int) -> bool:
    """Take a transaction-level advisory lock if no other transaction holds it."""
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(key))))


async def brands(session: AsyncSession) -> list[Brand]:
    rows = await session.execute(select(FanProfile.platform, FanProfile.account).distinct())
    return [(row.platform, row.account) for row in rows]


def _of_brand(brand: Brand, *, buyers_only: bool = False) -> list[ColumnElement[bool]]:
    conditions = [FanProfile.platform == brand[0], FanProfile.account == brand[1]]
    return [*conditions, FanProfile.paid_orders > 0] if buyers_only else conditions


async def count_fans(session: AsyncSession, brand: Brand, *, buyers_only: bool = False) -> int:
    query = select(func.count()).select_from(FanProfile)
    return int(await session.scalar(query.where(*_of_brand(brand, buyers_only=buyers_only))) or 0)


async def values_at_ranks(
    session: AsyncSession,
    brand: Brand,
    column: RankedColumn,
    ranks: Sequence[int],
    *,
    buyers_only: bool = False,
) -> dict[int, int]:
    """The brand's fans' values of `column` at these 1-based ranks in ascending order."""
    ranked = (
        select(column.label("value"), func.row_number().over(order_by=column).label("rank"))
        .where(*_of_brand(brand, buyers_only=buyers_only))
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.value, ranked.c.rank).where(ranked.c.rank.in_(sorted(set(ranks))))
    )
    return {int(row.rank): int(row.value) for row in rows}


async def save_cut_points(
    session: AsyncSession, brand: Brand, standing: BrandStanding, *, at: datetime
) -> None:
    values = {
        "platform": brand[0], "account": brand[1],
        "tier_occasional": _numeric(standing.tiers.occasional),
        "tier_frequent": _numeric(standing.tiers.frequent),
        "tier_leader": _numeric(standing.tiers.leader),
        "wallet": standing.wallet.model_dump(mode="json"), "refreshed_at": at,
    }  # fmt: skip
    new = insert(BrandCutPoints).values(values)
    updated = {name: new.excluded[name] for name in values if name not in ("platform", "account")}
    await session.execute(
        new.on_conflict_do_update(index_elements=["platform", "account"], set_=updated)
    )


def _above(cut: int) -> ColumnElement[bool]:
    return FanProfile.engagement_numerator > literal(Decimal(cut), Numeric())


def _tier_by(cuts: TierCutPoints) -> ColumnElement[str]:
    """`tiers.tier` in SQL: strictly above a cut point to reach its tier."""
    whens = [
        (_above(cut), name)
        for name, cut in (("leader", cuts.leader), ("frequent", cuts.frequent),
                          ("occasional", cuts.occasional))
        if cut is not None
    ]  # fmt: skip
    return case(*whens, else_=literal("silent")) if whens else literal("silent")


async def retier(
    session: AsyncSession, brand: Brand, cuts: TierCutPoints, *, after: str, limit: int,
    within: Sequence[tuple[int, int]] | None = None,
) -> tuple[list[ProfileUpdated], str | None]:  # fmt: skip
    """Move the next `limit` of the brand's fans after `after` in key order (`within`: whose
    numerator is in one of these (low, high] ranges) whose tier these cut points change; the
    snapshots of those moved (from their columns) and the last key read, None at the end.

    A fan another transaction holds is left alone: the consumer is rescoring it (with these
    cut points, or else the next refresh moves it). Waiting for the consumer's transactions,
    a page waited for one, and the consumer for the pages (make bench-scoring, 100,000 fans,
    400,000 events: a refresh took 74 s and lag p99 was 2.4 s; left alone, 24-35 s, 0.95 s)."""
    tier = _tier_by(cuts)
    ranges = [and_(_above(low), ~_above(high)) for low, high in within or ()]
    to_move = (
        select(FanProfile.fan_key)
        .where(*_of_brand(brand), FanProfile.tier != tier, FanProfile.fan_key > after)
        .where(*([or_(*ranges)] if ranges else []))
        .order_by(FanProfile.fan_key)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    keys = list(await session.scalars(to_move))
    if not keys:
        return [], None
    moved = await session.execute(
        update(PROFILES)
        .where(PROFILES.c.fan_key.in_(keys), PROFILES.c.tier != tier)
        .values(tier=tier, updated_at=func.now())
        .returning(*(PROFILES.c[name] for name in SNAPSHOT_COLUMNS))
    )
    return [stored_snapshot(row) for row in moved.mappings()], keys[-1]


async def profiles_after(
    session: AsyncSession, fan_key: str, *, limit: int, lock: bool = False
) -> list[ProfileRow]:
    """Up to `limit` profiles after `fan_key` in key order: every profile, a page at a time.
    With `lock`, those no other transaction holds, locked (the others wait for the next turn)."""
    query = select(FanProfile).where(FanProfile.fan_key > fan_key).order_by(FanProfile.fan_key)
    if lock:
        query = query.with_for_update(skip_locked=True)
    rows = await session.scalars(query.limit(limit).execution_options(populate_existing=True))
    return [profile_row(profile) for profile in rows]


@dataclass(frozen=True)
class LifecycleCutoffs:
    """At a given time: first active at or before `new_before` is no longer new; last active
    before `active_since` is no longer active, before `at_risk_since` no longer at risk."""

    new_before: datetime
    active_since: datetime
    at_risk_since: datetime


async def lock_lifecycle_candidates(
    session: AsyncSession, cutoffs: LifecycleCutoffs, *, limit: int
) -> list[ProfileRow]:
    """Profiles whose lifecycle stage time has moved on (`LifecycleCutoffs`), locked; rows
    another transaction holds are left for the next sweep."""
    stage, first, last = FanProfile.lifecycle, FanProfile.first_active_at, FanProfile.last_active_at
    rows = await session.scalars(
        select(FanProfile)
        .where(
            or_(
                and_(stage == "new", first <= cutoffs.new_before),
                and_(stage == "active", last < cutoffs.active_since),
                and_(stage == "at_risk", last < cutoffs.at_risk_since),
            )
        )
        .order_by(FanProfile.fan_key)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return [profile_row(profile) for profile in rows]


async def add_referral_friends(
    session: AsyncSession, pairs: Sequence[FriendPair]
) -> set[FriendPair]:
    """Keep these (referrer, friend) pairs; returns those not kept before. In key order, so
    two transactions adding the same pairs wait on each other one way, never crosswise."""
    if not pairs:
        return set()
    referrers, friends = zip(*sorted(set(pairs)), strict=True)
    rows = (
        func.unnest(
            bindparam("referrers", list(referrers), ARRAY(Text)),
            bindparam("friends", list(friends), ARRAY(Text)),
        )
        .table_valued("referrer", "friend")
        .render_derived()
    )
    added = await session.execute(
        insert(ReferralFriend)
        .from_select(["referrer_fan_key", "friend_fan_key"], select(rows.c.referrer, rows.c.friend))
        .on_conflict_do_nothing()
        .returning(ReferralFriend.referrer_fan_key, ReferralFriend.friend_fan_key)
    )
    return {(referrer, friend) for referrer, friend in added}
