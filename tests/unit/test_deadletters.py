"""Reading a dead letter back: its original record, its dlq_* headers, and the filters."""

from datetime import UTC, datetime, timedelta

from aiokafka.structs import ConsumerRecord

from shared.deadletters import DeadLetter, Selection, dead_letter_of, distinct, selects

PREFIX = "prod."
FAILED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def dead_record(event_id: str | None, *, offset: int) -> ConsumerRecord[bytes, bytes]:
    headers = [
        *([("ce_id", event_id.encode())] if event_id else []),
        ("ce_type", b"scrm.message.received.v1"),
        ("dlq_error", b"Traceback\nRuntimeError: cannot score this"),
        ("dlq_topic", b"prod.scrm.events.v1"),
        ("dlq_partition", b"2"),
        ("dlq_offset", str(offset).encode()),
        ("dlq_consumer_group", b"prod.scrm-scoring"),
        ("dlq_attempts", b"4"),
        ("dlq_failed_at", FAILED_AT.isoformat().encode()),
    ]
    return ConsumerRecord(
        topic="prod.scrm.deadletter.v1", partition=0, offset=0, timestamp=0, timestamp_type=0,
        key=b"telegram:bot1:u1", value=b"{}", checksum=None, serialized_key_size=0,
        serialized_value_size=0, headers=headers,
    )  # fmt: skip


def letter(event_id: str | None = "evt-1", *, offset: int = 7) -> DeadLetter:
    return dead_letter_of(dead_record(event_id, offset=offset))


class TestDeadLetterOf:
    def test_the_original_record_keeps_its_key_value_and_headers_without_the_dlq_ones(
        self,
    ) -> None:
        original = letter().original
        assert original.key == b"telegram:bot1:u1"
        assert original.value == b"{}"
        assert original.headers == [("ce_id", b"evt-1"), ("ce_type", b"scrm.message.received.v1")]

    def test_it_knows_where_it_came_from_and_when_it_failed(self) -> None:
        dead = letter()
        assert dead.topic == "prod.scrm.events.v1"
        assert dead.failed_at == FAILED_AT
        assert "cannot score this" in dead.describe()


class TestSelection:
    def test_topic_and_group_are_matched_with_or_without_the_prefix(self) -> None:
        dead = letter()
        for selection in [
            Selection(topic="scrm.events.v1"), Selection(topic="prod.scrm.events.v1"),
            Selection(group="scrm-scoring"), Selection(group="prod.scrm-scoring"), Selection(),
        ]:  # fmt: skip
            assert selects(selection, dead, prefix=PREFIX), selection

    def test_another_topic_group_or_an_older_failure_is_left_out(self) -> None:
        dead = letter()
        for selection in [
            Selection(topic="scrm.sla.v1"), Selection(group="scrm-responder"),
            Selection(since=FAILED_AT + timedelta(seconds=1)),
        ]:  # fmt: skip
            assert not selects(selection, dead, prefix=PREFIX), selection

    def test_an_event_dead_lettered_twice_is_taken_once(self) -> None:
        letters = [letter(offset=1), letter(offset=2), letter("evt-2")]
        assert [dead.dlq["dlq_offset"] for dead in distinct(letters)] == ["1", "7"]

    def test_records_that_were_no_event_are_told_apart_by_their_place(self) -> None:
        letters = [letter(None, offset=1), letter(None, offset=2)]
        assert len(distinct(letters)) == 2
