"""What ``make bench-coupons`` prints and writes to ``bench/results/coupons.json``."""

import argparse
from dataclasses import dataclass, field, replace

from bench import loadgen
from bench.harness import CpuUse
from bench.report import say, write_results

TARGET_PER_S, TARGET_RATIO, TARGET_P99_MS, TARGET_HOT_SECONDS = 1_000, 0.5, 50.0, 2.0


@dataclass(frozen=True)
class Measured:
    """One side's warm-up, its measured rounds and the CPU of its process over them."""

    warm: loadgen.Result
    rounds: list[loadgen.Result] = field(default_factory=list)
    cpu: CpuUse | None = None

    def with_round(self, result: loadgen.Result, used: CpuUse) -> "Measured":
        cpu = used if self.cpu is None else self.cpu + used
        return replace(self, rounds=[*self.rounds, result], cpu=cpu)

    @property
    def combined(self) -> loadgen.Result:
        return loadgen.Result.combined(self.rounds)

    @property
    def created(self) -> int:
        """Claims answered 201, warm-up included."""
        return sum(r.statuses.get(201, 0) for r in (self.warm, *self.rounds))

    def cpu_us(self, role: str = "service") -> float:
        """CPU µs of `role` per measured claim."""
        if self.cpu is None:
            return float("nan")
        return float(getattr(self.cpu, role)) / self.combined.requests * 1e6


@dataclass(frozen=True)
class Hot:
    claimers: int
    shares: int
    result: loadgen.Result
    sold_out_seconds: float  # to the last share taken
    cpu: CpuUse

    @property
    def winners(self) -> int:
        return self.result.statuses.get(201, 0)


def conclude(
    args: argparse.Namespace, measured: dict[str, Measured], hot: Hot, broken: dict[str, int]
) -> int:
    """Print the table and the verdicts, write the figures; 1 if an invariant broke or the hot
    packet's winners are not its shares."""
    bare, coupons = measured["bare"].combined, measured["coupons"].combined
    ratio = coupons.throughput / bare.throughput
    pairs = zip(measured["bare"].rounds, measured["coupons"].rounds, strict=True)
    by_round = [c.throughput / b.throughput for b, c in pairs]
    _table(measured, hot)
    say(f"  ratio     {ratio:.2f} x the bare endpoint (by round "
        f"{', '.join(f'{r:.2f}' for r in by_round)})")  # fmt: skip
    violations = sum(broken.values())
    say("  invariants " + ("all hold" if violations == 0 else
        ", ".join(f"{k} {v}" for k, v in broken.items() if v)))  # fmt: skip
    p99 = coupons.percentile(0.99)
    verdicts = {
        "claims/s": coupons.throughput >= TARGET_PER_S, "ratio": ratio >= TARGET_RATIO,
        "p99": p99 <= TARGET_P99_MS, "hot winners": hot.winners == hot.shares,
        "hot seconds": hot.result.seconds <= TARGET_HOT_SECONDS, "invariants": violations == 0,
    }  # fmt: skip
    say(
        "  targets   "
        + ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in verdicts.items())
    )
    _write(args, measured, hot, broken, by_round)
    return 0 if violations == 0 and hot.winners == hot.shares else 1


def _write(
    args: argparse.Namespace, measured: dict[str, Measured], hot: Hot, broken: dict[str, int],
    by_round: list[float],
) -> None:  # fmt: skip
    bare, coupons = measured["bare"].combined, measured["coupons"].combined
    ratio, p99 = coupons.throughput / bare.throughput, coupons.percentile(0.99)
    violations = sum(broken.values())
    write_results("coupons", {
        "claims": coupons.requests, "claims_per_s": round(coupons.throughput),
        "claim_p50_ms": round(coupons.median_ms, 2), "claim_p99_ms": round(p99, 2),
        "baseline_per_s": round(bare.throughput),
        "baseline_p99_ms": round(bare.percentile(0.99), 2),
        "ratio": round(ratio, 3), "ratio_by_round": [round(r, 3) for r in by_round],
        "claim_cpu_us": round(measured["coupons"].cpu_us()),
        "claim_database_cpu_us": round(measured["coupons"].cpu_us("database")),
        "baseline_cpu_us": round(measured["bare"].cpu_us()),
        "hot_packet_claimers": hot.claimers, "hot_packet_shares": hot.shares,
        "hot_packet_winners": hot.winners, "hot_packet_seconds": round(hot.result.seconds, 3),
        "hot_packet_sold_out_seconds": round(hot.sold_out_seconds, 3),
        "hot_packet_p99_ms": round(hot.result.percentile(0.99), 2),
        "hot_packet_cpu_us": round(hot.cpu.service / hot.claimers * 1e6),
        "invariant_violations": violations, "broken": {k: v for k, v in broken.items() if v},
        "connections": args.connections, "hot_packet_connections": args.hot_connections,
    })  # fmt: skip


def _table(measured: dict[str, Measured], hot: Hot) -> None:
    say(f"  {'':<10} {'claims':>7} {'claims/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'svc µs':>7} {'pg µs':>6} {'broker µs':>9}  statuses")  # fmt: skip
    for name, side in measured.items():
        result = side.combined
        say(f"  {name:<10} {result.requests:>7} {result.throughput:>9.0f} "
            f"{result.median_ms:>7.2f} {result.percentile(0.99):>7.2f} {side.cpu_us():>7.0f} "
            f"{side.cpu_us('database'):>6.0f} {side.cpu_us('broker'):>9.0f}  "
            f"{result.statuses}")  # fmt: skip
    r = hot.result
    say(f"  {'hot packet':<10} {r.requests:>7} {r.throughput:>9.0f} {r.median_ms:>7.2f} "
        f"{r.percentile(0.99):>7.2f} {hot.cpu.service / r.requests * 1e6:>7.0f} "
        f"{hot.cpu.database / r.requests * 1e6:>6.0f} {hot.cpu.broker / r.requests * 1e6:>9.0f}"
        f"  {r.statuses}")  # fmt: skip
    say(f"  hot packet: {hot.winners} winners of {hot.shares} shares among {hot.claimers} "
        f"claimers; every answer in {r.seconds:.2f} s, the last share taken after "
        f"{hot.sold_out_seconds:.2f} s")  # fmt: skip
