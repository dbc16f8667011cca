"""The admin API (bearer `RESPONDER_ADMIN_TOKEN`): the SLA policies in force, and the simulated
clock (`RESPONDER_CLOCK=simulated`)."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import SecretStr

from services.responder import policies
from services.responder.api import RuntimeDep
from services.responder.config import ResponderSettings
from services.responder.schemas import AdvanceIn, ClockIn, ClockOutNow, PoliciesIn, PoliciesOut
from services.responder.sla.policy import PolicySet
from services.responder.time_source import ClockWentBack, SimulatedClock
from shared.auth import RESPONSES, bearer_guard
from shared.deps import SessionDep
from shared.service import parts_of


def _admin_token(request: Request) -> SecretStr | None:
    settings = parts_of(request.app).settings
    return settings.admin_token if isinstance(settings, ResponderSettings) else None


router = APIRouter(
    prefix="/v1/admin", tags=["admin"], responses=dict(RESPONSES),
    dependencies=[Depends(bearer_guard("admin API", "RESPONDER_ADMIN_TOKEN", _admin_token))],
)  # fmt: skip


@router.get("/sla-policies", response_model=PoliciesOut)
async def read_policies(session: SessionDep, runtime: RuntimeDep) -> PoliciesOut:
    """The policies in force, in order (the first matching a message is its policy)."""
    current, version = await runtime.policies.current(session)
    return PoliciesOut(version=version, policies=current.policies)


@router.put("/sla-policies", response_model=PoliciesOut)
async def replace_policies(
    body: PoliciesIn, session: SessionDep, runtime: RuntimeDep
) -> PoliciesOut:
    """Replace the policies as a whole. They apply to clocks started from now on; a clock
    running keeps the targets it started with. Refused (422) with what is wrong: ids used
    twice, a last policy with conditions, a warning not before its target, an unknown time
    zone or an interval that does not parse."""
    try:
        checked = PolicySet(policies=body.policies)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    version = await policies.replace(session, checked, at=runtime.clock.now(), by=body.updated_by)
    return PoliciesOut(version=version, policies=checked.policies)


def _simulated(runtime: RuntimeDep) -> SimulatedClock:
    if not isinstance(runtime.clock, SimulatedClock):
        raise HTTPException(409, "the clock is the system's: set RESPONDER_CLOCK=simulated")
    return runtime.clock


SimulatedDep = Annotated[SimulatedClock, Depends(_simulated)]


@router.get("/clock", response_model=ClockOutNow)
async def read_clock(runtime: RuntimeDep) -> ClockOutNow:
    mode = "simulated" if isinstance(runtime.clock, SimulatedClock) else "system"
    return ClockOutNow(mode=mode, now=runtime.clock.now())


@router.put("/clock", response_model=ClockOutNow)
async def set_clock(body: ClockIn, clock: SimulatedDep) -> ClockOutNow:
    """Set the simulated clock (forward only): deadlines passed meanwhile fire at once, in the
    order of their deadlines."""
    try:
        return ClockOutNow(mode="simulated", now=clock.set(body.now))
    except ClockWentBack as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/clock/advance", response_model=ClockOutNow)
async def advance_clock(body: AdvanceIn, clock: SimulatedDep) -> ClockOutNow:
    return ClockOutNow(mode="simulated", now=clock.advance(timedelta(seconds=body.seconds)))
