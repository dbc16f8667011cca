import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts import MessageReceived, OrderPaid, topic_of
from shared.events import (
    EVENT_ID_NAMESPACE,
    CloudEvent,
    EnvelopeError,
    decode,
    encode,
    event_id,
    fan_key,
)
from shared.topics import EVENTS

OCCURRED = datetime(2026, 11, 24, 9, 30, tzinfo=timezone(timedelta(hours=8)))


def message() -> MessageReceived:
    return MessageReceived(
        platform="wechat", account="gh_brand", user_id="oUser1", occurred_at=OCCURRED,
        message_id="m1", text="你好 👋",
    )  # fmt: skip


class TestCloudEventBinaryMode:
    def test_attributes_travel_as_ce_headers_and_data_as_json_value(self) -> None:
        data = message()
        record = encode(CloudEvent.of(data, id="e1", source="s", subject=data.fan_key))
        headers = dict(record.headers)
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_type"] == b"scrm.message.received.v1"
        assert headers["ce_id"] == b"e1"
        assert headers["content-type"] == b"application/json"
        assert record.key == b"wechat:gh_brand:oUser1"
        assert b'"message_id":"m1"' in record.value

    def test_decode_restores_the_typed_event(self) -> None:
        data = message()
        sent = CloudEvent.of(data, id="e1", source="s", subject=data.fan_key, time=OCCURRED)
        record = encode(sent)
        received = decode(record.headers, record.value)
        assert isinstance(received.data, MessageReceived)
        assert received.data == data
        assert received.time == OCCURRED
        assert received.time.tzinfo is not None

    def test_time_is_stored_in_utc(self) -> None:
        data = message()
        event = CloudEvent.of(data, id="e1", source="s", subject=data.fan_key, time=OCCURRED)
        assert event.time.utcoffset() == timedelta(0)
        assert event.time == OCCURRED.astimezone(UTC)

    def test_an_unknown_type_is_an_envelope_error(self) -> None:
        with pytest.raises(EnvelopeError):
            decode([("ce_type", b"scrm.nothing.v9"), ("ce_id", b"x")], b"{}")

    def test_data_that_breaks_the_contract_is_an_envelope_error(self) -> None:
        data = message()
        record = encode(CloudEvent.of(data, id="e1", source="s", subject=data.fan_key))
        with pytest.raises(EnvelopeError):
            decode(record.headers, b'{"platform": "wechat"}')

    def test_contracts_are_immutable(self) -> None:
        with pytest.raises(ValueError, match="frozen"):
            message().text = "changed"  # type: ignore[misc]


class TestIds:
    def test_the_same_platform_ids_give_the_same_event_id(self) -> None:
        assert event_id("wechat", "gh", "m1") == event_id("wechat", "gh", "m1")

    def test_different_platform_ids_give_different_event_ids(self) -> None:
        assert event_id("wechat", "gh", "m1") != event_id("wechat", "gh", "m2")
        assert event_id("wechat", "gh:m", "1") != event_id("wechat", "gh", "m:1")

    @given(st.lists(st.text(st.characters(blacklist_categories=["Cs"])), min_size=1, max_size=4))
    def test_an_event_id_is_the_uuid5_of_the_joined_ids(self, parts: list[str]) -> None:
        assert event_id(*parts) == str(uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts)))

    def test_fan_key_is_platform_account_user(self) -> None:
        assert fan_key("line", "U1", "u2") == "line:U1:u2"


class TestTopics:
    def test_fan_events_travel_on_the_events_topic(self) -> None:
        order = OrderPaid(
            platform="standard", account="shop", user_id="u", occurred_at=OCCURRED,
            order_id="o1", amount_cents=100, currency="CNY",
        )  # fmt: skip
        assert topic_of(order) == EVENTS
