"""The vocabulary the event contracts are written in: platforms, bounded ids and references,
money. Bounded by what the consumers store (``varchar(200)`` ids, a ``varchar(400)`` fan key,
``bigint`` cents, ISO 4217 currencies), with no control character (PostgreSQL refuses NUL)."""

from typing import Annotated, Literal

from pydantic import Field

Platform = Literal[
    "wechat", "wecom", "weibo", "douyin", "messenger", "instagram", "whatsapp", "x", "telegram",
    "line", "standard",
]  # fmt: skip


PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no C0 or C1 control character, no DEL
# An id stored by a consumer or part of the fan key.
Id = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]
# A platform's reference, perhaps composed of several of its ids; stored by no consumer.
Ref = Annotated[str, Field(max_length=1000, pattern=PRINTABLE)]
Cents = Annotated[int, Field(ge=0, lt=2**63)]  # PostgreSQL's bigint
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
MAX_FAN_KEY = 400


MessageType = Literal[
    "text", "image", "voice", "video", "location", "link", "file", "sticker", "event", "other"
]
