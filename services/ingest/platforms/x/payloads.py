"""What X pushes: the activity of one subscribed user (tweets, likes, follows and direct
messages), as much of each as the normaliser reads."""

from typing import Annotated

from pydantic import Field

from services.ingest.platforms.common import CappedText, Payload

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
