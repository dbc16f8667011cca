"""The claim page in a real browser on a phone-sized screen, against coupons served by uvicorn:
a friend opens the signed link the brand made for them, sees who shared the packet, opens it
and sees their amount and the friends who claimed with the best luck marked; a second friend
claims and the first sees them on reload, their own claim unchanged; an expired or forged link
is a page saying so; the packet's owner is refused their own packet.

SCRM_CLAIM_PAGE_SCREENSHOT=docs/claim-page.png also saves what the first friend sees at the
end."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from services.coupons.config import CouponsSettings
from services.coupons.main import create_app
from stack.embedded import free_port
from tests.browser.conftest import _keep_error
from tests.e2e.test_coupons_claim_page import (
    OWNER,
    SECRET,
    TOKEN,
    Shared,
    claim_link,
    expired_link,
    forged,
    share_packet,
)
from tests.helpers import serving

pytestmark = pytest.mark.browser
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def coupons_settings(settings_for: Callable[..., Any]) -> CouponsSettings:
    settings: CouponsSettings = settings_for(
        CouponsSettings, operator_token=TOKEN, claim_link_secret=SECRET, http_port=free_port()
    )
    return settings


@pytest.fixture
async def coupons(coupons_settings: CouponsSettings) -> AsyncIterator[httpx.AsyncClient]:
    """coupons served over a socket (the browser needs one), and an HTTP client to it."""
    async with (
        serving(create_app(coupons_settings), coupons_settings) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client,
    ):
        yield client


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Callable[[], Awaitable[Page]]]:
    """Opens a phone of its own (each friend has theirs); fails the test on any script error
    a page shows (a refused script or style, say)."""
    errors: list[str] = []
    contexts: list[BrowserContext] = []

    async def open_phone() -> Page:
        context = await browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
            locale="en-GB", timezone_id="Asia/Shanghai",
        )  # fmt: skip
        contexts.append(context)
        opened = await context.new_page()
        opened.on("pageerror", lambda error: errors.append(str(error)))
        opened.on("console", lambda message: _keep_error(errors, message))
        return opened

    yield open_phone
    for context in contexts:
        await context.close()
    assert errors == [], f"the page's scripts failed: {errors}"


Phone = Callable[[], Awaitable[Page]]


async def amount_of(coupons: httpx.AsyncClient, shared: Shared, fan_key: str) -> int:
    packet = await coupons.get(f"/v1/packets/{shared.share_code}", headers=shared.brand)
    return int(next(c["amount_cents"] for c in packet.json()["claims"] if c["fan_key"] == fan_key))


def yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


async def open_link(page: Page, coupons: httpx.AsyncClient, link: str) -> int:
    answer = await page.goto(f"{coupons.base_url}".rstrip("/") + link)
    assert answer is not None
    return answer.status


async def save_screenshot(page: Page) -> None:
    """The page as the README shows it, when SCRM_CLAIM_PAGE_SCREENSHOT names a file."""
    target = os.environ.get("SCRM_CLAIM_PAGE_SCREENSHOT")
    if target:
        await page.screenshot(path=Path(target), full_page=True)


class TestTheClaimPage:
    async def test_friends_open_the_packet_and_see_each_others_luck(
        self, coupons: httpx.AsyncClient, phone: Phone
    ) -> None:
        shared = await share_packet(coupons)
        chen, wang = "wechat:oa-brand:Chen_Jing", "wechat:oa-brand:Wang_Lei"
        first = await phone()
        assert await open_link(first, coupons, await claim_link(coupons, shared, chen)) == 200
        await expect(first.locator("[data-owner]")).to_have_text("Xiaomei")
        await expect(first.get_by_text("shared a red packet")).to_be_visible()
        await first.get_by_role("button", name="Open the red packet").tap()
        await expect(first.locator("[data-amount]")).to_be_visible()
        chens = yuan(await amount_of(coupons, shared, chen))
        await expect(first.locator("[data-amount]")).to_contain_text(chens)
        coupon = await first.locator("[data-coupon]").text_content()
        mine = first.locator(".friend.you")
        await expect(mine).to_contain_text("Chen_Jing (you)")
        await expect(mine.locator(".best-luck")).to_have_text("★ Best luck")

        second = await phone()
        await open_link(second, coupons, await claim_link(coupons, shared, wang))
        await second.get_by_role("button", name="Open the red packet").tap()
        await expect(second.locator("[data-amount]")).to_be_visible()

        await first.reload()
        await expect(first.locator(".friend")).to_have_count(2)
        await expect(first.locator("[data-amount]")).to_contain_text(chens)
        await expect(first.locator("[data-coupon]")).to_have_text(coupon or "")
        await expect(first.get_by_role("button", name="Open the red packet")).to_be_hidden()
        await expect(first.locator(".friend").nth(1)).to_contain_text("Wa…ei")
        await expect(first.locator(".best-luck")).to_have_count(1)
        wangs = await amount_of(coupons, shared, wang)
        lucky = 1 if wangs > await amount_of(coupons, shared, chen) else 0
        await expect(first.locator(".friend").nth(lucky).locator(".best-luck")).to_be_visible()
        await save_screenshot(first)

    async def test_an_expired_or_forged_link_shows_why_it_opens_nothing(
        self, coupons: httpx.AsyncClient, phone: Phone
    ) -> None:
        shared = await share_packet(coupons)
        page = await phone()
        expired = expired_link(shared.share_code, "wechat:oa-brand:Chen")
        assert await open_link(page, coupons, expired) == 410
        await expect(page.get_by_role("alert")).to_contain_text("has expired")
        link = await claim_link(coupons, shared, "wechat:oa-brand:Chen")
        assert await open_link(page, coupons, forged(link, claimer="wechat:oa-brand:Eve")) == 403
        await expect(page.get_by_role("alert")).to_contain_text("signature does not match")

    async def test_the_owner_is_refused_their_own_packet(
        self, coupons: httpx.AsyncClient, phone: Phone
    ) -> None:
        shared = await share_packet(coupons)
        page = await phone()
        await open_link(page, coupons, await claim_link(coupons, shared, OWNER))
        await page.get_by_role("button", name="Open the red packet").tap()
        refusal = page.locator("[data-refusal]")
        await expect(refusal).to_have_attribute("data-code", "own_packet")
        await expect(refusal).to_contain_text("your own red packet")
        await expect(page.locator(".friend")).to_have_count(0)

    async def test_a_handle_with_markup_is_shown_as_text(
        self, coupons: httpx.AsyncClient, phone: Phone
    ) -> None:
        shared = await share_packet(coupons)
        handle = '<img src=x onerror="document.title=1">'
        page = await phone()
        await open_link(page, coupons, await claim_link(coupons, shared, f"wechat:o:{handle}"))
        await page.get_by_role("button", name="Open the red packet").tap()
        await expect(page.locator(".friend.you .name")).to_have_text(f"{handle} (you)")
        assert await page.locator("img").count() == 0
        assert await page.title() == "Red packet"
