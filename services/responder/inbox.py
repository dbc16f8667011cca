"""Fans' messages and comments, a fetched batch at a time: the batch's conversations made and
locked, its messages kept, the fans' standings and the running clocks read, in one statement
each; then the same step of `sla.conversation` for each message, in order, as one message at a
time would take; then the clocks written and the facts published, again in one statement each.

A conversation with several messages in the batch takes them one after the other, each step
starting from where the one before left it."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import clocks, inbox_repository, metrics
from services.responder.clocks import Changes, Deps
from services.responder.domain import needs_answer
from services.responder.inbox_repository import Key
from services.responder.models import Conversation as ConversationRow
from services.responder.models import FanStanding
from services.responder.sla import conversation as sla
from services.responder.sla.policy import MatchContext, PolicySet
from shared.contracts import CommentCreated, FanEvent, MessageReceived
from shared.db import after_commit
from shared.events import CloudEvent

TEXT_KEPT = 4000  # characters of a message kept on the conversation


@dataclass
class _Open:
    """A conversation the batch takes messages on, and where its steps have brought it (None:
    made by this batch, no step yet)."""

    row: ConversationRow
    state: sla.Conversation | None


async def receive_messages(
    session: AsyncSession, events: Sequence[CloudEvent[FanEvent]], *, deps: Deps
) -> None:
    """Fans' messages and comments: each kept on the fan's conversation of its thread, which it
    opens (or reopens); one that needs an answer starts the reply clock if none runs."""
    wanted = [event for event in events if needs_answer(event.data)]
    if not wanted:
        return
    first_of: dict[Key, FanEvent] = {}
    for event in wanted:
        first_of.setdefault(_key(event.data), event.data)
    await inbox_repository.lock_fans(session, [key[0] for key in first_of])
    rows, new = await inbox_repository.lock_conversations(session, first_of)
    await inbox_repository.keep_messages(session, [_message(event, rows) for event in wanted])
    standings = await inbox_repository.standings_of(session, {key[0] for key in first_of})
    running = await inbox_repository.running_clocks_of(
        session, [row.id for key, row in rows.items() if key not in new]
    )
    opened = {
        key: _Open(
            row, None if key in new else clocks.conversation_of(row, running.get(row.id, ()))
        )
        for key, row in rows.items()
    }
    policies, _ = await deps.policies.current(session)
    changes = Changes()
    for event in wanted:
        _step(opened[_key(event.data)], event.data, standings, policies, changes, deps=deps)
    await changes.flush(session, deps=deps)
    count = len(wanted)
    after_commit(session, lambda: metrics.INBOUND_MESSAGES.inc(count))


def _step(
    opened: _Open, data: FanEvent, standings: dict[str, FanStanding], policies: PolicySet,
    changes: Changes, *, deps: Deps,
) -> None:  # fmt: skip
    row = opened.row
    row.unanswered_count += 1
    row.last_inbound_at = max(row.last_inbound_at, data.occurred_at)
    language = data.language if isinstance(data, MessageReceived) else None
    context = match_context(
        row, standings.get(row.fan_key), text=_text(data), message_type=_kind(data),
        language=language,
    )  # fmt: skip
    terms = clocks.terms_of(policies.match(context))
    row.priority = context.priority or 0
    row.language = (language or "").lower()[:35] or row.language
    after, facts = sla.fan_message(opened.state, data.occurred_at, terms, _new_id)
    changes.record(row, after, facts, deps=deps)
    opened.state = after


def match_context(
    row: ConversationRow, standing: FanStanding | None, *, text: str | None = None,
    message_type: str | None = None, language: str | None = None,
) -> MatchContext:  # fmt: skip
    """What the policies are matched on: the message, and what scoring says of the fan."""
    return MatchContext(
        platform=row.platform, account=row.account, text=text,  # type: ignore[arg-type]
        language=language, message_type=message_type,  # type: ignore[arg-type]
        tier=standing.tier if standing else None,  # type: ignore[arg-type]
        role=standing.role if standing else None,  # type: ignore[arg-type]
        priority=standing.priority if standing else None,
    )  # fmt: skip


def _key(data: FanEvent) -> Key:
    return data.fan_key, data.thread_ref or ""


def _text(data: FanEvent) -> str | None:
    return data.text if isinstance(data, MessageReceived | CommentCreated) else None


def _kind(data: FanEvent) -> str | None:
    return data.message_type if isinstance(data, MessageReceived) else None


def _message(event: CloudEvent[FanEvent], rows: dict[Key, ConversationRow]) -> dict[str, object]:
    data = event.data
    return {
        "conversation_id": rows[_key(data)].id, "direction": "in", "ref": event.id,
        "at": data.occurred_at, "message_type": _kind(data),
        "text": (_text(data) or "")[:TEXT_KEPT] or None, "agent_id": None, "delivery": None,
        "delivery_error": None,
    }  # fmt: skip


def _new_id() -> str:
    return str(uuid.uuid4())
