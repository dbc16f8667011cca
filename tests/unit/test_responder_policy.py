"""SLA policies: conditions on a message, the first matching policy, and the defaults."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.responder.sla.calendar import ALWAYS_OPEN, BusinessHours
from services.responder.sla.policy import (
    DEFAULT_POLICIES,
    Conditions,
    MatchContext,
    PolicySet,
    SlaPolicy,
)

EVERYTHING = MatchContext(
    platform="wechat",
    account="brand-cn",
    tier="frequent",
    role="consumer",
    priority=50,
    message_type="text",
    language="zh-CN",
    text="我的订单 Refund please",
)
NOTHING_KNOWN = MatchContext()


def policy(policy_id: str, conditions: Conditions | None = None, **targets: Any) -> SlaPolicy:
    return SlaPolicy.model_validate(
        {
            "id": policy_id,
            "name": policy_id.title(),
            "conditions": conditions or Conditions(),
            "first_reply_seconds": 600,
            "next_reply_seconds": 900,
            **targets,
        }
    )


def matches(conditions: Conditions, **known: Any) -> bool:
    return conditions.matches(MatchContext(**known))


class TestConditions:
    def test_no_condition_matches_any_message_even_one_nothing_is_known_of(self) -> None:
        assert Conditions().is_catch_all
        assert Conditions().matches(EVERYTHING)
        assert Conditions().matches(NOTHING_KNOWN)

    @pytest.mark.parametrize(
        ("conditions", "field", "matching", "other"),
        [
            (Conditions(platforms=["wechat", "weibo"]), "platform", "weibo", "line"),
            (Conditions(accounts=["brand-cn"]), "account", "brand-cn", "brand-jp"),
            (Conditions(tiers=["leader", "frequent"]), "tier", "frequent", "silent"),
            (Conditions(roles=["kol"]), "role", "kol", "employee"),
            (Conditions(message_types=["voice"]), "message_type", "voice", "text"),
        ],
    )
    def test_a_list_matches_any_of_its_values_and_nothing_else(
        self, conditions: Conditions, field: str, matching: str, other: str
    ) -> None:
        assert matches(conditions, **{field: matching})
        assert not matches(conditions, **{field: other})
        assert not matches(conditions, **{field: None})  # unknown: no match

    def test_priority_bounds_are_inclusive(self) -> None:
        band = Conditions(min_priority=60, max_priority=80)
        assert [matches(band, priority=p) for p in (59, 60, 80, 81)] == [False, True, True, False]
        assert matches(Conditions(min_priority=60), priority=100)
        assert matches(Conditions(max_priority=10), priority=0)
        assert not matches(Conditions(max_priority=10), priority=None)

    def test_a_language_prefix_matches_its_subtags_not_other_languages(self) -> None:
        chinese = Conditions(languages=["zh"])
        assert matches(chinese, language="zh")
        assert matches(chinese, language="zh-CN")
        assert matches(chinese, language="ZH_tw")
        assert not matches(chinese, language="zhx")
        assert not matches(chinese, language="en-US")
        assert not matches(chinese, language=None)

    def test_languages_are_kept_lower_cased(self) -> None:
        assert Conditions(languages=[" zh-Hant "]).languages == ["zh-hant"]
        assert matches(Conditions(languages=["zh-Hant"]), language="zh-hant-TW")
        assert not matches(Conditions(languages=["zh-Hant"]), language="zh-CN")

    def test_a_keyword_matches_anywhere_in_the_text_whatever_the_case(self) -> None:
        complaint = Conditions(keywords=["refund", "投诉"])
        assert matches(complaint, text="Where is my REFUND?")
        assert matches(complaint, text="我要投诉")
        assert matches(complaint, text="refunds")  # a substring, not a word
        assert not matches(complaint, text="thanks!")
        assert not matches(complaint, text=None)

    def test_all_conditions_must_hold(self) -> None:
        conditions = Conditions(platforms=["wechat"], roles=["consumer"], keywords=["refund"])
        assert conditions.matches(EVERYTHING)
        assert not matches(conditions, platform="wechat", role="consumer", text="hello")
        assert not matches(conditions, platform="weibo", role="consumer", text="refund")

    def test_an_empty_list_is_refused_rather_than_matching_nothing(self) -> None:
        with pytest.raises(ValidationError, match="roles"):
            Conditions(roles=[])

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"min_priority": 80, "max_priority": 20}, "min_priority 80 is above max_priority 20"),
            ({"min_priority": 101}, "less than or equal to 100"),
            ({"max_priority": -1}, "greater than or equal to 0"),
            ({"platforms": ["myspace"]}, "platforms.0"),
            ({"tiers": ["gold"]}, "tiers.0"),
            ({"languages": ["chinese!"]}, "languages.0"),
            ({"keywords": [""]}, "keywords.0"),
            ({"channel": "wechat"}, "channel"),
        ],
    )
    def test_bad_conditions_are_refused_clearly(self, fields: dict[str, Any], message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            Conditions.model_validate(fields)


class TestSlaPolicy:
    def test_targets_read_as_timedeltas(self) -> None:
        urgent = policy("urgent", resolution_seconds=7200)
        assert urgent.first_reply == timedelta(minutes=10)
        assert urgent.next_reply == timedelta(minutes=15)
        assert urgent.resolution == timedelta(hours=2)
        assert policy("plain").resolution is None

    def test_without_business_hours_the_calendar_is_always_open(self) -> None:
        assert policy("plain").calendar is ALWAYS_OPEN
        office = BusinessHours(time_zone="Asia/Shanghai", intervals={"mon": ["09:00-18:00"]})
        assert policy("office", business_hours=office).calendar is office

    def test_the_warning_defaults_to_a_fifth_of_each_target(self) -> None:
        plain = policy("plain")
        assert plain.warning_before(plain.first_reply) == timedelta(minutes=2)
        assert plain.warning_before(plain.next_reply) == timedelta(minutes=3)

    def test_a_set_warning_applies_to_every_target(self) -> None:
        early = policy("early", warning_before_seconds=120, resolution_seconds=3600)
        assert early.warning_before(early.first_reply) == timedelta(minutes=2)
        assert early.warning_before(timedelta(hours=1)) == timedelta(minutes=2)

    @pytest.mark.parametrize(
        ("targets", "message"),
        [
            ({"warning_before_seconds": 600}, "600 must be less than first_reply_seconds 600"),
            (
                {"warning_before_seconds": 300, "resolution_seconds": 300},
                "300 must be less than resolution_seconds 300",
            ),
            ({"first_reply_seconds": 0}, "first_reply_seconds"),
            ({"next_reply_seconds": -5}, "next_reply_seconds"),
            ({"resolution_seconds": 91 * 86_400}, "resolution_seconds"),
            ({"warning_before_seconds": 0}, "warning_before_seconds"),
        ],
    )
    def test_bad_targets_are_refused_clearly(self, targets: dict[str, Any], message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            policy("bad", **targets)

    @pytest.mark.parametrize("policy_id", ["", "VIP", "-vip", "vip policy", "v" * 65, "vip."])
    def test_an_id_must_be_a_slug(self, policy_id: str) -> None:
        with pytest.raises(ValidationError, match="id"):
            policy(policy_id)

    @pytest.mark.parametrize("policy_id", ["vip", "0", "kol_cn-2", "v" * 64])
    def test_slugs_are_accepted(self, policy_id: str) -> None:
        assert policy(policy_id).id == policy_id

    def test_a_name_is_required(self) -> None:
        with pytest.raises(ValidationError, match="name"):
            SlaPolicy(id="x", name=" ", first_reply_seconds=60, next_reply_seconds=60)

    def test_a_policy_reads_back_from_its_json(self) -> None:
        office = BusinessHours(
            time_zone="Asia/Shanghai", intervals={"mon": ["13:30-18:00", "09:00-12:00"]}
        )
        original = policy("office", Conditions(keywords=["退款"]), business_hours=office)
        assert SlaPolicy.model_validate_json(original.model_dump_json()) == original


class TestPolicySet:
    def test_the_first_matching_policy_wins(self) -> None:
        kols = policy("kols", Conditions(roles=["kol"]))
        wechat = policy("wechat", Conditions(platforms=["wechat"]))
        policies = PolicySet(policies=[kols, wechat, policy("default")])
        assert policies.match(MatchContext(role="kol", platform="wechat")) is kols
        assert policies.match(MatchContext(role="consumer", platform="wechat")) is wechat
        assert policies.match(MatchContext(platform="weibo")).id == "default"

    def test_a_message_nothing_is_known_of_gets_the_catch_all(self) -> None:
        policies = PolicySet(policies=[policy("vip", Conditions(tiers=["leader"])), policy("all")])
        assert policies.match(NOTHING_KNOWN).id == "all"

    def test_the_last_policy_must_match_every_message(self) -> None:
        with pytest.raises(ValidationError, match="last SLA policy \\('kols'\\) must have no"):
            PolicySet(policies=[policy("default"), policy("kols", Conditions(roles=["kol"]))])

    def test_ids_must_be_unique(self) -> None:
        with pytest.raises(ValidationError, match="SLA policy id 'vip' is used twice"):
            PolicySet(
                policies=[
                    policy("vip", Conditions(tiers=["leader"])),
                    policy("vip", Conditions(roles=["kol"])),
                    policy("default"),
                ]
            )

    def test_a_set_needs_a_policy(self) -> None:
        with pytest.raises(ValidationError, match="at least 1 item"):
            PolicySet(policies=[])


class TestDefaultPolicies:
    def test_kols_and_leaders_get_five_minutes_everyone_else_ten(self) -> None:
        def first_reply(**known: Any) -> timedelta:
            return DEFAULT_POLICIES.match(MatchContext(**known)).first_reply

        assert first_reply(role="kol") == timedelta(minutes=5)
        assert first_reply(tier="leader") == timedelta(minutes=5)
        assert first_reply(role="consumer", tier="frequent") == timedelta(minutes=10)
        assert first_reply() == timedelta(minutes=10)

    def test_a_kol_who_also_leads_is_matched_as_a_kol(self) -> None:
        assert DEFAULT_POLICIES.match(MatchContext(role="kol", tier="leader")).id == "kols"

    def test_the_defaults_are_always_open_with_equal_reply_targets_and_no_resolution(
        self,
    ) -> None:
        assert [p.id for p in DEFAULT_POLICIES.policies] == ["kols", "leaders", "default"]
        for default in DEFAULT_POLICIES.policies:
            assert default.business_hours is None
            assert default.resolution is None
            assert default.first_reply == default.next_reply
