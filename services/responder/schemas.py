"""responder's API models."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.responder.routing import NewAgent
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
    assignee_id: str | None = Field(default=None, description="the agent who holds it")
    priority: int = Field(default=0, description="the fan's priority from scoring, 0-100")
    queue_due: datetime | None = Field(
        default=None, description="its place in the queue: the reply deadline brought forward "
        "by the fan's priority",
    )  # fmt: skip


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


class FanOut(BaseModel):
    tier: str
    role: str
    priority: int
    tags: list[str]
    person_key: str | None


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]
    clocks: list[ClockOut]
    fan: FanOut | None = Field(default=None, description="what scoring says of the fan")


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


Slug = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
AgentSlug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
PlatformName = Annotated[str, Field(pattern=r"^([a-z]{1,32}|\*)$")]


class AgentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "id": "mei", "name": "Mei", "team_id": "shanghai", "capacity": {"wechat": 3, "*": 2},
            "languages": ["zh", "en"], "platforms": [], "vip": True,
        }]},
    )  # fmt: skip

    id: AgentSlug
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]
    role: Literal["agent", "admin"] = "agent"
    team_id: AgentSlug | None = None
    capacity: dict[PlatformName, Annotated[int, Field(ge=0, le=100)]] = Field(
        default={"*": 5},
        description="conversations held at once per platform; `*`: each platform not named",
    )
    languages: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]] = []
    platforms: list[Annotated[str, Field(pattern=r"^[a-z]{1,32}$")]] = Field(
        default=[], description="the platforms the agent works; none: all"
    )
    vip: bool = Field(default=False, description="takes VIPs' conversations")

    def new_agent(self) -> NewAgent:
        return NewAgent(
            id=self.id, name=self.name, role=self.role, team_id=self.team_id,
            capacity=self.capacity, languages=tuple(self.languages),
            platforms=tuple(self.platforms), vip=self.vip,
        )  # fmt: skip


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: str
    team_id: str | None
    capacity: dict[str, int]
    languages: list[str]
    platforms: list[str]
    vip: bool
    presence: Literal["online", "away", "offline"]
    heartbeat_at: datetime | None


class AgentCreated(BaseModel):
    id: str
    token: str = Field(description="the agent's sign-in token: shown once, kept only hashed")


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]


class TeamOut(BaseModel):
    id: str
    name: str


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presence: Literal["online", "away"] = "online"


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: AgentSlug | None = Field(description="the agent who takes it; null: back to the queue")


class OfferOut(BaseModel):
    id: uuid.UUID
    offered_at: datetime
    expires_at: datetime
    conversation: ConversationOut

    @classmethod
    def of(cls, offer: Any, conversation: Any) -> "OfferOut":
        return cls(
            id=offer.id, offered_at=offer.offered_at, expires_at=offer.expires_at,
            conversation=ConversationOut.model_validate(conversation),
        )  # fmt: skip
