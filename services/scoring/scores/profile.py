"""A fan's profile read from their state at a given time, against their brand's standing."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from services.scoring.scores.behaviour import behaviour_tags
from services.scoring.scores.engagement import capped_units, numerator_of, score_of
from services.scoring.scores.explain import Explained
from services.scoring.scores.influence import Role, influence_score, role
from services.scoring.scores.lifecycle import Lifecycle, lifecycle_stage
from services.scoring.scores.policy import ScoringPolicy
from services.scoring.scores.priority import priority_score
from services.scoring.scores.social import social_score
from services.scoring.scores.state import FanState
from services.scoring.scores.tags import Tags
from services.scoring.scores.tiers import Tier, TierCutPoints, tier
from services.scoring.scores.wallet import WalletCutPoints, WalletScore, wallet_score


@dataclass(frozen=True)
class BrandStanding:
    """The brand's cut points, recomputed by the caller from all its fans now and then."""

    tiers: TierCutPoints
    wallet: WalletCutPoints


@dataclass(frozen=True)
class ManualLabels:
    """What an operator set by hand: it wins over what is computed (role), or sits beside it
    (tags)."""

    role: Role | None = None
    tags: frozenset[str] = field(default_factory=frozenset)


NO_LABELS = ManualLabels()


class Profile(NamedTuple):  # a tuple: one is made for every profile scored
    engagement: Explained  # points at `now`, hundredths
    engagement_numerator: int  # what tier cut points are computed from
    influence: Explained  # points, hundredths
    wallet: WalletScore  # 0-100
    social: Explained  # 0-100
    priority: Explained  # 0-100
    tier: Tier
    role: Role
    tags: Tags
    lifecycle: Lifecycle | None  # None: the fan never did anything themselves


def evaluate(
    state: FanState,
    *,
    policy: ScoringPolicy,
    brand: BrandStanding,
    manual: ManualLabels,
    now: datetime,
) -> Profile:
    units = capped_units(state.engagement, policy.engagement)
    numerator = numerator_of(units, policy.engagement)
    engagement = score_of(units, policy.engagement, at=now)
    influence = influence_score(
        state.audience, state.amplification, state.referrals, policy.influence
    )
    wallet = wallet_score(state.purchases, brand.wallet, policy.wallet, now=now)
    social = social_score(state.referrals, state.amplification, policy.social)
    priority = priority_score(
        wallet=wallet.score,
        social=social,
        engagement=engagement,
        influence=influence,
        policy=policy.priority,
    )
    return Profile(
        engagement=engagement,
        engagement_numerator=numerator,
        influence=influence,
        wallet=wallet,
        social=social,
        priority=priority,
        tier=tier(numerator, brand.tiers),
        role=role(influence, policy.influence, manual=manual.role),
        tags=_tags(state, policy, manual, now=now),
        lifecycle=_lifecycle(state, policy, now=now),
    )


def _tags(state: FanState, policy: ScoringPolicy, manual: ManualLabels, *, now: datetime) -> Tags:
    behaviour = behaviour_tags(state.activity, state.purchases, policy.behaviour, now=now)
    return Tags(rule=state.rule_tags, behaviour=behaviour, manual=manual.tags)


def _lifecycle(state: FanState, policy: ScoringPolicy, *, now: datetime) -> Lifecycle | None:
    first, last = state.activity.first_seen, state.activity.last_active
    if first is None or last is None:
        return None
    return lifecycle_stage(first_seen=first, last_active=last, now=now, policy=policy.lifecycle)
