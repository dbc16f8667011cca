"""Labels an operator sets on a fan by hand: through the API, onto `scrm.operator.v1`, into the
profile, the computed role overruled and manual tags beside the computed ones; kept across a
replay; the API closed without its token."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.scoring.config import ScoringSettings
from services.scoring.main import create_app
from shared.events import decode
from shared.kafka import EventProducer
from shared.topics import OPERATOR
from tests.conftest import Infrastructure
from tests.e2e.test_scoring_profiles import ACCOUNT, messages, profile, publish
from tests.helpers import eventually, read_topic, running

pytestmark = pytest.mark.e2e
TOKEN = "operator-secret"
FAN = f"weibo:{ACCOUNT}:labelled"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def scoring_settings(settings_for: Callable[..., Any]) -> ScoringSettings:
    settings: ScoringSettings = settings_for(
        ScoringSettings, cut_points_refresh_seconds=0.3, operator_token=TOKEN
    )
    return settings


async def labelled(client: httpx.AsyncClient, role: str) -> dict[str, Any] | None:
    found: dict[str, Any] = (await client.get(f"/v1/fans/{FAN}")).json()
    return found if found["role"] == role else None


class TestLabelsSetByHand:
    async def test_a_role_and_tags_set_by_hand_reach_the_profile_and_its_snapshot(
        self,
        scoring_settings: ScoringSettings,
        infrastructure: Infrastructure,
        producer: EventProducer,
    ) -> None:
        await publish(producer, messages("labelled", 2))
        async with running(create_app(scoring_settings)) as client:
            await eventually(lambda: profile(client, "labelled", count=2))
            tags = ["vip", "vip", "staff-family"]
            answer = await client.put(
                f"/v1/fans/{FAN}/labels", headers=AUTH,
                json={"role": "employee", "tags": tags, "operator": "mei"},
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            found = await eventually(lambda: labelled(client, "employee"))
            assert found is not None
            assert {"vip", "staff-family"} <= set(found["tags"])

            cleared = await client.put(f"/v1/fans/{FAN}/labels", headers=AUTH, json={})
            assert cleared.status_code == 202
            found = await eventually(lambda: labelled(client, "consumer"))
            assert found is not None
            assert "vip" not in found["tags"]
        records = await read_topic(
            infrastructure.bootstrap_servers, scoring_settings.topic(OPERATOR), expect=2
        )
        decisions = [decode(record.headers, record.value).data for record in records]
        assert [d.role for d in decisions] == ["employee", None]
        assert decisions[0].tags == ("vip", "staff-family")
        assert decisions[0].operator == "mei"

    async def test_labels_kept_before_the_fans_events_apply_when_they_come(
        self, scoring_settings: ScoringSettings, producer: EventProducer
    ) -> None:
        """As in a replay, where the operator topic may be read before the events."""
        await publish(producer, messages("labelled", 1))
        async with running(create_app(scoring_settings)) as client:
            await eventually(lambda: profile(client, "labelled", count=1))
            answer = await client.put(
                f"/v1/fans/{FAN}/labels", headers=AUTH, json={"role": "kol", "tags": ["press"]}
            )
            assert answer.status_code == 202
            await eventually(lambda: labelled(client, "kol"))
            await publish(producer, messages("labelled", 3)[1:])
            found = await eventually(lambda: profile(client, "labelled", count=3))
        assert found is not None
        assert found["role"] == "kol"
        assert "press" in found["tags"]

    async def test_the_operator_api_wants_its_token_and_a_known_fan(
        self, scoring_settings: ScoringSettings, settings_for: Callable[..., Any]
    ) -> None:
        body = {"role": "kol"}
        async with running(create_app(scoring_settings)) as client:
            anonymous = await client.put(f"/v1/fans/{FAN}/labels", json=body)
            wrong = await client.put(
                f"/v1/fans/{FAN}/labels", json=body, headers={"Authorization": "Bearer nope"}
            )
            unknown = await client.put(f"/v1/fans/{FAN}/labels", json=body, headers=AUTH)
            bad_role = await client.put(
                f"/v1/fans/{FAN}/labels", json={"role": "boss"}, headers=AUTH
            )
            control = await client.put(
                f"/v1/fans/{FAN}/labels", json={"tags": ["a\x00b"]}, headers=AUTH
            )
        assert (anonymous.status_code, wrong.status_code) == (401, 401)
        assert unknown.status_code == 404
        assert (bad_role.status_code, control.status_code) == (422, 422)
        off = settings_for(ScoringSettings)
        async with running(create_app(off)) as client:
            closed = await client.put(f"/v1/fans/{FAN}/labels", json=body, headers=AUTH)
        assert closed.status_code == 403
        assert "SCORING_OPERATOR_TOKEN" in closed.json()["detail"]
