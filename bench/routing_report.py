"""What ``make bench-routing`` measured: printed as a table, written to
``bench/results/routing.json``, and judged against the targets."""

import argparse
import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from bench.harness import CpuUse
from bench.loadgen import Result
from bench.report import percentile, say, write_results
from bench.routing_claims import WORK_SPREAD, Claim, ClaimRun
from bench.routing_webhooks import Answer

TARGET_CLAIM_P99_MS, TARGET_QUEUE_P99_MS = 25.0, 1_000.0
SATURATION_FIGURES = ("saturation_claims_per_s", "saturation_claim_p99_ms",
                      "baseline_saturation_claims_per_s", "baseline_saturation_p99_ms")  # fmt: skip


class Verdict(NamedTuple):
    target: str
    value: float
    met: bool


@dataclass(frozen=True)
class Phase:
    """Both sides' runs under one load model, and the CPU each side used in them."""

    runs: dict[str, list[ClaimRun]]  # bare, responder
    cpu: dict[str, CpuUse]

    def side(self, name: str) -> ClaimRun:
        return ClaimRun.combined(self.runs[name])

    def timing(self, name: str) -> Result:
        return self.side(name).timing


@dataclass(frozen=True)
class Claims:
    """The claims of both sides: responder's warm-up; the paced rounds, agents working on what
    they claimed; and the saturation round, back to back (None when skipped)."""

    agents: int
    queue: int  # conversations seeded
    work_seconds: float
    warm: ClaimRun  # responder's
    paced: Phase
    saturation: Phase | None

    def every_claim(self) -> list[Claim]:
        """Responder's, of every phase, the warm-up's included."""
        runs = [self.warm, self.paced.side("responder")]
        if self.saturation is not None:
            runs.append(self.saturation.side("responder"))
        return [claim for run in runs for claim in run.claims]

    def resolves(self) -> Counter[int]:
        phases = [self.paced] if self.saturation is None else [self.paced, self.saturation]
        return sum((phase.side("responder").resolves for phase in phases), self.warm.resolves)

    def statuses(self) -> Counter[int]:
        return Counter(claim.status for claim in self.every_claim())

    @property
    def empty(self) -> int:
        """Claims that found nothing to take: the queue ran dry."""
        return self.statuses()[204]

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses().items() if status not in (200, 204))


@dataclass(frozen=True)
class Holds:
    """Who held what: the claims' answers against responder's database after the claims."""

    answered: int  # claims that gave the agent a conversation
    given_twice: int  # conversations more than one answer named
    held_by_another: int  # conversations held by an agent other than the one an answer named
    held_unanswered: int  # conversations held by an agent no answer gave them to
    double_assignments: int  # conversations given twice or held by another, or both

    @classmethod
    def of(cls, claims: list[Claim], holders: dict[str, str]) -> "Holds":
        """From the claims' answers, in order, and each held conversation's agent."""
        given: dict[str, str] = {}
        twice = set()
        for claim in claims:
            if claim.conversation is not None:
                if claim.conversation in given:
                    twice.add(claim.conversation)
                given.setdefault(claim.conversation, claim.agent)
        other = {c for c, agent in given.items() if holders.get(c, agent) != agent}
        unanswered = sum(1 for c in holders if c not in given)
        answered = sum(1 for claim in claims if claim.conversation is not None)
        return cls(answered, len(twice), len(other), unanswered, len(twice | other))


@dataclass(frozen=True)
class Webhooks:
    """The measured webhooks: ingest's answers, and when responder queued each fan's
    conversation (epoch seconds, by fan key; the warm-up's too)."""

    rate: float  # offered a second
    seconds: float
    answers: list[Answer]
    queued: dict[str, float]

    @cached_property
    def accepted(self) -> list[Answer]:
        return [answer for answer in self.answers if 200 <= answer.status < 300]

    @cached_property
    def lags_ms(self) -> list[float]:
        """Ingest's 2xx arrived -> the conversation committed to the queue."""
        return [(self.queued[a.fan_key] - a.answered) * 1000
                for a in self.accepted if a.fan_key in self.queued]  # fmt: skip

    @property
    def lost(self) -> int:
        return len(self.accepted) - len(self.lags_ms)

    def sent_per_s(self) -> float:
        times = [answer.answered for answer in self.answers]
        return len(times) / (max(times) - min(times)) if len(times) > 1 else math.nan

    def queued_per_s(self) -> float:
        """Conversations responder queued a second, from the first answer to the last queued."""
        mine = [self.queued[a.fan_key] for a in self.accepted if a.fan_key in self.queued]
        first = min((a.answered for a in self.answers), default=math.nan)
        return len(mine) / (max(mine) - first) if mine else math.nan

    def lag(self) -> dict[str, float]:
        lags = self.lags_ms
        return {"p50_ms": round(percentile(lags, 0.5), 1),
                "p99_ms": round(percentile(lags, 0.99), 1),
                "max_ms": round(max(lags, default=math.nan), 1)}  # fmt: skip


def conclude(
    args: argparse.Namespace, broker: str, claims: Claims, holds: Holds, webhooks: Webhooks
) -> int:
    """Print the table and the verdicts, write the figures; 1 if a conversation was held by
    two agents, a webhook accepted never reached the queue, or the claims' figures are not of
    a full queue."""
    capacity = (f"then {args.saturation_seconds:.0f} s of each back to back for the capacity"
                if claims.saturation is not None else "no capacity round")  # fmt: skip
    say(f"bench-routing: {claims.agents} agents, each claiming, {_working(claims.work_seconds)} "
        f"and resolving, {args.rounds} alternating rounds of {args.claim_seconds / args.rounds:.0f}"
        f" s each; {capacity}; {claims.queue} conversations queued; webhooks "
        f"{webhooks.rate:.0f}/s offered for {webhooks.seconds:.0f} s; broker {broker}")  # fmt: skip
    _report_claims(claims)
    _report_cpu(claims)
    _report_holds(claims, holds)
    _report_webhooks(webhooks)
    verdicts = _verdicts(claims.paced.timing("responder"), holds, webhooks)
    say("  targets   " + "; ".join(f"{name} {v.target}: {'met' if v.met else 'MISSED'}"
                                   for name, v in verdicts.items()))  # fmt: skip
    write_results("routing", figures(args, claims, holds, webhooks, verdicts))
    if claims.empty or claims.failed:
        say(f"  INVALID   {claims.empty} claims found the queue empty (seed more: --queue), "
            f"{claims.failed} failed")  # fmt: skip
    broken = holds.double_assignments or holds.held_unanswered or webhooks.lost
    return 1 if broken or claims.empty or claims.failed else 0


def _working(work_seconds: float) -> str:
    if work_seconds == 0:
        return "not working on it"
    low, high = (work_seconds * share for share in WORK_SPREAD)
    return f"working on it {low:.2g}-{high:.2g} s ({work_seconds:.2g} s on average)"


def _report_claims(claims: Claims) -> None:
    """The paced rounds, on which the targets are judged; then the capacity, back to back."""
    bare, responder = claims.paced.timing("bare"), claims.paced.timing("responder")
    paced = "back to back" if claims.work_seconds == 0 else f"working ~{claims.work_seconds:.2g} s"
    say(_claim_header(f"claim-next, agents {paced}"))
    say(_claim_row("baseline: bare, one asyncpg query", bare))
    say(_claim_row("responder", responder))
    say(f"  ratio     responder / baseline: p50 {_ratio(responder, bare, 0.5):.1f} x, p99 "
        f"{_ratio(responder, bare, 0.99):.1f} x")  # fmt: skip
    if claims.saturation is None:
        return
    most = {name: claims.saturation.timing(name) for name in ("bare", "responder")}
    say(_claim_header("claim-next, back to back: capacity"))
    say(_claim_row("baseline: bare, one asyncpg query", most["bare"]))
    say(_claim_row("responder", most["responder"]))
    capacity, baseline = most["responder"].throughput, most["bare"].throughput
    say(f"  headroom  responder sustains {capacity:.0f} claims/s, "
        f"{capacity / responder.throughput:.1f} x the paced {responder.throughput:.0f}/s; "
        f"{capacity / baseline:.2f} x the baseline's {baseline:.0f}/s")  # fmt: skip


def _ratio(responder: Result, bare: Result, q: float) -> float:
    return responder.percentile(q) / bare.percentile(q)


def _claim_header(title: str) -> str:
    return (f"  {title:<34} {'claims':>8} {'claims/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'max ms':>8}")  # fmt: skip


def _claim_row(name: str, result: Result) -> str:
    return (f"  {name:<34} {result.requests:>8} {result.throughput:>9.0f} "
            f"{result.percentile(0.5):>8.2f} {result.percentile(0.99):>8.2f} "
            f"{max(result.latencies_ms, default=math.nan):>8.1f}")  # fmt: skip


def _report_cpu(claims: Claims) -> None:
    phases = {"paced": claims.paced, "back to back": claims.saturation}
    for label, phase in phases.items():
        if phase is not None:
            for name in ("bare", "responder"):
                say(_cpu_row(f"{label}, {name}", phase.side(name), phase.cpu[name]))


def _cpu_row(label: str, side: ClaimRun, cpu: CpuUse) -> str:
    count, busy = max(len(side.claims), 1), cpu.machine_busy / (side.seconds * cpu.cores)
    return (f"  CPU       {label}: µs per claim and its resolve: the server "
            f"{cpu.service / count * 1e6:.0f}, PostgreSQL {cpu.database / count * 1e6:.0f}, "
            f"load generator {cpu.load_generator / count * 1e6:.0f}; machine {busy:.0%} "
            "busy")  # fmt: skip


def _report_holds(claims: Claims, holds: Holds) -> None:
    statuses = dict(sorted(claims.statuses().items()))
    say(f"  holds     {holds.answered} conversations claimed (every phase, warm-up included; "
        f"statuses {statuses}, resolves {dict(claims.resolves())}): given twice "
        f"{holds.given_twice}, held by another agent {holds.held_by_another}, held with no "
        f"answer {holds.held_unanswered}; double assignments "
        f"{holds.double_assignments}")  # fmt: skip


def _report_webhooks(webhooks: Webhooks) -> None:
    lag = webhooks.lag()
    behind = percentile([a.behind_ms for a in webhooks.answers], 0.99)
    say(f"  {'webhook accepted -> in the queue':<34} {'sent':>8} {'accepted':>9} {'queued':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")  # fmt: skip
    say(f"  {'responder':<34} {len(webhooks.answers):>8} {len(webhooks.accepted):>9} "
        f"{len(webhooks.lags_ms):>8} {lag['p50_ms']:>8.0f} {lag['p99_ms']:>8.0f} "
        f"{lag['max_ms']:>8.0f}")  # fmt: skip
    say(f"  webhooks  sent at {webhooks.sent_per_s():.0f}/s ({webhooks.rate:.0f}/s offered; p99 "
        f"{behind:.1f} ms behind the schedule); responder queued {webhooks.queued_per_s():.0f}"
        f"/s; lost {webhooks.lost}")  # fmt: skip


def _verdicts(responder: Result, holds: Holds, webhooks: Webhooks) -> dict[str, Verdict]:
    queue_p99 = webhooks.lag()["p99_ms"]
    claim_p99 = round(responder.percentile(0.99), 2)
    return {
        "claim_p99_ms": Verdict(f"<= {TARGET_CLAIM_P99_MS:.0f}", claim_p99,
                                claim_p99 <= TARGET_CLAIM_P99_MS),
        "webhook_to_queue_p99_ms": Verdict(
            f"<= {TARGET_QUEUE_P99_MS:.0f}", queue_p99,
            webhooks.lost == 0 and queue_p99 <= TARGET_QUEUE_P99_MS),
        "double_assignments": Verdict("0", holds.double_assignments,
                                      holds.double_assignments == 0),
    }  # fmt: skip


def figures(
    args: argparse.Namespace, claims: Claims, holds: Holds, webhooks: Webhooks,
    verdicts: dict[str, Verdict],
) -> dict[str, object]:  # fmt: skip
    return {
        **_claim_figures(args, claims),
        "queue_seeded": claims.queue, "empty_claims": claims.empty,
        "failed_claims": claims.failed, "conversations_claimed": holds.answered,
        "double_assignments": holds.double_assignments, "given_twice": holds.given_twice,
        "held_by_another_agent": holds.held_by_another,
        "held_without_answer": holds.held_unanswered,
        **_webhook_figures(webhooks),
        "targets": {name: v._asdict() for name, v in verdicts.items()},
    }  # fmt: skip


def _claim_figures(args: argparse.Namespace, claims: Claims) -> dict[str, object]:
    """The paced rounds' (the targets are judged on them), then the capacity's."""
    bare, responder = claims.paced.timing("bare"), claims.paced.timing("responder")
    return {
        "agents": claims.agents,
        "load_model": f"each agent claims, works on it for work_seconds x uniform{WORK_SPREAD} "
                      "(a seeded schedule, the same for both sides), resolves, claims again; "
                      "agents start spread over one work period; only claims timed",
        "work_seconds": claims.work_seconds,
        "claim_p50_ms": round(responder.percentile(0.5), 2),
        "claim_p99_ms": round(responder.percentile(0.99), 2),
        "claims_measured": responder.requests, "claims_per_s": round(responder.throughput, 1),
        "baseline": "bare FastAPI endpoint (bench.bare) running one asyncpg query, the queue's "
                    "head; the same agents' loop, pauses and load generator",
        "baseline_p50_ms": round(bare.percentile(0.5), 2),
        "baseline_p99_ms": round(bare.percentile(0.99), 2),
        "baseline_claims_per_s": round(bare.throughput, 1),
        "ratio_p50": round(_ratio(responder, bare, 0.5), 2),
        "ratio_p99": round(_ratio(responder, bare, 0.99), 2),
        "claim_rounds": args.rounds, "claim_seconds": args.claim_seconds,
        **_saturation_figures(args, claims.saturation),
    }  # fmt: skip


def _saturation_figures(args: argparse.Namespace, phase: Phase | None) -> dict[str, object]:
    """The most claims a second each side sustains, back to back (None when skipped)."""
    if phase is None:
        return {"saturation_seconds": 0, **dict.fromkeys(SATURATION_FIGURES)}
    bare, responder = phase.timing("bare"), phase.timing("responder")
    return {
        "saturation_seconds": args.saturation_seconds,
        "saturation_claims_per_s": round(responder.throughput, 1),
        "saturation_claim_p99_ms": round(responder.percentile(0.99), 2),
        "baseline_saturation_claims_per_s": round(bare.throughput, 1),
        "baseline_saturation_p99_ms": round(bare.percentile(0.99), 2),
    }


def _webhook_figures(webhooks: Webhooks) -> dict[str, object]:
    lag = webhooks.lag()
    return {
        "webhook_rate_per_s": webhooks.rate, "webhook_seconds": webhooks.seconds,
        "webhooks_sent": len(webhooks.answers), "webhooks_accepted": len(webhooks.accepted),
        "webhooks_queued": len(webhooks.lags_ms), "webhooks_lost": webhooks.lost,
        "webhook_sent_per_s": round(webhooks.sent_per_s(), 1),
        "responder_queued_per_s": round(webhooks.queued_per_s(), 1),
        "webhook_to_queue_p50_ms": lag["p50_ms"], "webhook_to_queue_p99_ms": lag["p99_ms"],
        "webhook_to_queue_max_ms": lag["max_ms"],
        "webhook_to_queue_method": "commit time of the transaction that stored the "
                                   "conversation's first message (pg_xact_commit_timestamp) "
                                   "minus the arrival of ingest's 2xx; exact quantiles",
    }  # fmt: skip
