"""Export the JSON Schema of every v1 event contract: ``python -m shared.schema_export DIR``."""

import json
import sys
from pathlib import Path

import shared.contracts  # noqa: F401  (registers the contracts)
from shared.events import registered_types


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, model in sorted(registered_types().items()):
        schema = model.model_json_schema()
        schema["$id"] = f"urn:scrm:event:{event_type}"
        schema["x-cloudevents-type"] = event_type
        path = directory / f"{event_type}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    paths = export(Path(sys.argv[1] if len(sys.argv) > 1 else "shared/schemas"))
    print(f"wrote {len(paths)} schemas")  # noqa: T201
