"""What a caller names in a path or query is bounded and printable, as the stored keys are:
a NUL or control character is a 422, never a query PostgreSQL refuses with a 500."""

import httpx
import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "path",
    ["/v1/fans?account=shop%00", "/v1/fans?account=shop&tag=vip%1f", "/v1/fans/line:oa:u%00",
     "/v1/accounts/shop%00/audience"],
)  # fmt: skip
async def test_scoring_refuses_control_characters(scoring: httpx.AsyncClient, path: str) -> None:
    assert (await scoring.get(path)).status_code == 422


async def test_coupons_refuses_control_characters(coupons: httpx.AsyncClient) -> None:
    answer = await coupons.get("/v1/accounts/shop%00/orders/o-1")
    assert answer.status_code == 422
