"""Garbage on every platform's webhook, with every platform's account configured: whatever the
method, query, headers or body, the answer is never a 5xx. Mutations start from each platform's
own test vectors, so they reach past the signature check wherever the platform does not sign
the body (Telegram, WeChat plain mode, Weibo) and into the parsers."""

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from tests.helpers import running
from tests.platform_vectors import WebhookCase, all_cases

pytestmark = pytest.mark.e2e
CASES = all_cases()
PRINTABLE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@pytest.fixture(scope="module")
def every_account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    accounts = {(c.platform, c.account_id): c.account for c in CASES}
    path = tmp_path_factory.mktemp("fuzz") / "accounts.json"
    path.write_text(json.dumps({"accounts": list(accounts.values())}))
    return path


@pytest.fixture
async def ingest(
    settings_for: Callable[..., Any], every_account: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=every_account, max_body_bytes=16 * 1024
    )
    async with running(create_app(settings)) as client:
        yield client


def _flip(body: bytes, at: int, value: int) -> bytes:
    if not body:
        return bytes([value])
    at %= len(body)
    return body[:at] + bytes([value]) + body[at + 1 :]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[WebhookCase, str, dict[str, str], dict[str, str], bytes]:
    case = draw(st.sampled_from(CASES))
    method = draw(st.sampled_from([case.method, "GET", "POST"]))
    body = draw(
        st.one_of(
            st.binary(max_size=2048),
            st.builds(_flip, st.just(case.body), st.integers(0, 10**6), st.integers(0, 255)),
            st.builds(lambda b, n: b[:n], st.just(case.body), st.integers(0, 4096)),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | PRINTABLE,
                lambda inner: (
                    st.lists(inner, max_size=4) | st.dictionaries(PRINTABLE, inner, max_size=4)
                ),
                max_leaves=12,
            ).map(lambda value: json.dumps(value).encode()),
        )
    )
    query = dict(case.query)
    query.update(draw(st.dictionaries(st.sampled_from([*case.query, "x"]), PRINTABLE, max_size=2)))
    headers = dict(case.headers)
    headers.update(
        draw(
            st.dictionaries(st.sampled_from([*case.headers, "content-type"]), PRINTABLE, max_size=2)
        )
    )
    return case, method, query, headers, body


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=mutated())
async def test_no_mutation_of_any_platforms_request_gets_a_5xx(
    ingest: httpx.AsyncClient,
    request: tuple[WebhookCase, str, dict[str, str], dict[str, str], bytes],
) -> None:
    case, method, query, headers, body = request
    answer = await ingest.request(method, case.path, params=query, headers=headers, content=body)
    assert answer.status_code < 500, (case.name, method, query, headers, body, answer.text)
