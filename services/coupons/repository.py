"""SQL of coupons' orders, campaigns, budget slices, packets, linked identities and brand keys
(claims: `claims_repository.py`; redemptions: `redemptions_repository.py`)."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.models import (
    BrandApiKey,
    BudgetSlice,
    Campaign,
    FanIdentity,
    IssueRefusal,
    Order,
    Packet,
    PacketShare,
)


async def save_order_status(
    session: AsyncSession, *, account: str, order_id: str, fan_key: str, amount_cents: int,
    currency: str, status: str, at: datetime,
) -> Order:  # fmt: skip
    """A refund that arrives before its payment still leaves the order refunded."""
    moment = {"paid_at": at} if status == "paid" else {"refunded_at": at}
    new = insert(Order).values(
        account=account, order_id=order_id, fan_key=fan_key, amount_cents=amount_cents,
        currency=currency, status=status, **moment,
    )  # fmt: skip
    table = Order.__table__
    keep_refund = table.c.status if status == "paid" else new.excluded.status
    upsert = new.on_conflict_do_update(
        index_elements=[table.c.account, table.c.order_id],
        set_={"status": keep_refund, **{k: new.excluded[k] for k in moment}},
    ).returning(Order)
    return (await session.scalars(upsert)).one()


async def get_order(session: AsyncSession, *, account: str, order_id: str) -> Order | None:
    return await session.scalar(
        select(Order).where(Order.account == account, Order.order_id == order_id)
    )


async def add_campaign(session: AsyncSession, campaign: Campaign, slices: list[int]) -> None:
    session.add(campaign)
    await session.flush()
    session.add_all(
        BudgetSlice(campaign_id=campaign.id, slice_no=number, remaining_cents=cents)
        for number, cents in enumerate(slices)
    )
    await session.flush()


async def get_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign | None:
    return await session.get(Campaign, campaign_id)


async def lock_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign | None:
    """The campaign for a change of it: FOR NO KEY UPDATE, which waits for no issue or claim."""
    return await session.scalar(
        select(Campaign)
        .where(Campaign.id == campaign_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


async def list_campaigns(session: AsyncSession, *, account: str | None) -> Sequence[Campaign]:
    query = select(Campaign).order_by(Campaign.created_at, Campaign.id)
    if account is not None:
        query = query.where(Campaign.account == account)
    return (await session.scalars(query)).all()


async def active_campaigns(
    session: AsyncSession, *, account: str, currency: str
) -> Sequence[Campaign]:
    query = select(Campaign).where(
        Campaign.account == account, Campaign.currency == currency, Campaign.status == "active"
    )
    return (await session.scalars(query.order_by(Campaign.created_at, Campaign.id))).all()


async def delete_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> None:
    await session.execute(delete(Campaign).where(Campaign.id == campaign_id))


_DRAW_ONE = text("""
    WITH chosen AS (
        SELECT slice_no FROM coupons.budget_slices
        WHERE campaign_id = :campaign_id AND remaining_cents >= :cents
        ORDER BY (slice_no + :slices - :start) % :slices
        LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    UPDATE coupons.budget_slices AS s SET remaining_cents = s.remaining_cents - :cents
    FROM chosen WHERE s.campaign_id = :campaign_id AND s.slice_no = chosen.slice_no
    RETURNING s.slice_no
""")


async def draw_from_free_slice(
    session: AsyncSession, campaign_id: uuid.UUID, cents: int, *, slices: int, start: int
) -> bool:
    """Take `cents` from one slice that holds enough and no other transaction holds, looking
    from slice `start` on; False when there is none such right now."""
    drawn = await session.execute(
        _DRAW_ONE,
        {"campaign_id": campaign_id, "cents": cents, "slices": slices, "start": start},
    )
    return drawn.first() is not None


async def lock_slices(session: AsyncSession, campaign_id: uuid.UUID) -> Sequence[BudgetSlice]:
    """Every slice of the campaign, locked in slice order (waiting for the issues that hold
    them): for a draw across slices, or a change of the budget."""
    query = (
        select(BudgetSlice)
        .where(BudgetSlice.campaign_id == campaign_id)
        .order_by(BudgetSlice.slice_no)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).all()


async def set_slices(
    session: AsyncSession, campaign_id: uuid.UUID, remaining: dict[int, int]
) -> None:
    """New remaining amounts of locked slices, by slice number."""
    for slice_no, cents in remaining.items():
        await session.execute(
            update(BudgetSlice)
            .where(BudgetSlice.campaign_id == campaign_id, BudgetSlice.slice_no == slice_no)
            .values(remaining_cents=cents)
        )


async def budget_left(session: AsyncSession, campaign_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(BudgetSlice.remaining_cents), 0)).where(
            BudgetSlice.campaign_id == campaign_id
        )
    )
    return int(total or 0)


async def budget_spent(session: AsyncSession, campaign_id: uuid.UUID) -> tuple[int, int, int]:
    """The campaign's packets: how many, their totals, and what returned to the budget."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Packet.total_cents), 0),
                func.coalesce(func.sum(Packet.returned_cents), 0),
            ).where(Packet.campaign_id == campaign_id)
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def packet_for_order(
    session: AsyncSession, campaign_id: uuid.UUID, order_id: str
) -> Packet | None:
    return await session.scalar(
        select(Packet).where(Packet.campaign_id == campaign_id, Packet.order_id == order_id)
    )


async def insert_packet(session: AsyncSession, values: dict[str, Any]) -> Packet | None:
    """The packet, or None when the campaign has one for the order already (this waits for a
    transaction inserting that one to end)."""
    statement = (
        insert(Packet)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["campaign_id", "order_id"])
        .returning(Packet)
    )
    return (await session.scalars(statement)).one_or_none()


async def delete_packet(session: AsyncSession, packet_id: uuid.UUID) -> None:
    await session.execute(delete(Packet).where(Packet.id == packet_id))


async def insert_shares(session: AsyncSession, packet_id: uuid.UUID, amounts: list[int]) -> None:
    await session.execute(
        insert(PacketShare),
        [
            {"packet_id": packet_id, "seq": seq, "amount_cents": cents}
            for seq, cents in enumerate(amounts, start=1)
        ],
    )


async def record_issue_refusal(
    session: AsyncSession, *, campaign_id: uuid.UUID, order_id: str, reason: str,
    total_cents: int | None, at: datetime,
) -> None:  # fmt: skip
    await session.execute(
        insert(IssueRefusal)
        .values(campaign_id=campaign_id, order_id=order_id, reason=reason,
                total_cents=total_cents, refused_at=at)
        .on_conflict_do_nothing()
    )  # fmt: skip


async def save_identity(
    session: AsyncSession, *, fan_key: str, person_key: str, at: datetime
) -> None:
    new = insert(FanIdentity).values(fan_key=fan_key, person_key=person_key, updated_at=at)
    await session.execute(
        new.on_conflict_do_update(
            index_elements=["fan_key"],
            set_={"person_key": new.excluded.person_key, "updated_at": new.excluded.updated_at},
        )
    )


async def person_of(session: AsyncSession, fan_key: str) -> str:
    """The person scoring last linked the identity to; the identity itself when none."""
    found = await session.scalar(
        select(FanIdentity.person_key).where(FanIdentity.fan_key == fan_key)
    )
    return found or fan_key


async def identities_of(session: AsyncSession, person_key: str) -> list[str]:
    """Every identity known to belong to the person, the person's own key among them."""
    keys = await session.scalars(
        select(FanIdentity.fan_key).where(FanIdentity.person_key == person_key)
    )
    return sorted({person_key, *keys})


async def add_api_key(session: AsyncSession, key: BrandApiKey) -> None:
    session.add(key)
    await session.flush()


async def api_key_by_hash(session: AsyncSession, key_sha256: str) -> BrandApiKey | None:
    return await session.scalar(
        select(BrandApiKey).where(
            BrandApiKey.key_sha256 == key_sha256, BrandApiKey.revoked_at.is_(None)
        )
    )


async def api_keys(session: AsyncSession, account: str) -> Sequence[BrandApiKey]:
    query = select(BrandApiKey).where(BrandApiKey.account == account)
    return (await session.scalars(query.order_by(BrandApiKey.created_at))).all()


async def revoke_api_key(
    session: AsyncSession, *, account: str, key_id: uuid.UUID, at: datetime
) -> bool:
    revoked = await session.execute(
        update(BrandApiKey)
        .where(BrandApiKey.account == account, BrandApiKey.id == key_id)
        .where(BrandApiKey.revoked_at.is_(None))
        .values(revoked_at=at)
        .returning(BrandApiKey.id)
    )
    return revoked.first() is not None
