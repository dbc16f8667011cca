"""The operator's invariant check (bearer `COUPONS_OPERATOR_TOKEN`): `GET /v1/invariants`
recomputes the money invariants from the database and reports each, with examples of the
rows that break it. `200` either way: `holds` says whether all hold."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.coupons import invariants
from services.coupons.operator_api import require_operator
from shared.auth import RESPONSES
from shared.deps import SessionDep

router = APIRouter(
    prefix="/v1", tags=["operator"], dependencies=[Depends(require_operator)],
    responses=RESPONSES,
)  # fmt: skip


class FindingOut(BaseModel):
    invariant: str
    holds: bool
    violations: int
    examples: list[dict[str, Any]]


class InvariantsOut(BaseModel):
    holds: bool
    checked_at: datetime
    invariants: list[FindingOut]


@router.get("/invariants")
async def check_invariants(session: SessionDep) -> InvariantsOut:
    """Every money invariant recomputed now; the gauge is set from this check too."""
    report = await invariants.check(session, now=datetime.now(UTC), examples=10)
    invariants.record(report)
    findings = [
        FindingOut(invariant=finding.invariant, holds=finding.holds,
                   violations=finding.violations, examples=finding.examples)
        for finding in report.findings
    ]  # fmt: skip
    return InvariantsOut(holds=report.holds, checked_at=report.checked_at, invariants=findings)
