import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.platforms.base import InboundRequest, MalformedPayload, VerificationError
from services.ingest.platforms.telegram import TelegramAccount, TelegramBot
from shared.contracts import (
    FanFollowed,
    FanUnfollowed,
    MessageReceived,
    ReactionAdded,
    ReplyRequested,
)
from tests.platform_vectors import telegram as vectors
from tests.platform_vectors.telegram import DATE, SECRET_TOKEN, USER_ID, message, update

BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
ACCOUNT = TelegramAccount.model_validate(vectors.ACCOUNT | {"bot_token": BOT_TOKEN})
ADAPTER = TelegramBot()
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
SENT_AT = datetime.fromtimestamp(DATE, UTC)
HEADERS = {"x-telegram-bot-api-secret-token": SECRET_TOKEN}


def request(
    body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST"
) -> InboundRequest:
    return InboundRequest(
        method=method, query={}, headers=headers or {}, body=body, received_at=RECEIVED
    )


def normalise(payload: dict[str, Any]) -> list[Any]:
    pushed = request(json.dumps(payload).encode(), HEADERS)
    ADAPTER.verify(ACCOUNT, pushed)
    return list(ADAPTER.normalise(ACCOUNT, pushed))


def one(payload: dict[str, Any]) -> Any:
    [event] = normalise(payload)
    return event


class TestSecretToken:
    def test_accepts_the_configured_token(self) -> None:
        ADAPTER.verify(ACCOUNT, request(b"{}", HEADERS))

    @pytest.mark.parametrize("token", ["", "guessed", SECRET_TOKEN + "x", SECRET_TOKEN[:-1]])
    def test_refuses_a_missing_or_wrong_token(self, token: str) -> None:
        headers = {"x-telegram-bot-api-secret-token": token} if token else {}
        with pytest.raises(VerificationError) as refused:
            ADAPTER.verify(ACCOUNT, request(b"{}", headers))
        assert refused.value.reason == "signature"
        assert SECRET_TOKEN not in str(refused.value)

    def test_there_is_no_handshake(self) -> None:
        with pytest.raises(VerificationError) as refused:
            ADAPTER.handshake(ACCOUNT, request(method="GET"))
        assert refused.value.reason == "unsupported"

    def test_the_acknowledgement_is_an_empty_200(self) -> None:
        answer = ADAPTER.acknowledge(ACCOUNT, request(), [])
        assert (answer.status_code, answer.body) == (200, b"")


class TestMessages:
    def test_a_text_message(self) -> None:
        event = one(vectors.text_update())
        data = event.data
        assert isinstance(data, MessageReceived)
        assert (data.user_id, data.message_id, data.text) == (str(USER_ID), "1365", "/start")
        assert (data.message_type, data.language, data.thread_ref) == ("text", "en", str(USER_ID))
        assert data.occurred_at == SENT_AT
        assert data.platform_event_id == f"{USER_ID}:1365"
        assert event.subject == f"telegram:tg-vectors:{USER_ID}"

    def test_a_photo_keeps_its_largest_size_and_caption(self) -> None:
        data = one(vectors.photo_update()).data
        assert (data.message_type, data.text) == ("image", "is this the right one?")
        assert data.media[0].platform_media_id == "AgACAgIAAxkBAAIC800"

    def test_a_voice_message(self) -> None:
        data = one(vectors.voice_update()).data
        assert data.message_type == "voice"
        assert data.media[0].mime_type == "audio/ogg"
        assert data.text is None

    def test_a_location(self) -> None:
        data = one(vectors.location_update()).data
        assert data.message_type == "location"
        assert data.media[0].url == "geo:31.2304,121.4737"

    def test_an_unknown_kind_of_message_is_other(self) -> None:
        msg = message(1400, poll={"id": "1", "question": "?"})
        del msg["text"]
        assert one(update(1, message=msg)).data.message_type == "other"

    def test_an_edit_is_a_new_event_but_its_retry_is_not(self) -> None:
        original = one(vectors.text_update())
        edit = one(vectors.edited_update())
        assert edit.id != original.id
        assert edit.id == one(vectors.edited_update()).id
        assert edit.id != one(vectors.edited_update(edit_date=DATE + 120)).id
        assert edit.data.occurred_at == datetime.fromtimestamp(DATE + 60, UTC)
        assert edit.data.text == "/start again"

    def test_ids_do_not_depend_on_the_update_id(self) -> None:
        first = vectors.text_update()
        assert one(first).id == one(first | {"update_id": 99999}).id

    def test_a_callback_query_is_an_event_message(self) -> None:
        data = one(vectors.callback_update()).data
        assert isinstance(data, MessageReceived)
        assert (data.message_type, data.text, data.message_id) == (
            "event",
            "size:M",
            "4382bfdwdsb323b2d9",
        )
        assert data.thread_ref == str(USER_ID)
        assert data.occurred_at == RECEIVED

    def test_messages_from_bots_and_channel_posts_give_nothing(self) -> None:
        by_bot = message(1, **{"from": vectors.sender(5, is_bot=True)})
        channel = {"message_id": 5, "chat": {"id": -100, "type": "channel"}, "date": DATE}
        assert normalise(update(1, message=by_bot)) == []
        assert normalise(update(2, channel_post=channel)) == []
        assert normalise(update(3, poll={"id": "1"})) == []


class TestReactionsAndMembership:
    def test_a_new_emoji_reaction(self) -> None:
        data = one(vectors.reaction_update()).data
        assert isinstance(data, ReactionAdded)
        assert (data.reaction, data.target_id, data.user_id) == ("👍", "1365", str(USER_ID))

    def test_reactions_already_there_or_removed_give_nothing(self) -> None:
        kept = vectors.reaction_update()
        kept["message_reaction"]["old_reaction"] = kept["message_reaction"]["new_reaction"]
        removed = vectors.reaction_update()
        removed["message_reaction"]["new_reaction"] = []
        assert normalise(kept) == normalise(removed) == []

    def test_starting_and_blocking_the_bot(self) -> None:
        started = one(vectors.member_update("member", DATE)).data
        blocked = one(vectors.member_update("kicked", DATE + 1)).data
        assert isinstance(started, FanFollowed)
        assert isinstance(blocked, FanUnfollowed)
        assert started.user_id == blocked.user_id == str(USER_ID)

    def test_membership_in_groups_gives_nothing(self) -> None:
        group = vectors.member_update("member", DATE)
        group["my_chat_member"]["chat"] = {"id": -42, "type": "group"}
        assert normalise(group) == []


class TestMalformed:
    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"nope",
            b"[]",
            b'{"message": {}}',
            b'{"update_id": "x"}',
            b'{"update_id": 1, "message": {"message_id": 1}}',
            b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1}, "date": -5}}',
            b'{"update_id": 1, "message_reaction": {"chat": {"id": 1}, "message_id": 1e400}}',
            b'{"update_id": 1' + b"0" * 5000 + b"}",
            b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1, "type": "private"}, '
            b'"date": 253402300800}}',
        ],
    )
    def test_unreadable_updates_are_malformed(self, body: bytes) -> None:
        with pytest.raises(MalformedPayload):
            ADAPTER.normalise(ACCOUNT, request(body))

    @settings(max_examples=200, deadline=None)
    @given(
        body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
        headers=st.dictionaries(
            st.sampled_from(["x-telegram-bot-api-secret-token", "x"]), st.text(max_size=60)
        ),
    )
    def test_arbitrary_input_only_ever_refuses_or_is_malformed(
        self, body: bytes, headers: dict[str, str]
    ) -> None:
        for method in ("GET", "POST"):
            req = request(body, headers, method=method)
            for step in (ADAPTER.handshake, ADAPTER.verify, ADAPTER.normalise):
                with contextlib.suppress(VerificationError, MalformedPayload):
                    step(ACCOUNT, req)

    @settings(max_examples=300, deadline=None)
    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "id",
                            "from",
                            "chat",
                            "date",
                            "message_id",
                            "text",
                            "photo",
                            "file_id",
                            "is_bot",
                            "type",
                            "user",
                            "new_reaction",
                            "emoji",
                            "status",
                            "edit_date",
                            "location",
                            "latitude",
                            "new_chat_member",
                        ]
                    ),
                    children,
                    max_size=5,
                )
            ),
            max_leaves=20,
        )
    )
    def test_arbitrary_updates_only_ever_are_malformed(self, item: Any) -> None:
        for kind in (
            "message",
            "edited_message",
            "callback_query",
            "message_reaction",
            "my_chat_member",
        ):
            with contextlib.suppress(MalformedPayload):
                ADAPTER.normalise(ACCOUNT, request(json.dumps(update(1, **{kind: item})).encode()))


def reply(in_reply_to: str | None = "1365") -> ReplyRequested:
    return ReplyRequested(
        reply_id="r-1",
        conversation_id="c-1",
        platform="telegram",
        account="tg-vectors",
        user_id=str(USER_ID),
        text="On its way!",
        in_reply_to=in_reply_to,
    )


def fake_telegram(
    status: int, answer: dict[str, Any], seen: list[dict[str, Any]] | None = None
) -> httpx.AsyncClient:
    def handle(req: httpx.Request) -> httpx.Response:
        assert req.method == "POST"
        assert req.url.path == f"/bot{BOT_TOKEN}/sendMessage"
        body = json.loads(req.content)
        assert body["chat_id"] == USER_ID
        assert body["text"] == "On its way!"
        if seen is not None:
            seen.append(body)
        return httpx.Response(status, json=answer)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def send(
    client: httpx.AsyncClient,
    *,
    in_reply_to: str | None = "1365",
    account: TelegramAccount = ACCOUNT,
) -> Any:
    async with client:
        return await ADAPTER.send(
            account, reply(in_reply_to), http=client, base_url="https://tg.test/"
        )


def failure(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    return answer | ({"parameters": parameters} if parameters else {})


class TestSend:
    async def test_a_delivered_reply_quotes_the_fans_message(self) -> None:
        seen: list[dict[str, Any]] = []
        ok = {"ok": True, "result": {"message_id": 1372, "date": DATE, "text": "On its way!"}}
        outcome = await send(fake_telegram(200, ok, seen))
        assert outcome.delivered
        assert (outcome.status_code, outcome.platform_message_id) == (200, "1372")
        assert seen[0]["reply_parameters"] == {
            "message_id": 1365,
            "allow_sending_without_reply": True,
        }

    async def test_a_reply_to_a_non_numeric_id_is_sent_without_a_quote(self) -> None:
        seen: list[dict[str, Any]] = []
        await send(
            fake_telegram(200, {"ok": True, "result": {"message_id": 1}}, seen),
            in_reply_to="4382bfdwdsb323b2d9",
        )
        assert "reply_parameters" not in seen[0]

    async def test_flood_control_is_retryable(self) -> None:
        answer = failure(429, "Too Many Requests: retry after 35", retry_after=35)
        outcome = await send(fake_telegram(429, answer))
        assert outcome.retryable
        assert "retry after 35" in outcome.error

    async def test_a_server_error_is_retryable(self) -> None:
        outcome = await send(fake_telegram(502, failure(502, "Bad Gateway")))
        assert outcome.retryable

    @pytest.mark.parametrize(
        ("status", "description"),
        [
            (400, "Bad Request: chat not found"),
            (403, "Forbidden: bot was blocked by the user"),
        ],
    )
    async def test_refusals_are_final(self, status: int, description: str) -> None:
        outcome = await send(fake_telegram(status, failure(status, description)))
        assert not outcome.delivered
        assert not outcome.retryable
        assert description in outcome.error
        assert BOT_TOKEN not in outcome.error

    async def test_without_a_bot_token_nothing_is_sent(self) -> None:
        no_token = ACCOUNT.model_copy(update={"bot_token": None})
        seen: list[dict[str, Any]] = []
        outcome = await send(fake_telegram(200, {}, seen), account=no_token)
        assert not outcome.delivered
        assert seen == []

    async def test_a_network_error_does_not_carry_the_token(self) -> None:
        def refuse(req: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(f"cannot reach {req.url}", request=req)

        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            with pytest.raises(httpx.ConnectError) as failed:
                await ADAPTER.send(ACCOUNT, reply(), http=client, base_url="https://tg.test")
        assert BOT_TOKEN not in repr(failed.value)
        assert failed.value.__cause__ is None
        assert failed.value.__context__ is None or failed.value.__suppress_context__
