"""SLA policies: which reply-time targets a fan message gets, chosen by conditions on it.

A brand keeps an ordered list of policies; the first whose conditions all hold wins, and the
last one holds for every message, so each message gets exactly one policy.
"""

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.responder.sla.calendar import ALWAYS_OPEN, BusinessHours
from shared.contracts import MessageType, Platform

Tier = Literal["silent", "occasional", "frequent", "leader"]  # as scoring places fans
Role = Literal["consumer", "kol", "employee"]
T = TypeVar("T")

Priority = Annotated[int, Field(ge=0, le=100)]
LanguagePrefix = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
    ),
]
Keyword = Annotated[str, StringConstraints(min_length=1)]
# Long targets make every deadline a long walk through the calendar; 90 days is beyond any SLA.
TargetSeconds = Annotated[int, Field(gt=0, le=90 * 86_400)]
DEFAULT_WARNING_SHARE = 0.2  # of the target, when a policy does not say how early to warn


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchContext:
    """What is known of a message when its policy is chosen; None where it is unknown."""

    platform: Platform | None = None
    account: str | None = None
    tier: Tier | None = None
    role: Role | None = None
    priority: int | None = None
    message_type: MessageType | None = None
    language: str | None = None
    text: str | None = None


class Conditions(BaseModel):
    """What a message must be for a policy to apply: every condition set must hold (a list
    holds when any of its values does); a condition left None holds for any message. A
    condition on a value the message does not carry (None in `MatchContext`) does not hold.

    `languages` are BCP-47 prefixes ("zh" holds for "zh-CN", not for "zhx"); `keywords` hold
    when one appears anywhere in the text, whatever the case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platforms: list[Platform] | None = Field(default=None, min_length=1)
    accounts: list[str] | None = Field(default=None, min_length=1)
    tiers: list[Tier] | None = Field(default=None, min_length=1)
    roles: list[Role] | None = Field(default=None, min_length=1)
    min_priority: Priority | None = None
    max_priority: Priority | None = None
    message_types: list[MessageType] | None = Field(default=None, min_length=1)
    languages: list[LanguagePrefix] | None = Field(default=None, min_length=1)
    keywords: list[Keyword] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _priority_range_not_empty(self) -> Self:
        low, high = self.min_priority, self.max_priority
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_priority {low} is above max_priority {high}: nothing matches")
        return self

    @property
    def is_catch_all(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)

    def matches(self, context: MatchContext) -> bool:
        return (
            _one_of(self.platforms, context.platform)
            and _one_of(self.accounts, context.account)
            and _one_of(self.tiers, context.tier)
            and _one_of(self.roles, context.role)
            and _one_of(self.message_types, context.message_type)
            and self._priority_matches(context.priority)
            and self._language_matches(context.language)
            and self._keywords_match(context.text)
        )

    def _priority_matches(self, priority: int | None) -> bool:
        if self.min_priority is None and self.max_priority is None:
            return True
        low = 0 if self.min_priority is None else self.min_priority
        high = 100 if self.max_priority is None else self.max_priority
        return priority is not None and low <= priority <= high

    def _language_matches(self, language: str | None) -> bool:
        if self.languages is None:
            return True
        if language is None:
            return False
        tag = language.strip().lower().replace("_", "-")
        return any(tag == prefix or tag.startswith(f"{prefix}-") for prefix in self.languages)

    def _keywords_match(self, text: str | None) -> bool:
        if self.keywords is None:
            return True
        return text is not None and any(word in text.casefold() for word in self._folded_keywords)

    @functools.cached_property
    def _folded_keywords(self) -> tuple[str, ...]:
        return tuple(word.casefold() for word in self.keywords or ())


def _one_of(allowed: Collection[T] | None, value: T | None) -> bool:
    return allowed is None or (value is not None and value in allowed)


class SlaPolicy(BaseModel):
    """Reply-time targets, in business time of `business_hours` (None: always open).

    The warning comes `warning_before_seconds` ahead of each target's deadline; it must be
    shorter than every target it applies to. Left None, each target warns 20% of itself ahead
    (a 600 s first reply warns at 480 s)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    conditions: Conditions = Conditions()
    first_reply_seconds: TargetSeconds
    next_reply_seconds: TargetSeconds
    resolution_seconds: TargetSeconds | None = None
    warning_before_seconds: Annotated[int, Field(gt=0)] | None = None
    business_hours: BusinessHours | None = None

    @model_validator(mode="after")
    def _warning_before_each_target(self) -> Self:
        warning = self.warning_before_seconds
        targets = {
            "first_reply_seconds": self.first_reply_seconds,
            "next_reply_seconds": self.next_reply_seconds,
            "resolution_seconds": self.resolution_seconds,
        }
        for name, target in targets.items():
            if warning is not None and target is not None and warning >= target:
                raise ValueError(
                    f"policy {self.id}: warning_before_seconds {warning} must be less than "
                    f"{name} {target}"
                )
        return self

    @property
    def first_reply(self) -> timedelta:
        return timedelta(seconds=self.first_reply_seconds)

    @property
    def next_reply(self) -> timedelta:
        return timedelta(seconds=self.next_reply_seconds)

    @property
    def resolution(self) -> timedelta | None:
        seconds = self.resolution_seconds
        return None if seconds is None else timedelta(seconds=seconds)

    @property
    def calendar(self) -> BusinessHours:
        return self.business_hours or ALWAYS_OPEN

    def warning_before(self, target: timedelta) -> timedelta:
        """How long before a deadline `target` after its start the warning comes."""
        if self.warning_before_seconds is not None:
            return timedelta(seconds=self.warning_before_seconds)
        return target * DEFAULT_WARNING_SHARE


class PolicySet(BaseModel):
    """A brand's policies in order: the first that matches a message is its policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policies: list[SlaPolicy] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids_and_a_catch_all_last(self) -> Self:
        seen: set[str] = set()
        for policy in self.policies:
            if policy.id in seen:
                raise ValueError(f"SLA policy id {policy.id!r} is used twice")
            seen.add(policy.id)
        last = self.policies[-1]
        if not last.conditions.is_catch_all:
            raise ValueError(
                f"the last SLA policy ({last.id!r}) must have no conditions, so that every "
                "message matches one"
            )
        return self

    def match(self, context: MatchContext) -> SlaPolicy:
        return next(policy for policy in self.policies if policy.conditions.matches(context))


DEFAULT_POLICIES = PolicySet(
    policies=[
        SlaPolicy(
            id="kols",
            name="KOLs",
            conditions=Conditions(roles=["kol"]),
            first_reply_seconds=300,
            next_reply_seconds=300,
        ),
        SlaPolicy(
            id="leaders",
            name="Leaders",
            conditions=Conditions(tiers=["leader"]),
            first_reply_seconds=300,
            next_reply_seconds=300,
        ),
        SlaPolicy(id="default", name="Default", first_reply_seconds=600, next_reply_seconds=600),
    ]
)
