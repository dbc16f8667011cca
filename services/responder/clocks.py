"""Between a conversation's SLA clocks as `sla.conversation` reasons about them and as they are
stored and told: rows read into the domain, a step's result written back, its facts published
on `scrm.sla.v1` (through the outbox) and counted, and its deadlines handed to the timers."""

import functools
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import metrics, repository
from services.responder.models import Conversation as ConversationRow
from services.responder.models import SlaClock
from services.responder.policies import PolicyBook
from services.responder.sla.calendar import ALWAYS_OPEN, BusinessHours
from services.responder.sla.clock import TargetClock
from services.responder.sla.conversation import (
    REPLY_TARGETS,
    Breached,
    Cancelled,
    Clock,
    Conversation,
    Fact,
    Met,
    Paused,
    Resumed,
    Started,
    Terms,
    Warned,
)
from services.responder.sla.policy import SlaPolicy
from services.responder.timers import Timer
from shared.contracts import (
    SlaBreached,
    SlaEvent,
    SlaMet,
    SlaPaused,
    SlaResumed,
    SlaStarted,
    SlaWarning,
)
from shared.db import after_commit
from shared.events import CloudEvent
from shared.outbox import Outbox

SOURCE = "scrm/responder"
Schedule = Callable[[list[Timer]], None]


@dataclass(frozen=True)
class Deps:
    """What every change to a conversation needs besides the session."""

    outbox: Outbox
    schedule: Schedule
    policies: "PolicyBook"
    # How much earlier a priority-100 fan's conversation comes up in the queue than its
    # deadline (a priority-50 fan's, half of it).
    priority_weight: timedelta = timedelta(minutes=5)


def terms_of(policy: SlaPolicy) -> Terms:
    return Terms(
        policy_id=policy.id, first_reply=policy.first_reply, next_reply=policy.next_reply,
        resolution=policy.resolution,
        warning_before=None if policy.warning_before_seconds is None
        else timedelta(seconds=policy.warning_before_seconds),
        hours=policy.calendar,
    )  # fmt: skip


@functools.lru_cache(maxsize=256)
def _hours(stored: str) -> BusinessHours:
    return BusinessHours.model_validate_json(stored)


def hours_from(stored: dict[str, Any] | None) -> BusinessHours:
    return ALWAYS_OPEN if stored is None else _hours(json.dumps(stored, sort_keys=True))


def clock_of(row: SlaClock) -> Clock:
    target_clock = TargetClock(
        row.target, row.started_at, timedelta(seconds=row.budget_seconds),  # type: ignore[arg-type]
        timedelta(seconds=row.warning_seconds), hours_from(row.hours),
        timedelta(seconds=row.paused_seconds), row.paused_since,
    )  # fmt: skip
    return Clock(
        str(row.id), row.policy_id, target_clock, warned=row.warned, breached=row.breached,
        paused_for=row.paused_for,  # type: ignore[arg-type]
    )  # fmt: skip


def conversation_of(row: ConversationRow, clocks: Sequence[SlaClock]) -> Conversation:
    return Conversation(
        status=row.status, answered=row.answered,  # type: ignore[arg-type]
        awaiting_since=row.awaiting_since, last_reply_at=row.last_reply_at,
        snoozed_until=row.snoozed_until, clocks=tuple(clock_of(clock) for clock in clocks),
    )  # fmt: skip


def _stored_hours(clock: TargetClock) -> dict[str, Any] | None:
    hours = clock.hours
    if not isinstance(hours, BusinessHours) or hours == ALWAYS_OPEN:
        return None
    stored: dict[str, Any] = hours.model_dump(mode="json")
    return stored


def clock_values(clock: Clock, conversation_id: uuid.UUID) -> dict[str, Any]:
    running = clock.clock
    return {
        "id": uuid.UUID(clock.id), "conversation_id": conversation_id, "target": clock.target,
        "policy_id": clock.policy_id, "started_at": running.started_at,
        "budget_seconds": running.budget.total_seconds(),
        "warning_seconds": running.warning_before.total_seconds(),
        "hours": _stored_hours(running), "paused_seconds": running.paused.total_seconds(),
        "paused_since": running.paused_since, "paused_for": clock.paused_for,
        "deadline": running.deadline, "warning_at": running.warning_at,
        "warned": clock.warned, "breached": clock.breached,
    }  # fmt: skip


@dataclass
class Changes:
    """What steps of conversations leave to write: their clocks' rows (each clock's last
    values), their facts told and counted, the timers of each conversation as it ends up."""

    clock_rows: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    events: list[CloudEvent[SlaEvent]] = field(default_factory=list)
    counted: list[tuple[Sequence[Fact], str]] = field(default_factory=list)
    timers: dict[uuid.UUID, list[Timer]] = field(default_factory=dict)

    def record(
        self, row: ConversationRow, after: Conversation, facts: Sequence[Fact], *, deps: Deps
    ) -> None:
        """One step's result, on the conversation's row (written at the session's flush) and
        here for `flush`."""
        row.queue_due = queue_due(after, row.priority, deps.priority_weight)
        row.status, row.answered = after.status, after.answered
        row.awaiting_since, row.last_reply_at = after.awaiting_since, after.last_reply_at
        row.snoozed_until = after.snoozed_until
        for fact in facts:
            if isinstance(fact, Met | Cancelled):
                values = _ended(fact, row.id)
                self.clock_rows[values["id"]] = values
        for clock in after.clocks:
            values = clock_values(clock, row.id)
            self.clock_rows[values["id"]] = values
        self.events.extend(sla_events(facts, row))
        self.counted.append((facts, row.platform))
        self.timers[row.id] = timers_of(after, row.id)

    async def flush(self, session: AsyncSession, *, deps: Deps) -> None:
        """Write the clocks, publish the facts; count them and set the timers once committed."""
        await repository.save_clocks(session, list(self.clock_rows.values()))
        await deps.outbox.add_all(session, self.events)
        counted, schedule = self.counted, deps.schedule
        timers = [timer for timers in self.timers.values() for timer in timers]
        after_commit(session, lambda: _count_all(counted))
        after_commit(session, lambda: schedule(timers))


async def write(
    session: AsyncSession,
    row: ConversationRow,
    after: Conversation,
    facts: Sequence[Fact],
    *,
    deps: Deps,
) -> None:
    """Store one step's result on the conversation's row and its clocks', publish its facts,
    and set the timers of its deadlines once committed."""
    changes = Changes()
    changes.record(row, after, facts, deps=deps)
    await changes.flush(session, deps=deps)


def _ended(fact: Met | Cancelled, conversation_id: uuid.UUID) -> dict[str, Any]:
    values = clock_values(fact.clock, conversation_id)
    values |= {"ended_at": fact.at, "deadline": None, "warning_at": None}
    if isinstance(fact, Met):
        values |= {
            "outcome": "met" if fact.in_time else "late", "reply_id": fact.reply_id,
            "latency_seconds": fact.latency.total_seconds(), "breached": not fact.in_time,
        }  # fmt: skip
    else:
        values["outcome"] = "cancelled"
    return values


def queue_due(conversation: Conversation, priority: int, weight: timedelta) -> datetime | None:
    """Where the conversation stands in the routing queue: its reply deadline, brought
    forward by the fan's priority (0-100) times `weight`; None when no reply clock runs."""
    running = conversation.reply_clock
    deadline = None if running is None else running.clock.deadline
    return None if deadline is None else deadline - weight * (priority / 100)


def timers_of(conversation: Conversation, conversation_id: uuid.UUID) -> list[Timer]:
    timers = []
    for clock in conversation.clocks:
        deadline, warning, ref = clock.clock.deadline, clock.clock.warning_at, uuid.UUID(clock.id)
        if deadline is not None and not clock.breached:
            timers.append(Timer(deadline, "breach", ref))
        if warning is not None and not clock.warned:
            timers.append(Timer(warning, "warning", ref))
    if conversation.status == "snoozed" and conversation.snoozed_until is not None:
        timers.append(Timer(conversation.snoozed_until, "wake", conversation_id))
    return timers


def sla_events(facts: Sequence[Fact], row: ConversationRow) -> list[CloudEvent[SlaEvent]]:
    events = []
    for fact in facts:
        made = _event(fact, _common(fact.clock, row))
        if made is not None:
            data, name = made
            event_id = f"{fact.clock.id}:{name}"
            events.append(CloudEvent.of(data, id=event_id, source=SOURCE, subject=str(row.id)))
    return events


def _common(clock: Clock, row: ConversationRow) -> dict[str, Any]:
    return {
        "conversation_id": str(row.id), "fan_key": row.fan_key, "platform": row.platform,
        "account": row.account, "clock_id": clock.id, "policy_id": clock.policy_id,
        "target": clock.target, "deadline": clock.clock.deadline_then(),
    }  # fmt: skip


def _event(fact: Fact, common: dict[str, Any]) -> tuple[SlaEvent, str] | None:
    """The event a fact is told as, and what makes its id unique for its clock."""
    match fact:
        case Started(clock=clock, reason="policy_changed"):
            started = SlaStarted(
                **common, started_at=clock.clock.started_at, reason="policy_changed"
            )
            return started, f"started:policy_changed:{clock.policy_id}"
        case Started(clock=clock, reason=reason):
            return SlaStarted(**common, started_at=clock.clock.started_at, reason=reason), (
                f"started:{reason}"
            )
        case Met(at=at, latency=latency, in_time=True):
            return SlaMet(**common, met_at=at, latency_seconds=latency.total_seconds()), "met"
        case Paused(at=at, reason=reason):
            return SlaPaused(**common, paused_at=at, reason=reason), f"paused:{at.isoformat()}"
        case Resumed(clock=clock, at=at):
            paused = clock.clock.paused.total_seconds()
            return SlaResumed(**common, resumed_at=at, paused_seconds=paused), (
                f"resumed:{at.isoformat()}"
            )
        case Warned():
            return SlaWarning(**common), "warning"
        case Breached():
            return SlaBreached(**common), "breached"
    return None  # a late reply (its breach was told) or a clock ended unanswered


def _count_all(counted: Sequence[tuple[Sequence[Fact], str]]) -> None:
    for facts, platform in counted:
        _count(facts, platform)


def _count(facts: Sequence[Fact], platform: str) -> None:
    for fact in facts:
        if isinstance(fact, Met) and fact.clock.target in REPLY_TARGETS:
            latency = fact.latency.total_seconds()
            metrics.REPLY_LATENCY.labels(platform, fact.clock.target).observe(latency)
        name = {Started: "started", Paused: "paused", Resumed: "resumed", Warned: "warning",
                Breached: "breached", Cancelled: "cancelled"}.get(type(fact))  # fmt: skip
        if isinstance(fact, Met):
            name = "met" if fact.in_time else None
        if name is not None:
            metrics.SLA_OUTCOMES.labels(fact.clock.target, name).inc()


def flagged_events(rows: Sequence[Row[Any]], *, flag: str) -> list[CloudEvent[SlaEvent]]:
    """The warnings or breaches the timers flagged (`repository.mark_due`), with the ids the
    same facts get when a step finds them (`sla_events`): told once either way."""
    events: list[CloudEvent[SlaEvent]] = []
    for row in rows:
        common = {
            "conversation_id": str(row.conversation_id), "fan_key": row.fan_key,
            "platform": row.platform, "account": row.account, "clock_id": str(row.id),
            "policy_id": row.policy_id, "target": row.target, "deadline": row.deadline,
        }  # fmt: skip
        data: SlaEvent = SlaWarning(**common) if flag == "warned" else SlaBreached(**common)
        name = "warning" if flag == "warned" else "breached"
        events.append(CloudEvent.of(data, id=f"{row.id}:{name}", source=SOURCE,
                                    subject=str(row.conversation_id)))  # fmt: skip
    return events


def counted_flags(rows: Sequence[Row[Any]], *, flag: str, now: datetime) -> Callable[[], None]:
    event = "warning" if flag == "warned" else "breached"
    lags = [(now - row.deadline).total_seconds() for row in rows if flag == "breached"]

    def count() -> None:
        for row in rows:
            metrics.SLA_OUTCOMES.labels(row.target, event).inc()
        for lag in lags:
            metrics.BREACH_DETECTION.observe(max(lag, 0.0))

    return count
