"""scoring's settings: the service's own, and the rules of the scoring model.

Each rule group is one setting holding JSON, or one variable per field with ``__`` between
the names: ``SCORING_ENGAGEMENT='{"half_life_days": 7}'`` or
``SCORING_ENGAGEMENT__HALF_LIFE_DAYS=7``. A table left partial keeps its other defaults; an
unknown name, a negative weight, a half-life under a day, cut fractions that do not increase
within (0, 1), and the like stop the service at start-up with the setting's name in the error.
The defaults are written down in each policy's docstring (`services/scoring/scores/`).
"""

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.scoring.scores.behaviour import BehaviourPolicy
from services.scoring.scores.engagement import EngagementPolicy
from services.scoring.scores.influence import InfluencePolicy
from services.scoring.scores.lifecycle import LifecyclePolicy
from services.scoring.scores.policy import ScoringPolicy
from services.scoring.scores.priority import PriorityPolicy
from services.scoring.scores.social import SocialPolicy
from services.scoring.scores.tags import TagRules
from services.scoring.scores.tiers import TierPolicy
from services.scoring.scores.wallet import WalletPolicy
from shared.settings import BaseServiceSettings


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not an IANA time zone: {value!r}") from None
    return value


TimeZone = Annotated[str, AfterValidator(_known_zone)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
BrandKey = Annotated[str, Field(pattern=r"^[a-z]+:[^:\s]+$", description="platform:account")]


class BrandSettings(BaseModel):
    """What one brand account sets for itself; what it leaves out comes from the defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_zone: TimeZone | None = None
    currency: Currency | None = None


class ScoringSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", env_nested_delimiter="__")
    service_name = "scoring"

    http_port: int = 8002
    # Batches of a few events each cost a transaction's round trips apiece: under load the broker
    # gathers ~100 ms or 256 KiB of events first, and a backlog is read 2,000 events at a time.
    consumer_max_batch: int = Field(default=2000, ge=1)
    consumer_fetch_min_bytes: int = Field(default=256 * 1024, ge=1, le=16 * 1024 * 1024)
    consumer_fetch_max_wait_ms: int = Field(default=100, ge=0, le=10_000)

    engagement: EngagementPolicy = Field(
        default_factory=EngagementPolicy,
        description="half-life, weights and daily caps per interaction kind, fold horizon",
    )
    influence: InfluencePolicy = Field(
        default_factory=InfluencePolicy, description="component weights, KOL threshold"
    )
    wallet: WalletPolicy = Field(
        default_factory=WalletPolicy, description="recency thresholds in days, R/F/M weights"
    )
    social: SocialPolicy = Field(
        default_factory=SocialPolicy, description="weight and full marks of each component"
    )
    priority: PriorityPolicy = Field(
        default_factory=PriorityPolicy,
        description="weights of wallet, social, engagement and influence",
    )
    tiers: TierPolicy = Field(default_factory=TierPolicy, description="tier cut fractions")
    lifecycle: LifecyclePolicy = Field(
        default_factory=LifecyclePolicy, description="new / active / lapsed thresholds in days"
    )
    behaviour: BehaviourPolicy = Field(
        default_factory=BehaviourPolicy,
        description="coupon hunter, lapsed buyer and night owl definitions",
    )
    tag_rules: TagRules = Field(
        default_factory=dict,
        description='tag name → {"keywords": [...], "hashtags": [...]}, e.g. '
        '{"milk-tea": {"keywords": ["奶茶", "bubble tea"], "hashtags": ["奶茶"]}}',
    )
    default_time_zone: TimeZone = Field(
        default="UTC",
        description="IANA zone for hours of the day (night owl) of brands that set none",
    )

    wallet_currency: Currency = Field(
        default="CNY",
        description="ISO 4217 currency the wallet value (M of RFM) is measured in, for brands "
        "that set none",
    )
    brands: dict[BrandKey, BrandSettings] = Field(
        default_factory=dict,
        description="per brand account, its own time zone and currency, e.g. "
        '{"wechat:gh_1234": {"time_zone": "Asia/Shanghai", "currency": "CNY"}, '
        '"instagram:1789": {"time_zone": "Europe/Paris", "currency": "EUR"}}',
    )
    operator_token: SecretStr | None = Field(
        default=None,
        description="bearer token of the operator API (labels set by hand, merges and "
        "unmerges); unset: it is off",
    )
    identifier_max_fans: int = Field(
        default=10, ge=2, le=1000,
        description="an identifier (customer id, phone hash, UnionID) that more fan "
        "identities carry than this links none of them: a shared family phone or a shop's "
        "placeholder id must not make one person of strangers",
    )  # fmt: skip
    rescore_batch: int = Field(
        default=1000, ge=0, le=100_000,
        description="profiles rescored at each refresh, in key order, round and round, so "
        "that what moves with time alone (engagement's decay, recency, lifecycle) stays fresh "
        "for fans who do nothing: with N fans, each is rescored every N / batch refreshes; 0: "
        "only on their events and lifecycle moves",
    )  # fmt: skip
    cut_points_refresh_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often each brand's tier and wallet cut points are recomputed, and "
        "lifecycle stages moved on with time",
    )
    cut_points_drift_share: float = Field(
        default=0.01, ge=0, le=1,
        description="a brand's cut points are recomputed before their turn once this share of "
        "its fans (and at least 50) moved tier or arrived since the last time, at most every "
        "10 s: under a burst of fresh events cut points a minute old put the fans they lift in "
        "tiers the next refresh takes back; 0: only every cut_points_refresh_seconds",
    )  # fmt: skip

    def scoring_policy(self) -> ScoringPolicy:
        return ScoringPolicy(
            engagement=self.engagement,
            influence=self.influence,
            wallet=self.wallet,
            social=self.social,
            priority=self.priority,
            tiers=self.tiers,
            lifecycle=self.lifecycle,
            behaviour=self.behaviour,
            tag_rules=self.tag_rules,
        )
