"""The check ``make bench-routing`` fails on: no conversation held by two agents, from the
claims' answers and from who holds each conversation in responder's database."""

from bench.routing_claims import Claim
from bench.routing_report import Holds


def answer(agent: str, conversation: str | None) -> Claim:
    return Claim(agent, 204 if conversation is None else 200, conversation, latency_ms=3.0)


class TestHolds:
    def test_conversations_each_answered_once_and_held_by_their_agent_pass(self) -> None:
        claims = [answer("ann", "c1"), answer("bo", "c2"), answer("ann", "c3"), answer("bo", None)]
        holds = Holds.of(claims, {"c1": "ann", "c2": "bo", "c3": "ann"})
        assert holds == Holds(answered=3, given_twice=0, held_by_another=0, held_unanswered=0,
                              double_assignments=0)  # fmt: skip

    def test_a_conversation_two_answers_named_is_one_double_assignment(self) -> None:
        holds = Holds.of([answer("ann", "c1"), answer("bo", "c1")], {"c1": "bo"})
        assert (holds.given_twice, holds.held_by_another, holds.double_assignments) == (1, 1, 1)

    def test_a_conversation_held_by_another_agent_than_its_answer_named_is_one(self) -> None:
        holds = Holds.of([answer("ann", "c1"), answer("bo", "c2")], {"c1": "bo", "c2": "bo"})
        assert (holds.held_by_another, holds.double_assignments) == (1, 1)

    def test_a_conversation_held_with_no_answer_is_counted_apart(self) -> None:
        holds = Holds.of([answer("ann", "c1")], {"c1": "ann", "c9": "bo"})
        assert (holds.held_unanswered, holds.double_assignments) == (1, 0)
