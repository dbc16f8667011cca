"""The v1 contracts of responder's SLA clocks, on `scrm.sla.v1` (re-exported by
`shared.contracts`, where every contract is found)."""

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared import topics
from shared.contract_types import Platform
from shared.events import EventData, register

SlaTarget = Literal["first_reply", "next_reply", "resolution"]


class SlaEvent(EventData):
    """A reply-time clock of a conversation moved (responder). Times are event times: the
    fan's message's on the platform, the agent's action's on responder's clock."""

    topic: ClassVar[str] = topics.SLA

    conversation_id: str
    fan_key: str
    policy_id: str
    target: SlaTarget
    deadline: AwareDatetime = Field(description="when the target is due (as it stood then)")
    # Added compatibly: absent in the events written before clocks ran.
    clock_id: str | None = Field(default=None, description="the clock: one per target started")
    platform: Platform | None = None
    account: str | None = Field(default=None, description="the brand account on the platform")


@register
class SlaStarted(SlaEvent):
    event_type = "scrm.sla.started.v1"

    started_at: AwareDatetime
    reason: Literal["message", "reopened", "reply_failed", "policy_changed"] = Field(
        default="message",
        description="policy_changed: the fan's standing changed (scoring) and another policy "
        "now matches; the clock keeps its start, its deadline moves",
    )


@register
class SlaWarning(SlaEvent):
    event_type = "scrm.sla.warning.v1"


@register
class SlaBreached(SlaEvent):
    event_type = "scrm.sla.breached.v1"


@register
class SlaMet(SlaEvent):
    event_type = "scrm.sla.met.v1"

    met_at: AwareDatetime
    latency_seconds: float | None = Field(
        default=None, ge=0, description="business time from the start to the answer, paused time "
        "left out",
    )  # fmt: skip


@register
class SlaPaused(SlaEvent):
    event_type = "scrm.sla.paused.v1"

    paused_at: AwareDatetime
    reason: Literal["snoozed", "waiting_on_fan", "resolved"]


@register
class SlaResumed(SlaEvent):
    event_type = "scrm.sla.resumed.v1"

    resumed_at: AwareDatetime
    paused_seconds: float = Field(ge=0, description="business time paused so far, in all")
