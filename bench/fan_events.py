"""The fan events ``make bench-scoring`` feeds scoring, and what scoring must make of them.

Every type scoring reads, in proportions like those a brand's accounts see: reactions and
messages most, then comments (some mentioning the brand), shares with their reach, follows, paid
orders in CNY and refunds of earlier orders; a quarter carry the fan's follower count. Each fan
belongs to one of the brand accounts (Weibo and WeChat in turn); a few fans are very active and
most are not, and each fan appears at least once. The generator counts, per fan, what scoring
must apply, so that what it stored can be checked event for event.

The records are written here from pieces rather than through the contracts' models and
`shared.events.encode`, which would take twice as long to make a million; `verified` decodes a
sample with `shared.events.decode`, as scoring does.
"""

import bisect
import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanFollowed,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
    ReactionAdded,
)
from shared.events import CONTENT_TYPE, SPEC_VERSION, EventData, KafkaRecord, decode, fan_key

# kind: (contract, share of the events)
KINDS: dict[str, tuple[type[EventData], float]] = {
    "message": (MessageReceived, 0.28), "comment": (CommentCreated, 0.18),
    "reaction": (ReactionAdded, 0.30), "share": (ContentShared, 0.08),
    "follow": (FanFollowed, 0.07), "order": (OrderPaid, 0.08), "refund": (OrderRefunded, 0.01),
}  # fmt: skip
# What scoring counts as an interaction (services/scoring/scores/state.py, interaction_kind).
INTERACTIONS = frozenset({"message", "comment", "reaction", "share", "follow"})
TEXTS = (
    "Is my parcel late? 我的包裹什么时候到", "新品什么时候上架 #新品#", "Do you ship to Shenzhen?",
    "奶茶太好喝了 #奶茶# #下午茶#", "退货怎么办理", "Love the new colour #OOTD", "有优惠券吗",
    "客服在吗 订单号发你了",
)  # fmt: skip
REACTIONS = ("like", "love", "haha", "wow")
MENTION_SHARE, FOLLOWER_COUNT_SHARE, POSTS = 0.15, 0.25, 500


@dataclass
class Expected:
    """Per fan (by index), what scoring must have applied: interactions, paid orders, refunds."""

    interactions: list[int]
    paid_orders: list[int]
    refunds: list[int]

    @classmethod
    def for_fans(cls, fans: int) -> "Expected":
        return cls([0] * fans, [0] * fans, [0] * fans)

    def count(self, fan: int, kind: str) -> None:
        if kind in INTERACTIONS:
            self.interactions[fan] += 1
        elif kind == "order":
            self.paid_orders[fan] += 1
        else:
            self.refunds[fan] += 1


@dataclass
class FanEvents:
    """Makes the events, deterministic for a seed, and keeps count of them."""

    fans: int
    accounts: int
    seed: int = 2026
    produced: int = 0
    expected: Expected = field(init=False)
    _rng: random.Random = field(init=False)
    _unseen: list[int] = field(init=False)  # fans without an event yet, in random order
    _refundable: list[tuple[int, str, int]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.expected = Expected.for_fans(self.fans)
        self._rng = random.Random(self.seed)  # noqa: S311 (test data, not secrets)
        self._unseen = list(range(self.fans))
        self._rng.shuffle(self._unseen)

    def fan_key(self, fan: int) -> str:
        account = fan % self.accounts
        return fan_key(_platform(account), f"brand-{account:02d}", f"fan-{fan:06d}")

    def history(
        self, total: int, *, days: float, now: datetime, chunk: int = 10_000
    ) -> Iterator[list[KafkaRecord]]:
        """`total` events that happened over the past `days`, oldest first, in chunks; every fan
        not seen yet appears among them. Their CloudEvent time is when they happened, as ingest
        sets it."""
        start, span = now.timestamp() - days * 86_400, days * 86_400
        for first in range(0, total, chunk):
            records = []
            for n in range(first, min(first + chunk, total)):
                at = datetime.fromtimestamp(start + span * (n + self._rng.random()) / total, UTC)
                records.append(self.event(at, fan_events_left=total - n))
            yield records

    def event(self, at: datetime, *, fan_events_left: int | None = None) -> KafkaRecord:
        """One event that happened `at`. With `fan_events_left`, a fan not seen yet is taken as
        often as it takes to have them all within that many events."""
        kind = _KIND_NAMES[bisect.bisect(_KIND_CUMULATIVE, self._rng.random())]
        fan, first_time = self._fan(fan_events_left)
        if kind == "refund" and (first_time or not self._refundable):
            kind = "order"  # nothing of theirs to refund
        if kind == "refund":
            fan, data = self._refund()  # a refund is its order's fan's
        else:
            data = self._data(kind, fan)
        self.expected.count(fan, kind)
        self.produced += 1
        return self._record(kind, fan, at, data)

    def _fan(self, events_left: int | None) -> tuple[int, bool]:
        """A fan, and whether it is their first event."""
        if self._unseen and events_left and self._rng.random() * events_left < len(self._unseen):
            return self._unseen.pop(), True
        return int(self.fans * self._rng.random() ** 1.6), False  # the first fans most active

    def _refund(self) -> tuple[int, str]:
        """The fan and the refund of one of the orders paid so far, each refunded once."""
        pool = self._refundable
        index = self._rng.randrange(len(pool))
        pool[index], pool[-1] = pool[-1], pool[index]
        fan, order_id, cents = pool.pop()
        return fan, f'"order_id":"{order_id}","amount_cents":{cents},"currency":"CNY",'

    def _data(self, kind: str, fan: int) -> str:
        """The fields of `kind` besides those every fan event has, as JSON members."""
        rng, n = self._rng, self.produced
        if kind == "message":
            return f'"message_id":"m-{n}","message_type":"text","text":{rng.choice(_TEXTS)},'
        if kind == "comment":
            mention = "true" if rng.random() < MENTION_SHARE else "false"
            return (f'"comment_id":"c-{n}","post_id":"p-{n % POSTS}",'
                    f'"text":{rng.choice(_TEXTS)},"is_mention":{mention},')  # fmt: skip
        if kind == "reaction":
            return f'"target_id":"p-{n % POSTS}","reaction":"{rng.choice(REACTIONS)}",'
        if kind == "share":
            reach = min(int(rng.paretovariate(1.2) * 80), 10**7)
            return f'"content_id":"p-{n % POSTS}","reach":{reach},'
        if kind == "order":
            cents = rng.randrange(990, 59_900)
            self._refundable.append((fan, f"o-{n}", cents))
            return f'"order_id":"o-{n}","amount_cents":{cents},"currency":"CNY",'
        return ""  # a follow

    def _record(self, kind: str, fan: int, at: datetime, fields: str) -> KafkaRecord:
        account = fan % self.accounts
        platform, account_id, user_id = _platform(account), f"brand-{account:02d}", f"fan-{fan:06d}"
        occurred_at = at.isoformat()
        if self._rng.random() < FOLLOWER_COUNT_SHARE:
            fields += f'"follower_count":{int(self._rng.paretovariate(1.1) * 60)},'
        value = (f'{{{fields}"platform":"{platform}","account":"{account_id}",'
                 f'"user_id":"{user_id}","occurred_at":"{occurred_at}"}}')  # fmt: skip
        key = fan_key(platform, account_id, user_id).encode()
        headers = [
            ("ce_specversion", _SPEC), ("ce_id", self._event_id()),
            ("ce_source", f"scrm/ingest/{platform}/{account_id}".encode()),
            ("ce_type", _TYPES[kind]), ("ce_time", occurred_at.encode()), ("ce_subject", key),
            ("content-type", _CONTENT),
        ]  # fmt: skip
        return KafkaRecord(key, value.encode(), headers)

    def _event_id(self) -> bytes:
        """128 random bits written as a UUID, as ingest's ids are (a UUID object costs 4x)."""
        hexed = f"{self._rng.getrandbits(128):032x}"
        return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}".encode()


def verified(records: Sequence[KafkaRecord]) -> None:
    """Raise unless every record decodes as scoring decodes it, its key the fan key."""
    for record in records:
        event = decode(record.headers, record.value)
        if event.subject.encode() != record.key or event.data.fan_key != event.subject:
            raise ValueError(f"event {event.id}: its subject and key are not its fan key")


def _platform(account: int) -> str:
    return ("weibo", "wechat")[account % 2]


_KIND_NAMES = list(KINDS)
_KIND_CUMULATIVE = list(itertools.accumulate(share for _, share in KINDS.values()))[:-1]
_TEXTS = [json.dumps(text, ensure_ascii=False) for text in TEXTS]
_TYPES = {kind: contract.event_type.encode() for kind, (contract, _) in KINDS.items()}
_SPEC, _CONTENT = SPEC_VERSION.encode(), CONTENT_TYPE.encode()
