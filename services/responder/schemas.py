"""responder's API models."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.responder.sla.policy import SlaPolicy
from shared.contracts import PRINTABLE

AgentId = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]
ReplyId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    fan_key: str
    platform: str
    account: str
    thread_key: str = Field(description="the platform's thread; empty: the fan's direct line")
    status: Literal["open", "pending", "snoozed", "resolved"] = Field(
        description="open: waiting on an agent; pending: on the fan; snoozed; resolved"
    )
    opened_at: datetime
    last_inbound_at: datetime
    unanswered_count: int
    awaiting_since: datetime | None = Field(description="the earliest fan message not answered")
    last_reply_at: datetime | None
    snoozed_until: datetime | None
    resolved_at: datetime | None
    delivery_failed: bool = Field(description="a reply was reported undelivered")


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    direction: Literal["in", "out"]
    ref: str = Field(description="the event's id (in), the reply's id (out)")
    at: datetime
    message_type: str | None
    text: str | None
    agent_id: str | None
    delivery: Literal["requested", "delivered", "failed"] | None
    delivery_error: str | None


class ClockOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    target: Literal["first_reply", "next_reply", "resolution"]
    policy_id: str
    started_at: datetime
    budget_seconds: float
    paused_seconds: float = Field(description="business time paused, the pauses ended")
    paused_since: datetime | None
    deadline: datetime | None = Field(description="None while paused or ended")
    warning_at: datetime | None
    warned: bool
    breached: bool
    ended_at: datetime | None
    outcome: Literal["met", "late", "cancelled"] | None
    latency_seconds: float | None


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]
    clocks: list[ClockOut]


class ReplyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "Your parcel left today.", "agent_id": "mei"}]},
    )

    text: str = Field(min_length=1, max_length=4000)
    agent_id: AgentId | None = None
    reply_id: ReplyId | None = Field(
        default=None, description="the reply's id; the same id again sends nothing twice"
    )


class ReplyAccepted(BaseModel):
    reply_id: str
    sent: bool = Field(description="False: this reply id was sent before")


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime


class PoliciesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: list[SlaPolicy] = Field(min_length=1, max_length=200)
    updated_by: Annotated[str, Field(max_length=200, pattern=PRINTABLE)] | None = None


class PoliciesOut(BaseModel):
    version: int = Field(description="0: the defaults, never replaced")
    policies: list[SlaPolicy]


class ClockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    now: AwareDatetime


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=366 * 86_400)


class ClockOutNow(BaseModel):
    mode: Literal["system", "simulated"]
    now: datetime
