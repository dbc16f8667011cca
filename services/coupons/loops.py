"""coupons' background loops, run by every replica: the expiry sweep (replicas share the work
through SKIP LOCKED, and a packet's money goes back once whoever races), the invariant check
and the budget gauges. Each pass is one transaction, its own edge."""

import random
from datetime import UTC, datetime

from services.coupons import budget_gauges, expiry, invariants, metrics
from services.coupons.config import CouponsSettings
from shared.db import transaction
from shared.logging import get_logger
from shared.periodic import PeriodicTask
from shared.service import ServiceParts

log = get_logger(__name__)


class CouponsLoops:
    def __init__(self, settings: CouponsSettings, parts: ServiceParts, rng: random.Random) -> None:
        self.settings = settings
        self.parts = parts
        self.rng = rng

    def loops(self) -> list[PeriodicTask]:
        settings = self.settings
        return [
            PeriodicTask("packet-expiry", settings.expiry_interval_seconds, self.sweep, drain=True),
            PeriodicTask("coupons-invariants", settings.invariants_interval_seconds, self.check),
            PeriodicTask("budget-gauges", settings.budget_gauges_interval_seconds, self.gauges),
        ]

    async def sweep(self) -> bool:
        """One batch of expired packets; True while a full batch was due (run again at once)."""
        limit = self.settings.expiry_batch
        async with transaction(self.parts.sessionmaker) as session:
            due = await expiry.sweep(
                session, now=datetime.now(UTC), limit=limit, outbox=self.parts.outbox,
                rng=self.rng,
            )  # fmt: skip
        return due >= limit

    async def check(self) -> None:
        try:
            async with self.parts.sessionmaker() as session:
                report = await invariants.check(session, now=datetime.now(UTC))
        except Exception:
            metrics.INVARIANT_CHECKS.labels("failed").inc()
            raise
        invariants.record(report)
        for finding in report.findings:
            if not finding.holds:
                log.error(
                    "coupons invariant broken", invariant=finding.invariant,
                    violations=finding.violations, examples=str(finding.examples),
                )  # fmt: skip

    async def gauges(self) -> None:
        async with self.parts.sessionmaker() as session:
            await budget_gauges.refresh(session, low_share=self.settings.budget_low_share)
