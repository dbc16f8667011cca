"""One adapter per platform: verification, parsing and normalisation onto the v1 contracts, and
for those with a send API, the sending of replies.

`build_platforms` is the list of platforms ingest speaks; the webhook path names one of their
``platforms`` (Meta's adapter serves messenger, instagram and whatsapp).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from services.ingest.config import IngestSettings
from services.ingest.platforms import douyin, line, meta, standard, telegram, wechat, weibo, x
from services.ingest.platforms.base import PlatformAdapter, ReplySender


@dataclass(frozen=True)
class Platforms:
    """Every adapter by the platform its webhook path names, and the reply senders among them."""

    adapters: dict[str, PlatformAdapter[Any]]
    senders: dict[str, ReplySender[Any]]


def build_platforms(settings: IngestSettings) -> Platforms:
    line_, weibo_ = line.LineMessaging(settings), weibo.WeiboFanService(settings)
    x_, telegram_, meta_ = x.XAccountActivity(), telegram.TelegramBot(), meta.MetaWebhooks()
    wechat_, wecom = wechat.WeChatOfficialAccount(settings), wechat.WeCom(settings)
    inbound: list[PlatformAdapter[Any]] = [
        standard.StandardWebhooks(settings), douyin.DouyinOpenPlatform(settings),
        line_, weibo_, x_, telegram_, meta_, wechat_, wecom,
    ]  # fmt: skip
    outbound: list[ReplySender[Any]] = [line_, weibo_, x_, telegram_, meta_, wechat_, wecom]
    return Platforms(_by_platform(inbound), _by_platform(outbound))


class _Serving(Protocol):
    platforms: ClassVar[tuple[str, ...]]


S = TypeVar("S", bound=_Serving)


def _by_platform(serving: Iterable[S]) -> dict[str, S]:
    return {platform: each for each in serving for platform in each.platforms}
