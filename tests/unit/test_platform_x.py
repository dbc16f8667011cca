import base64
import contextlib
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.platforms.base import InboundRequest, MalformedPayload, VerificationError
from services.ingest.platforms.x import XAccount, XAccountActivity, x_signature
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanFollowed,
    FanUnfollowed,
    MessageReceived,
    ReactionAdded,
    ReplyRequested,
)
from tests.platform_vectors import x as vectors
from tests.platform_vectors.x import BRAND, CONSUMER_SECRET, FAN, activity, signed

ACCOUNT = XAccount.model_validate(vectors.ACCOUNT | {"access_token": "user-context-token"})
ADAPTER = XAccountActivity()
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
SENT_AT = datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)


def request(
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    method: str = "POST",
    query: dict[str, str] | None = None,
) -> InboundRequest:
    return InboundRequest(
        method=method, query=query or {}, headers=headers or {}, body=body, received_at=RECEIVED
    )


def push(payload: dict[str, Any]) -> InboundRequest:
    body, headers = signed(payload)
    return request(body, headers)


def normalise(payload: dict[str, Any]) -> list[Any]:
    pushed = push(payload)
    ADAPTER.verify(ACCOUNT, pushed)
    return list(ADAPTER.normalise(ACCOUNT, pushed))


def independent_hmac(secret: str, message: bytes) -> str:
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


class TestCrc:
    def test_answers_the_response_token_as_json(self) -> None:
        answer = ADAPTER.handshake(
            ACCOUNT, request(method="GET", query={"crc_token": vectors.CRC_TOKEN})
        )
        assert answer.status_code == 200
        assert answer.media_type == "application/json"
        assert json.loads(answer.body) == {
            "response_token": independent_hmac(CONSUMER_SECRET, vectors.CRC_TOKEN.encode())
        }

    def test_signature_matches_an_independent_hmac(self) -> None:
        assert x_signature("secret", b"crc") == independent_hmac("secret", b"crc")

    @pytest.mark.parametrize(
        "query",
        [{}, {"crc_token": ""}, {"crc_token": "x" * 257},
         # X signs pushes with the CRC's HMAC: answering this would sign a forged push body
         {"crc_token": '{"for_user_id": "1", "direct_message_events": []}'}],
        ids=["none", "empty", "too-long", "a-push-body"],
    )  # fmt: skip
    def test_a_get_without_a_usable_crc_token_is_refused(self, query: dict[str, str]) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(ACCOUNT, request(method="GET", query=query))
        assert refused.value.reason == "unsupported"


class TestSignature:
    def test_accepts_the_signed_body(self) -> None:
        ADAPTER.verify(ACCOUNT, push(activity()))

    def test_refuses_one_flipped_body_byte(self) -> None:
        body, headers = signed(activity(tweet_create_events=[vectors.reply_tweet()]))
        tampered = body[:10] + bytes([body[10] ^ 1]) + body[11:]
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(ACCOUNT, request(tampered, headers))
        assert refused.value.reason == "signature"

    @pytest.mark.parametrize(
        "signature", ["", "sha256=", "sha256=AAAA", x_signature("other-secret", b"{}")]
    )
    def test_refuses_a_missing_or_wrong_signature(self, signature: str) -> None:
        headers = {"x-twitter-webhooks-signature": signature} if signature else {}
        with pytest.raises(VerificationError):
            ADAPTER.verify(ACCOUNT, request(b"{}", headers))

    def test_the_secret_is_not_in_the_refusal(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(ACCOUNT, request(b"{}", {"x-twitter-webhooks-signature": "sha256=x"}))
        assert CONSUMER_SECRET not in str(refused.value)


class TestTweets:
    def test_a_reply_to_the_brand_is_a_comment_on_its_tweet(self) -> None:
        [event] = normalise(activity(tweet_create_events=[vectors.reply_tweet()]))
        data = event.data
        assert isinstance(data, CommentCreated)
        assert (data.user_id, data.comment_id, data.post_id) == (
            FAN,
            "1050118621198921728",
            "1050118000000",
        )
        assert data.text == "@brand my order never arrived"
        assert data.thread_ref == "1050118000000"
        assert not data.is_mention
        assert data.follower_count == 1523
        assert data.occurred_at == SENT_AT
        assert event.subject == f"x:x-vectors:{FAN}"

    def test_a_mention_is_a_comment_marked_as_mention(self) -> None:
        [event] = normalise(activity(tweet_create_events=[vectors.mention_tweet()]))
        assert isinstance(event.data, CommentCreated)
        assert event.data.is_mention
        assert event.data.post_id is None

    def test_extended_text_is_preferred(self) -> None:
        long = vectors.mention_tweet() | {"extended_tweet": {"full_text": "the whole text"}}
        [event] = normalise(activity(tweet_create_events=[long]))
        assert event.data.text == "the whole text"

    def test_retweet_and_quote_of_the_brand_are_shares_with_reach(self) -> None:
        events = normalise(activity(tweet_create_events=[vectors.retweet(), vectors.quote_tweet()]))
        assert [type(e.data) for e in events] == [ContentShared, ContentShared]
        assert [e.data.content_id for e in events] == ["1050118000001", "1050118000002"]
        assert {e.data.reach for e in events} == {1523}

    def test_created_at_is_used_without_timestamp_ms(self) -> None:
        tweet = vectors.reply_tweet() | {
            "timestamp_ms": None,
            "created_at": "Thu Oct 11 08:00:00 +0200 2018",
        }
        [event] = normalise(activity(tweet_create_events=[tweet]))
        assert event.data.occurred_at == datetime(2018, 10, 11, 6, tzinfo=UTC)

    @pytest.mark.parametrize(
        "created_at", ["Mon Jan 01 00:00:00 +2359 0001", "Fri Dec 31 23:59:59 -2359 9999"]
    )
    def test_a_time_outside_the_calendar_falls_back_to_receipt(self, created_at: str) -> None:
        tweet = vectors.reply_tweet() | {"timestamp_ms": "-5", "created_at": created_at}
        [event] = normalise(activity(tweet_create_events=[tweet]))
        assert event.data.occurred_at == RECEIVED

    def test_without_any_time_the_receipt_time_is_used(self) -> None:
        tweet = vectors.reply_tweet() | {"timestamp_ms": None, "created_at": "garbage"}
        [event] = normalise(activity(tweet_create_events=[tweet]))
        assert event.data.occurred_at == RECEIVED

    @pytest.mark.parametrize(
        "tweet",
        [
            vectors.tweet("1", user=vectors.brand_user()),  # the brand's own
            vectors.tweet("2"),  # unrelated
            vectors.tweet("3", retweeted_status=vectors.tweet("4")),  # retweet of someone else
        ],
        ids=["own", "unrelated", "others-retweet"],
    )
    def test_tweets_that_are_not_about_the_brand_give_nothing(self, tweet: Any) -> None:
        assert normalise(activity(tweet_create_events=[tweet])) == []


class TestOtherActivity:
    def test_a_like_is_a_reaction_on_the_liked_tweet(self) -> None:
        [event] = normalise(activity(favorite_events=[vectors.favorite()]))
        data = event.data
        assert isinstance(data, ReactionAdded)
        assert (data.reaction, data.target_id, data.user_id) == ("like", "1050118000003", FAN)
        assert data.platform_event_id == "a7ba59eab0bfcba386f7acedac279542"
        assert data.occurred_at == SENT_AT

    def test_follow_and_unfollow_of_the_brand(self) -> None:
        events = normalise(
            activity(follow_events=[vectors.follow(), vectors.follow("unfollow", "1539202999000")])
        )
        assert [type(e.data) for e in events] == [FanFollowed, FanUnfollowed]
        assert {e.data.user_id for e in events} == {FAN}
        assert events[0].data.follower_count == 1523
        assert events[0].data.occurred_at == SENT_AT

    def test_the_brand_following_someone_gives_nothing(self) -> None:
        outgoing = vectors.follow() | {"source": {"id": BRAND}, "target": {"id": FAN}}
        assert normalise(activity(follow_events=[outgoing])) == []

    def test_a_direct_message_with_a_photo(self) -> None:
        users = {FAN: vectors.fan(followers=42)}
        [event] = normalise(
            activity(direct_message_events=[vectors.direct_message(media=True)], users=users)
        )
        data = event.data
        assert isinstance(data, MessageReceived)
        assert (data.message_id, data.message_type, data.thread_ref) == (
            "1050118621198921800",
            "image",
            FAN,
        )
        assert data.text == "hi, where is my parcel?"
        assert data.media[0].platform_media_id == "1050118600000000000"
        assert data.media[0].url == "https://ton.x.com/1.1/ton/data/dm/1/2/abc.jpg"
        assert data.follower_count == 42
        assert data.occurred_at == SENT_AT

    def test_our_own_dms_typing_and_read_receipts_give_nothing(self) -> None:
        [case] = [c for c in vectors.CASES if c.name.startswith("the brand's own DM")]
        payload = json.loads(case.body)
        assert normalise(payload) == []

    def test_a_retried_push_gives_the_same_event_ids(self) -> None:
        payload = activity(
            tweet_create_events=[vectors.reply_tweet()],
            follow_events=[vectors.follow()],
            direct_message_events=[vectors.direct_message()],
        )
        assert [e.id for e in normalise(payload)] == [e.id for e in normalise(payload)]
        assert len({e.id for e in normalise(payload)}) == 3


class TestMalformed:
    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"not json",
            b"[]",
            b'{"tweet_create_events": []}',
            json.dumps(activity(tweet_create_events=[{"id_str": "1"}])).encode(),
            json.dumps(activity(follow_events="nope")).encode(),
        ],
    )
    def test_unreadable_payloads_are_malformed(self, body: bytes) -> None:
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(body))

    def test_another_users_activity_is_malformed(self) -> None:
        with pytest.raises(MalformedPayload):
            normalise(activity() | {"for_user_id": "12345"})

    @settings(max_examples=200, deadline=None)
    @given(
        body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
        headers=st.dictionaries(
            st.sampled_from(["x-twitter-webhooks-signature", "other"]), st.text(max_size=60)
        ),
        query=st.dictionaries(st.sampled_from(["crc_token", "nonce"]), st.text(max_size=60)),
    )
    def test_arbitrary_input_only_ever_refuses_or_is_malformed(
        self, body: bytes, headers: dict[str, str], query: dict[str, str]
    ) -> None:
        req = request(body, headers, query=query)
        for step in (ADAPTER.handshake, ADAPTER.verify, ADAPTER.normalise):
            with contextlib.suppress(VerificationError, MalformedPayload):
                step(ACCOUNT, req)

    @settings(max_examples=200, deadline=None)
    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "id_str",
                            "user",
                            "id",
                            "type",
                            "sender_id",
                            "timestamp_ms",
                            "message_create",
                            "target",
                            "source",
                            "created_timestamp",
                            "favorited_status",
                        ]
                    ),
                    children,
                    max_size=4,
                )
            ),
            max_leaves=15,
        )
    )
    def test_arbitrary_event_lists_only_ever_are_malformed(self, item: Any) -> None:
        for key in (
            "tweet_create_events",
            "favorite_events",
            "follow_events",
            "direct_message_events",
        ):
            with contextlib.suppress(MalformedPayload):
                ADAPTER.normalise(ACCOUNT, request(json.dumps(activity(**{key: [item]})).encode()))


def reply(user_id: str = FAN) -> ReplyRequested:
    return ReplyRequested(
        reply_id="r-1",
        conversation_id="c-1",
        platform="x",
        account="x-vectors",
        user_id=user_id,
        text="On its way!",
    )


def fake_x(
    status: int,
    answer: dict[str, Any],
    headers: dict[str, str] | None = None,
    seen: list[httpx.Request] | None = None,
) -> httpx.AsyncClient:
    def handle(req: httpx.Request) -> httpx.Response:
        assert req.method == "POST"
        assert req.url.path == f"/2/dm_conversations/with/{FAN}/messages"
        assert req.headers["authorization"] == "Bearer user-context-token"
        assert json.loads(req.content) == {"text": "On its way!"}
        if seen is not None:
            seen.append(req)
        return httpx.Response(status, json=answer, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def send(client: httpx.AsyncClient, account: XAccount = ACCOUNT) -> Any:
    async with client:
        return await ADAPTER.send(account, reply(), http=client, base_url="https://x.test")


class TestSend:
    async def test_a_delivered_dm_returns_its_event_id(self) -> None:
        seen: list[httpx.Request] = []
        outcome = await send(
            fake_x(
                201, {"data": {"dm_conversation_id": "1-2", "dm_event_id": "1582838223"}}, seen=seen
            )
        )
        assert outcome.delivered
        assert (outcome.status_code, outcome.platform_message_id) == (201, "1582838223")
        assert seen[0].url.host == "x.test"

    async def test_rate_limited_is_retryable(self) -> None:
        outcome = await send(
            fake_x(
                429,
                {
                    "title": "Too Many Requests",
                    "detail": "slow down",
                    "type": "about:blank",
                    "status": 429,
                },
                headers={"x-rate-limit-reset": "1700000000"},
            )
        )
        assert not outcome.delivered
        assert outcome.retryable
        assert "Too Many Requests" in outcome.error
        assert "1700000000" in outcome.error

    async def test_a_server_error_is_retryable(self) -> None:
        outcome = await send(fake_x(503, {"title": "Service Unavailable"}))
        assert outcome.retryable
        assert outcome.status_code == 503

    async def test_a_refused_dm_is_final_with_the_problem(self) -> None:
        problem = {
            "title": "Forbidden",
            "detail": "You cannot send messages to this user.",
            "type": "https://api.x.com/2/problems/client-forbidden",
        }
        outcome = await send(fake_x(403, problem))
        assert not outcome.retryable
        assert "You cannot send messages to this user." in outcome.error
        assert "client-forbidden" in outcome.error

    async def test_without_an_access_token_nothing_is_sent(self) -> None:
        seen: list[httpx.Request] = []
        no_token = ACCOUNT.model_copy(update={"access_token": None})
        outcome = await send(fake_x(201, {}, seen=seen), account=no_token)
        assert not outcome.delivered
        assert not outcome.retryable
        assert seen == []

    async def test_a_non_numeric_user_id_is_not_put_in_the_path(self) -> None:
        async with fake_x(201, {}) as client:
            outcome = await ADAPTER.send(
                ACCOUNT, reply("../../2/tweets"), http=client, base_url="https://x.test"
            )
        assert not outcome.delivered
        assert not outcome.retryable
