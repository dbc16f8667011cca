"""Dead letters: list them, and re-inject them once their cause is fixed.

    python -m shared.deadletters list   [--topic T] [--group G] [--since ISO]
    python -m shared.deadletters replay [--topic T] [--group G] [--since ISO] [--dry-run]

Reads the deployment's dead-letter topic (``SCRM_TOPIC_PREFIX`` + ``scrm.deadletter.v1``, the
broker from ``SCRM_KAFKA_BOOTSTRAP_SERVERS``) from its start to where it ended when the run began,
keeping the records whose ``dlq_*`` headers match the filters. ``replay`` produces each of their
events back to the topic it was dead-lettered from (``dlq_topic``), with its original key, value
and headers, once per run however often it was dead-lettered. Consumers de-duplicate by event id:
an event applied before changes nothing, the others are applied now. Running it again re-injects
the same events again, which is harmless for the same reason.
"""

import argparse
import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared import topics
from shared.events import KafkaRecord
from shared.kafka import EventProducer
from shared.settings import KafkaSettings

DLQ_PREFIX = "dlq_"
Say = Callable[[str], None]


@dataclass(frozen=True)
class Selection:
    """Which dead letters a run takes; an unset filter takes all. Topic and group may be named
    with or without the deployment's prefix."""

    topic: str | None = None
    group: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class DeadLetter:
    original: KafkaRecord  # as it was on its topic: the dlq_* headers taken off
    dlq: dict[str, str]
    timestamp: datetime  # when the dead letter was written

    @property
    def topic(self) -> str:
        return self.dlq.get("dlq_topic", "")

    @property
    def event_id(self) -> str | None:
        return next((v.decode() for k, v in self.original.headers if k == "ce_id"), None)

    @property
    def identity(self) -> str:
        """The event it carries; a record that was no CloudEvent is known by its place."""
        place = f"{self.topic}/{self.dlq.get('dlq_partition')}@{self.dlq.get('dlq_offset')}"
        return self.event_id or place

    @property
    def failed_at(self) -> datetime:
        try:
            return _aware(datetime.fromisoformat(self.dlq["dlq_failed_at"]))
        except (KeyError, ValueError):
            return self.timestamp

    def describe(self) -> str:
        error = self.dlq.get("dlq_error", "").splitlines()
        return (
            f"{self.failed_at.isoformat()} {self.topic} id={self.event_id or '-'} "
            f"group={self.dlq.get('dlq_consumer_group', '-')} "
            f"attempts={self.dlq.get('dlq_attempts', '-')} error={(error or ['-'])[-1][:200]}"
        )


def dead_letter_of(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    kept = [(k, bytes(v)) for k, v in record.headers if not k.startswith(DLQ_PREFIX)]
    dlq = {k: bytes(v).decode(errors="replace") for k, v in record.headers
           if k.startswith(DLQ_PREFIX)}  # fmt: skip
    original = KafkaRecord(key=record.key or b"", value=record.value or b"", headers=kept)
    return DeadLetter(original, dlq, datetime.fromtimestamp(record.timestamp / 1000, UTC))


def selects(selection: Selection, letter: DeadLetter, *, prefix: str) -> bool:
    group = letter.dlq.get("dlq_consumer_group")
    return (
        (selection.topic is None or letter.topic in {selection.topic, prefix + selection.topic})
        and (selection.group is None or group in {selection.group, prefix + selection.group})
        and (selection.since is None or letter.failed_at >= selection.since)
    )


def distinct(letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """The first dead letter of each event: an event dead-lettered twice is re-injected once."""
    seen: set[str] = set()
    kept = []
    for letter in letters:
        if letter.identity not in seen:
            seen.add(letter.identity)
            kept.append(letter)
    return kept


async def read_dead_letters(settings: KafkaSettings, selection: Selection) -> list[DeadLetter]:
    """The selected dead letters, oldest first per partition, up to the topic's end as it was
    when the call began."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records = await _read_to_end(consumer, settings.topic(topics.DEADLETTER))
    finally:
        await consumer.stop()
    letters = (dead_letter_of(record) for record in records)
    return [letter for letter in letters if selects(selection, letter, prefix=settings.topic(""))]


async def _read_to_end(
    consumer: AIOKafkaConsumer, topic: str
) -> list[ConsumerRecord[bytes, bytes]]:
    # topics() fetches the metadata but leaves the consumer's own copy as it was (on Apache
    # Kafka it then knows no partition of the topic): this refreshes that copy.
    await consumer._client.force_metadata_update()
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    if not partitions:
        return []
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    records: list[ConsumerRecord[bytes, bytes]] = []
    while unread := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
        fetched = await consumer.getmany(*unread, timeout_ms=500)
        for tp, batch in fetched.items():
            records.extend(record for record in batch if record.offset < ends[tp])
    return records


async def replay(
    settings: KafkaSettings, selection: Selection, *, dry_run: bool = False, say: Say = print
) -> list[DeadLetter]:
    """Produce each selected event back to its topic, once; returns those re-injected (or, with
    `dry_run`, those that would be)."""
    letters = [letter for letter in distinct(await read_dead_letters(settings, selection))
               if letter.topic]  # fmt: skip
    if dry_run:
        for letter in letters:
            say(f"would replay {letter.describe()}")
        return letters
    producer = EventProducer(settings)
    await producer.start()
    try:
        for letter in letters:
            await producer.send(letter.topic, letter.original)
            say(f"replayed {letter.describe()}")
    finally:
        await producer.stop()
    return letters


async def _run(command: str, selection: Selection, *, dry_run: bool) -> None:
    settings = KafkaSettings()
    if command == "list":
        letters = await read_dead_letters(settings, selection)
        for letter in letters:
            print(letter.describe())  # noqa: T201
        print(f"{len(letters)} dead letters, {len(distinct(letters))} events")  # noqa: T201
        return
    letters = await replay(settings, selection, dry_run=dry_run)
    print(f"{'would replay' if dry_run else 'replayed'} {len(letters)} events")  # noqa: T201


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _moment(text: str) -> datetime:
    return _aware(datetime.fromisoformat(text))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="List or re-inject dead-lettered events.")
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--topic", help="the topic they were dead-lettered from")
    parser.add_argument("--group", help="the consumer group that dead-lettered them")
    parser.add_argument(
        "--since", type=_moment, help="dead-lettered at or after this time (ISO 8601; UTC unless "
        "it names its offset)",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="replay: only print what it would")
    args = parser.parse_args(argv)
    selection = Selection(topic=args.topic, group=args.group, since=args.since)
    asyncio.run(_run(args.command, selection, dry_run=args.dry_run))


if __name__ == "__main__":
    main()
