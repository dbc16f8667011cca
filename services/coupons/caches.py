"""Small per-process caches of what the claim path would otherwise ask PostgreSQL on every
request: bounded (the oldest entry goes first) and short-lived (an entry is trusted for a few
seconds only, so replicas that do not share them agree again soon)."""

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """At most `size` entries, each kept for `seconds` after it was put."""

    def __init__(
        self, *, size: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._size, self._seconds, self._clock = size, seconds, clock

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self._clock() + self._seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop_where(self, matches: Callable[[V], bool]) -> None:
        for key in [key for key, (_, value) in self._entries.items() if matches(value)]:
            del self._entries[key]
