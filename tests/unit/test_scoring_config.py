"""The scoring model's settings: sensible defaults, partial overrides, clear refusals."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.scoring.config import ScoringSettings
from services.scoring.domain import ProfileRow, ScoringModel, new_profile, row_columns
from services.scoring.scores.policy import ScoringPolicy
from shared.contracts import MessageReceived, OrderPaid

REQUIRED = {
    "kafka_bootstrap_servers": "kafka:9092",
    "database_url": "postgresql+asyncpg://u:p@db/x",
}


def settings(**overrides: object) -> ScoringSettings:
    return ScoringSettings.model_validate({**REQUIRED, **overrides})


def refused(match: str, **overrides: object) -> None:
    with pytest.raises(ValidationError, match=match):
        settings(**overrides)


class TestDefaults:
    def test_the_defaults_are_the_documented_model(self) -> None:
        policy = settings().scoring_policy()
        assert policy == ScoringPolicy()
        assert policy.engagement.half_life_days == 14
        assert policy.engagement.weights["share"] == 5
        assert policy.engagement.daily_caps["reaction"] == 30
        assert policy.tiers.cut_fractions == (0.20, 0.95, 0.9995)
        assert policy.influence.kol_threshold == 4
        assert (policy.priority.wallet, policy.priority.social) == (40, 30)
        assert policy.tag_rules == {}


class TestFromTheEnvironment:
    @pytest.fixture(autouse=True)
    def _service(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SCRM_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
        monkeypatch.setenv("SCRM_DATABASE_URL", "postgresql+asyncpg://u:p@db/scrm")

    def test_a_rule_group_is_json_and_a_partial_table_keeps_the_other_defaults(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SCORING_ENGAGEMENT", '{"half_life_days": 7, "weights": {"message": 4}}')
        engagement = ScoringSettings().engagement
        assert engagement.half_life_days == 7
        assert engagement.weights["message"] == 4
        assert engagement.weights["comment"] == 2, "the default stays"

    def test_one_field_can_be_set_alone_with_double_underscores(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SCORING_LIFECYCLE__LAPSED_DAYS", "120")
        assert ScoringSettings().lifecycle.lapsed_days == 120

    def test_tag_rules_are_json_and_keep_cjk_text(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "SCORING_TAG_RULES", '{"milk-tea": {"keywords": ["奶茶", "Bubble Tea"]}}'
        )
        assert ScoringSettings().tag_rules["milk-tea"].keywords == ("奶茶", "bubble tea")


class TestRefusals:
    def test_an_unknown_interaction_kind_is_refused(self) -> None:
        refused("engagement.weights.likes", engagement={"weights": {"likes": 1}})

    def test_a_negative_weight_is_refused(self) -> None:
        refused("greater than or equal to 0", engagement={"weights": {"message": -1}})
        refused("priority.social", priority={"social": -5})

    def test_all_engagement_weights_zero_is_refused(self) -> None:
        refused(
            "at least one kind",
            engagement={
                "weights": dict.fromkeys(
                    ("message", "comment", "mention", "reaction", "share", "follow"), 0
                )
            },
        )

    def test_a_half_life_under_a_day_is_refused(self) -> None:
        refused("at least 1 day", engagement={"half_life_days": 0.5})
        refused("at least 1 day", engagement={"half_life_days": -3})

    def test_a_daily_cap_below_one_is_refused(self) -> None:
        refused("engagement.daily_caps.share", engagement={"daily_caps": {"share": 0}})

    def test_tier_fractions_must_increase_within_0_and_1(self) -> None:
        refused("must increase within", tiers={"cut_fractions": [0.2, 0.95, 1.5]})
        refused("tiers.cut_fractions", tiers={"cut_fractions": [0.2, 0.95]})

    def test_an_unknown_setting_inside_a_group_is_refused(self) -> None:
        refused("influence.weights.fans", influence={"weights": {"fans": 1}})

    def test_lifecycle_thresholds_out_of_order_are_refused(self) -> None:
        refused("must be less than lapsed_days", lifecycle={"active_days": 100})

    def test_a_tag_rule_without_a_keyword_or_hashtag_is_refused(self) -> None:
        refused("at least one keyword or hashtag", tag_rules={"tea": {"keywords": []}})

    def test_an_unknown_time_zone_is_refused(self) -> None:
        refused("not an IANA time zone", default_time_zone="Mars/Olympus")


BRANDS = {"wechat:gh_sh": {"time_zone": "Asia/Shanghai"}, "instagram:1789": {"currency": "EUR"}}


class TestBrandsSetTheirOwn:
    """A brand account's time zone and currency: its fans' hours of the day and wallet."""

    def test_a_brand_in_shanghai_counts_its_fans_hours_there_and_others_keep_the_default(
        self,
    ) -> None:
        model = ScoringModel.from_settings(settings(brands=BRANDS))
        at = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 00:30 the next day in Shanghai
        hours = {
            account: _applied(model, platform, account, at).state.activity.local_hours
            for platform, account in (("wechat", "gh_sh"), ("wechat", "gh_other"))
        }
        assert hours["gh_sh"][0] == 1
        assert hours["gh_other"][16] == 1
        assert model.rules("wechat", "gh_sh").currency == "CNY"  # the default, left out

    def test_a_brand_measures_the_wallet_in_its_own_currency(self) -> None:
        model = ScoringModel.from_settings(settings(brands=BRANDS))
        paid = {"amount_cents": 12_000, "order_id": "o1"}
        for platform, account, currency in (("instagram", "1789", "EUR"), ("wechat", "a", "CNY")):
            row = _applied(model, platform, account, datetime.now(UTC), paid | {"currency": "EUR"})
            expected = 12_000 if currency == "EUR" else 0
            assert row_columns(row, model)["monetary_cents"] == expected, (platform, currency)
        assert model.unranked("instagram", "1789").wallet.currency == "EUR"

    def test_a_wrong_brand_setting_is_refused_with_its_name(self) -> None:
        refused("not an IANA time zone", brands={"wechat:gh": {"time_zone": "Mars/Olympus"}})
        refused("currency", brands={"wechat:gh": {"currency": "euro"}})
        refused("brands", brands={"no-account": {}})
        refused("time_zon", brands={"wechat:gh": {"time_zon": "UTC"}})


def _applied(
    model: ScoringModel,
    platform: str,
    account: str,
    at: datetime,
    order: dict[str, object] | None = None,
) -> ProfileRow:
    fields = {"platform": platform, "account": account, "user_id": "u", "occurred_at": at}
    event = (
        OrderPaid.model_validate(fields | order)
        if order
        else MessageReceived.model_validate(fields | {"message_id": "m"})
    )
    return new_profile(event, now=at).applied(event, model)
