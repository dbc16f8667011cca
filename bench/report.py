"""How every benchmark reports: a line at a time on stdout, and its figures in
``bench/results/<name>.json`` (the keys its issue names)."""

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def write_results(name: str, figures: dict[str, object]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    say(f"  written  {path}")
    return path


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile of `values`, interpolated between the two nearest (NaN without any)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
