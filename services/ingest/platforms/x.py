"""X (Twitter) Account Activity API: the CRC handshake, ``x-twitter-webhooks-signature`` over
the raw body (both ``sha256=`` + base64 HMAC-SHA256 with the app's consumer secret), the
activity payload of one subscribed user, and direct messages out through the v2 DM API."""

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, Literal

import httpx
from pydantic import Field, SecretStr

from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    PlatformAccount,
    PlatformAnswer,
    SendOutcome,
    VerificationError,
)
from services.ingest.platforms.common import (
    CappedText,
    Payload,
    fan_event,
    from_millis,
    json_object,
    not_sent,
    parse_json,
    retryable_status,
)
from shared.contracts import (
    CommentCreated,
    ContentShared,
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

PLATFORM: Final = "x"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Wed Oct 10 20:19:24 +0000 2018"


class XAccount(PlatformAccount):
    platform: Literal["x"]
    user_id: str = Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")
    consumer_secret: SecretStr
    access_token: SecretStr | None = None  # OAuth 2 user context, dm.write: for sending


def x_signature(consumer_secret: str, message: bytes) -> str:
    """``sha256=<base64 HMAC-SHA256>``: the CRC response token and the POST signature alike."""
    digest = hmac.new(consumer_secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


# --- the payload -------------------------------------------------------------------------------

Id = Annotated[str, Field(min_length=1, max_length=64)]  # X's own bound on its ids
Text = CappedText
Count = Annotated[int, Field(ge=0, le=10**12)]


class TweetUser(Payload):
    id_str: Id
    followers_count: Count | None = None


class TweetRef(Payload):
    id_str: Id
    user: TweetUser | None = None


class Mention(Payload):
    id_str: Id


class Media(Payload):
    """A photo or video attached to a tweet or a direct message."""

    id_str: Id | None = None
    type: str | None = None
    media_url_https: Annotated[str, Field(max_length=2000)] | None = None


class Entities(Payload):
    user_mentions: list[Mention] = Field(default_factory=list)
    media: list[Media] = Field(default_factory=list)


class ExtendedTweet(Payload):
    full_text: Text | None = None


class Tweet(Payload):
    id_str: Id
    user: TweetUser
    text: Text | None = None
    extended_tweet: ExtendedTweet | None = None
    created_at: Annotated[str, Field(max_length=64)] | None = None
    timestamp_ms: Annotated[str, Field(max_length=20)] | None = None
    in_reply_to_status_id_str: Id | None = None
    in_reply_to_user_id_str: Id | None = None
    entities: Entities = Entities()
    extended_entities: Entities | None = None
    retweeted_status: TweetRef | None = None
    quoted_status: TweetRef | None = None


class Favorite(Payload):
    id: Id
    created_at: Annotated[str, Field(max_length=64)] | None = None
    timestamp_ms: int | None = None
    favorited_status: TweetRef
    user: TweetUser


class FollowParty(Payload):
    id: Id
    followers_count: Count | None = None


class Follow(Payload):
    type: Annotated[str, Field(max_length=32)]
    created_timestamp: Annotated[str, Field(max_length=20)] | None = None
    target: FollowParty
    source: FollowParty


class DmAttachment(Payload):
    media: Media | None = None


class DmData(Payload):
    text: Text | None = None
    attachment: DmAttachment | None = None


class DmCreate(Payload):
    sender_id: Id
    message_data: DmData = DmData()


class DirectMessage(Payload):
    type: Annotated[str, Field(max_length=32)]
    id: Id
    created_timestamp: Annotated[str, Field(max_length=20)] | None = None
    message_create: DmCreate | None = None


class DmUser(Payload):
    followers_count: Count | None = None


class ActivityPayload(Payload):
    for_user_id: Id
    tweet_create_events: list[Tweet] = Field(default_factory=list)
    favorite_events: list[Favorite] = Field(default_factory=list)
    follow_events: list[Follow] = Field(default_factory=list)
    direct_message_events: list[DirectMessage] = Field(default_factory=list)
    users: dict[str, DmUser] = Field(default_factory=dict)


# --- normalisation -----------------------------------------------------------------------------


def _from_millis(value: str | int | None) -> datetime | None:
    try:
        millis = int(value or "")
    except ValueError:
        return None
    return from_millis(millis) if 0 < millis < 10**14 else None


def _from_created_at(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value, CREATED_AT_FORMAT).astimezone(UTC) if value else None
    except (ValueError, OverflowError):  # "+2359 0001" is before year 1 in UTC
        return None


class _Normaliser:
    """One push: the brand's user id, the account, the fallback time."""

    def __init__(self, account: XAccount, payload: ActivityPayload, received_at: datetime) -> None:
        self.brand = payload.for_user_id
        self.account = account.account_id
        self.payload = payload
        self.received_at = received_at

    def all(self) -> list[CloudEvent[FanEvent]]:
        found: list[CloudEvent[FanEvent] | None] = [
            *(self.tweet(tweet) for tweet in self.payload.tweet_create_events),
            *(self.favorite(fav) for fav in self.payload.favorite_events),
            *(self.follow(follow) for follow in self.payload.follow_events),
            *(self.direct_message(dm) for dm in self.payload.direct_message_events),
        ]
        return [event for event in found if event is not None]

    def tweet(self, tweet: Tweet) -> CloudEvent[FanEvent] | None:
        if tweet.user.id_str == self.brand:
            return None  # our own tweet
        occurred_at = self._when(tweet.timestamp_ms, tweet.created_at)
        fields = self._fields(
            tweet.user.id_str, tweet.id_str, tweet.user.followers_count, occurred_at
        )
        retweeted = self._brands_tweet(tweet.retweeted_status)
        quoted = self._brands_tweet(tweet.quoted_status)
        contract: FanEvent
        if retweeted or (quoted and tweet.in_reply_to_user_id_str != self.brand):
            shared = retweeted or quoted
            contract = ContentShared(**fields, content_id=shared, reach=tweet.user.followers_count)
        elif tweet.in_reply_to_user_id_str == self.brand:
            contract = _comment(tweet, fields)
        elif any(mention.id_str == self.brand for mention in tweet.entities.user_mentions):
            contract = _comment(tweet, fields, is_mention=True)
        else:
            return None
        return fan_event(contract, tweet.id_str)

    def favorite(self, favorite: Favorite) -> CloudEvent[FanEvent] | None:
        if favorite.user.id_str == self.brand:
            return None
        occurred_at = self._when(favorite.timestamp_ms, favorite.created_at)
        fields = self._fields(
            favorite.user.id_str, favorite.id, favorite.user.followers_count, occurred_at
        )
        return fan_event(ReactionAdded(
            **fields, target_id=favorite.favorited_status.id_str, reaction="like",
        ), favorite.id)  # fmt: skip

    def follow(self, follow: Follow) -> CloudEvent[FanEvent] | None:
        kinds: dict[str, type[FanFollowed] | type[FanUnfollowed]] = {
            "follow": FanFollowed, "unfollow": FanUnfollowed,
        }  # fmt: skip
        kind = kinds.get(follow.type)
        if kind is None or follow.target.id != self.brand or follow.source.id == self.brand:
            return None
        # X gives a follow no id of its own: who, what, and when it happened.
        platform_id = f"{follow.source.id}:{follow.type}:{follow.created_timestamp or ''}"
        occurred_at = self._when(follow.created_timestamp)
        fields = self._fields(
            follow.source.id, platform_id, follow.source.followers_count, occurred_at
        )
        return fan_event(kind(**fields), platform_id)

    def direct_message(self, dm: DirectMessage) -> CloudEvent[FanEvent] | None:
        create = dm.message_create
        if dm.type != "message_create" or create is None or create.sender_id == self.brand:
            return None
        sender = create.sender_id
        user = self.payload.users.get(sender)
        occurred_at = self._when(dm.created_timestamp)
        fields = self._fields(sender, dm.id, user.followers_count if user else None, occurred_at)
        fields["thread_ref"] = sender
        media = _dm_media(create.message_data)
        message_type = media[0].kind if media else "text"
        return fan_event(MessageReceived(
            **fields, message_id=dm.id, message_type=message_type,
            text=create.message_data.text, media=media,
        ), dm.id)  # fmt: skip

    def _brands_tweet(self, tweet: TweetRef | None) -> str | None:
        """The id of the brand's tweet this one retweets or quotes, if it is the brand's."""
        if tweet is None or tweet.user is None or tweet.user.id_str != self.brand:
            return None
        return tweet.id_str

    def _when(self, millis: str | int | None, created_at: str | None = None) -> datetime:
        """When it happened: X's epoch milliseconds, else its ``created_at``, else receipt."""
        return _from_millis(millis) or _from_created_at(created_at) or self.received_at

    def _fields(
        self, user_id: str, platform_id: str, followers: int | None, occurred_at: datetime
    ) -> FanFields:
        return {
            "platform": PLATFORM, "account": self.account, "user_id": user_id,
            "occurred_at": occurred_at, "platform_event_id": platform_id,
            "follower_count": followers,
        }  # fmt: skip


def _comment(tweet: Tweet, fields: FanFields, *, is_mention: bool = False) -> CommentCreated:
    """A reply to the brand's tweet, or a tweet that mentions the brand."""
    text = tweet.extended_tweet.full_text if tweet.extended_tweet else None
    fields = {**fields, "thread_ref": tweet.in_reply_to_status_id_str}
    return CommentCreated(
        **fields, comment_id=tweet.id_str, text=text or tweet.text,
        post_id=tweet.in_reply_to_status_id_str, is_mention=is_mention,
    )  # fmt: skip


def _dm_media(data: DmData) -> tuple[MediaRef, ...]:
    media = data.attachment.media if data.attachment else None
    if media is None:
        return ()
    kind: Literal["image", "video"] = "image" if media.type == "photo" else "video"
    return (MediaRef(kind=kind, platform_media_id=media.id_str, url=media.media_url_https),)


# --- the adapter -------------------------------------------------------------------------------


CRC_TOKEN = re.compile(r"[A-Za-z0-9+/=_.~-]{1,256}")


class XAccountActivity:
    secret_headers: ClassVar[frozenset[str]] = frozenset({SIGNATURE_HEADER})
    secret_query: ClassVar[frozenset[str]] = frozenset({"crc_token"})
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    account_model: ClassVar[type[PlatformAccount]] = XAccount
    default_send_base_url: ClassVar[str] = "https://api.x.com"

    def handshake(self, account: XAccount, request: InboundRequest) -> PlatformAnswer:
        crc_token = request.query.get("crc_token", "")
        # X signs pushes with the same HMAC it asks of the CRC answer, so signing an arbitrary
        # crc_token would sign a forged push body: only X's opaque token shape is answered.
        if not CRC_TOKEN.fullmatch(crc_token):
            raise VerificationError("unsupported", "a GET must carry a crc_token")
        token = x_signature(account.consumer_secret.get_secret_value(), crc_token.encode())
        body = json.dumps({"response_token": token}).encode()
        return PlatformAnswer(body=body, media_type="application/json")

    def verify(self, account: XAccount, request: InboundRequest) -> None:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise VerificationError("signature", f"{SIGNATURE_HEADER} is required")
        expected = x_signature(account.consumer_secret.get_secret_value(), request.body)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise VerificationError("signature", f"{SIGNATURE_HEADER} does not match the body")

    def normalise(
        self, account: XAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        payload = parse_json(ActivityPayload, request.body)
        if payload.for_user_id != account.user_id:
            raise MalformedPayload("for_user_id is not this account's user")
        return _Normaliser(account, payload, request.received_at).all()

    def acknowledge(
        self, account: XAccount, request: InboundRequest, events: Sequence[CloudEvent[FanEvent]]
    ) -> PlatformAnswer:
        return PlatformAnswer(body=b"{}", media_type="application/json")

    async def send(
        self, account: XAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        """One DM through ``POST /2/dm_conversations/with/{user_id}/messages``. X's DM API has
        no idempotency key: a crash after X accepted a reply sends it again on restart."""
        if account.access_token is None:
            return not_sent("no access_token for this X account")
        if not reply.user_id.isdigit():
            return not_sent("an X user id is numeric")
        response = await http.post(
            f"{base_url.rstrip('/')}/2/dm_conversations/with/{reply.user_id}/messages",
            headers={"Authorization": f"Bearer {account.access_token.get_secret_value()}"},
            json={"text": reply.text},
        )
        return _send_outcome(response)


def _send_outcome(response: httpx.Response) -> SendOutcome:
    status = response.status_code
    body = json_object(response)
    if status in (200, 201):
        data = body.get("data")
        message_id = data.get("dm_event_id") if isinstance(data, dict) else None
        return SendOutcome(
            delivered=True, status_code=status,
            platform_message_id=str(message_id) if message_id is not None else None,
        )  # fmt: skip
    error = _problem(body) or f"HTTP {status}"
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset")
        error = f"{error} (rate limit resets at {reset})" if reset else error
    return SendOutcome(
        delivered=False, status_code=status, error=error[:2000],
        retryable=retryable_status(status),
    )  # fmt: skip


def _problem(body: dict[str, Any]) -> str | None:
    """X's problem JSON (``title``, ``detail``, ``type``), or the v1.1 ``errors`` list."""
    parts = [str(body[key]) for key in ("title", "detail", "type") if body.get(key)]
    errors = body.get("errors")
    if not parts and isinstance(errors, list):
        parts = [str(err.get("message", err)) for err in errors[:3] if isinstance(err, dict)]
    return ": ".join(parts) or None
