"""The baseline of ``make bench-sla``: a bare timer loop, the floor under any breach detector
that tells Kafka.

It holds every deadline in memory (no database, no outbox, no restart to survive): one
``loop.call_at`` a deadline, whose callback builds the SlaBreached event responder would tell
and hands it to the project's producer (`shared.kafka.EventProducer`, acks=all, idempotent,
the records of concurrent sends gathered in rounds, as responder's outbox relay sends them).
The deadlines are those of a wave of conversations at the same rate as the bench's first wave.
Exits once every record is acknowledged.

``python -m bench.sla_baseline BOOTSTRAP TOPIC COUNT FIRST_DEADLINE SPAN``
"""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

from bench.sla_load import Window
from shared.contracts import SlaBreached
from shared.events import CloudEvent, KafkaRecord, encode
from shared.kafka import EventProducer
from shared.settings import KafkaSettings

SEED = 7


def breach(n: int, deadline: float) -> KafkaRecord:
    """The record responder would produce for the breach of conversation `n`."""
    clock_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    fan_key = f"weibo:brand-{n % 20:02d}:baseline-{n:06d}"
    data = SlaBreached(
        conversation_id=str(conversation_id), fan_key=fan_key, policy_id="default",
        target="first_reply", deadline=datetime.fromtimestamp(deadline, UTC),
        clock_id=str(clock_id), platform="weibo", account=f"brand-{n % 20:02d}",
    )  # fmt: skip
    event = CloudEvent.of(data, id=f"{clock_id}:breached", source="bench/sla-baseline",
                          subject=str(conversation_id))  # fmt: skip
    return encode(event)


async def run(args: argparse.Namespace) -> None:
    producer = EventProducer(KafkaSettings(kafka_bootstrap_servers=args.bootstrap))
    await producer.start()
    loop = asyncio.get_running_loop()
    sends: list[asyncio.Future[None]] = []

    def fire(n: int, deadline: float) -> None:
        sends.append(asyncio.ensure_future(producer.send_many([(args.topic, breach(n, deadline))])))

    window = Window(args.first_deadline, args.span, args.count)
    to_loop_time = loop.time() - time.time()
    for n, deadline in enumerate(window.deadlines(SEED)):
        loop.call_at(deadline + to_loop_time, fire, n, deadline)
    try:
        await asyncio.sleep(max(0.0, window.end - time.time()) + 0.5)
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("count", type=int)
    parser.add_argument("first_deadline", type=float, help="epoch seconds")
    parser.add_argument("span", type=float, help="seconds")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
