"""All SQL of ingest."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import BrandAccountRow, OutboundReply, ReceivedEvent, SeenSignature
from shared.contracts import ReplyRequested

# One statement for any number of claims (arrays, not a VALUES list), so it is prepared once
# per connection. It runs on ingest's hot path, on the asyncpg connection itself.
_CLAIM = (
    "INSERT INTO ingest.received_events (platform, account, event_id) "
    "SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


CLAIM_TIMEOUT = 5.0  # seconds: a half-open connection must not hold a commit slot for long


async def claim_new_events(
    connection: asyncpg.Connection, claims: Sequence[tuple[str, str, str]]
) -> set[str]:
    """Record the (platform, account, event id) claims not seen before; returns their ids. A
    concurrent claim of the same id waits for the first transaction, then finds it taken."""
    if not claims:
        return set()
    platforms, accounts, event_ids = (list(column) for column in zip(*claims, strict=True))
    rows = await connection.fetch(_CLAIM, platforms, accounts, event_ids, timeout=CLAIM_TIMEOUT)
    return {row[0] for row in rows}


async def begin(connection: asyncpg.Connection) -> None:
    await connection.execute("BEGIN")


async def commit_and_begin(connection: asyncpg.Connection) -> None:
    """Commit, and begin the next transaction in the same round trip."""
    await connection.execute("COMMIT; BEGIN")


async def roll_back(connection: asyncpg.Connection) -> None:
    await connection.execute("ROLLBACK")


async def forget_received_before(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    """Delete up to `limit` claims received before `cutoff` (oldest first, by the index)."""
    oldest = (
        select(ReceivedEvent.event_id)
        .where(ReceivedEvent.received_at < cutoff)
        .order_by(ReceivedEvent.received_at)
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(delete(ReceivedEvent).where(ReceivedEvent.event_id.in_(oldest)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def remember_signature(
    session: AsyncSession, *, platform: str, account: str, signature: str, body_sha256: str
) -> str:
    """Record the body a signature came with, unless it was seen before; returns the body it
    was first seen with. A concurrent first sighting waits for the other transaction and gets
    its body (DO UPDATE, unlike DO NOTHING, returns the row it conflicted with)."""
    statement = insert(SeenSignature).values(
        platform=platform, account=account, signature=signature, body_sha256=body_sha256
    )
    first = await session.scalars(
        statement.on_conflict_do_update(
            index_elements=[SeenSignature.platform, SeenSignature.account, SeenSignature.signature],
            set_={"body_sha256": SeenSignature.__table__.c.body_sha256},
        ).returning(SeenSignature.body_sha256)
    )
    return first.one()


async def forget_signatures_before(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    """Delete up to `limit` signatures first seen before `cutoff` (oldest first)."""
    oldest = (
        select(SeenSignature.platform, SeenSignature.account, SeenSignature.signature)
        .where(SeenSignature.seen_at < cutoff)
        .order_by(SeenSignature.seen_at)
        .limit(limit)
    )
    key = tuple_(SeenSignature.platform, SeenSignature.account, SeenSignature.signature)
    result = await session.execute(delete(SeenSignature).where(key.in_(oldest)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def queue_reply(session: AsyncSession, reply: ReplyRequested, *, now: datetime) -> bool:
    """Queue a reply for sending; False when this reply id is already queued (a redelivery)."""
    queued = await session.scalars(
        insert(OutboundReply)
        .values(
            reply_id=reply.reply_id,
            platform=reply.platform,
            account=reply.account,
            user_id=reply.user_id,
            text=reply.text,
            in_reply_to=reply.in_reply_to,
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing()
        .returning(OutboundReply.reply_id)
    )
    return queued.first() is not None


async def lock_due_replies(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[OutboundReply]:
    """Pending replies whose time has come, locked for this transaction (other replicas skip)."""
    rows = await session.scalars(
        select(OutboundReply)
        .where(OutboundReply.status == "pending", OutboundReply.next_attempt_at <= now)
        .order_by(OutboundReply.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def get_reply(session: AsyncSession, reply_id: str) -> OutboundReply | None:
    return await session.get(OutboundReply, reply_id)


async def api_accounts(session: AsyncSession) -> list[dict[str, Any]]:
    return list(await session.scalars(select(BrandAccountRow.entry)))


async def save_api_account(session: AsyncSession, entry: Mapping[str, Any]) -> bool:
    """Create or replace an account; True when it was created."""
    statement = insert(BrandAccountRow).values(
        platform=entry["platform"], account_id=entry["account_id"], entry=dict(entry)
    )
    created = await session.scalars(
        statement.on_conflict_do_update(
            index_elements=[BrandAccountRow.platform, BrandAccountRow.account_id],
            set_={"entry": statement.excluded.entry, "updated_at": func.now()},
        ).returning(BrandAccountRow.created_at == BrandAccountRow.updated_at)
    )
    return bool(created.one())


async def delete_api_account(session: AsyncSession, platform: str, account_id: str) -> bool:
    result = await session.execute(
        delete(BrandAccountRow).where(
            BrandAccountRow.platform == platform, BrandAccountRow.account_id == account_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
