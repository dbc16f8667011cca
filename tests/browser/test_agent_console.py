"""The agent console in a real browser against responder served by uvicorn, on a simulated
clock: an agent signs in with the token an admin made, takes an offer, answers the fan and sees
the reply clock met; another conversation's countdown turns amber, then red, as responder's
clock passes its warning and its deadline. Every change arrives through the events stream:
the page is never reloaded.

SCRM_CONSOLE_SCREENSHOT=docs/console.png also saves what the console shows at the end."""

import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from services.responder.config import ResponderSettings
from services.responder.main import create_app
from shared.contracts import MessageReceived, ProfileUpdated
from shared.events import CloudEvent
from shared.kafka import EventProducer
from stack.embedded import free_port
from tests.e2e.test_responder_routing import ADMIN, T0, waiting
from tests.helpers import eventually, serving

pytestmark = pytest.mark.browser


@pytest.fixture
def responder_settings(settings_for: Callable[..., Any]) -> ResponderSettings:
    settings: ResponderSettings = settings_for(
        ResponderSettings, clock="simulated", simulated_start=T0, admin_token="admin-secret",
        timer_scan_seconds=0.2, heartbeat_timeout_seconds=3600, offer_interval_seconds=0.1,
        offer_seconds=300, http_port=free_port(),
    )  # fmt: skip
    return settings


@pytest.fixture
async def producer(responder_settings: ResponderSettings) -> AsyncIterator[EventProducer]:
    producer = EventProducer(responder_settings)
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def responder(responder_settings: ResponderSettings) -> AsyncIterator[httpx.AsyncClient]:
    """responder served over a socket (the browser needs one), and an HTTP client to it."""
    async with (
        serving(create_app(responder_settings), responder_settings) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client,
    ):
        yield client


def fan_message(user: str, minutes: float, text: str) -> CloudEvent[Any]:
    data = MessageReceived(
        platform="weibo", account="brand", user_id=user, message_id=uuid.uuid4().hex,
        occurred_at=T0 + timedelta(minutes=minutes), text=text,
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


def fan_standing(user: str, **scores: Any) -> CloudEvent[Any]:
    data = ProfileUpdated(
        fan_key=f"weibo:brand:{user}", interaction_count=12, first_seen_at=T0,
        last_seen_at=T0, **scores,
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


async def new_agent(client: httpx.AsyncClient, agent_id: str, **fields: Any) -> str:
    """An agent added by the admin; their sign-in token."""
    added = await client.post(
        "/v1/admin/agents", headers=ADMIN, json={"id": agent_id, "name": "Mei Lin", **fields}
    )
    assert added.status_code == 201, added.text
    return str(added.json()["token"])


async def advance(client: httpx.AsyncClient, *, minutes: float) -> None:
    moved = await client.post(
        "/v1/admin/clock/advance", headers=ADMIN, json={"seconds": minutes * 60}
    )
    assert moved.status_code == 200, moved.text


async def sign_in(page: Page, base_url: str, token: str) -> None:
    await page.goto(f"{base_url}/console")
    await page.get_by_label("Agent token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()


class TestTheAgentConsole:
    async def test_an_agent_takes_an_offer_answers_and_watches_the_clocks_live(
        self, responder: httpx.AsyncClient, producer: EventProducer, page: Page
    ) -> None:
        await producer.publish(fan_standing(
            "ada", priority=72, tier="frequent", role="kol", tags=("vip", "skincare")
        ))  # fmt: skip
        await producer.publish(fan_message("ada", 0, "Where is my order? <b>#1042</b>"))
        await producer.publish(fan_message("bo", 1, "Do you ship to Macau?"))
        await producer.publish(fan_message("cy", 4, "Is the serum back in stock?"))
        await producer.publish(fan_message("dee", 3, "Can I change the size?"))
        await eventually(lambda: waiting(responder, 4))
        # Room for one: the others wait in the queue, their clocks running.
        token = await new_agent(responder, "mei", capacity={"*": 1})

        await sign_in(page, str(responder.base_url), token)
        offer = page.get_by_role("listitem", name="Offer: ada")
        await expect(offer.get_by_role("timer", name="Reply clock of ada")).to_have_attribute(
            "data-state", "ok"
        )
        await expect(offer.locator("[data-expires]")).to_have_text(
            re.compile(r"^\d+m \d\ds to answer$")
        )
        await offer.get_by_role("button", name="Accept").click()

        messages = page.get_by_role("log", name="Messages")
        await expect(messages).to_contain_text("Where is my order? <b>#1042</b>")
        await expect(page.get_by_role("list", name="Tags")).to_contain_text("skincare")
        reply = page.get_by_label("Reply", exact=True)
        await expect(reply).to_be_focused()
        await reply.fill("It left our warehouse this morning: tracking SF1234.")
        await reply.press("Enter")
        await expect(messages.locator("li.out")).to_contain_text("tracking SF1234")
        await expect(reply).to_have_value("")

        mine = page.get_by_role("list", name="My conversations")
        ada_clock = mine.get_by_role("timer", name="Reply clock of ada")
        await expect(ada_clock).to_have_attribute("data-state", "met")
        await expect(ada_clock).to_contain_text("met in")

        queued = page.get_by_role("list", name="Waiting conversations")
        bo_clock = queued.get_by_role("timer", name="Reply clock of bo")
        await expect(bo_clock).to_have_attribute("data-state", "ok")
        await advance(responder, minutes=9.5)  # to 9:09:30: bo warns at 9:09, is due at 9:11
        await expect(bo_clock).to_have_attribute("data-state", "risk")
        await advance(responder, minutes=2)  # to 9:11:30
        await expect(bo_clock).to_have_attribute("data-state", "breached")
        await expect(bo_clock).to_contain_text("late")
        for fan, colour in (("dee", "risk"), ("cy", "ok")):  # due at 9:13 and 9:14
            fan_clock = queued.get_by_role("timer", name=f"Reply clock of {fan}")
            await expect(fan_clock).to_have_attribute("data-state", colour)
        await expect(ada_clock).to_have_attribute("data-state", "met")
        await save_screenshot(page)


async def save_screenshot(page: Page) -> None:
    """The console as the README shows it, when SCRM_CONSOLE_SCREENSHOT names a file."""
    target = os.environ.get("SCRM_CONSOLE_SCREENSHOT")
    if target:
        await page.get_by_label("Reply", exact=True).fill("Anything else I can help with?")
        await page.screenshot(path=Path(target))


class TestWorkingFromTheKeyboard:
    @pytest.fixture
    def responder_settings(self, settings_for: Callable[..., Any]) -> ResponderSettings:
        """Claims only: no offers, so the queue waits for the agent to take from it."""
        settings: ResponderSettings = settings_for(
            ResponderSettings, clock="simulated", simulated_start=T0, admin_token="admin-secret",
            heartbeat_timeout_seconds=3600, push_routing=False, http_port=free_port(),
        )  # fmt: skip
        return settings

    async def test_an_agent_claims_resolves_reopens_and_signs_out_on_a_stream_that_drops(
        self, responder: httpx.AsyncClient, producer: EventProducer, page: Page
    ) -> None:
        await producer.publish(fan_message("eve", 0, "Hello?"))
        await eventually(lambda: waiting(responder, 1))
        token = await new_agent(responder, "mei")
        # The stream's first connection fails: the console connects again by itself.
        await page.route("**/v1/agent/events", lambda route: route.abort(), times=1)
        await page.goto(f"{responder.base_url}/console")
        await page.get_by_label("Agent token").fill("not-a-token")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("The token was refused")

        await sign_in(page, str(responder.base_url), token)
        queued = page.get_by_role("list", name="Waiting conversations")
        await expect(queued).to_contain_text("eve")
        await page.keyboard.press("n")
        await expect(page.get_by_role("heading", name="eve")).to_be_visible()
        await expect(page.get_by_role("list", name="My conversations")).to_contain_text("eve")
        await expect(page.get_by_label("Reply", exact=True)).to_be_focused()

        await page.get_by_role("button", name="Resolve").click()
        await expect(page.get_by_role("button", name="Reopen")).to_be_visible()
        await expect(page.get_by_role("button", name="Resolve")).to_be_hidden()
        await page.get_by_role("button", name="Reopen").click()
        await expect(page.get_by_role("button", name="Resolve")).to_be_visible()

        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_label("Agent token")).to_be_visible()
        await page.reload()
        await expect(page.get_by_label("Agent token")).to_be_visible()
