"""What ``make bench-sla`` measured: printed as a table, written to ``bench/results/sla.json``,
and judged against the targets."""

import argparse
import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

from bench.harness import CpuUse
from bench.histogram import Buckets, observations, past_last_bucket, quantile
from bench.report import percentile, say, write_results
from bench.sla_load import Window, wave_of
from bench.sla_topic import SlaRecord

TARGET_LAG_P99_MS = 1_000.0
BREACHED = "scrm.sla.breached.v1"


@dataclass(frozen=True)
class Lags:
    """Breach lags in ms: the broker's append time of each breach minus its deadline."""

    values: list[float]

    def figures(self) -> dict[str, float | int]:
        return {"breaches": len(self.values), "p50_ms": round(percentile(self.values, 0.5), 1),
                "p99_ms": round(percentile(self.values, 0.99), 1),
                "max_ms": round(max(self.values, default=math.nan), 1)}  # fmt: skip

    def row(self, name: str) -> str:
        f = self.figures()
        return (f"  {name:<28} {f['breaches']:>9} {f['p50_ms']:>9.1f} {f['p99_ms']:>9.1f} "
                f"{f['max_ms']:>10.1f}")  # fmt: skip


@dataclass(frozen=True)
class FirstRun:
    """The first wave: its deadlines, and what responder observed meanwhile."""

    window: Window
    detection: Buckets  # responder's deadline -> breach committed, during the window
    cpu: CpuUse  # from its first deadline until its breaches were all told
    warm_rate: float = 0.0  # fan messages responder applied a second in the warm-up


@dataclass(frozen=True)
class Restart:
    """The second wave, and responder's SIGTERM and restart during its deadlines."""

    window: Window
    live: Window  # fan messages on the topic that responder was applying at the SIGTERM
    terminated: float  # SIGTERM sent (epoch seconds)
    stopped: float  # the first process had exited
    ready: float  # the second answered /readyz


@dataclass(frozen=True)
class Check:
    """What reached `scrm.sla.v1`, against the clocks in responder's database."""

    conversations: int
    expected: set[str]  # event ids
    records: list[SlaRecord]

    @cached_property
    def seen(self) -> Counter[str]:
        return Counter(record.event_id for record in self.records)

    @property
    def lost(self) -> int:
        return len(self.expected - self.seen.keys())

    @property
    def duplicated(self) -> int:
        return len(self.records) - len(self.seen)

    @property
    def unexpected(self) -> int:
        return len(self.seen.keys() - self.expected)

    def by_type(self) -> dict[str, dict[str, int]]:
        kinds: dict[str, dict[str, int]] = {}
        for suffix in ("started", "warning", "breached"):
            expected = {i for i in self.expected if i.split(":")[1] == suffix}
            seen = {i: n for i, n in self.seen.items() if i.split(":")[1] == suffix}
            kinds[suffix] = {"expected": len(expected), "lost": len(expected - seen.keys()),
                             "duplicated": sum(seen.values()) - len(seen)}  # fmt: skip
        return kinds

    def breaches(self, wave: str) -> list[SlaRecord]:
        """The first record of each breach of `wave`'s conversations."""
        first: dict[str, SlaRecord] = {}
        for record in self.records:
            if record.event_type == BREACHED and wave_of(record.fan_key) == wave:
                first.setdefault(record.event_id, record)
        return list(first.values())

    @property
    def intact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0


def second_wave_lags(check: Check, restart: Restart) -> dict[str, Lags]:
    """The second wave's lags, by where their deadlines fell: before the SIGTERM, between it
    and the new process's readiness, after."""
    parts: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    for record in check.breaches("w2"):
        part = ("before" if record.deadline < restart.terminated
                else "during" if record.deadline < restart.ready else "after")  # fmt: skip
        parts[part].append(record.lag_ms)
    return {part: Lags(values) for part, values in parts.items()}


def conclude(
    args: argparse.Namespace, broker: str, baseline: list[float], first: FirstRun,
    restart: Restart, check: Check, peak_rss_mb: float,
) -> int:  # fmt: skip
    """Print the table and the verdicts, write the figures; 1 if an SLA event was lost or
    doubled."""
    base, wave1 = Lags(baseline), Lags([r.lag_ms for r in check.breaches("w1")])
    second = second_wave_lags(check, restart)
    ratios = {q: wave1.figures()[f"p{q}_ms"] / base.figures()[f"p{q}_ms"] for q in (50, 99)}
    say(f"bench-sla: {args.warmup + args.conversations + args.second_wave} conversations open "
        f"(both waves and the warm-up), the first wave's "
        f"{args.conversations} deadlines over {args.span:.0f} s "
        f"({first.window.per_second:.0f}/s); second wave {args.second_wave} over "
        f"{args.second_span:.0f} s, responder restarted {args.restart_at:.0%} through; "
        f"broker {broker}")  # fmt: skip
    say(f"  {'breach lag (deadline -> Kafka)':<28} {'breaches':>9} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'max ms':>10}")  # fmt: skip
    say(base.row("baseline: bare timer loop"))
    say(wave1.row("responder: first wave"))
    for part, name in (("before", "before SIGTERM"), ("during", "SIGTERM -> ready"),
                       ("after", "after the restart")):  # fmt: skip
        say(second[part].row(f"  second wave, {name}"))
    say(Lags([r.lag_ms for r in check.breaches("live")]).row("  messages around the restart"))
    say(f"  ratio     responder / baseline: p50 {ratios[50]:.1f} x, p99 {ratios[99]:.1f} x")
    report_run(first, restart)
    report_events(check)
    say(f"  memory    responder peak RSS {peak_rss_mb:.0f} MB")
    met_lag = wave1.figures()["p99_ms"] <= TARGET_LAG_P99_MS
    say(f"  targets   breach lag p99 <= {TARGET_LAG_P99_MS:.0f} ms: "
        f"{'met' if met_lag else 'MISSED'}; nothing lost or doubled: "
        f"{'met' if check.intact else 'MISSED'}")  # fmt: skip
    write_results("sla", figures(args, base, wave1, second, ratios, first, restart, check,
                                 peak_rss_mb, met_lag))  # fmt: skip
    return 0 if check.intact else 1


def report_run(first: FirstRun, restart: Restart) -> None:
    detection = first.detection
    say(f"  detection responder's own deadline -> breach committed (its histogram, interpolated "
        f"in buckets): p50 {_bucket_ms(0.5, detection)}, p99 {_bucket_ms(0.99, detection)} "
        f"({observations(detection)} observations)")  # fmt: skip
    breaches = max(first.window.count, 1)
    say(f"  CPU       during the first wave's deadlines: responder "
        f"{first.cpu.service / breaches * 1e6:.0f} µs/breach, PostgreSQL "
        f"{first.cpu.database / breaches * 1e6:.0f}, broker {first.cpu.broker / breaches * 1e6:.0f}"
        f", machine {first.cpu.machine_busy / breaches * 1e6:.0f} (warnings of both waves "
        f"included); warm-up fan messages applied at {first.warm_rate:.0f}/s")  # fmt: skip
    say(f"  restart   SIGTERM {restart.terminated - restart.window.start:.0f} s into the second "
        f"wave's deadlines, {restart.live.count} fan messages on the topic being applied; "
        f"exited after {restart.stopped - restart.terminated:.1f} s, the new process ready "
        f"{restart.ready - restart.terminated:.1f} s after the SIGTERM")  # fmt: skip


def _bucket_ms(q: float, buckets: Buckets) -> str:
    beyond = ">= " if past_last_bucket(q, buckets) else ""
    return f"{beyond}{quantile(q, buckets) * 1000:.0f} ms"


def report_events(check: Check) -> None:
    kinds = check.by_type()
    say(f"  events    {len(check.records)} SLA records for {check.conversations} conversations "
        f"({len(check.expected)} events expected): lost {check.lost}, duplicated "
        f"{check.duplicated}, unexpected {check.unexpected}; "
        + ", ".join(f"{kind} {n['expected']} (lost {n['lost']}, doubled {n['duplicated']})"
                    for kind, n in kinds.items()))  # fmt: skip


def figures(
    args: argparse.Namespace, base: Lags, wave1: Lags, second: dict[str, Lags],
    ratios: dict[int, float], first: FirstRun, restart: Restart, check: Check,
    peak_rss_mb: float, met_lag: bool,
) -> dict[str, object]:  # fmt: skip
    wave, baseline = wave1.figures(), base.figures()
    return {
        "open_conversations": args.warmup + args.conversations + args.second_wave,
        "first_wave_conversations": args.conversations, "warmup_conversations": args.warmup,
        "deadline_span_s": args.span, "deadlines_per_s": round(first.window.per_second, 1),
        "breach_lag_p50_ms": wave["p50_ms"], "breach_lag_p99_ms": wave["p99_ms"],
        "breach_lag_max_ms": wave["max_ms"], "breaches_measured": wave["breaches"],
        "lag_method": "broker append time (LogAppendTime) of the breach on scrm.sla.v1 minus "
                      "its deadline, exact quantiles",
        "baseline": "bare timer loop: asyncio call_at -> shared.kafka.EventProducer, "
                    "same deadline rate, " + f"{args.baseline_seconds:.0f} s",
        "baseline_breach_lag_p50_ms": baseline["p50_ms"],
        "baseline_breach_lag_p99_ms": baseline["p99_ms"],
        "ratio_p50": round(ratios[50], 2), "ratio_p99": round(ratios[99], 2),
        "detection_p50_ms": round(quantile(0.5, first.detection) * 1000, 1),
        "detection_p99_ms": round(quantile(0.99, first.detection) * 1000, 1),
        "warmup_messages_per_s": round(first.warm_rate, 1),
        "responder_cpu_us_per_breach": round(first.cpu.service / first.window.count * 1e6),
        "second_wave_conversations": args.second_wave, "second_wave_span_s": args.second_span,
        "second_wave_lag": {part: lags.figures() for part, lags in second.items()},
        "live_messages_around_restart": restart.live.count,
        "restart_stop_s": round(restart.stopped - restart.terminated, 2),
        "restart_sigterm_to_ready_s": round(restart.ready - restart.terminated, 2),
        "sla_records": len(check.records), "sla_events_expected": len(check.expected),
        "sla_events_lost": check.lost, "sla_events_duplicated": check.duplicated,
        "sla_events_unexpected": check.unexpected, "sla_events_by_type": check.by_type(),
        "conversations": check.conversations,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "targets": {
            "breach_lag_p99_ms": {"target": f"<= {TARGET_LAG_P99_MS:.0f}",
                                  "value": wave["p99_ms"], "met": met_lag},
            "nothing_lost_or_doubled": {"target": "0", "met": check.intact,
                                        "value": check.lost + check.duplicated},
        },
    }  # fmt: skip
