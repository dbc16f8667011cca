"""Every rule of the model in one value, built once from the settings and passed in."""

from pydantic import Field

from services.scoring.scores.behaviour import BehaviourPolicy
from services.scoring.scores.engagement import EngagementPolicy
from services.scoring.scores.explain import FrozenModel
from services.scoring.scores.influence import InfluencePolicy
from services.scoring.scores.lifecycle import LifecyclePolicy
from services.scoring.scores.priority import PriorityPolicy
from services.scoring.scores.social import SocialPolicy
from services.scoring.scores.tags import TagRules
from services.scoring.scores.tiers import TierPolicy
from services.scoring.scores.wallet import WalletPolicy


class ScoringPolicy(FrozenModel):
    engagement: EngagementPolicy = EngagementPolicy()
    influence: InfluencePolicy = InfluencePolicy()
    wallet: WalletPolicy = WalletPolicy()
    social: SocialPolicy = SocialPolicy()
    priority: PriorityPolicy = PriorityPolicy()
    tiers: TierPolicy = TierPolicy()
    lifecycle: LifecyclePolicy = LifecyclePolicy()
    behaviour: BehaviourPolicy = BehaviourPolicy()
    tag_rules: TagRules = Field(default_factory=dict)
