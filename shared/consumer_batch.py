"""Batch mode of the consumer runner: the records one fetch brought are applied a few partitions
at a time (`packed`), each group in one transaction, their event ids claimed in one statement,
the handler given them all at once.

A service opts in per subscription by giving a `BatchRegistry` instead of a per-event registry.
The runner falls back to one event per transaction (the per-event path, with its retries and
dead letters) when a batch's transaction fails, so a poison event holds up only the partitions of
its batch, while their events are applied one at a time.
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiokafka.structs import ConsumerRecord, TopicPartition
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import claim_events
from shared.events import CloudEvent, EnvelopeError, EventData, decode

BatchHandler = Callable[[AsyncSession, Sequence[CloudEvent[Any]]], Awaitable[None]]
Record: TypeAlias = ConsumerRecord[bytes, bytes]
Partitioned: TypeAlias = tuple[TopicPartition, list[Record]]


@dataclass(frozen=True)
class BatchRegistry:
    """A subscriber that takes a partition's fetched events together, and the event types it
    handles; the events of other types are ignored (their offsets move on)."""

    handler: BatchHandler
    event_types: frozenset[type[EventData]]

    def one_at_a_time(self) -> Callable[[AsyncSession, CloudEvent[Any]], Awaitable[None]]:
        """The handler as the per-event path calls it: with a batch of one."""

        async def apply_one(session: AsyncSession, event: CloudEvent[Any]) -> None:
            await self.handler(session, [event])

        return apply_one


def packed(
    fetch: Mapping[TopicPartition, list[Record]], *, records: int
) -> list[list[Partitioned]]:
    """The partitions of one fetch in groups, each applied in one transaction: a topic's
    partitions join a group until it holds `records` records or more; a partition's records
    stay together and in order. A transaction costs its round trips whatever its size: under a
    steady load a fetch brings a few dozen records of each partition, and a transaction for each
    cost scoring nearly as much as its events (make bench-scoring's steady phase: 364 µs of CPU
    an event, 199 µs reading a backlog). A backlog's fetch still makes groups enough to overlap
    one group's round trips with another's handling."""
    by_topic: defaultdict[str, list[Partitioned]] = defaultdict(list)
    for partition, partition_records in fetch.items():
        by_topic[partition.topic].append((partition, partition_records))
    groups: list[list[Partitioned]] = []
    for partitions in by_topic.values():
        group: list[Partitioned] = []
        for partition in partitions:
            group.append(partition)
            if sum(len(taken) for _, taken in group) >= records:
                groups.append(group)
                group = []
        if group:
            groups.append(group)
    return groups


@dataclass
class SortedRecords:
    """The records of one batch, by what becomes of them."""

    to_apply: list[tuple[Record, CloudEvent[Any]]] = field(default_factory=list)
    unreadable: list[tuple[Record, EnvelopeError]] = field(default_factory=list)
    ignored: int = 0


def sort_records(records: Sequence[Record], registry: BatchRegistry) -> SortedRecords:
    """Decode every record, keeping its place: what to apply, what to dead-letter, what to skip."""
    sorted_records = SortedRecords()
    for record in records:
        try:
            event = decode(record.headers, record.value)
        except EnvelopeError as exc:
            sorted_records.unreadable.append((record, exc))
            continue
        if type(event.data) in registry.event_types:
            sorted_records.to_apply.append((record, event))
        else:
            sorted_records.ignored += 1
    return sorted_records


async def apply_batch(
    session: AsyncSession,
    registry: BatchRegistry,
    events: Sequence[CloudEvent[Any]],
    *,
    processed_events: Table,
    consumer: str,
) -> list[CloudEvent[Any]]:
    """Claim the events' ids in one statement and hand the newly claimed ones (the first of each
    id, in order) to the handler; returns them. The caller owns the transaction."""
    new_ids = await claim_events(
        session, processed_events, consumer=consumer, event_ids=[event.id for event in events]
    )
    fresh = []
    for event in events:
        if event.id in new_ids:
            new_ids.discard(event.id)  # an id twice in the batch is applied once
            fresh.append(event)
    if fresh:
        await registry.handler(session, fresh)
    return fresh
