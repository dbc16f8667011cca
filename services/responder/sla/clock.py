"""One SLA target's clock: business time counted from a start, paused and resumed, due when a
budget of it has run.

A clock started at S with budget B, paused for P of business time so far, is due at the
instant when B + P of business time has passed since S (`Hours.add`); while paused it has no
deadline. Its warning is due `warning_before` of business time earlier. Everything is computed
from the event times it is given, never from the time it is computed at: the same events give
the same deadlines, in real time or on a simulated clock."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from shared.contracts import SlaTarget

ZERO = timedelta(0)


class Hours(Protocol):
    """When the clock runs (`calendar.BusinessHours`)."""

    def add(self, start: datetime, business: timedelta) -> datetime: ...

    def between(self, start: datetime, end: datetime) -> timedelta: ...


@dataclass(frozen=True)
class TargetClock:
    target: SlaTarget
    started_at: datetime
    budget: timedelta
    warning_before: timedelta
    hours: Hours
    paused: timedelta = ZERO  # business time spent paused, pauses ended
    paused_since: datetime | None = None

    @property
    def running(self) -> bool:
        return self.paused_since is None

    @property
    def deadline(self) -> datetime | None:
        """When the target is due; None while paused."""
        if self.paused_since is not None:
            return None
        return self.hours.add(self.started_at, self.budget + self.paused)

    @property
    def warning_at(self) -> datetime | None:
        """When the warning is due (never before the start); None while paused."""
        if self.paused_since is not None:
            return None
        ahead = max(self.budget - self.warning_before, ZERO)
        return self.hours.add(self.started_at, ahead + self.paused)

    def deadline_then(self) -> datetime:
        """The deadline as it stood when the clock was last running (for a paused clock's
        events)."""
        return self.hours.add(self.started_at, self.budget + self.paused)

    def pause(self, at: datetime) -> "TargetClock":
        """Paused at `at` (not before its start); a paused clock stays as it is."""
        if self.paused_since is not None:
            return self
        return replace(self, paused_since=max(at, self.started_at))

    def resume(self, at: datetime) -> "TargetClock":
        """Running again from `at`, the business time it was paused added to its pauses."""
        if self.paused_since is None:
            return self
        pause = self.hours.between(self.paused_since, max(at, self.paused_since))
        return replace(self, paused=self.paused + pause, paused_since=None)

    def elapsed(self, at: datetime) -> timedelta:
        """Business time the clock ran from its start to `at`, pauses left out."""
        end = at if self.paused_since is None else min(at, self.paused_since)
        return max(self.hours.between(self.started_at, end) - self.paused, ZERO)

    def paused_by(self, at: datetime) -> timedelta:
        """Business time paused by `at`, the pause still going included."""
        if self.paused_since is None or at <= self.paused_since:
            return self.paused
        return self.paused + self.hours.between(self.paused_since, at)
