"""What a refused webhook leaves behind: harmless values only, bounded, admitted per source."""

from services.ingest.domain import (
    HARMLESS_HEADERS,
    MAX_RECORDED_FIELDS,
    MAX_RECORDED_VALUE,
    NOT_RECORDED,
    REDACTED,
    TokenBuckets,
    recorded_fields,
    shown,
    source_of,
)
from services.ingest.platforms.standard import StandardWebhooks


class TestRecordedFields:
    def test_only_harmless_values_are_kept_and_secrets_are_marked(self) -> None:
        recorded = recorded_fields(
            {"Webhook-Signature": "v1,abc", "Authorization": "Bearer x", "user-agent": "shop/1",
             "Proxy-Authorization": "Basic eDp5", "X-Api-Key": "k-123", "X-Session": "s-1"},
            harmless=HARMLESS_HEADERS, secret=StandardWebhooks.secret_headers,
        )  # fmt: skip
        assert recorded == {
            "Webhook-Signature": REDACTED, "Authorization": REDACTED, "user-agent": "shop/1",
            "Proxy-Authorization": REDACTED, "X-Api-Key": REDACTED, "X-Session": NOT_RECORDED,
        }  # fmt: skip

    def test_count_names_and_values_are_bounded(self) -> None:
        many = {f"x-h{n}-" + "n" * 500: "v" for n in range(1000)}
        many["user-agent"] = "u" * 100_000
        recorded = recorded_fields(
            {"user-agent": many.pop("user-agent"), **many},
            harmless=HARMLESS_HEADERS, secret=frozenset(),
        )  # fmt: skip
        assert len(recorded) == MAX_RECORDED_FIELDS + 1
        assert recorded["..."] == f"{1001 - MAX_RECORDED_FIELDS} more not recorded"
        assert len(recorded["user-agent"]) == MAX_RECORDED_VALUE
        assert sum(len(k) + len(v) for k, v in recorded.items()) < 4096

    def test_a_long_path_segment_is_shown_truncated(self) -> None:
        assert shown("shop-1") == "shop-1"
        assert shown("a" * 5000) == "a" * 64 + "... (5000 characters)"


class TestTokenBuckets:
    def test_a_source_passes_its_burst_then_its_rate(self) -> None:
        buckets = TokenBuckets(rate=1, burst=3, total_rate=100)
        assert [buckets.admit("a", now=0) for _ in range(4)] == [True, True, True, False]
        assert buckets.admit("b", now=0)  # another source has its own
        assert not buckets.admit("a", now=0.5)
        assert buckets.admit("a", now=1.5)

    def test_all_sources_together_are_bounded(self) -> None:
        buckets = TokenBuckets(rate=1, burst=5, total_rate=10)
        admitted = sum(buckets.admit(f"s{n}", now=0) for n in range(1000))
        assert admitted == 10
        assert sum(buckets.admit(f"t{n}", now=1.0) for n in range(1000)) == 10

    def test_only_the_latest_sources_are_remembered(self) -> None:
        buckets = TokenBuckets(rate=1, burst=1, total_rate=1e9, max_sources=100)
        assert buckets.admit("s0", now=0)
        assert not buckets.admit("s0", now=0)  # remembered: its bucket is empty
        for n in range(1, 100):
            buckets.admit(f"s{n}", now=0)
        assert not buckets.admit("s0", now=0)  # still among the latest 100
        for n in range(100, 200):
            buckets.admit(f"s{n}", now=0)
        assert buckets.admit("s0", now=0)  # forgotten: a full bucket again


class TestSources:
    def test_an_ipv6_client_stands_for_its_slash_64(self) -> None:
        assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:bbbb::9")
        assert source_of("2001:db8:1:2::1") == "2001:db8:1:2::/64"
        assert source_of("2001:db8:1:3::1") != source_of("2001:db8:1:2::1")

    def test_an_ipv4_client_stands_for_itself(self) -> None:
        assert source_of("203.0.113.7") == "203.0.113.7"
        assert source_of("203.0.113.8") != source_of("203.0.113.7")

    def test_what_is_no_address_is_kept_as_it_is(self) -> None:
        assert source_of("-") == "-"
