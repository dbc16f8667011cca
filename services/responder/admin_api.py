"""The admin API (bearer `RESPONDER_ADMIN_TOKEN`, or an admin agent's token): the SLA policies
in force, the simulated clock (`RESPONDER_CLOCK=simulated`), agents and teams."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from services.responder import policies, routing, routing_repository
from services.responder.agent_auth import require_admin
from services.responder.api import RuntimeDep
from services.responder.schemas import (
    AdvanceIn,
    AgentCreated,
    AgentIn,
    AgentOut,
    ClockIn,
    ClockOutNow,
    PoliciesIn,
    PoliciesOut,
    Slug,
    TeamIn,
    TeamOut,
)
from services.responder.sla.policy import PolicySet
from services.responder.time_source import ClockWentBack, SimulatedClock
from shared.deps import SessionDep

router = APIRouter(
    prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)],
    responses={401: {"description": "no or a wrong token"},
               403: {"description": "an agent's token, not an admin's"}},
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


async def _simulated(runtime: RuntimeDep) -> SimulatedClock:
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


@router.post("/agents", status_code=201, response_model=AgentCreated)
async def add_agent(body: AgentIn, session: SessionDep) -> AgentCreated:
    """Add an agent; the answer carries their sign-in token, shown this once."""
    try:
        token = await routing.add_agent(session, body.new_agent())
    except routing.Refused as exc:
        raise HTTPException(409, str(exc)) from None
    return AgentCreated(id=body.id, token=token)


@router.get("/agents", response_model=list[AgentOut])
async def list_agents(session: SessionDep) -> list[AgentOut]:
    return [AgentOut.model_validate(agent) for agent in await routing_repository.agents(session)]


@router.put("/teams/{team_id}", response_model=TeamOut)
async def save_team(team_id: Slug, body: TeamIn, session: SessionDep) -> TeamOut:
    await routing_repository.save_team(session, team_id, body.name)
    return TeamOut(id=team_id, name=body.name)
