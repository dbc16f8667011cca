"""Tags: rule tags from what fans write (CJK included), behaviour tags, manual tags apart."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from services.scoring.scores.behaviour import BehaviourPolicy, behaviour_tags
from services.scoring.scores.facts import Activity, Purchases
from services.scoring.scores.tags import TagRules, Tags, hashtags, rule_tags

RULES = TypeAdapter(TagRules).validate_python(
    {
        "milk-tea": {"keywords": ["奶茶", "Bubble Tea"], "hashtags": ["#珍珠奶茶"]},
        "coffee": {"keywords": ["コーヒー"], "hashtags": ["coffee", "咖啡"]},
        "skincare": {"keywords": ["护肤"]},
    }
)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
BEHAVIOUR = BehaviourPolicy()


class TestRuleTags:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("今天的奶茶太甜了", {"milk-tea"}),
            ("I love BUBBLE TEA", {"milk-tea"}),
            ("ＢＵＢＢＬＥ ＴＥＡ please", {"milk-tea"}),  # noqa: RUF001 - full width, on purpose
            ("朝のコーヒーが好き", {"coffee"}),
            ("护肤品和奶茶", {"milk-tea", "skincare"}),
            ("nothing relevant", set()),
        ],
    )
    def test_keywords_match_anywhere_whatever_the_case_or_width(
        self, text: str, expected: set[str]
    ) -> None:
        assert rule_tags(text, RULES) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("#珍珠奶茶# 好好喝", {"milk-tea"}),
            ("morning #Coffee!", {"coffee"}),
            ("#咖啡 早上好", {"coffee"}),
            ("#coffeetime", set()),
        ],
    )
    def test_hashtags_match_whole_tags_weibo_style_or_open(
        self, text: str, expected: set[str]
    ) -> None:
        assert rule_tags(text, RULES) == expected

    def test_hashtags_are_read_in_both_styles(self) -> None:
        assert hashtags("#新品# 上市 #限定 and #Sale") == {"新品", "限定", "sale"}


class TestTagRules:
    def test_a_rule_needs_a_keyword_or_a_hashtag(self) -> None:
        with pytest.raises(ValidationError, match="at least one keyword or hashtag"):
            TypeAdapter(TagRules).validate_python({"empty": {}})

    def test_an_empty_keyword_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="matches everything"):
            TypeAdapter(TagRules).validate_python({"blank": {"keywords": ["  "]}})

    def test_a_rule_may_not_take_a_behaviour_tags_name(self) -> None:
        with pytest.raises(ValidationError, match="behaviour tags"):
            TypeAdapter(TagRules).validate_python({"night_owl": {"keywords": ["夜"]}})

    def test_unknown_fields_are_refused(self) -> None:
        with pytest.raises(ValidationError, match="extra"):
            TypeAdapter(TagRules).validate_python({"tea": {"keyword": ["tea"]}})


def interactions_at(*hours: int) -> Activity:
    activity = Activity()
    for hour in hours:
        activity = activity.interacted(hour)
    return activity


class TestBehaviourTags:
    def tags(
        self, activity: Activity | None = None, purchases: Purchases | None = None
    ) -> set[str]:
        found = behaviour_tags(activity or Activity(), purchases or Purchases(), BEHAVIOUR, now=NOW)
        return set(found)

    def test_many_coupon_claims_and_few_orders_make_a_coupon_hunter(self) -> None:
        hunter = Purchases(coupon_claims=10, paid_orders=1)
        assert self.tags(purchases=hunter) == {"coupon_hunter"}

    def test_claims_that_turn_into_orders_do_not(self) -> None:
        assert self.tags(purchases=Purchases(coupon_claims=10, paid_orders=2)) == set()
        assert self.tags(purchases=Purchases(coupon_claims=4, paid_orders=0)) == set()

    def test_a_buyer_without_orders_for_90_days_is_a_lapsed_buyer(self) -> None:
        buyer = Purchases().paid(1000, "CNY", NOW - timedelta(days=91))
        assert self.tags(purchases=buyer) == {"lapsed_buyer"}
        assert self.tags(purchases=Purchases().paid(1000, "CNY", NOW - timedelta(days=89))) == set()

    def test_a_fan_who_never_bought_is_not_a_lapsed_buyer(self) -> None:
        assert self.tags(purchases=Purchases(coupon_claims=1)) == set()

    def test_most_interactions_between_midnight_and_five_make_a_night_owl(self) -> None:
        assert self.tags(interactions_at(*[1] * 6, *[14] * 5)) == {"night_owl"}

    def test_half_at_night_is_not_most(self) -> None:
        assert self.tags(interactions_at(*[4] * 5, *[5] * 5)) == set()

    def test_a_few_interactions_are_too_few_to_tell(self) -> None:
        assert self.tags(interactions_at(2, 3, 4)) == set()

    def test_a_night_window_may_wrap_past_midnight(self) -> None:
        policy = BehaviourPolicy(night_start_hour=22, night_end_hour=3)
        owl = interactions_at(*[23] * 6, *[2] * 5)
        assert behaviour_tags(owl, Purchases(), policy, now=NOW) == {"night_owl"}

    def test_an_empty_night_window_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="must differ"):
            BehaviourPolicy(night_start_hour=0, night_end_hour=24)


class TestTags:
    def test_manual_tags_are_kept_apart_and_shown_with_the_others(self) -> None:
        tags = Tags(
            rule=frozenset({"milk-tea"}),
            behaviour=frozenset({"night_owl"}),
            manual=frozenset({"vip", "milk-tea"}),
        )
        assert tags.all == ("milk-tea", "night_owl", "vip")
        assert tags.manual == {"vip", "milk-tea"}
