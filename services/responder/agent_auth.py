"""Who is calling: an agent, by the token they were given (kept hashed), or an admin (an agent
of role admin, or the bearer of RESPONDER_ADMIN_TOKEN)."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.responder import routing_repository
from services.responder.config import ResponderSettings
from services.responder.models import Agent
from shared.deps import SessionDep
from shared.service import parts_of

_scheme = HTTPBearer(auto_error=False, description="an agent's token, or RESPONDER_ADMIN_TOKEN")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_scheme)]
_UNAUTHORISED = HTTPException(
    401, "an agent's bearer token is required", headers={"WWW-Authenticate": "Bearer"}
)


async def current_agent(session: SessionDep, credentials: Credentials) -> Agent:
    return await _agent(session, credentials, lock=False)


async def current_agent_locked(session: SessionDep, credentials: Credentials) -> Agent:
    """The calling agent, their row locked for the request's transaction: what counts their
    work (a claim, a heartbeat) is decided one request at a time."""
    return await _agent(session, credentials, lock=True)


async def _agent(session: SessionDep, credentials: Credentials, *, lock: bool) -> Agent:
    if credentials is None:
        raise _UNAUTHORISED
    agent = await routing_repository.agent_by_token(session, credentials.credentials, lock=lock)
    if agent is None:
        raise _UNAUTHORISED
    return agent


AgentDep = Annotated[Agent, Depends(current_agent)]
LockedAgentDep = Annotated[Agent, Depends(current_agent_locked)]


async def require_admin(request: Request, session: SessionDep, credentials: Credentials) -> None:
    """The admin token, or an agent of role admin."""
    if credentials is None:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    settings = parts_of(request.app).settings
    expected = settings.admin_token if isinstance(settings, ResponderSettings) else None
    presented = credentials.credentials.encode()
    if expected is not None and hmac.compare_digest(
        presented, expected.get_secret_value().encode()
    ):
        return
    agent = await routing_repository.agent_by_token(session, credentials.credentials)
    if agent is None:
        raise _UNAUTHORISED
    if agent.role != "admin":
        raise HTTPException(403, "an admin's token is required")
