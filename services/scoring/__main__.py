"""``python -m services.scoring``: the service (``serve``, the default), or ``rebuild``: every
fan profile recomputed from the events topic into fresh tables (`services/scoring/rebuild.py`)."""

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from services.scoring import rebuild
from services.scoring.config import ScoringSettings
from services.scoring.main import create_app
from services.scoring.rebuild_repository import PREVIOUS, rebuild_schema
from shared.service import serve


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command `argv` names; returns the exit status."""
    args = _parser().parse_args(argv)
    settings = ScoringSettings()
    if args.command == "rebuild":
        options = rebuild.RebuildOptions(
            schema=args.schema, swap=args.swap, now=args.now, batch_size=args.batch_size,
            log_every=args.log_every,
        )  # fmt: skip
        return rebuild.command(settings, options, metrics_port=args.metrics_port)
    serve(create_app(settings), settings)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.scoring", description="scoring: fan profiles from fan events."
    )
    commands = parser.add_subparsers(dest="command", metavar="{serve,rebuild}")
    commands.add_parser("serve", help="consume the topics and serve the API (the default)")
    _rebuild_arguments(
        commands.add_parser(
            "rebuild",
            help="recompute every profile from the events topic into fresh tables",
            description=(rebuild.__doc__ or "").split("\n\n")[0],
        )
    )
    return parser


def _rebuild_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schema", type=_schema, default=rebuild.DEFAULT_SCHEMA, metavar="NAME",
        help="the schema the profiles are rebuilt in, dropped first (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--swap", action="store_true",
        help=f"then put the rebuilt tables in place of the live ones (kept as {PREVIOUS})",
    )  # fmt: skip
    parser.add_argument(
        "--now", type=_instant, metavar="ISO",
        help="score every profile at this instant (ISO 8601; UTC unless it names its offset); "
        "default: when the reading ended",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size",
        type=_positive,
        metavar="N",
        default=500,
        help="records per partition and transaction (default: %(default)s)",
    )
    parser.add_argument(
        "--log-every",
        type=_positive,
        metavar="N",
        default=10_000,
        help="records read between two progress lines (default: %(default)s)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve the rebuild's Prometheus metrics on this port meanwhile",
    )


def _schema(text: str) -> str:
    try:
        return rebuild_schema(text)
    except ValueError as exc:  # argparse shows only this kind's message
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"not a positive number: {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
