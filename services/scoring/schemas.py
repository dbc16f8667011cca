"""Scoring's API models."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from services.scoring.domain import stored_components
from services.scoring.models import FanProfile
from shared.contracts import FanKey, ManualTag, OperatorName

Tier = Literal["silent", "occasional", "frequent", "leader"]
Role = Literal["consumer", "kol", "employee"]
Lifecycle = Literal["new", "active", "at_risk", "lapsed"]
SCORE_NAMES = ("engagement", "influence", "wallet", "social", "priority")

PROFILE_EXAMPLE: JsonDict = {
    "fan_key": "weibo:brand:fan-1",
    "platform": "weibo",
    "account": "brand",
    "interaction_count": 12,
    "first_seen_at": "2026-03-01T16:00:00Z",
    "last_seen_at": "2026-03-02T03:00:00Z",
    "scored_at": "2026-03-02T03:00:05Z",
    "tier": "frequent",
    "role": "kol",
    "lifecycle": "new",
    "tags": ["milk-tea", "night_owl"],
    "person_key": "standard:shop:c-1001",
    "scores": {
        "engagement": {"total": "35.52", "components": {"message": "35.52", "share": "0"}},
        "priority": {"total": "41", "components": {"wallet": "24", "engagement": "17"}},
    },
}


class Score(BaseModel):
    """A score and the components it is the sum of."""

    total: Decimal
    components: dict[str, Decimal] = Field(description="add up to the total exactly")


class FanProfileOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PROFILE_EXAMPLE]})

    fan_key: str
    platform: str
    account: str
    interaction_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    scored_at: datetime | None = Field(description="when the scores were read from the state")
    tier: Tier
    role: Role
    lifecycle: Lifecycle | None = Field(description="None: the fan never did anything themselves")
    tags: list[str]
    person_key: str | None = Field(
        default=None,
        description="the person this identity is linked to (the least fan key of its "
        "identities): the scores are the person's, across its identities; None: on its own",
    )
    scores: dict[str, Score] = Field(
        description="engagement and influence in points (hundredths), wallet, social and "
        "priority out of 100"
    )

    @classmethod
    def of(cls, profile: FanProfile) -> "FanProfileOut":
        totals: dict[str, Decimal] = {
            "engagement": profile.engagement, "influence": profile.influence,
            "wallet": Decimal(profile.wallet), "social": Decimal(profile.social),
            "priority": Decimal(profile.priority),
        }  # fmt: skip
        scores = {
            name: Score(total=total, components=stored_components(profile.components.get(name, {})))
            for name, total in totals.items()
        }
        return cls.model_validate(
            {**{c: getattr(profile, c) for c in FanProfileOut.plain_fields()}, "scores": scores}
        )

    @classmethod
    def plain_fields(cls) -> tuple[str, ...]:
        return tuple(name for name in cls.model_fields if name != "scores")


class IdentityOut(BaseModel):
    """One of a person's identities, with its own channel data."""

    fan_key: str
    platform: str
    account: str
    interaction_count: int = Field(description="this identity's own")
    first_seen_at: datetime
    last_seen_at: datetime
    linked_by: list[str] = Field(
        description="the identifiers it carries (customer_id, phone_sha256, unionid); an "
        "identity linked by an operator's merge only may carry none"
    )


class FanDetailOut(FanProfileOut):
    identities: list[IdentityOut] = Field(
        default=[], description="every identity of the person, this one included; empty: on its own"
    )


Sort = Literal["priority", "wallet", "social", "engagement", "influence"]


class FanPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [PROFILE_EXAMPLE], "next": "WyI0MSIsIndlaWJvIl0"}]
        }
    )

    items: list[FanProfileOut]
    next: str | None = Field(description="pass as `after` for the next page; None: the last page")


class Share(BaseModel):
    count: int
    share: float = Field(description="of the account's fans, 0 to 1")


class AudienceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account": "brand",
                    "fans": 200,
                    "tiers": {"silent": {"count": 40, "share": 0.2},
                              "occasional": {"count": 150, "share": 0.75},
                              "frequent": {"count": 10, "share": 0.05}},
                    "roles": {"consumer": {"count": 198, "share": 0.99},
                              "kol": {"count": 2, "share": 0.01}},
                    "lifecycles": {"active": {"count": 200, "share": 1.0}},
                    "values": {"wallet": {"0-9": {"count": 150, "share": 0.75},
                                          "90-100": {"count": 2, "share": 0.01}}},
                }
            ]
        }
    )  # fmt: skip

    account: str
    fans: int
    tiers: dict[str, Share]
    roles: dict[str, Share]
    lifecycles: dict[str, Share] = Field(description='"none": fans who never did anything')
    values: dict[str, dict[str, Share]] = Field(
        description="how the fans' wallet, social and priority values (out of 100) divide, "
        "in bands of ten points (the last one 90-100)"
    )


class TopFansOut(BaseModel):
    """The account's most valuable fans by what they spend and by what they bring others to
    do, side by side: the two lists rarely hold the same fans."""

    account: str
    by_wallet: list[FanProfileOut]
    by_social: list[FanProfileOut]


class LabelsIn(BaseModel):
    """The fan's labels set by hand, as a whole (what is left out is cleared)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"role": "kol", "tags": ["vip"], "operator": "mei"}]},
    )

    role: Role | None = Field(
        default=None, description="wins over the computed role; null: computed"
    )
    tags: list[ManualTag] = Field(
        default=[], max_length=50, description="kept beside computed tags"
    )
    operator: OperatorName | None = Field(default=None, description="who decided, for the record")


class MergeIn(BaseModel):
    """Other identities that are this fan's person's (each must have a profile)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"fan_keys": ["wechat:gh_1234:o6_bmjrPTlm6"], "operator": "mei"}]
        },
    )

    fan_keys: list[FanKey] = Field(min_length=1, max_length=20)
    operator: OperatorName | None = Field(default=None, description="who decided, for the record")


class UnmergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"operator": "mei"}]})

    operator: OperatorName | None = Field(default=None, description="who decided, for the record")


class DecisionAccepted(BaseModel):
    """The decision is on its way to the profile (`scrm.operator.v1`); the profile shows it
    within moments, and a replay of the topics keeps it."""

    event_id: str
    fan_key: str
