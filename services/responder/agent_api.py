"""The agent API (an agent's own bearer token): presence, the queue, claim next, the agent's and
their team's conversations, and what they do with them."""

import uuid
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from services.responder import agent_view, offers, offers_repository, routing, service
from services.responder import repository as repository_
from services.responder import routing_repository as repository
from services.responder.agent_auth import AgentDep, LockedAgentDep
from services.responder.api import RuntimeDep
from services.responder.models import Agent, Conversation
from services.responder.schemas import (
    AgentOut,
    ClockOut,
    ConversationDetail,
    ConversationOut,
    HeartbeatIn,
    MessageOut,
    OfferOut,
    ReplyAccepted,
    ReplyIn,
    SnoozeIn,
    TransferIn,
)
from shared.deps import SessionDep

router = APIRouter(
    prefix="/v1/agent", tags=["agents"],
    responses={401: {"description": "no or a wrong agent token"}},
)  # fmt: skip
Limit = Annotated[int, Query(ge=1, le=200)]
T = TypeVar("T")


@router.get("/me", response_model=AgentOut)
async def me(agent: AgentDep) -> AgentOut:
    return AgentOut.model_validate(agent)


@router.post("/heartbeat", response_model=AgentOut)
async def heartbeat(body: HeartbeatIn, agent: LockedAgentDep, runtime: RuntimeDep) -> AgentOut:
    """I am here (online: taking work; away: not). Without one for
    RESPONDER_HEARTBEAT_TIMEOUT_SECONDS the agent goes offline and their waiting conversations
    go back to the queue."""
    found = routing.heartbeat(agent, presence=body.presence, now=runtime.clock.now())
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
    agent: LockedAgentDep, session: SessionDep, runtime: RuntimeDep
) -> ConversationOut | Response:
    """Take the most urgent conversation the agent can: earliest reply deadline first, brought
    forward by the fan's priority; ties, the longest waiting. Two agents claiming at once get
    two conversations."""
    try:
        claimed = await routing.claim_next(
            session, agent, now=runtime.clock.now(), vip_priority=runtime.settings.vip_priority
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


async def _visible(
    session: SessionDep, agent: Agent, conversation_id: uuid.UUID, *, waiting_too: bool = False
) -> Conversation:
    """The conversation, if the agent may see it: theirs or their team's (an admin sees every
    one), or with `waiting_too` one nobody holds (offered, or in the queue); else 404."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(404, f"no conversation {conversation_id}")
    if agent.role == "admin" or conversation.assignee_id == agent.id:
        return conversation
    if waiting_too and conversation.assignee_id is None:
        return conversation
    holder = (
        await session.get(Agent, conversation.assignee_id) if conversation.assignee_id else None
    )
    if holder is None or holder.team_id is None or holder.team_id != agent.team_id:
        raise HTTPException(404, f"no conversation {conversation_id}")
    return conversation


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


@router.get("/view")
async def view(agent: AgentDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Everything the console shows, once: the agent, their offers, their and their team's
    conversations with each one's reply clock and the fan's standing, the queue, and
    responder's time."""
    return await agent_view.snapshot(
        session, agent, clock=runtime.clock, vip_priority=runtime.settings.vip_priority
    )


@router.get("/events", response_class=StreamingResponse)
async def events(agent: AgentDep, request: Request, runtime: RuntimeDep) -> StreamingResponse:
    """`GET view` as server-sent events (`event: snapshot`), sent whenever it changes: the
    console never needs a refresh."""
    stream = agent_view.events(
        runtime.parts.sessionmaker, agent.id, clock=runtime.clock,
        vip_priority=runtime.settings.vip_priority, gone=request.is_disconnected,
    )  # fmt: skip
    return StreamingResponse(
        stream, media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )  # fmt: skip


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def conversation(
    conversation_id: uuid.UUID, agent: AgentDep, session: SessionDep
) -> dict[str, Any]:
    """The conversation (the agent's, their team's, or one offered to them or waiting in the
    queue), its messages and clocks, and what scoring says of the fan."""
    found = await _visible(session, agent, conversation_id, waiting_too=True)
    messages = await repository_.messages_of(session, conversation_id)
    clocks = await repository_.clocks_of(session, conversation_id)
    fans = await agent_view.standings(session, [found.fan_key])
    return {
        **ConversationOut.model_validate(found).model_dump(),
        "messages": [MessageOut.model_validate(m) for m in messages],
        "clocks": [ClockOut.model_validate(c) for c in clocks],
        "fan": fans.get(found.fan_key),
    }


@router.post("/conversations/{conversation_id}/replies", status_code=202,
             response_model=ReplyAccepted)  # fmt: skip
async def reply(
    conversation_id: uuid.UUID, answer: ReplyIn, agent: AgentDep, session: SessionDep,
    runtime: RuntimeDep,
) -> ReplyAccepted:  # fmt: skip
    """Answer the fan as this agent (a conversation they or their team hold)."""
    await _visible(session, agent, conversation_id)
    reply_id = answer.reply_id or str(uuid.uuid4())
    sent = await _acting(service.reply(
        session, conversation_id, service.Reply(reply_id, answer.text, agent.id),
        now=runtime.clock.now(), deps=runtime.deps,
    ))  # fmt: skip
    return ReplyAccepted(reply_id=reply_id, sent=bool(sent))


@router.post("/conversations/{conversation_id}/resolve", status_code=204)
async def resolve(
    conversation_id: uuid.UUID, agent: AgentDep, session: SessionDep, runtime: RuntimeDep
) -> None:
    await _visible(session, agent, conversation_id)
    await _acting(service.resolve(
        session, conversation_id, now=runtime.clock.now(), deps=runtime.deps
    ))  # fmt: skip


@router.post("/conversations/{conversation_id}/snooze", status_code=204)
async def snooze(
    conversation_id: uuid.UUID, body: SnoozeIn, agent: AgentDep, session: SessionDep,
    runtime: RuntimeDep,
) -> None:  # fmt: skip
    await _visible(session, agent, conversation_id)
    await _acting(service.snooze(
        session, conversation_id, until=body.until, now=runtime.clock.now(), deps=runtime.deps
    ))  # fmt: skip


@router.post("/conversations/{conversation_id}/reopen", status_code=204)
async def reopen(
    conversation_id: uuid.UUID, agent: AgentDep, session: SessionDep, runtime: RuntimeDep
) -> None:
    await _visible(session, agent, conversation_id)
    await _acting(service.reopen(
        session, conversation_id, now=runtime.clock.now(), deps=runtime.deps
    ))  # fmt: skip


async def _acting(action: Awaitable[T]) -> T:
    try:
        return await action
    except service.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except service.Refused as exc:
        raise HTTPException(409, str(exc)) from None
