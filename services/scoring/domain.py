"""Between the scoring model and storage: a profile's row read from a fan's state, the brand's
standing read from its stored cut points, and the snapshot other services receive."""

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import to_json as json_bytes

from services.scoring.config import ScoringSettings
from services.scoring.scores.explain import Explained, apportion
from services.scoring.scores.policy import ScoringPolicy
from services.scoring.scores.profile import (
    NO_LABELS,
    BrandStanding,
    ManualLabels,
    Profile,
    evaluate,
)
from services.scoring.scores.state import FanState, apply_signal
from services.scoring.scores.tiers import TierCutPoints
from services.scoring.scores.wallet import WalletCutPoints, monetary_cents
from shared.contracts import FanEvent, ProfileUpdated
from shared.events import CloudEvent, event_id

SOURCE = "scrm/scoring"
EMPTY_STATE = FanState()  # frozen: every new profile starts from this one
SCORES = ("engagement", "influence", "wallet", "social", "priority")


Brand = tuple[str, str]  # platform, account


@dataclass(frozen=True)
class BrandRules:
    """A brand account's time zone (for hours of the day) and currency (for the wallet)."""

    time_zone: ZoneInfo
    currency: str

    @functools.cached_property
    def unranked(self) -> BrandStanding:  # immutable, and asked for every new brand's fan
        return BrandStanding(TierCutPoints(), WalletCutPoints(currency=self.currency))


@dataclass(frozen=True)
class ScoringModel:
    """The model's rules, and what each brand account sets for itself (its time zone, its
    currency), the defaults standing in for what it does not."""

    policy: ScoringPolicy
    time_zone: ZoneInfo
    currency: str
    brands: Mapping[Brand, BrandRules] = field(default_factory=dict)
    identifier_max_fans: int = 10  # an identifier more identities carry links none of them

    @classmethod
    def from_settings(cls, settings: ScoringSettings) -> "ScoringModel":
        time_zone, currency = ZoneInfo(settings.default_time_zone), settings.wallet_currency
        brands = {
            _brand(key): BrandRules(
                ZoneInfo(own.time_zone) if own.time_zone else time_zone, own.currency or currency
            )
            for key, own in settings.brands.items()
        }
        return cls(
            settings.scoring_policy(), time_zone, currency, brands, settings.identifier_max_fans
        )

    def rules(self, platform: str, account: str) -> "BrandRules":
        return self.brands.get((platform, account)) or self._defaults

    @functools.cached_property
    def _defaults(self) -> "BrandRules":
        return BrandRules(self.time_zone, self.currency)

    def unranked(self, platform: str, account: str) -> BrandStanding:
        """The standing of a brand whose cut points were never computed."""
        return self.rules(platform, account).unranked


def _brand(key: str) -> Brand:
    platform, account = key.split(":", 1)
    return platform, account


@dataclass(frozen=True)
class ProfileRow:
    """A fan profile as stored: the state, and the scores read from it at `scored_at`."""

    fan_key: str
    platform: str
    account: str
    first_seen_at: datetime
    last_seen_at: datetime
    state: FanState
    scored_at: datetime
    engagement_numerator: int = 0
    engagement: Decimal = Decimal(0)
    influence: Decimal = Decimal(0)
    wallet: int = 0
    social: int = 0
    priority: int = 0
    tier: str = "silent"
    role: str = "consumer"
    lifecycle: str | None = None
    tags: tuple[str, ...] = ()
    components: Mapping[str, Mapping[str, object]] | None = None
    manual: ManualLabels = NO_LABELS  # what an operator set by hand
    # The person the identity is linked to, and the sum of its identities' states (`state`
    # stays this identity's own): the scores are the person's, read from it.
    person_key: str | None = None
    person_state: FanState | None = None

    @property
    def seen_by_others(self) -> tuple[object, ...]:
        """What other services act on: a change here is announced."""
        return self.tier, self.role, self.priority, self.tags, self.lifecycle, self.person_key

    @property
    def scored_state(self) -> FanState:
        """What the scores are read from: the person's state, or the identity's own."""
        return self.state if self.person_state is None else self.person_state

    def changed(self, **changes: object) -> "ProfileRow":
        """`dataclasses.replace`, without its checks: they cost more than the scoring of an
        event, and the names come from this module."""
        row = object.__new__(ProfileRow)
        row.__dict__.update(self.__dict__, **changes)
        return row

    def seen_at(self, at: datetime) -> "ProfileRow":
        first, last = min(self.first_seen_at, at), max(self.last_seen_at, at)
        return self.changed(first_seen_at=first, last_seen_at=last)

    def applied(self, event: FanEvent, model: ScoringModel) -> "ProfileRow":
        time_zone = model.rules(self.platform, self.account).time_zone
        state = apply_signal(self.state, event, policy=model.policy, time_zone=time_zone)
        return self.changed(state=state).seen_at(event.occurred_at)

    def scored(self, model: ScoringModel, brand: BrandStanding, *, now: datetime) -> "ProfileRow":
        profile = evaluate(
            self.scored_state, policy=model.policy, brand=brand, manual=self.manual, now=now
        )
        return _with_scores(self, profile, now=now)


def new_profile(event: FanEvent, *, now: datetime) -> ProfileRow:
    at = event.occurred_at
    return ProfileRow(
        fan_key=event.fan_key, platform=event.platform, account=event.account,
        first_seen_at=at, last_seen_at=at, state=EMPTY_STATE, scored_at=now,
    )  # fmt: skip


def _with_scores(row: ProfileRow, profile: Profile, *, now: datetime) -> ProfileRow:
    explained: dict[str, Explained] = {
        "engagement": profile.engagement, "influence": profile.influence,
        "wallet": profile.wallet.score, "social": profile.social, "priority": profile.priority,
    }  # fmt: skip
    return row.changed(
        scored_at=now,
        engagement_numerator=profile.engagement_numerator,
        engagement=profile.engagement.total,
        influence=profile.influence.total,
        wallet=profile.wallet.score.points,
        social=profile.social.points,
        priority=profile.priority.points,
        tier=profile.tier,
        role=profile.role,
        lifecycle=profile.lifecycle,
        tags=profile.tags.all,
        components={name: _components(score) for name, score in explained.items()},
    )


def _components(score: Explained) -> dict[str, object]:
    """What explains the score, as stored: its parts unrounded (floats keep their exact value
    through JSON), rounded into components that add up to the total when they are read."""
    return {"places": score.places, "parts": dict(score.parts)}


def stored_components(stored: Mapping[str, object]) -> dict[str, Decimal]:
    """The components of a score from what `_components` stored."""
    parts, places = stored.get("parts"), stored.get("places")
    if not isinstance(parts, dict) or not isinstance(places, int):
        return {}  # scored before its components were kept
    explained = apportion(list(parts.items()), places=places)
    return {component.name: component.value for component in explained.components}


def to_json(value: object) -> str:
    """pydantic-core's JSON: a fifth of the standard library's time for a profile's scores."""
    return json_bytes(value).decode()


def row_columns(row: ProfileRow, model: ScoringModel) -> dict[str, object]:
    """The row's values as the table's columns (its JSON ones as text)."""
    # What lifecycle sweeps and cut points read is the person's; the interactions the
    # identity's own.
    activity, purchases = row.scored_state.activity, row.scored_state.purchases
    return {
        "fan_key": row.fan_key, "platform": row.platform, "account": row.account,
        "interaction_count": row.state.activity.interactions,
        "first_seen_at": row.first_seen_at, "last_seen_at": row.last_seen_at,
        "first_active_at": activity.first_seen, "last_active_at": activity.last_active,
        "state": row.state.to_json(),
        "engagement_numerator": Decimal(row.engagement_numerator),
        "engagement": row.engagement, "influence": row.influence, "wallet": row.wallet,
        "social": row.social, "priority": row.priority, "tier": row.tier, "role": row.role,
        "lifecycle": row.lifecycle, "tags": to_json(row.tags),
        "components": to_json(row.components or {}),
        "paid_orders": purchases.paid_orders,
        "monetary_cents": monetary_cents(
            purchases, model.rules(row.platform, row.account).currency
        ),
        "scored_at": row.scored_at, "person_key": row.person_key,
        "person_state": None if row.person_state is None else row.person_state.to_json(),
    }  # fmt: skip


def snapshot(row: ProfileRow) -> ProfileUpdated:
    return stored_snapshot(
        {"fan_key": row.fan_key, "platform": row.platform, "account": row.account,
         "interaction_count": row.state.activity.interactions,
         "first_seen_at": row.first_seen_at, "last_seen_at": row.last_seen_at,
         "tier": row.tier, "role": row.role, "priority": row.priority, "tags": row.tags,
         "lifecycle": row.lifecycle, "engagement": row.engagement,
         "influence": row.influence, "wallet": row.wallet, "social": row.social,
         "person_key": row.person_key}
    )  # fmt: skip


# The profile's columns a snapshot is made of: enough to announce a stored profile whose state
# need not be read (a tier moved by new cut points).
SNAPSHOT_COLUMNS = (
    "fan_key", "platform", "account", "interaction_count", "first_seen_at", "last_seen_at",
    "tier", "role", "priority", "tags", "lifecycle", "engagement", "influence", "wallet", "social",
    "person_key",
)  # fmt: skip


def stored_snapshot(columns: Mapping[Any, Any]) -> ProfileUpdated:
    """The snapshot of a profile from its `SNAPSHOT_COLUMNS`."""
    fields = {name: columns[name] for name in SNAPSHOT_COLUMNS}
    fields["tags"] = tuple(fields["tags"])
    fields["wallet_value"], fields["social_value"] = fields.pop("wallet"), fields.pop("social")
    return ProfileUpdated.model_validate(fields)


def announcement(update: ProfileUpdated, *, cause: str) -> CloudEvent[ProfileUpdated]:
    """A profile's snapshot for the outbox; `cause` makes its id (a retry, the same id)."""
    return CloudEvent.of(
        update, id=event_id(SOURCE, "profile", cause), source=SOURCE, subject=update.fan_key
    )
