"""What the normalisers of the three products share: the push as one account reads it, the
kinds of media a message may carry, and the URI of a shared location."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from services.ingest.platforms.meta.account import MetaPlatform
from shared.contracts import FanFields

MediaKind = Literal["image", "voice", "video", "file", "sticker", "location", "link"]


@dataclass(frozen=True)
class PushContext:
    """The account a push is read for, and when the push arrived."""

    platform: MetaPlatform
    account: str
    received_at: datetime
    object_id: str | None = None

    def owns(self, object_id: str | None) -> bool:
        """Whether an entry (or WhatsApp value) for ``object_id`` is this account's."""
        return self.object_id is None or object_id == self.object_id

    def is_self(self, user: str) -> bool:
        """The page / account / number itself (its own messages, replies and posts)."""
        return user == self.account or user == self.object_id

    def fields(
        self, user_id: str, when: datetime | None, *, thread_ref: str | None,
        platform_event_id: str | None = None,
    ) -> FanFields:  # fmt: skip
        """The fields of an event by ``user_id``; without a time of its own, it happened when
        the push arrived."""
        return FanFields(
            platform=self.platform, account=self.account, user_id=user_id,
            occurred_at=(when or self.received_at).astimezone(UTC), thread_ref=thread_ref,
            platform_event_id=platform_event_id,
        )  # fmt: skip


def geo_uri(lat: float | None, long: float | None) -> str | None:
    """A ``geo:`` URI (RFC 5870) for a shared location."""
    if lat is None or long is None or not (math.isfinite(lat) and math.isfinite(long)):
        return None
    return f"geo:{lat},{long}"
