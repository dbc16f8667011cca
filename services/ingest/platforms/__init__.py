"""One adapter per platform: verification, parsing and normalisation onto the v1 contracts.

The registry below is the list of platforms ingest speaks; the webhook path names one of their
``platforms`` (Meta's adapter serves messenger, instagram and whatsapp).
"""

from typing import Any

from services.ingest.config import IngestSettings
from services.ingest.platforms import douyin, line, meta, standard, telegram, wechat, weibo, x
from services.ingest.platforms.base import PlatformAdapter


def build_adapters(settings: IngestSettings) -> dict[str, PlatformAdapter[Any]]:
    adapters: list[PlatformAdapter[Any]] = [
        standard.StandardWebhooks(settings),
        line.LineMessaging(settings),
        douyin.DouyinOpenPlatform(settings),
        weibo.WeiboFanService(settings),
        x.XAccountActivity(),
        telegram.TelegramBot(),
        meta.MetaWebhooks(),
        wechat.WeChatOfficialAccount(settings),
        wechat.WeCom(settings),
    ]
    return {platform: adapter for adapter in adapters for platform in adapter.platforms}
