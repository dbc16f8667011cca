"""LINE events read but not produced: the console's verification dummies, and a group or room
message whose sender LINE does not name (counted by reason, never attributed to the group)."""

from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.ingest.platforms.line import VERIFY_USER
from tests.unit.test_platform_line import USER, event, normalise

GROUP = {"type": "group", "groupId": "Ca56f94637c000000000000000000000"}
TEXT = {"id": "444573844083572737", "type": "text", "text": "Hello, world"}


def dropped(reason: str) -> float:
    labels = {"platform": "line", "reason": reason}
    return REGISTRY.get_sample_value("scrm_ingest_dropped_events_total", labels) or 0.0


class TestVerificationDummies:
    @pytest.mark.parametrize(
        "dummy",
        [
            {"source": {"type": "user", "userId": VERIFY_USER}},
            {"replyToken": "0" * 32},
            {"replyToken": "f" * 32},
        ],
        ids=["dummy-user", "zero-reply-token", "f-reply-token"],
    )
    def test_a_dummy_event_produces_nothing(self, dummy: dict[str, Any]) -> None:
        before = dropped("verification")
        assert normalise(event("message", message=TEXT, **dummy)) == []
        assert dropped("verification") == before + 1

    def test_a_fans_own_reply_token_is_not_a_dummy(self) -> None:
        [produced] = normalise(event("message", message=TEXT, replyToken="0" * 31 + "1"))
        assert produced.data.user_id == USER


class TestNoSender:
    @pytest.mark.parametrize("source", [GROUP, {"type": "room", "roomId": "Ra8dbf4673c"}])
    def test_a_message_without_a_user_id_is_dropped_and_counted(
        self, source: dict[str, str]
    ) -> None:
        before = dropped("no_sender")
        assert normalise(event("message", message=TEXT, source=source)) == []
        assert dropped("no_sender") == before + 1

    def test_an_event_the_system_does_not_use_is_not_counted(self) -> None:
        before = dropped("no_sender")
        assert normalise(event("join", source=GROUP)) == []
        assert dropped("no_sender") == before
