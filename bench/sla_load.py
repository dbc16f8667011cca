"""The fan messages ``make bench-sla`` feeds responder: one a fan, each opening a conversation
whose first-reply deadline (the message's time + the default policy's 10 minutes) falls where
the bench wants it, and the breaches it must then see on ``scrm.sla.v1``."""

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.responder.sla.policy import DEFAULT_POLICIES
from shared.contracts import MessageReceived
from shared.events import CloudEvent, KafkaRecord, encode

# Every bench fan matches the catch-all policy: none is a KOL or a leader (no standing).
FIRST_REPLY = DEFAULT_POLICIES.policies[-1].first_reply
ACCOUNTS = 20
CHUNK = 5_000
TEXTS = ("客服在吗 订单号发你了", "Is my parcel late?", "退货怎么办理", "Do you ship to Shenzhen?")


@dataclass(frozen=True)
class Window:
    """Where a wave's deadlines fall: `count` of them spread evenly (each at a random point of
    its own slice) over `span` seconds from `start` (epoch seconds)."""

    start: float
    span: float
    count: int

    @property
    def end(self) -> float:
        return self.start + self.span

    @property
    def per_second(self) -> float:
        return self.count / self.span

    def deadlines(self, seed: int) -> list[float]:
        rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
        step = self.span / self.count
        return [self.start + step * (n + rng.random()) for n in range(self.count)]


def wave_of(fan_key: str) -> str:
    """The wave a bench fan belongs to, from the fan key the messages gave it."""
    return fan_key.rsplit(":", 1)[-1].split("-", 1)[0]


def messages(wave: str, deadlines: list[float]) -> Iterator[list[KafkaRecord]]:
    """A message a deadline, from a fan of its own in `wave`, in chunks, in the order their
    fans wrote them (the order of their deadlines)."""
    for first in range(0, len(deadlines), CHUNK):
        yield [
            message(wave, n, deadline)
            for n, deadline in enumerate(deadlines[first : first + CHUNK], start=first)
        ]


def message(wave: str, n: int, deadline: float) -> KafkaRecord:
    account = n % ACCOUNTS
    data = MessageReceived(
        platform=("weibo", "wechat")[account % 2], account=f"brand-{account:02d}",
        user_id=f"{wave}-{n:06d}", message_id=f"{wave}-m-{n}", text=TEXTS[n % len(TEXTS)],
        occurred_at=datetime.fromtimestamp(deadline, UTC) - FIRST_REPLY,
    )  # fmt: skip
    event = CloudEvent.of(data, id=str(uuid.uuid4()), source="bench/sla", subject=data.fan_key,
                          time=data.occurred_at)  # fmt: skip
    return encode(event)


def past_deadlines(count: int, *, now: float) -> list[float]:
    """Deadlines an hour gone: their breaches are due the moment the messages are applied (the
    warm-up, which also measures how fast responder applies messages)."""
    gone = now - timedelta(hours=1).total_seconds()
    return [gone + n / 1000 for n in range(count)]
