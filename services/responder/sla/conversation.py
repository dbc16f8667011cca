"""A conversation's SLA clocks, and what each thing that happens to it does to them.

Pure: each step takes the conversation as it stands and returns it changed, with the facts the
step produced (a clock started, met, paused, ...), which the service stores and publishes.

- A fan message that needs an answer starts the reply clock: `first_reply` until an agent has
  answered once, `next_reply` after. Messages while it runs do not restart it; one older than
  its start (arrived late) moves its start back, since the clock counts from the earliest
  unanswered message. A message older than the last reply was answered by it.
- An agent's reply ends the reply clock: met in time if no more business time ran than the
  target allows, late otherwise (breached, if the timer did not say so first).
- The resolution clock (when the policy has one) runs from the opening (or a reopening) to the
  resolution, paused while the conversation waits on the fan or is snoozed.
- Snoozing pauses every clock; a fan message, the snooze's end or an agent wakes it.
- Resolving ends the reply clock unmet (nobody answered, nobody is waiting: the resolution was
  the answer), breached only if its target had run out, and meets the resolution clock.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from services.responder.sla.clock import Hours, TargetClock
from shared.contracts import SlaTarget

Status = Literal["open", "pending", "snoozed", "resolved"]
PauseReason = Literal["snoozed", "waiting_on_fan"]
REPLY_TARGETS: tuple[SlaTarget, ...] = ("first_reply", "next_reply")


@dataclass(frozen=True)
class Terms:
    """What a policy sets for the clocks it starts."""

    policy_id: str
    first_reply: timedelta
    next_reply: timedelta
    resolution: timedelta | None
    warning_before: timedelta | None  # None: a fifth of each target
    hours: Hours

    def budget(self, target: SlaTarget) -> timedelta | None:
        return {"first_reply": self.first_reply, "next_reply": self.next_reply,
                "resolution": self.resolution}[target]  # fmt: skip

    def warning(self, budget: timedelta) -> timedelta:
        return budget / 5 if self.warning_before is None else self.warning_before


@dataclass(frozen=True)
class Clock:
    """A clock not ended yet: running, paused, or breached and still waiting."""

    id: str
    policy_id: str
    clock: TargetClock
    warned: bool = False
    breached: bool = False
    paused_for: PauseReason | None = None

    @property
    def target(self) -> SlaTarget:
        return self.clock.target


StartReason = Literal["message", "reopened", "reply_failed", "policy_changed"]


class Started(NamedTuple):
    clock: Clock
    reason: StartReason


class Met(NamedTuple):
    clock: Clock
    at: datetime
    latency: timedelta
    in_time: bool
    reply_id: str | None


class Cancelled(NamedTuple):
    clock: Clock
    at: datetime


class Paused(NamedTuple):
    clock: Clock
    at: datetime
    reason: PauseReason | Literal["resolved"]


class Resumed(NamedTuple):
    clock: Clock
    at: datetime


class Warned(NamedTuple):
    clock: Clock


class Breached(NamedTuple):
    clock: Clock


Fact = Started | Met | Cancelled | Paused | Resumed | Warned | Breached
NewId = Callable[[], str]


@dataclass(frozen=True)
class Conversation:
    status: Status = "open"
    answered: bool = False  # an agent has replied once: the next clock is `next_reply`
    awaiting_since: datetime | None = None  # the earliest fan message not answered yet
    last_reply_at: datetime | None = None
    snoozed_until: datetime | None = None
    clocks: tuple[Clock, ...] = ()

    def clock(self, target: SlaTarget) -> Clock | None:
        return next((c for c in self.clocks if c.target == target), None)

    @property
    def reply_clock(self) -> Clock | None:
        return next((c for c in self.clocks if c.target in REPLY_TARGETS), None)

    def with_clock(self, clock: Clock) -> "Conversation":
        others = tuple(c for c in self.clocks if c.id != clock.id)
        return replace(self, clocks=(*others, clock))

    def without(self, clock: Clock) -> "Conversation":
        return replace(self, clocks=tuple(c for c in self.clocks if c.id != clock.id))


Step = tuple[Conversation, list[Fact]]


def _start(
    conversation: Conversation, target: SlaTarget, at: datetime, terms: Terms, new_id: NewId,
    reason: StartReason,
) -> Step:  # fmt: skip
    budget = terms.budget(target)
    if budget is None:
        return conversation, []
    clock = Clock(
        new_id(), terms.policy_id,
        TargetClock(target, at, budget, terms.warning(budget), terms.hours),
    )  # fmt: skip
    return conversation.with_clock(clock), [Started(clock, reason)]


def _pause(conversation: Conversation, clock: Clock, at: datetime, reason: PauseReason) -> Step:
    if not clock.clock.running:
        return conversation, []
    paused = replace(clock, clock=clock.clock.pause(at), paused_for=reason)
    return conversation.with_clock(paused), [Paused(paused, at, reason)]


def _resume(conversation: Conversation, clock: Clock, at: datetime) -> Step:
    if clock.clock.running:
        return conversation, []
    resumed = replace(clock, clock=clock.clock.resume(at), paused_for=None)
    return conversation.with_clock(resumed), [Resumed(resumed, at)]


def _woken(conversation: Conversation, at: datetime) -> Step:
    """Out of a snooze, or of waiting on the fan: every paused clock runs again."""
    facts: list[Fact] = []
    for clock in conversation.clocks:
        conversation, done = _resume(conversation, clock, at)
        facts += done
    return replace(conversation, snoozed_until=None), facts


def fan_message(
    conversation: Conversation | None, at: datetime, terms: Terms, new_id: NewId
) -> Step:
    """A fan message that needs an answer, sent at `at`; `terms`: the policy it matched."""
    facts: list[Fact] = []
    if conversation is None:
        conversation, facts = _start(Conversation(), "resolution", at, terms, new_id, "message")
    elif conversation.status == "resolved":
        conversation, facts = reopen(conversation, at, terms, new_id)
    elif conversation.status in ("snoozed", "pending"):
        conversation, facts = _woken(conversation, at)
    if conversation.last_reply_at is not None and at <= conversation.last_reply_at:
        return conversation, facts  # the reply came after it: answered
    awaiting = min(conversation.awaiting_since or at, at)
    conversation = replace(conversation, status="open", awaiting_since=awaiting)
    running = conversation.reply_clock
    if running is None:
        target: SlaTarget = "next_reply" if conversation.answered else "first_reply"
        conversation, started = _start(conversation, target, at, terms, new_id, "message")
        return conversation, facts + started
    if at < running.clock.started_at:  # arrived late: the clock counts from the earliest
        moved = replace(running, clock=replace(running.clock, started_at=at))
        conversation = conversation.with_clock(moved)
    return conversation, facts


def agent_reply(conversation: Conversation, at: datetime, reply_id: str | None) -> Step:
    """An agent's answer, sent at `at`: the reply clock ends; the conversation waits on the
    fan, its resolution clock paused meanwhile."""
    facts: list[Fact] = []
    running = conversation.reply_clock
    if running is not None:
        latency = running.clock.elapsed(at)
        in_time = latency <= running.clock.budget
        if not in_time and not running.breached:
            facts.append(Breached(replace(running, breached=True)))
        facts.append(Met(running, at, latency, in_time, reply_id))
        conversation = conversation.without(running)
    last = max(conversation.last_reply_at or at, at)
    conversation = replace(
        conversation, status="pending", answered=True, awaiting_since=None, last_reply_at=last,
        snoozed_until=None,
    )  # fmt: skip
    resolution = conversation.clock("resolution")
    if resolution is not None and not resolution.clock.running:  # paused by a snooze: still
        return conversation.with_clock(replace(resolution, paused_for="waiting_on_fan")), facts
    if resolution is not None:
        conversation, paused = _pause(conversation, resolution, at, "waiting_on_fan")
        facts += paused
    return conversation, facts


def snooze(conversation: Conversation, at: datetime, until: datetime) -> Step:
    """Set aside until `until`: every clock paused."""
    facts: list[Fact] = []
    for clock in conversation.clocks:
        conversation, paused = _pause(conversation, clock, at, "snoozed")
        facts += paused
    return replace(conversation, status="snoozed", snoozed_until=until), facts


def wake(conversation: Conversation, at: datetime) -> Step:
    """Out of a snooze (its end, or an agent): back to waiting on the fan or on an agent."""
    if conversation.status != "snoozed":
        return conversation, []
    conversation, facts = _woken(conversation, at)
    if conversation.awaiting_since is not None:
        return replace(conversation, status="open"), facts
    conversation = replace(conversation, status="pending")
    resolution = conversation.clock("resolution")
    if resolution is not None:
        conversation, paused = _pause(conversation, resolution, at, "waiting_on_fan")
        facts += paused
    return conversation, facts


def resolve(conversation: Conversation, at: datetime) -> Step:
    """Resolved: the resolution clock met, a reply clock ended without an answer. A clock
    already over its target is breached first, if no timer said so yet: the outcome is the
    events', not the timers' (as for a late reply)."""
    facts: list[Fact] = []
    for running in conversation.clocks:
        latency = running.clock.elapsed(at)
        in_time = latency <= running.clock.budget
        clock = running if in_time or running.breached else replace(running, breached=True)
        if clock is not running:
            facts.append(Breached(clock))
        if clock.target == "resolution":
            facts.append(Met(clock, at, latency, in_time, None))
        else:
            facts.append(Cancelled(clock, at))
    resolved = replace(
        conversation, status="resolved", awaiting_since=None, snoozed_until=None, clocks=()
    )
    return resolved, facts


def reopen(conversation: Conversation, at: datetime, terms: Terms, new_id: NewId) -> Step:
    """Opened again (by an agent, or by the fan writing): a new resolution clock."""
    if conversation.status != "resolved":
        return conversation, []
    reopened = replace(conversation, status="open")
    return _start(reopened, "resolution", at, terms, new_id, "reopened")


def reply_failed(conversation: Conversation, met: Clock) -> Step:
    """The reply that met `met` was never delivered: it did not answer. The clock runs again
    from its old start, unless a newer answer or clock took its place."""
    if conversation.reply_clock is not None or conversation.status == "resolved":
        return conversation, []
    revived = replace(met, warned=False, breached=False, paused_for=None)
    conversation = replace(
        conversation.with_clock(revived), status="open",
        awaiting_since=revived.clock.started_at,
    )  # fmt: skip
    return conversation, [Started(revived, "reply_failed")]


def due(conversation: Conversation, clock_id: str, now: datetime) -> Step:
    """What a timer finds at `now`: the warning or the breach of a running clock, once."""
    clock = next((c for c in conversation.clocks if c.id == clock_id), None)
    if clock is None or not clock.clock.running:
        return conversation, []
    facts: list[Fact] = []
    deadline, warning = clock.clock.deadline, clock.clock.warning_at
    if not clock.warned and warning is not None and warning <= now:
        clock = replace(clock, warned=True)
        facts.append(Warned(clock))
    if not clock.breached and deadline is not None and deadline <= now:
        clock = replace(clock, breached=True)
        facts.append(Breached(clock))
    return conversation.with_clock(clock), facts


def retarget(conversation: Conversation, terms: Terms) -> Step:
    """Another policy now matches the message the reply clock waits on (what scoring says of
    the fan changed): the clock keeps its start and pauses, and takes the new targets."""
    running = conversation.reply_clock
    if running is None or running.policy_id == terms.policy_id:
        return conversation, []
    budget = terms.budget(running.target)
    assert budget is not None  # noqa: S101 (reply targets are never optional)
    moved = replace(
        running, policy_id=terms.policy_id,
        clock=replace(running.clock, budget=budget, warning_before=terms.warning(budget),
                      hours=terms.hours),
    )  # fmt: skip
    return conversation.with_clock(moved), [Started(moved, "policy_changed")]
