"""The agent API (an agent's own bearer token): presence, the queue, claim next, the agent's and
their team's conversations, and what they do with them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from services.responder import offers, offers_repository, routing
from services.responder import routing_repository as repository
from services.responder.agent_auth import AgentDep
from services.responder.api import RuntimeDep
from services.responder.models import Agent, Conversation
from services.responder.schemas import (
    AgentOut,
    ConversationOut,
    HeartbeatIn,
    OfferOut,
    TransferIn,
)
from shared.deps import SessionDep

router = APIRouter(
    prefix="/v1/agent", tags=["agents"],
    responses={401: {"description": "no or a wrong agent token"}},
)  # fmt: skip
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/me", response_model=AgentOut)
async def me(agent: AgentDep) -> AgentOut:
    return AgentOut.model_validate(agent)


@router.post("/heartbeat", response_model=AgentOut)
async def heartbeat(
    body: HeartbeatIn, agent: AgentDep, session: SessionDep, runtime: RuntimeDep
) -> AgentOut:
    """I am here (online: taking work; away: not). Without one for
    RESPONDER_HEARTBEAT_TIMEOUT_SECONDS the agent goes offline and their waiting conversations
    go back to the queue."""
    found = await routing.heartbeat(
        session, agent.id, presence=body.presence, now=runtime.clock.now()
    )
    return AgentOut.model_validate(found)


@router.get("/conversations", response_model=list[ConversationOut])
async def work(agent: AgentDep, session: SessionDep, limit: Limit = 100) -> list[ConversationOut]:
    """What the agent and their team hold, not resolved, most urgent first."""
    held = await repository.work_of(session, agent, limit=limit)
    return [ConversationOut.model_validate(conversation) for conversation in held]


@router.get("/queue", response_model=list[ConversationOut])
async def queue(
    agent: AgentDep, session: SessionDep, runtime: RuntimeDep, limit: Limit = 50
) -> list[ConversationOut]:
    """The waiting conversations nobody holds that the agent's skills fit, in the order claims
    take them."""
    waiting = await routing.queue_for(
        session, agent, vip_priority=runtime.settings.vip_priority, limit=limit
    )
    return [ConversationOut.model_validate(conversation) for conversation in waiting]


@router.post(
    "/claim-next", response_model=ConversationOut,
    responses={204: {"description": "nothing the agent can take, or no room left"},
               409: {"description": "the agent is not online"}},
)  # fmt: skip
async def claim_next(
    agent: AgentDep, session: SessionDep, runtime: RuntimeDep
) -> ConversationOut | Response:
    """Take the most urgent conversation the agent can: earliest reply deadline first, brought
    forward by the fan's priority; ties, the longest waiting. Two agents claiming at once get
    two conversations."""
    try:
        claimed = await routing.claim_next(
            session, agent.id, now=runtime.clock.now(), vip_priority=runtime.settings.vip_priority
        )
    except routing.Refused as exc:
        raise HTTPException(409, str(exc)) from None
    if claimed is None:
        return Response(status_code=204)
    return ConversationOut.model_validate(claimed)


@router.post("/conversations/{conversation_id}/transfer", status_code=204)
async def transfer(
    conversation_id: uuid.UUID, body: TransferIn, agent: AgentDep, session: SessionDep,
    runtime: RuntimeDep,
) -> None:  # fmt: skip
    """Hand a conversation the agent or their team holds to another agent, or back to the
    queue."""
    await _visible(session, agent, conversation_id)
    try:
        await routing.transfer(session, conversation_id, to=body.to, now=runtime.clock.now())
    except routing.NotFound as exc:
        raise HTTPException(404, str(exc)) from None


async def _visible(session: SessionDep, agent: Agent, conversation_id: uuid.UUID) -> None:
    """404 for a conversation the agent may not see: neither theirs nor their team's (an admin
    sees every one)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(404, f"no conversation {conversation_id}")
    if agent.role == "admin" or conversation.assignee_id == agent.id:
        return
    holder = (
        await session.get(Agent, conversation.assignee_id) if conversation.assignee_id else None
    )
    if holder is None or holder.team_id is None or holder.team_id != agent.team_id:
        raise HTTPException(404, f"no conversation {conversation_id}")


@router.get("/offers", response_model=list[OfferOut])
async def my_offers(agent: AgentDep, session: SessionDep) -> list[OfferOut]:
    """The conversation offered to the agent, waiting for them to accept or decline."""
    pending = await offers_repository.pending_for(session, agent.id)
    return [OfferOut.of(offer, conversation) for offer, conversation in pending]


@router.post("/offers/{offer_id}/accept", response_model=ConversationOut,
             responses={409: {"description": "lapsed, decided, or taken meanwhile"}})  # fmt: skip
async def accept_offer(
    offer_id: uuid.UUID, agent: AgentDep, session: SessionDep, runtime: RuntimeDep
) -> ConversationOut | JSONResponse:
    try:
        taken = await offers.accept(session, offer_id, agent.id, now=runtime.clock.now())
    except routing.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except routing.Refused as exc:
        raise HTTPException(409, str(exc)) from None
    if isinstance(taken, str):  # answered, not raised: the offer's end is committed
        return JSONResponse({"detail": taken}, status_code=409)
    return ConversationOut.model_validate(taken)


@router.post("/offers/{offer_id}/decline", status_code=204)
async def decline_offer(
    offer_id: uuid.UUID, agent: AgentDep, session: SessionDep, runtime: RuntimeDep
) -> None:
    """Pass: the conversation goes to the next agent, and is not offered to this one again."""
    try:
        await offers.decline(session, offer_id, agent.id, now=runtime.clock.now())
    except routing.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except routing.Refused as exc:
        raise HTTPException(409, str(exc)) from None
