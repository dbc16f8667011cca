"""A person's state: the sum of its identities' states, whatever their order."""

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.scores.persons import combined
from services.scoring.scores.profile import NO_LABELS, BrandStanding, evaluate
from services.scoring.scores.state import FanState, Signal
from services.scoring.scores.tiers import TierCutPoints
from services.scoring.scores.wallet import WalletCutPoints
from tests.unit.test_scoring_state import POLICY, START, applied, signals

UNRANKED = BrandStanding(TierCutPoints(), WalletCutPoints(currency="CNY"))
ENGAGEMENT = POLICY.engagement
logs = st.lists(st.lists(signals(), max_size=12), min_size=1, max_size=4)


def scored(state: FanState) -> tuple[object, ...]:
    """What the scores read from the state."""
    profile = evaluate(state, policy=POLICY, brand=UNRANKED, manual=NO_LABELS, now=START)
    return (
        profile.engagement.total, profile.influence.total, profile.wallet.score.points,
        profile.social.points, profile.priority.points, profile.tier, profile.role,
        profile.lifecycle, profile.tags.all,
    )  # fmt: skip


class TestCombined:
    @settings(max_examples=100, deadline=None)
    @given(logs, st.data())
    def test_the_persons_state_does_not_depend_on_the_order_of_its_identities(
        self, identities: list[list[Signal]], data: st.DataObject
    ) -> None:
        states = [applied(*log) for log in identities]
        shuffled = data.draw(st.permutations(states))
        assert combined(shuffled, ENGAGEMENT) == combined(states, ENGAGEMENT)

    @settings(max_examples=100, deadline=None)
    @given(logs)
    def test_counts_and_money_add_and_one_identity_is_its_own_person(
        self, identities: list[list[Signal]]
    ) -> None:
        states = [applied(*log) for log in identities]
        person = combined(states, ENGAGEMENT)
        assert scored(combined([states[0]], ENGAGEMENT)) == scored(states[0])
        assert person.activity.interactions == sum(s.activity.interactions for s in states)
        assert person.purchases.paid_orders == sum(s.purchases.paid_orders for s in states)
        assert person.purchases.net_cents.get("CNY", 0) == sum(
            s.purchases.net_cents.get("CNY", 0) for s in states
        )
        assert person.rule_tags == frozenset().union(*(s.rule_tags for s in states))
        assert person.referrals.first_orders == sum(s.referrals.first_orders for s in states)

    @settings(max_examples=60, deadline=None)
    @given(logs)
    def test_a_person_engages_and_brings_others_no_less_than_each_of_its_identities(
        self, identities: list[list[Signal]]
    ) -> None:
        states = [applied(*log) for log in identities]
        engagement, _, _, social, *_ = scored(combined(states, ENGAGEMENT))
        for state in states:
            alone = scored(state)
            assert engagement >= alone[0]  # type: ignore[operator]
            assert social >= alone[3]  # type: ignore[operator]
