"""The money invariants recomputed from the database, for the operator's endpoint and the
periodic check behind `scrm_coupons_invariant_violations` (labelled by the invariant's name,
a closed set). What each one says:

- `packet_sums`: a packet's claimed + unclaimed + returned cents make its total; the returned
  shares make its returned cents; a returned packet has no unclaimed share left.
- `budget_conservation`: a campaign's slices + packets' totals - returned + rewards not revoked
  make its budget, and no slice is below zero.
- `one_claim_per_fan_and_packet`, `claims_match_shares` (every claimed share has its claim, of
  its fan and amount, and back), `one_coupon_per_claim` (of the claim's amount),
  `one_active_redemption_per_coupon`.
- `reward_matches_first_order`: a reward's order was paid by the referred fan, after the
  referral, and the referral names the reward's referrer; a refused reward holds nothing.
- `refunded_reward_revoked`: a paid reward is revoked exactly when its order was refunded."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import invariants_repository, metrics
from services.coupons.invariants_repository import CHECKS

INVARIANTS: tuple[str, ...] = tuple(CHECKS)


@dataclass(frozen=True)
class Finding:
    invariant: str
    violations: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return self.violations == 0


@dataclass(frozen=True)
class Report:
    checked_at: datetime
    findings: list[Finding]

    @property
    def holds(self) -> bool:
        return all(finding.holds for finding in self.findings)


async def check(session: AsyncSession, *, now: datetime, examples: int = 5) -> Report:
    """Every invariant, with how many rows break it and some of them."""
    findings = []
    for invariant in INVARIANTS:
        count, found = await invariants_repository.violations(session, invariant, examples=examples)
        findings.append(Finding(invariant, count, found))
    return Report(now, findings)


def record(report: Report) -> None:
    """Set the gauge of each invariant and count the check."""
    for finding in report.findings:
        metrics.INVARIANT_VIOLATIONS.labels(finding.invariant).set(finding.violations)
    metrics.INVARIANT_CHECKS.labels("ok" if report.holds else "violated").inc()


def _create_series() -> None:
    for invariant in INVARIANTS:
        metrics.INVARIANT_VIOLATIONS.labels(invariant)


_create_series()
