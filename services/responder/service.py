"""responder's rules. Takes the session first; flushes, never commits.

Every change to a conversation locks its row first (and then its running clocks), runs one
step of `sla.conversation` on it, and writes the result back with `clocks.write`: the same
order for agents' actions, delivery reports and timers, and for fans' messages (`inbox`, which
takes a batch of them at a time)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import (
    clocks,
    inbox,
    inbox_repository,
    metrics,
    repository,
    routing_repository,
)
from services.responder.clocks import Deps
from services.responder.models import Conversation as ConversationRow
from services.responder.sla import conversation as sla
from services.responder.sla.policy import MatchContext
from services.responder.timers import Timer
from shared.contracts import (
    FanEvent,
    ProfileUpdated,
    ReplyDelivered,
    ReplyFailed,
    ReplyRequested,
)
from shared.db import after_commit
from shared.events import CloudEvent

SOURCE = "scrm/responder"


class NotFound(LookupError):
    pass


class Refused(ValueError):
    """The action does not fit the conversation as it is (e.g. reopening one not resolved)."""


def _new_id() -> str:
    return str(uuid.uuid4())


async def _context(
    session: AsyncSession, row: ConversationRow, *, text: str | None = None,
    message_type: str | None = None,
) -> MatchContext:  # fmt: skip
    standing = await repository.standing_of(session, row.fan_key)
    return inbox.match_context(row, standing, text=text, message_type=message_type)


async def _terms(session: AsyncSession, context: MatchContext, *, deps: Deps) -> sla.Terms:
    policies, _ = await deps.policies.current(session)
    return clocks.terms_of(policies.match(context))


async def _locked(
    session: AsyncSession, conversation_id: uuid.UUID
) -> tuple[ConversationRow, sla.Conversation]:
    row = await repository.lock_conversation(session, conversation_id)
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    running = await repository.running_clocks(session, row.id)
    return row, clocks.conversation_of(row, running)


@dataclass(frozen=True)
class Reply:
    reply_id: str
    text: str
    agent_id: str | None


async def reply(
    session: AsyncSession, conversation_id: uuid.UUID, answer: Reply, *, now: datetime,
    deps: Deps,
) -> bool:  # fmt: skip
    """An agent's answer, sent now: asked of ingest (`scrm.replies.v1`), kept on the
    conversation, and the reply clock ended. False when this reply id was sent before (the
    same request again changes nothing)."""
    row, before = await _locked(session, conversation_id)
    if not await repository.add_message(
        session, conversation_id=row.id, direction="out", ref=answer.reply_id, at=now,
        text=answer.text[:inbox.TEXT_KEPT], agent_id=answer.agent_id, delivery="requested",
    ):  # fmt: skip
        return False
    platform, account, user_id = row.fan_key.split(":", 2)
    request = ReplyRequested(
        reply_id=answer.reply_id, conversation_id=str(row.id), platform=platform,
        account=account, user_id=user_id, text=answer.text, agent_id=answer.agent_id,
    )  # fmt: skip
    await deps.outbox.add(
        session, CloudEvent.of(request, id=answer.reply_id, source=SOURCE, subject=row.fan_key)
    )
    row.unanswered_count = 0
    after, facts = sla.agent_reply(before, now, answer.reply_id)
    await clocks.write(session, row, after, facts, deps=deps)
    return True


async def snooze(
    session: AsyncSession, conversation_id: uuid.UUID, *, until: datetime, now: datetime,
    deps: Deps,
) -> None:  # fmt: skip
    row, before = await _locked(session, conversation_id)
    if before.status == "resolved":
        raise Refused("a resolved conversation cannot be snoozed: reopen it first")
    if until <= now:
        raise Refused("snooze until a time to come")
    after, facts = sla.snooze(before, now, until)
    await clocks.write(session, row, after, facts, deps=deps)


async def resolve(
    session: AsyncSession, conversation_id: uuid.UUID, *, now: datetime, deps: Deps
) -> None:
    row, before = await _locked(session, conversation_id)
    after, facts = sla.resolve(before, now)
    row.resolved_at, row.unanswered_count = now, 0
    await clocks.write(session, row, after, facts, deps=deps)


async def reopen(
    session: AsyncSession, conversation_id: uuid.UUID, *, now: datetime, deps: Deps
) -> None:
    row, before = await _locked(session, conversation_id)
    if before.status != "resolved":
        raise Refused("only a resolved conversation can be reopened")
    terms = await _terms(session, await _context(session, row), deps=deps)
    after, facts = sla.reopen(before, now, terms, _new_id)
    await clocks.write(session, row, after, facts, deps=deps)


async def wake(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID], *, now: datetime, deps: Deps
) -> None:
    """Conversations whose snooze has ended (or that an agent took back up): their clocks run
    again from the snooze's end, however late the timer fires (after a restart, or a jump of
    the simulated clock): the pause lasts what the agent asked, not what responder's uptime
    made of it."""
    for conversation_id in sorted(conversation_ids):
        row, before = await _locked(session, conversation_id)
        if before.status == "snoozed" and (before.snoozed_until or now) <= now:
            after, facts = sla.wake(before, before.snoozed_until or now)
            await clocks.write(session, row, after, facts, deps=deps)


async def delivery_reported(
    session: AsyncSession, event: CloudEvent[FanEvent], *, deps: Deps
) -> None:
    """What ingest says of a reply: delivered, or failed; a failed reply did not answer, so
    its clock runs again from its start and the conversation is flagged."""
    data = event.data
    if not isinstance(data, ReplyDelivered | ReplyFailed):
        return
    reply_id = data.reply_id
    message = await repository.outbound(session, reply_id)
    if message is None:
        return  # not one of ours (an older deployment's, or sent some other way)
    message.delivery = "failed" if isinstance(data, ReplyFailed) else "delivered"
    message.delivery_error = data.error if isinstance(data, ReplyFailed) else None
    if not isinstance(data, ReplyFailed):
        return
    row, before = await _locked(session, message.conversation_id)
    row.delivery_failed = True
    met = await repository.clock_met_by(session, reply_id)
    if met is None:
        return
    after, facts = sla.reply_failed(before, clocks.clock_of(met))
    if facts:
        await repository.end_clock(session, met.id, ended_at=None, outcome=None, reply_id=None)
    await clocks.write(session, row, after, facts, deps=deps)


async def standing_updated(
    session: AsyncSession, event: CloudEvent[ProfileUpdated], *, deps: Deps
) -> None:
    """What scoring says of a fan: kept for the policies to match on. A reply clock of the
    fan's already running takes the policy that now matches its message (a fan just found to
    be a KOL gets the KOL's targets, counted from the message)."""
    await inbox_repository.lock_fans(session, [event.data.fan_key])
    if not await repository.save_standing(session, event.data, at=event.time):
        return  # older than the one kept
    for conversation_id in await repository.waiting_conversations_of(session, event.data.fan_key):
        row, before = await _locked(session, conversation_id)
        last = await repository.last_inbound(session, row.id)
        context = await _context(
            session, row, text=last.text if last else None,
            message_type=last.message_type if last else None,
        )  # fmt: skip
        after, facts = sla.retarget(before, await _terms(session, context, deps=deps))
        row.priority = event.data.priority  # its place in the queue moves with it
        await clocks.write(session, row, after, facts, deps=deps)


async def fire(
    session: AsyncSession, timers: Sequence[Timer], *, now: datetime, deps: Deps
) -> None:
    """What the timers found due at `now`: warnings and breaches flagged in one statement each
    (a clock ended or moved meanwhile is left out), snoozes ended."""
    clock_ids = [timer.ref for timer in timers if timer.kind in ("warning", "breach")]
    if clock_ids:  # conversations before clocks, as every change to a conversation locks them
        await repository.lock_conversations_of_clocks(session, clock_ids)
    for kind, flag in (("warning", "warned"), ("breach", "breached")):
        ids = [timer.ref for timer in timers if timer.kind == kind]
        if ids:
            rows = await repository.mark_due(session, ids, flag=flag, now=now)
            await deps.outbox.add_all(session, clocks.flagged_events(rows, flag=flag))
            after_commit(session, clocks.counted_flags(rows, flag=flag, now=now))
            if flag == "warned":
                await _reassign_unanswered(session, rows)
    wakes = [timer.ref for timer in timers if timer.kind == "wake"]
    if wakes:
        await wake(session, await repository.snoozed_due(session, wakes, now=now), now=now,
                   deps=deps)  # fmt: skip


async def _reassign_unanswered(session: AsyncSession, warned: Sequence[Any]) -> None:
    """A reply clock warned with its agent still silent: the conversation goes back to the
    queue for whoever can answer first (its agent may claim it again)."""
    waiting = [row.conversation_id for row in warned if row.target in sla.REPLY_TARGETS]
    released = await routing_repository.release(session, waiting)
    if released:
        count = len(released)
        after_commit(session, lambda: metrics.REASSIGNED.labels("warning_unanswered").inc(count))


async def open_conversations(session: AsyncSession, *, limit: int) -> list[ConversationRow]:
    return await repository.list_open(session, limit=limit)
