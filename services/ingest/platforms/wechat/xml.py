"""The XML both platforms push: the direct children of ``<xml>`` (no DTDs, no entities), read into
the sealed envelope or the message or event it holds."""

from typing import TypeVar
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import Field

from services.ingest.platforms.base import MalformedPayload
from services.ingest.platforms.common import MAX_TEXT, Payload, parse_object

MAX_ID = 256
MAX_URL = 2_048


class Envelope(Payload):
    """The outer XML of a sealed push."""

    Encrypt: str = Field(min_length=1)


class PushedXml(Payload):
    """One pushed message or event, as the direct children of ``<xml>``."""

    ToUserName: str | None = Field(default=None, max_length=MAX_ID)
    FromUserName: str = Field(min_length=1, max_length=MAX_ID)
    CreateTime: int | None = Field(default=None, ge=0, le=100_000_000_000)
    MsgType: str = Field(min_length=1, max_length=64)
    MsgId: str | None = Field(default=None, max_length=MAX_ID)
    AgentID: str | None = Field(default=None, max_length=MAX_ID)
    Content: str | None = Field(default=None, max_length=MAX_TEXT)
    PicUrl: str | None = Field(default=None, max_length=MAX_URL)
    MediaId: str | None = Field(default=None, max_length=MAX_ID)
    Format: str | None = Field(default=None, max_length=32)
    Recognition: str | None = Field(default=None, max_length=MAX_TEXT)
    ThumbMediaId: str | None = Field(default=None, max_length=MAX_ID)
    Location_X: float | None = Field(default=None, ge=-90, le=90)
    Location_Y: float | None = Field(default=None, ge=-180, le=180)
    Scale: str | None = Field(default=None, max_length=32)
    Label: str | None = Field(default=None, max_length=MAX_TEXT)
    Title: str | None = Field(default=None, max_length=MAX_TEXT)
    Description: str | None = Field(default=None, max_length=MAX_TEXT)
    Url: str | None = Field(default=None, max_length=MAX_URL)
    Event: str | None = Field(default=None, max_length=64)
    EventKey: str | None = Field(default=None, max_length=MAX_ID)


def parse_xml(body: bytes) -> dict[str, str]:
    """The text of each direct child of the root ``<xml>`` (first occurrence wins). No DTDs, no
    entities. Raises MalformedPayload."""
    try:
        root: Element = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, LookupError, UnicodeError) as exc:
        raise MalformedPayload(f"not XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise MalformedPayload("the root element is not <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str) and child.tag not in fields and len(child) == 0:
            fields[child.tag] = (child.text or "").strip()
    return fields


XmlModel = TypeVar("XmlModel", Envelope, PushedXml)


def read_xml(model: type[XmlModel], body: bytes) -> XmlModel:
    """``body`` read into ``model``, an empty element counting as an absent one. Raises
    MalformedPayload."""
    fields = parse_xml(body)
    return parse_object(model, {name: value for name, value in fields.items() if value != ""})
