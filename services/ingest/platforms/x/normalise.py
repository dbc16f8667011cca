"""A push read into events: tweets that reply to, mention, retweet or quote the brand, likes,
follows and unfollows, and direct messages. What the brand itself did is not a fan's event."""

from datetime import UTC, datetime
from typing import Literal

from services.ingest.platforms.base import InboundRequest, MalformedPayload
from services.ingest.platforms.common import (
    fan_event,
    from_millis,
    malformed_on_invalid,
    parse_json,
)
from services.ingest.platforms.x.account import PLATFORM, XAccount
from services.ingest.platforms.x.payloads import (
    ActivityPayload,
    DirectMessage,
    DmData,
    Favorite,
    Follow,
    Tweet,
    TweetRef,
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
)
from shared.events import CloudEvent

CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Wed Oct 10 20:19:24 +0000 2018"


def push_events(account: XAccount, request: InboundRequest) -> list[CloudEvent[FanEvent]]:
    """The events of a push for ``account``; MalformedPayload if it is not readable or not for
    this account's user."""
    payload = parse_json(ActivityPayload, request.body)
    if payload.for_user_id != account.user_id:
        raise MalformedPayload("for_user_id is not this account's user")
    with malformed_on_invalid():  # an event the contract refuses: 400
        return _Normaliser(account, payload, request.received_at).all()


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
        contract = self._tweet_contract(tweet, fields)
        return None if contract is None else fan_event(contract, tweet.id_str)

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

    def _tweet_contract(self, tweet: Tweet, fields: FanFields) -> FanEvent | None:
        """A retweet or quote of the brand's tweet is a share (a quote that replies to the brand
        is a comment); a reply to the brand or a mention of it is a comment."""
        retweeted = self._brands_tweet(tweet.retweeted_status)
        quoted = self._brands_tweet(tweet.quoted_status)
        replies_to_brand = tweet.in_reply_to_user_id_str == self.brand
        if retweeted or (quoted and not replies_to_brand):
            shared = retweeted or quoted
            return ContentShared(**fields, content_id=shared, reach=tweet.user.followers_count)
        if replies_to_brand:
            return _comment(tweet, fields)
        if any(mention.id_str == self.brand for mention in tweet.entities.user_mentions):
            return _comment(tweet, fields, is_mention=True)
        return None

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
