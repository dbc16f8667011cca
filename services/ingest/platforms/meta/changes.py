"""The ``entry[].changes[]`` of pages and Instagram accounts: fans' comments, shares and
reactions on the page's feed, and comments on and mentions of the Instagram account."""

from datetime import datetime

from services.ingest.platforms.common import fan_event
from services.ingest.platforms.meta.context import PushContext
from services.ingest.platforms.meta.payloads import (
    FEED,
    IG_COMMENT,
    IG_MENTION,
    Change,
    FeedChange,
)
from shared.contracts import CommentCreated, ContentShared, FanEvent, ReactionAdded
from shared.events import CloudEvent


def feed_event(
    ctx: PushContext, value: object, entry_time: datetime | None
) -> CloudEvent[FanEvent] | None:
    """``field: feed`` on a page."""
    change = FEED.validate_python(value)
    user = change.from_.id if change.from_ else None
    if change.verb != "add" or user is None or ctx.is_self(user):
        return None  # edits, removals, hides, and the page's own activity
    when = change.created_time or entry_time
    if change.item == "comment":
        return _feed_comment(ctx, change, user, when)
    if change.item == "share":
        return _feed_share(ctx, change, user, when)
    if change.item == "reaction":
        return _feed_reaction(ctx, change, user, when)
    return None  # posts, status updates, likes of other kinds…


def _feed_comment(
    ctx: PushContext, change: FeedChange, user: str, when: datetime | None
) -> CloudEvent[FanEvent] | None:
    if not change.comment_id:
        return None
    fields = ctx.fields(user, when, thread_ref=change.post_id, platform_event_id=change.comment_id)
    contract = CommentCreated(
        **fields, comment_id=change.comment_id, post_id=change.post_id, text=change.message
    )
    return fan_event(contract, change.comment_id)


def _feed_share(
    ctx: PushContext, change: FeedChange, user: str, when: datetime | None
) -> CloudEvent[FanEvent] | None:
    if not (change.share_id or change.post_id):
        return None
    content_id = change.post_id or change.share_id or ""
    platform_id = change.share_id or change.post_id or ""
    fields = ctx.fields(user, when, thread_ref=change.post_id, platform_event_id=platform_id)
    return fan_event(ContentShared(**fields, content_id=content_id), platform_id)


def _feed_reaction(
    ctx: PushContext, change: FeedChange, user: str, when: datetime | None
) -> CloudEvent[FanEvent] | None:
    target = change.comment_id or change.post_id
    if not target:
        return None
    kind = change.reaction_type or "like"
    stamp = str(int(when.timestamp())) if when else "-"
    fields = ctx.fields(user, when, thread_ref=change.post_id)
    contract = ReactionAdded(**fields, target_id=target, reaction=kind)
    return fan_event(contract, f"reaction:{target}:{user}:{kind}:{stamp}")


def instagram_event(
    ctx: PushContext, change: Change, entry_time: datetime | None
) -> CloudEvent[FanEvent] | None:
    """A change of an Instagram account: comments and mentions (nothing else is used)."""
    if change.field in ("comments", "live_comments"):
        return _instagram_comment(ctx, change.value, entry_time)
    if change.field == "mentions":
        return _instagram_mention(ctx, change.value, entry_time)
    return None


def _instagram_comment(
    ctx: PushContext, value: object, entry_time: datetime | None
) -> CloudEvent[FanEvent] | None:
    comment = IG_COMMENT.validate_python(value)
    user = comment.from_.id if comment.from_ else None
    if not comment.id or user is None or ctx.is_self(user):
        return None  # our own replies are not fan comments
    post = comment.media.id if comment.media else None
    fields = ctx.fields(
        user, comment.timestamp or entry_time, thread_ref=post, platform_event_id=comment.id
    )
    contract = CommentCreated(**fields, comment_id=comment.id, post_id=post, text=comment.text)
    return fan_event(contract, comment.id)


def _instagram_mention(
    ctx: PushContext, value: object, entry_time: datetime | None
) -> CloudEvent[FanEvent] | None:
    mention = IG_MENTION.validate_python(value)
    # Meta sends only media_id and comment_id here: the author is fetched through the Graph
    # API. Without it there is no fan to attribute the mention to, so the push is skipped
    # rather than credited to a made-up user.
    user = mention.from_.id if mention.from_ else None
    if not mention.comment_id or user is None or ctx.is_self(user):
        return None
    fields = ctx.fields(
        user, entry_time, thread_ref=mention.media_id, platform_event_id=mention.comment_id
    )
    contract = CommentCreated(
        **fields, comment_id=mention.comment_id, post_id=mention.media_id, is_mention=True
    )
    return fan_event(contract, mention.comment_id)
