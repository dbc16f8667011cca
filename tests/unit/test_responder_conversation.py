"""A conversation's SLA clocks: what fan messages, replies, snoozes and resolutions do to them."""

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.responder.clocks import terms_of
from services.responder.sla.conversation import (
    Breached,
    Cancelled,
    Clock,
    Conversation,
    Fact,
    Met,
    Paused,
    Resumed,
    Started,
    Terms,
    Warned,
    agent_reply,
    due,
    fan_message,
    reopen,
    reply_failed,
    resolve,
    retarget,
    snooze,
    wake,
)
from services.responder.sla.policy import SlaPolicy

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class AlwaysOpen:
    def add(self, start: datetime, business: timedelta) -> datetime:
        return start + business

    def between(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))


TERMS = Terms(
    policy_id="default", first_reply=timedelta(minutes=10), next_reply=timedelta(minutes=5),
    resolution=timedelta(hours=4), warning_before=timedelta(minutes=2), hours=AlwaysOpen(),
)  # fmt: skip


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def opened(minutes: float = 0) -> Conversation:
    counter = itertools.count(1)
    conversation, _ = fan_message(None, at(minutes), TERMS, lambda: f"c{next(counter)}")
    return conversation


def kinds(facts: list[Fact]) -> list[str]:
    return [f"{type(fact).__name__}:{fact.clock.target}" for fact in facts]


def reply_clock(conversation: Conversation) -> Clock:
    clock = conversation.reply_clock
    assert clock is not None
    return clock


class TestReplyClocks:
    def test_a_first_message_starts_the_first_reply_and_resolution_clocks(self) -> None:
        conversation, facts = fan_message(None, at(0), TERMS, iter(["r", "f"]).__next__)
        assert kinds(facts) == ["Started:resolution", "Started:first_reply"]
        assert reply_clock(conversation).clock.deadline == at(10)
        assert reply_clock(conversation).clock.warning_at == at(8)
        assert conversation.awaiting_since == at(0)

    def test_a_reply_in_time_meets_it_and_the_next_message_starts_next_reply(self) -> None:
        conversation, facts = agent_reply(opened(), at(4), "r1")
        met = facts[0]
        assert isinstance(met, Met)
        assert (met.in_time, met.latency, met.reply_id) == (True, timedelta(minutes=4), "r1")
        assert kinds(facts) == ["Met:first_reply", "Paused:resolution"]
        assert conversation.status == "pending"
        conversation, facts = fan_message(conversation, at(30), TERMS, lambda: "n1")
        assert kinds(facts) == ["Resumed:resolution", "Started:next_reply"]
        assert reply_clock(conversation).clock.deadline == at(35)

    def test_more_messages_do_not_restart_it_and_a_late_earlier_one_moves_its_start(
        self,
    ) -> None:
        conversation = opened(5)
        conversation, facts = fan_message(conversation, at(7), TERMS, lambda: "x")
        assert facts == []
        assert reply_clock(conversation).clock.deadline == at(15)
        conversation, facts = fan_message(conversation, at(2), TERMS, lambda: "x")
        assert reply_clock(conversation).clock.deadline == at(12)
        assert conversation.awaiting_since == at(2)

    def test_a_message_older_than_the_last_reply_was_answered_by_it(self) -> None:
        conversation, _ = agent_reply(opened(0), at(3), "r1")
        conversation, facts = fan_message(conversation, at(2), TERMS, lambda: "x")
        assert conversation.reply_clock is None
        assert "Started:next_reply" not in kinds(facts)

    def test_a_late_reply_is_a_breach_and_not_met_in_time(self) -> None:
        _, facts = agent_reply(opened(), at(11), "r1")
        assert kinds(facts)[:2] == ["Breached:first_reply", "Met:first_reply"]
        met = facts[1]
        assert isinstance(met, Met)
        assert not met.in_time

    def test_a_timer_warns_then_breaches_once_each(self) -> None:
        conversation = opened()
        clock_id = reply_clock(conversation).id
        assert due(conversation, clock_id, at(7))[1] == []
        conversation, facts = due(conversation, clock_id, at(8))
        assert [type(f) for f in facts] == [Warned]
        conversation, facts = due(conversation, clock_id, at(10))
        assert [type(f) for f in facts] == [Breached]
        conversation, facts = due(conversation, clock_id, at(20))
        assert facts == []
        _, facts = agent_reply(conversation, at(21), "late")
        assert kinds(facts)[0] == "Met:first_reply", "breached already: not again"


class TestPauses:
    def test_a_snooze_pauses_every_clock_and_its_end_moves_the_deadlines(self) -> None:
        conversation, facts = snooze(opened(), at(2), until=at(62))
        assert {type(f) for f in facts} == {Paused}
        assert reply_clock(conversation).clock.deadline is None
        assert due(conversation, reply_clock(conversation).id, at(30))[1] == []
        conversation, facts = wake(conversation, at(62))
        assert {type(f) for f in facts} == {Resumed}
        assert conversation.status == "open"
        assert reply_clock(conversation).clock.deadline == at(70)

    def test_a_fan_message_wakes_a_snoozed_conversation(self) -> None:
        conversation, _ = snooze(opened(), at(2), until=at(600))
        conversation, facts = fan_message(conversation, at(5), TERMS, lambda: "x")
        assert conversation.status == "open"
        assert reply_clock(conversation).clock.deadline == at(13)
        assert "Resumed:first_reply" in kinds(facts)

    def test_the_resolution_clock_waits_while_the_fan_does(self) -> None:
        conversation, _ = agent_reply(opened(), at(5), "r1")
        conversation, _ = fan_message(conversation, at(65), TERMS, lambda: "n")
        resolution = conversation.clock("resolution")
        assert resolution is not None
        assert resolution.clock.deadline == at(240 + 60)
        _, facts = resolve(conversation, at(70))
        assert sorted(kinds(facts)) == ["Cancelled:next_reply", "Met:resolution"]
        met = next(f for f in facts if isinstance(f, Met))
        assert met.latency == timedelta(minutes=10)

    def test_a_reopened_conversation_gets_a_new_resolution_clock(self) -> None:
        conversation, _ = resolve(opened(), at(5))
        assert conversation.clocks == ()
        conversation, facts = reopen(conversation, at(10), TERMS, lambda: "again")
        assert facts == [Started(conversation.clocks[0], "reopened")]
        conversation, facts = fan_message(conversation, at(12), TERMS, lambda: "n")
        assert kinds(facts) == ["Started:first_reply"], "nobody answered yet"


class TestFailedReplies:
    def test_a_reply_never_delivered_revives_its_clock_from_its_old_start(self) -> None:
        first = opened()
        met_clock = reply_clock(first)
        conversation, _ = agent_reply(first, at(3), "r1")
        conversation, facts = reply_failed(conversation, met_clock)
        assert facts == [Started(met_clock, "reply_failed")]
        assert reply_clock(conversation).clock.deadline == at(10)
        assert conversation.status == "open"

    def test_nothing_is_revived_once_a_newer_clock_runs(self) -> None:
        first = opened()
        met_clock = reply_clock(first)
        conversation, _ = agent_reply(first, at(3), "r1")
        conversation, _ = fan_message(conversation, at(4), TERMS, lambda: "n")
        assert reply_failed(conversation, met_clock)[1] == []


def test_cancelled_is_reported_with_its_time() -> None:
    _, facts = resolve(opened(), at(1))
    cancelled = [f for f in facts if isinstance(f, Cancelled)]
    assert [f.at for f in cancelled] == [at(1)]


class TestRetargeting:
    def test_a_new_policy_keeps_the_start_and_takes_the_new_targets(self) -> None:
        kols = Terms(
            policy_id="kols", first_reply=timedelta(minutes=5), next_reply=timedelta(minutes=5),
            resolution=None, warning_before=None, hours=AlwaysOpen(),
        )  # fmt: skip
        conversation, facts = retarget(opened(1), kols)
        first = reply_clock(conversation)
        assert (first.policy_id, first.clock.deadline) == ("kols", at(6))
        assert first.clock.warning_at == at(5)
        assert facts == [Started(first, "policy_changed")]
        assert retarget(conversation, kols)[1] == [], "the same policy: nothing moves"


class TestTheReadmesWorkedExample:
    """README, "Reply-time SLAs": the Shanghai desk, a Friday message answered on Monday."""

    def test_business_hours_a_snooze_and_lunch_give_the_deadline_and_latency(self) -> None:
        shanghai = ZoneInfo("Asia/Shanghai")
        week = {day: ["09:00-12:00", "13:30-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
        desk = terms_of(SlaPolicy.model_validate({
            "id": "shanghai-desk", "name": "Shanghai desk", "first_reply_seconds": 600,
            "next_reply_seconds": 600, "resolution_seconds": 86400, "warning_before_seconds": 120,
            "business_hours": {"time_zone": "Asia/Shanghai", "intervals": week,
                               "holidays": ["2026-10-01"]},
        }))  # fmt: skip

        def local(day: int, hour: int, minute: int) -> datetime:
            return datetime(2026, 11, day, hour, minute, tzinfo=shanghai)

        conversation, _ = fan_message(None, local(27, 17, 55), desk, iter(["r", "f"]).__next__)
        first = reply_clock(conversation).clock
        assert (first.warning_at, first.deadline) == (local(30, 9, 3), local(30, 9, 5))
        conversation, _ = snooze(conversation, local(30, 9, 1), until=local(30, 11, 58))
        conversation, _ = wake(conversation, local(30, 11, 58))
        first = reply_clock(conversation).clock
        assert (first.warning_at, first.deadline) == (local(30, 12, 0), local(30, 13, 32))
        _, facts = agent_reply(conversation, local(30, 13, 31), "r1")
        met = facts[0]
        assert isinstance(met, Met)
        assert (met.in_time, met.latency) == (True, timedelta(minutes=9))
