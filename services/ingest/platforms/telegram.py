"""Telegram Bot API webhooks: no handshake and no body signature, only the
``X-Telegram-Bot-Api-Secret-Token`` header set with ``setWebhook(secret_token=…)``; one Update
per push; replies out through ``sendMessage``."""

import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, ClassVar, Final, Literal, NotRequired, TypedDict

import httpx
from pydantic import ConfigDict, Field, SecretStr

from services.ingest.platforms.base import (
    OK,
    FixedAcknowledgement,
    InboundRequest,
    PlatformAccount,
    PlatformAnswer,
    SendOutcome,
    VerificationError,
    no_handshake,
)
from services.ingest.platforms.common import (
    MAX_EPOCH_SECONDS,
    CappedText,
    Payload,
    fan_event,
    from_seconds,
    json_object,
    malformed_on_invalid,
    not_sent,
    parse_json,
    retryable_status,
)
from shared.contracts import (
    FanEvent,
    FanFields,
    FanFollowed,
    FanUnfollowed,
    MediaRef,
    MessageReceived,
    ReactionAdded,
    ReplyRequested,
)
from shared.events import CloudEvent
from shared.logging import get_logger

PLATFORM: Final = "telegram"
log = get_logger(__name__)
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)


class TelegramAccount(PlatformAccount):
    platform: Literal["telegram"]
    secret_token: SecretStr
    bot_token: SecretStr | None = None  # for sendMessage


# --- the Update --------------------------------------------------------------------------------

TgId = Annotated[int, Field(ge=-(2**63), lt=2**63)]  # Telegram's ids are 64-bit integers
Seconds = Annotated[int, Field(ge=0, lt=MAX_EPOCH_SECONDS)]  # before year 10000
Text = CappedText
Short = Annotated[str, Field(max_length=256)]


class _Model(Payload):
    model_config = ConfigDict(populate_by_name=True)  # "from" is read as ``sender``


class User(_Model):
    id: TgId
    is_bot: bool = False
    language_code: Annotated[str, Field(max_length=35)] | None = None


class Chat(_Model):
    id: TgId
    type: Short


class File(_Model):
    file_id: Short
    mime_type: Short | None = None


class Location(_Model):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Message(_Model):
    message_id: TgId
    sender: User | None = Field(default=None, alias="from")
    chat: Chat
    date: Seconds
    edit_date: Seconds | None = None
    text: Text | None = None
    caption: Text | None = None
    photo: list[File] = Field(default_factory=list)
    voice: File | None = None
    audio: File | None = None
    video: File | None = None
    video_note: File | None = None
    animation: File | None = None
    document: File | None = None
    sticker: File | None = None
    location: Location | None = None


class CallbackMessage(_Model):
    chat: Chat


class CallbackQuery(_Model):
    id: Short
    sender: User = Field(alias="from")
    data: Text | None = None
    message: CallbackMessage | None = None


class Reaction(_Model):
    type: Short
    emoji: Short | None = None
    custom_emoji_id: Short | None = None


class MessageReaction(_Model):
    chat: Chat
    message_id: TgId
    user: User | None = None  # absent for anonymous group admins
    date: Seconds
    old_reaction: list[Reaction] = Field(default_factory=list)
    new_reaction: list[Reaction] = Field(default_factory=list)


class ChatMember(_Model):
    status: Short


class ChatMemberUpdated(_Model):
    chat: Chat
    sender: User = Field(alias="from")
    date: Seconds
    new_chat_member: ChatMember


class Update(_Model):
    update_id: TgId
    message: Message | None = None
    edited_message: Message | None = None
    callback_query: CallbackQuery | None = None
    message_reaction: MessageReaction | None = None
    my_chat_member: ChatMemberUpdated | None = None


# --- normalisation (Telegram's dates are epoch seconds) ------------------------------------------

MessageType = Literal["image", "voice", "video", "file", "sticker"]
# (field, message_type): the first one a message carries decides its type.
MEDIA_FIELDS: tuple[tuple[str, MessageType], ...] = (
    ("voice", "voice"), ("audio", "voice"), ("video", "video"), ("video_note", "video"),
    ("animation", "video"), ("sticker", "sticker"), ("document", "file"),
)  # fmt: skip


def _media(message: Message) -> tuple[MediaRef, ...]:
    if message.photo:  # several sizes of one picture: the largest is last
        return (MediaRef(kind="image", platform_media_id=message.photo[-1].file_id),)
    for name, kind in MEDIA_FIELDS:
        file: File | None = getattr(message, name)
        if file is not None:
            return (MediaRef(kind=kind, platform_media_id=file.file_id, mime_type=file.mime_type),)
    if message.location is not None:
        geo = f"geo:{message.location.latitude},{message.location.longitude}"
        return (MediaRef(kind="location", url=geo),)
    return ()


class _Normaliser:
    def __init__(self, account: TelegramAccount, received_at: datetime) -> None:
        self.account = account.account_id
        self.received_at = received_at

    def update(self, update: Update) -> list[CloudEvent[FanEvent]]:
        if update.message is not None:
            return self.message(update.message, edited=False)
        if update.edited_message is not None:
            return self.message(update.edited_message, edited=True)
        if update.callback_query is not None:
            return self.callback(update.callback_query)
        if update.message_reaction is not None:
            return self.reaction(update.message_reaction)
        if update.my_chat_member is not None:
            return self.membership(update.my_chat_member)
        return []  # channel posts, polls, inline queries, payments…: not a fan's message

    def message(self, message: Message, *, edited: bool) -> list[CloudEvent[FanEvent]]:
        sender = message.sender
        if sender is None or sender.is_bot:
            return []
        # update_id is per bot and restarts; chat + message id (+ the edit) is stable.
        parts = [str(message.chat.id), str(message.message_id)]
        if edited:
            parts += ["edit", str(message.edit_date or message.date)]
        media = _media(message)
        text = message.text if message.text is not None else message.caption
        message_type = media[0].kind if media else ("text" if text is not None else "other")
        occurred = message.edit_date if edited and message.edit_date else message.date
        contract = MessageReceived(
            **self._fields(sender.id, ":".join(parts), message.chat.id, from_seconds(occurred)),
            message_id=str(message.message_id), message_type=message_type, text=text,
            media=media, language=sender.language_code,
        )  # fmt: skip
        return [fan_event(contract, *parts)]

    def callback(self, query: CallbackQuery) -> list[CloudEvent[FanEvent]]:
        if query.sender.is_bot:
            return []
        chat = query.message.chat.id if query.message else None
        contract = MessageReceived(
            **self._fields(query.sender.id, query.id, chat, self.received_at),
            message_id=query.id, message_type="event", text=query.data,
            language=query.sender.language_code,
        )  # fmt: skip
        return [fan_event(contract, "callback", query.id)]

    def reaction(self, reaction: MessageReaction) -> list[CloudEvent[FanEvent]]:
        user = reaction.user
        if user is None or user.is_bot:
            return []
        old = {(r.type, r.emoji, r.custom_emoji_id) for r in reaction.old_reaction}
        occurred_at = from_seconds(reaction.date)
        events: list[CloudEvent[FanEvent]] = []
        for added in reaction.new_reaction:
            if (added.type, added.emoji, added.custom_emoji_id) in old:
                continue
            label = added.emoji or added.custom_emoji_id or added.type
            parts = [str(reaction.chat.id), str(reaction.message_id), str(user.id), label,
                     str(reaction.date)]  # fmt: skip
            contract = ReactionAdded(
                **self._fields(user.id, ":".join(parts), reaction.chat.id, occurred_at),
                target_id=str(reaction.message_id), reaction=label,
            )  # fmt: skip
            events.append(fan_event(contract, *parts))
        return events

    def membership(self, update: ChatMemberUpdated) -> list[CloudEvent[FanEvent]]:
        """A user starting (``member``) or blocking (``kicked``) the bot in a private chat."""
        status = update.new_chat_member.status
        if update.chat.type != "private" or update.sender.is_bot:
            return []
        kind = {"member": FanFollowed, "kicked": FanUnfollowed}.get(status)
        if kind is None:
            return []
        parts = [str(update.chat.id), str(update.sender.id), status, str(update.date)]
        fields = self._fields(
            update.sender.id, ":".join(parts), update.chat.id, from_seconds(update.date)
        )
        return [fan_event(kind(**fields), *parts)]

    def _fields(
        self, user_id: int, platform_id: str, chat_id: int | None, occurred_at: datetime
    ) -> FanFields:
        return {
            "platform": PLATFORM, "account": self.account, "user_id": str(user_id),
            "occurred_at": occurred_at, "platform_event_id": platform_id,
            "thread_ref": str(chat_id) if chat_id is not None else None,
        }  # fmt: skip


# --- the adapter -------------------------------------------------------------------------------


class ReplyParameters(TypedDict):
    message_id: int
    allow_sending_without_reply: bool


class SendMessage(TypedDict):
    """The ``sendMessage`` body this adapter sends."""

    chat_id: int | str
    text: str
    reply_parameters: NotRequired[ReplyParameters]


class TelegramBot(FixedAcknowledgement):
    secret_headers: ClassVar[frozenset[str]] = frozenset({SECRET_HEADER})
    secret_query: ClassVar[frozenset[str]] = frozenset()
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    account_model: ClassVar[type[PlatformAccount]] = TelegramAccount
    default_send_base_url: ClassVar[str] = "https://api.telegram.org"
    acknowledgement: ClassVar[PlatformAnswer] = OK  # Telegram only looks at the status

    def handshake(self, account: TelegramAccount, request: InboundRequest) -> PlatformAnswer:
        return no_handshake(request)

    def verify(self, account: TelegramAccount, request: InboundRequest) -> None:
        """Telegram signs nothing: the secret token set with setWebhook is the only proof."""
        token = request.headers.get(SECRET_HEADER, "")
        if not token:
            raise VerificationError("signature", f"{SECRET_HEADER} is required")
        expected = account.secret_token.get_secret_value()
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise VerificationError("signature", f"{SECRET_HEADER} does not match")

    def normalise(
        self, account: TelegramAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        update = parse_json(Update, request.body)
        with malformed_on_invalid():  # an event the contract refuses: 400
            return _Normaliser(account, request.received_at).update(update)

    async def send(
        self, account: TelegramAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        """One ``sendMessage``. The Bot API has no idempotency key: a crash after Telegram
        accepted a reply sends it again on restart. The bot token is part of the URL, so no
        URL (nor the exception carrying one) leaves this method."""
        if account.bot_token is None:
            return not_sent("no bot_token for this Telegram account")
        body: SendMessage = {"chat_id": _chat_id(reply.user_id), "text": reply.text}
        quoted = _quoted_message_id(reply.in_reply_to)
        if quoted is not None:
            body["reply_parameters"] = {"message_id": quoted, "allow_sending_without_reply": True}
        url = f"{base_url.rstrip('/')}/bot{account.bot_token.get_secret_value()}/sendMessage"
        try:
            response = await http.post(url, json=body)
        except httpx.TransportError as exc:
            raise type(exc)(f"{type(exc).__name__} calling Telegram sendMessage") from None
        return _send_outcome(response)


def _quoted_message_id(in_reply_to: str | None) -> int | None:
    """The fan's message a reply quotes, if ``in_reply_to`` is a Telegram message id (digits,
    within 64 bits). Anything else (a callback query's id; "²", a digit to ``isdigit`` but not to
    ``int``) is sent without a quote: read once here, never a failure retried."""
    if not in_reply_to:
        return None
    if in_reply_to.isascii() and in_reply_to.isdigit() and int(in_reply_to) < 2**63:
        return int(in_reply_to)
    log.debug("reply sent without a quote: in_reply_to is not a Telegram message id")
    return None


def _chat_id(user_id: str) -> int | str:
    """A private chat's id is the user's id; ``@channel`` names pass as they are."""
    try:
        return int(user_id)
    except ValueError:
        return user_id


def _send_outcome(response: httpx.Response) -> SendOutcome:
    status = response.status_code
    answer = json_object(response)
    if status == 200 and answer.get("ok") is True:
        result = answer.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return SendOutcome(
            delivered=True, status_code=status,
            platform_message_id=str(message_id) if message_id is not None else None,
        )  # fmt: skip
    code = answer.get("error_code", status)
    error = f"{code}: {answer.get('description') or f'HTTP {status}'}"
    parameters = answer.get("parameters")
    if isinstance(parameters, dict) and parameters.get("retry_after") is not None:
        error += f" (retry after {parameters['retry_after']} s)"
    retryable = retryable_status(status) or code == 429
    return SendOutcome(delivered=False, status_code=status, error=error[:2000], retryable=retryable)
