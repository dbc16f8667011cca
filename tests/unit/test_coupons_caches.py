"""The claim path's per-process caches: bounded, short-lived, and a revoked key forgotten."""

import uuid
from datetime import UTC, datetime

from services.coupons.brand_auth import VerifiedKeys
from services.coupons.caches import TtlCache
from services.coupons.models import BrandApiKey


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestTtlCache:
    def test_an_entry_is_kept_for_its_seconds_only(self) -> None:
        clock = Clock()
        cache: TtlCache[str, int] = TtlCache(size=10, seconds=5, clock=clock)
        cache.put("a", 1)
        clock.now = 4.9
        assert cache.get("a") == 1
        clock.now = 5.0
        assert cache.get("a") is None

    def test_the_oldest_entry_goes_first_beyond_the_size(self) -> None:
        cache: TtlCache[str, int] = TtlCache(size=2, seconds=60)
        for n, key in enumerate("abc"):
            cache.put(key, n)
        assert [cache.get(key) for key in "abc"] == [None, 1, 2]

    def test_entries_are_dropped_by_their_value(self) -> None:
        cache: TtlCache[str, int] = TtlCache(size=10, seconds=60)
        cache.put("a", 1)
        cache.put("b", 2)
        cache.drop_where(lambda value: value == 1)
        assert (cache.get("a"), cache.get("b")) == (None, 2)


class TestVerifiedKeys:
    def test_a_forgotten_key_is_no_longer_trusted(self) -> None:
        key = BrandApiKey(
            id=uuid.uuid4(), account="shop-1", name="page", key_sha256="h" * 64,
            created_at=datetime.now(UTC),
        )  # fmt: skip
        verified = VerifiedKeys()
        verified.trust("h" * 64, key)
        assert verified.account_of("h" * 64) == "shop-1"
        verified.forget(key.id)
        assert verified.account_of("h" * 64) is None
