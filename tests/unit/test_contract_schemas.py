"""The committed JSON Schemas (shared/schemas/) are the published contracts: a model that drifts
from its schema fails here. Run `make schemas` for an additive change; a change that breaks old
readers (a removed, renamed or newly required field, a narrowed type) needs a new type with the
next version suffix instead."""

import json
from pathlib import Path

import pytest

from shared.events import registered_types
from shared.schema_export import export

COMMITTED = Path(__file__).resolve().parents[2] / "shared" / "schemas"


def test_every_registered_type_has_a_committed_schema() -> None:
    committed = {path.stem for path in COMMITTED.glob("*.json")}
    assert committed == set(registered_types())


def test_every_type_name_carries_a_version_suffix() -> None:
    for event_type in registered_types():
        assert event_type.startswith("scrm.")
        assert event_type.rsplit(".", 1)[-1].startswith("v")


@pytest.mark.parametrize("event_type", sorted(registered_types()))
def test_the_model_matches_its_committed_schema(event_type: str, tmp_path: Path) -> None:
    export(tmp_path)
    current = json.loads((tmp_path / f"{event_type}.json").read_text())
    committed = json.loads((COMMITTED / f"{event_type}.json").read_text())
    assert current == committed, f"{event_type} changed: see this module's docstring"
