"""What ``make bench-scoring`` measured: printed as a table, written to
``bench/results/scoring.json``, and judged against the targets."""

import argparse
from dataclasses import dataclass

from bench.harness import CpuUse
from bench.histogram import Buckets, observations, past_last_bucket, quantile
from bench.report import say, write_results
from bench.scoring_model import STAGES as MODEL_STAGES

TARGET_EVENTS_PER_S, TARGET_RATIO, TARGET_LAG_P99_MS = 10_000, 0.5, 500.0
MEMORY_GROWTH_LIMIT = 0.10  # "flat": at most this much more after the steady phase


@dataclass(frozen=True)
class CatchUp:
    """One consumer reading the pre-loaded topic from its start to its end."""

    events: int
    seconds: float
    cpu: CpuUse

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True)
class Steady:
    """The steady rate offered to scoring once it caught up, and the lag it observed."""

    events: int
    seconds: float  # producing them
    cpu: CpuUse  # until scoring had committed them all
    lag: Buckets

    def lag_ms(self, q: float) -> float:
        return quantile(q, self.lag) * 1000

    def lag_text(self, q: float) -> str:
        beyond = past_last_bucket(q, self.lag)
        return f"{'>= ' if beyond else ''}{self.lag_ms(q):.1f} ms"


@dataclass(frozen=True)
class ScoringRun:
    catch_up: CatchUp
    steady: Steady
    rss_after_preload_mb: float
    rss_after_steady_mb: float
    peak_rss_mb: float
    rss_samples_mb: list[float]

    @property
    def memory_growth(self) -> float:
        return self.rss_after_steady_mb / self.rss_after_preload_mb - 1


@dataclass(frozen=True)
class Applied:
    """What scoring stored, checked against what was produced."""

    produced: int
    profiles: int
    claimed: int  # event ids in scoring's processed_events
    baseline_claimed: int
    lost: int
    duplicated: int

    @property
    def intact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.claimed == self.produced


def cpu_per_event(cpu: CpuUse, events: int) -> dict[str, float]:
    """Microseconds of CPU per event by role: the consumer measured, the broker, the database,
    this process (producing, in the steady phase), and the whole machine."""
    roles = {"consumer": cpu.service, "broker": cpu.broker, "database": cpu.database,
             "bench": cpu.load_generator, "machine": cpu.machine_busy}  # fmt: skip
    return {role: round(seconds / events * 1e6, 1) for role, seconds in roles.items()}


def verdicts(
    baseline: CatchUp, scoring: ScoringRun, applied: Applied
) -> dict[str, tuple[str, float, bool]]:
    """Each target: what it asks, the value measured, whether it was met."""
    ratio = scoring.catch_up.events_per_s / baseline.events_per_s
    p99 = scoring.steady.lag_ms(0.99)
    growth = scoring.memory_growth
    return {
        "events_per_s": (f">= {TARGET_EVENTS_PER_S}", scoring.catch_up.events_per_s,
                         scoring.catch_up.events_per_s >= TARGET_EVENTS_PER_S),
        "ratio": (f">= {TARGET_RATIO}", ratio, ratio >= TARGET_RATIO),
        "lag_p99_ms": (f"<= {TARGET_LAG_P99_MS:.0f}", p99, p99 <= TARGET_LAG_P99_MS),
        "nothing_lost_or_applied_twice": ("0", applied.lost + applied.duplicated, applied.intact),
        "memory_flat": (f"<= {MEMORY_GROWTH_LIMIT:.0%} growth", growth,
                        growth <= MEMORY_GROWTH_LIMIT),
    }  # fmt: skip


def conclude(
    args: argparse.Namespace, broker: str, preload_seconds: float, baseline: CatchUp,
    scoring: ScoringRun, applied: Applied, model: dict[str, float] | None,
) -> int:  # fmt: skip
    """Print the table and the verdicts, write the figures; 1 if an event was lost or applied
    twice."""
    judged = verdicts(baseline, scoring, applied)
    say(f"bench-scoring: {args.events} events for {args.fans} fans of {args.accounts} "
        f"accounts, {args.partitions} partitions, {args.max_batch} records a fetch, "
        f"broker {broker}")  # fmt: skip
    say(f"  pre-load  {args.events} events in {preload_seconds:.1f} s = "
        f"{args.events / preload_seconds:.0f} events/s (acks=all)")  # fmt: skip
    report_catch_up(baseline, scoring.catch_up, judged["ratio"][1])
    report_steady(scoring)
    report_model(model)
    say(f"  applied   {applied.profiles} profiles; {applied.produced} events produced, "
        f"{applied.claimed} claimed by scoring, {applied.baseline_claimed} of the pre-load by "
        f"the baseline; lost {applied.lost}, duplicated {applied.duplicated}")  # fmt: skip
    say("  targets   " + ", ".join(f"{name} {target}: {'met' if met else 'MISSED'}"
                                   for name, (target, _, met) in judged.items()))  # fmt: skip
    results = figures(args, preload_seconds, baseline, scoring, applied, judged)
    write_results("scoring", results | {"model_us_per_event": model})
    return 0 if applied.intact else 1


def report_model(model: dict[str, float] | None) -> None:
    if model is None:
        say("  model     scoring's rules alone: not measured (see the progress lines)")
        return
    say("  model     scoring's rules alone, no I/O: "
        + ", ".join(f"{stage} {model[stage]:.0f}" for stage in MODEL_STAGES)
        + f" = {model['total']:.0f} µs/event, at most {model['events_per_s_one_core']:.0f} "
        "events/s on one core")  # fmt: skip


def report_catch_up(baseline: CatchUp, scoring: CatchUp, ratio: float) -> None:
    say(f"  {'consumer':<9} {'events':>8} {'seconds':>8} {'events/s':>9}   "
        "CPU µs/event: consumer  broker  database  bench  machine")  # fmt: skip
    for name, run in (("baseline", baseline), ("scoring", scoring)):
        cpu = cpu_per_event(run.cpu, run.events)
        say(f"  {name:<9} {run.events:>8} {run.seconds:>8.1f} {run.events_per_s:>9.0f}   "
            f"{'':>13} {cpu['consumer']:>8.0f} {cpu['broker']:>7.0f} {cpu['database']:>9.0f} "
            f"{cpu['bench']:>6.0f} {cpu['machine']:>8.0f}")  # fmt: skip
    say(f"  ratio     {ratio:.2f} x the baseline's events/s (target >= {TARGET_RATIO})")


def report_steady(scoring: ScoringRun) -> None:
    steady = scoring.steady
    cpu = cpu_per_event(steady.cpu, steady.events)
    say(f"  steady    {steady.events} events at {steady.events / steady.seconds:.0f}/s for "
        f"{steady.seconds:.1f} s; lag produced -> profile committed: p50 "
        f"{steady.lag_text(0.5)}, p99 {steady.lag_text(0.99)} (target <= "
        f"{TARGET_LAG_P99_MS:.0f}; interpolated within the buckets of scoring's histogram, "
        f"{observations(steady.lag)} observations); scoring CPU "
        f"{cpu['consumer']:.0f} µs/event")  # fmt: skip
    say(f"  memory    scoring RSS {scoring.rss_after_preload_mb:.0f} MB after the pre-load, "
        f"{scoring.rss_after_steady_mb:.0f} MB after the steady phase "
        f"({scoring.memory_growth:+.1%}), peak {scoring.peak_rss_mb:.0f} MB")  # fmt: skip


def figures(
    args: argparse.Namespace, preload_seconds: float, baseline: CatchUp, scoring: ScoringRun,
    applied: Applied, judged: dict[str, tuple[str, float, bool]],
) -> dict[str, object]:  # fmt: skip
    steady = scoring.steady
    return {
        "events": args.events, "fans": args.fans, "accounts": args.accounts,
        "partitions": args.partitions, "max_batch": args.max_batch,
        "preload_events_per_s": round(args.events / preload_seconds),
        "events_per_s": round(scoring.catch_up.events_per_s),
        "baseline_events_per_s": round(baseline.events_per_s),
        "ratio": round(judged["ratio"][1], 3),
        "lag_p50_ms": round(steady.lag_ms(0.5), 1), "lag_p99_ms": round(steady.lag_ms(0.99), 1),
        "lag_method": "interpolated within the buckets of scrm_scoring_event_lag_seconds",
        "lag_observations": observations(steady.lag),
        "lag_past_last_bucket": {f"p{q * 100:.0f}": past_last_bucket(q, steady.lag)
                                 for q in (0.5, 0.99)},
        "steady_events": steady.events, "steady_rate_per_s": args.rate,
        "steady_sent_per_s": round(steady.events / steady.seconds),
        "peak_rss_mb": round(scoring.peak_rss_mb, 1),
        "rss_after_preload_mb": round(scoring.rss_after_preload_mb, 1),
        "rss_after_steady_mb": round(scoring.rss_after_steady_mb, 1),
        "rss_samples_mb": scoring.rss_samples_mb,
        "lost": applied.lost, "duplicated": applied.duplicated, "produced": applied.produced,
        "claimed_by_scoring": applied.claimed, "profiles": applied.profiles,
        "cpu_us_per_event": {
            "baseline": cpu_per_event(baseline.cpu, baseline.events),
            "scoring": cpu_per_event(scoring.catch_up.cpu, scoring.catch_up.events),
            "scoring_steady": cpu_per_event(steady.cpu, steady.events),
        },
        "targets": {name: {"target": target, "value": round(value, 3), "met": met}
                    for name, (target, value, met) in judged.items()},
    }  # fmt: skip
