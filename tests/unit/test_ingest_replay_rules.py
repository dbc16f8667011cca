"""The rules against replays, without I/O: the bounds of the settings, how old an event may be,
how long a signature is remembered, and which requests' signatures do not cover the body."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.ingest.config import IngestSettings
from services.ingest.domain import by_age, signature_memory
from services.ingest.platforms import build_platforms
from services.ingest.platforms.base import SignsWithoutBody, VerificationError
from services.ingest.platforms.common import fan_event
from services.ingest.platforms.wechat import WeChatOfficialAccount
from services.ingest.platforms.weibo import WeiboAccount, WeiboFanService, weibo_signature
from services.ingest.replays import fresh_events
from shared.contracts import FanEvent, MessageReceived
from shared.events import CloudEvent
from tests.platform_vectors import wechat as wechat_vectors
from tests.platform_vectors import weibo as weibo_vectors
from tests.unit.wechat_helpers import ADAPTER, NOW_TS, PLAIN, SAFE, request

DATABASE = "postgresql+asyncpg://scrm@db/scrm"
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
WEEK, MINUTE = timedelta(days=7), timedelta(minutes=1)


def settings(**overrides: object) -> IngestSettings:
    return IngestSettings(kafka_bootstrap_servers="kafka:9092", database_url=DATABASE,
                          **overrides)  # type: ignore[arg-type]  # fmt: skip


class TestTolerance:
    def test_an_hour_is_the_longest_window(self) -> None:
        assert settings(webhook_tolerance_seconds=3600).webhook_tolerance_seconds == 3600

    @pytest.mark.parametrize("seconds", [3601, 7200, 3_000_000])
    def test_a_longer_one_is_refused_naming_the_variable_and_the_bound(self, seconds: int) -> None:
        with pytest.raises(ValidationError, match=r"INGEST_WEBHOOK_TOLERANCE_SECONDS.*3600"):
            settings(webhook_tolerance_seconds=seconds)

    def test_the_environment_is_bounded_too(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("INGEST_WEBHOOK_TOLERANCE_SECONDS", "7200")
        with pytest.raises(ValidationError, match="at most 3600"):
            settings()


class TestDedupeWindow:
    def test_must_be_longer_than_twice_the_tolerance(self) -> None:
        with pytest.raises(ValidationError, match="INGEST_DEDUPE_WINDOW_HOURS"):
            settings(dedupe_window_hours=0.5, webhook_tolerance_seconds=900)
        assert settings(dedupe_window_hours=0.5, webhook_tolerance_seconds=899)


def event(occurred_at: datetime, message_id: str = "m1") -> CloudEvent[FanEvent]:
    return fan_event(
        MessageReceived(platform="line", account="a", user_id="u", occurred_at=occurred_at,
                        platform_event_id=message_id, message_id=message_id),
        message_id,
    )  # fmt: skip


class TestEventAge:
    def test_an_event_older_than_the_window_is_stale(self) -> None:
        old, new = event(RECEIVED - WEEK - MINUTE, "old"), event(RECEIVED - MINUTE, "new")
        split = by_age([old, new], received_at=RECEIVED, window=WEEK, skew=timedelta(0))
        assert (split.fresh, split.stale) == ([new], [old])

    def test_the_cut_allows_for_a_platform_clock_running_ahead(self) -> None:
        """An event stamped by a clock a minute fast is a minute older than it says: at the
        window's edge its claim may be gone."""
        edge = event(RECEIVED - WEEK + timedelta(seconds=30))
        split = by_age([edge], received_at=RECEIVED, window=WEEK, skew=MINUTE)
        assert split.stale == [edge]

    def test_an_event_from_the_future_is_fresh(self) -> None:
        ahead = event(RECEIVED + MINUTE)
        assert by_age([ahead], received_at=RECEIVED, window=WEEK, skew=MINUTE).fresh == [ahead]


class TestFreshEvents:
    config = settings()

    def test_a_push_of_only_stale_events_is_refused(self) -> None:
        with pytest.raises(VerificationError) as refused:
            fresh_events([event(datetime(2020, 1, 1, tzinfo=UTC))], platform="line",
                         account="a", received_at=RECEIVED, settings=self.config)  # fmt: skip
        assert refused.value.reason == "stale_event"

    def test_stale_events_beside_fresh_ones_are_skipped(self) -> None:
        old, new = event(datetime(2020, 1, 1, tzinfo=UTC), "old"), event(RECEIVED, "new")
        kept = fresh_events([old, new], platform="line", account="a", received_at=RECEIVED,
                            settings=self.config)  # fmt: skip
        assert kept == [new]

    def test_a_push_with_no_events_is_not_stale(self) -> None:
        assert fresh_events([], platform="line", account="a", received_at=RECEIVED,
                            settings=self.config) == []  # fmt: skip


class TestSignatureMemory:
    def test_lasts_twice_the_tolerance_and_a_minute_of_replica_skew(self) -> None:
        assert signature_memory(timedelta(minutes=5)) == timedelta(minutes=11)


class TestSignedWithoutBody:
    """Which requests' signatures do not cover the body, keyed one way however they are spelt."""

    wechat = WeChatOfficialAccount()
    weibo = WeiboFanService(settings())

    def test_a_wechat_plain_push_and_url_check_are_keyed_by_their_signature(self) -> None:
        query = wechat_vectors.plain_query(wechat_vectors.TOKEN, NOW_TS, "5")
        push = request(query=query, body=b"<xml/>")
        check = request("GET", {**query, "echostr": "1"})
        assert self.wechat.signed_without_body(PLAIN, push) == query["signature"]
        assert self.wechat.signed_without_body(PLAIN, check) == query["signature"]

    def test_a_spelling_the_check_accepts_is_the_same_key(self) -> None:
        query = wechat_vectors.plain_query(wechat_vectors.TOKEN, NOW_TS, "5")
        shouted = {**query, "signature": f" {query['signature'].upper()} "}
        ADAPTER.verify(PLAIN, request(query=shouted, body=b"<xml/>"))
        key = self.wechat.signed_without_body(PLAIN, request(query=shouted, body=b"<xml/>"))
        assert key == query["signature"]

    def test_a_sealed_wechat_push_is_signed_with_its_body(self) -> None:
        body, query = wechat_vectors.safe_push("<xml/>", timestamp=NOW_TS)
        assert self.wechat.signed_without_body(SAFE, request(query=query, body=body)) is None

    def test_weibo_is_keyed_by_its_signature_whatever_its_case(self) -> None:
        signature = weibo_signature(weibo_vectors.SECRET, NOW_TS, "7")
        query = {"signature": signature.upper(), "timestamp": NOW_TS, "nonce": "7"}
        account = WeiboAccount.model_validate(weibo_vectors.ACCOUNT)
        assert self.weibo.signed_without_body(account, request(query=query)) == signature

    def test_only_those_adapters_have_the_hook(self) -> None:
        adapters = build_platforms(settings()).adapters
        signing = sorted(p for p, a in adapters.items() if isinstance(a, SignsWithoutBody))
        assert signing == ["wechat", "weibo"]
