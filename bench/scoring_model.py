"""The scoring model's own cost per event, with no I/O at all: bench-scoring runs it after the
consumers, alone on the machine, to show how much of scoring's CPU per event is the model and
how many events a second one core could score if nothing else took any time.

Each stage runs over the same events, in the order the service runs them, with the garbage
collector set as `shared.service.serve` sets it:

- decode: the Kafka record into its CloudEvent (`shared.events.decode`);
- apply: the event folded into its fan's state (`ProfileRow.applied`);
- score: every score read from the state, with what explains it (`ProfileRow.scored`);
- row: the profile as the table's columns, its state and explanations as JSON (`row_columns`);
- announce: the snapshot other services receive, as an outbox event (`announcement`).

    python -m bench.scoring_model [--events N] [--fans N] [--accounts N] [--days D]  # JSON out
"""

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bench.fan_events import FanEvents
from services.scoring.config import ScoringSettings
from services.scoring.domain import (
    ProfileRow,
    ScoringModel,
    announcement,
    new_profile,
    row_columns,
    snapshot,
)
from shared.events import CloudEvent, decode

STAGES = ("decode", "apply", "score", "row", "announce")


def measure(events: int, fans: int, accounts: int, days: float) -> dict[str, float]:
    """Microseconds per event of each stage, their total, and the events a second that total
    allows one core."""
    source = FanEvents(fans=fans, accounts=accounts)
    now = datetime.now(UTC)
    records = [record for chunk in source.history(events, days=days, now=now)
               for record in chunk]  # fmt: skip
    settings = ScoringSettings(kafka_bootstrap_servers="unused:9092",
                               database_url="postgresql+asyncpg://unused/unused")  # fmt: skip
    model = ScoringModel.from_settings(settings)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    seconds: dict[str, float] = {}

    def timed(stage: str, step: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = step()
        seconds[stage] = time.perf_counter() - started
        return result

    decoded: list[CloudEvent[Any]] = timed(
        "decode", lambda: [decode(record.headers, record.value) for record in records]
    )
    applied: list[ProfileRow] = timed("apply", lambda: _folded(decoded, model, now=now))
    scored: list[ProfileRow] = timed("score", lambda: _scored(applied, model, now=now))
    timed("row", lambda: [row_columns(row, model) for row in scored])
    timed("announce", lambda: [announcement(snapshot(row), cause="bench") for row in scored])
    per_event = {stage: seconds[stage] / len(records) * 1e6 for stage in STAGES}
    total = sum(per_event.values())
    return {**{stage: round(value, 1) for stage, value in per_event.items()},
            "total": round(total, 1), "events_per_s_one_core": round(1e6 / total)}  # fmt: skip


def _scored(rows: Sequence[ProfileRow], model: ScoringModel, *, now: datetime) -> list[ProfileRow]:
    return [row.scored(model, model.unranked(row.platform, row.account), now=now) for row in rows]


def _folded(
    events: Sequence[CloudEvent[Any]], model: ScoringModel, *, now: datetime
) -> list[ProfileRow]:
    """Each event applied to its fan's row as it stands after the fan's earlier events: the
    row after each event (each is scored, as the service scores every fan it changed)."""
    rows: dict[str, ProfileRow] = {}
    after: list[ProfileRow] = []
    for event in events:
        fan_key = event.data.fan_key
        row = rows.get(fan_key) or new_profile(event.data, now=now)
        rows[fan_key] = row = row.applied(event.data, model)
        after.append(row)
    return after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--fans", type=int, default=5_000, help="ten events each, by default")
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--days", type=float, default=60, help="the events' span, to now")
    args = parser.parse_args()
    if not 1 <= args.fans <= args.events:
        parser.error("--fans must be between 1 and --events: every fan has an event")
    sys.stdout.write(json.dumps(measure(args.events, args.fans, args.accounts, args.days)) + "\n")


if __name__ == "__main__":
    main()
