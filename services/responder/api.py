"""The conversations API: what an agent does until the routing queue's API lands (bearer
`RESPONDER_AGENT_TOKEN`), and the list and detail of conversations."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import repository, service
from services.responder.config import ResponderSettings
from services.responder.models import Conversation
from services.responder.runtime import Runtime
from services.responder.schemas import (
    ClockOut,
    ConversationDetail,
    ConversationOut,
    MessageOut,
    ReplyAccepted,
    ReplyIn,
    SnoozeIn,
)
from shared.auth import RESPONSES, bearer_guard
from shared.deps import SessionDep
from shared.service import parts_of

router = APIRouter(prefix="/v1", tags=["conversations"])


def _agent_token(request: Request) -> SecretStr | None:
    settings = parts_of(request.app).settings
    return settings.agent_token if isinstance(settings, ResponderSettings) else None


_require_agent = bearer_guard("conversations API", "RESPONDER_AGENT_TOKEN", _agent_token)


async def _runtime(request: Request) -> Runtime:  # async: no thread-pool hop
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
# What an agent does: with the agent's token.
actions = APIRouter(
    prefix="/v1", tags=["conversations"], dependencies=[Depends(_require_agent)],
    responses=dict(RESPONSES),
)  # fmt: skip


@router.get("/conversations", response_model=list[ConversationOut])
async def list_open_conversations(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ConversationOut]:
    """Conversations not resolved, the longest waiting on an answer first."""
    conversations = await service.open_conversations(session, limit=limit)
    return [ConversationOut.model_validate(c) for c in conversations]


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def read_conversation(conversation_id: uuid.UUID, session: SessionDep) -> ConversationDetail:
    """The conversation, its messages (replies with what ingest said of their delivery), and
    its SLA clocks, running and ended."""
    row = await session.get(Conversation, conversation_id)
    if row is None:
        raise HTTPException(404, f"no conversation {conversation_id}")
    messages = await repository.messages_of(session, conversation_id)
    clocks = await repository.clocks_of(session, conversation_id)
    return ConversationDetail.model_validate(
        {**ConversationOut.model_validate(row).model_dump(),
         "messages": [MessageOut.model_validate(m) for m in messages],
         "clocks": [ClockOut.model_validate(c) for c in clocks]}
    )  # fmt: skip


async def _acted(act: Callable[[], Awaitable[object]]) -> None:
    try:
        await act()
    except service.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except service.Refused as exc:
        raise HTTPException(409, str(exc)) from None


@actions.post(
    "/conversations/{conversation_id}/replies", status_code=202, response_model=ReplyAccepted
)
async def reply(
    conversation_id: uuid.UUID, answer: ReplyIn, session: SessionDep, runtime: RuntimeDep
) -> ReplyAccepted:
    """Answer the fan: the reply goes to ingest (`scrm.replies.v1`), the reply clock stops now.
    A `reply_id` sent again sends nothing twice."""
    reply_id = answer.reply_id or str(uuid.uuid4())
    sent: list[bool] = []

    async def act() -> None:
        sent.append(await service.reply(
            session, conversation_id, service.Reply(reply_id, answer.text, answer.agent_id),
            now=runtime.clock.now(), deps=runtime.deps,
        ))  # fmt: skip

    await _acted(act)
    return ReplyAccepted(reply_id=reply_id, sent=sent[0])


@actions.post("/conversations/{conversation_id}/snooze", status_code=204)
async def snooze(
    conversation_id: uuid.UUID, body: SnoozeIn, session: SessionDep, runtime: RuntimeDep
) -> None:
    """Set the conversation aside until `until`: its clocks pause (the pause shows on them)."""
    await _acted(lambda: service.snooze(
        session, conversation_id, until=body.until, now=runtime.clock.now(), deps=runtime.deps
    ))  # fmt: skip


@actions.post("/conversations/{conversation_id}/wake", status_code=204)
async def wake(conversation_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep) -> None:
    """Take a snoozed conversation back up before its time: its clocks run again."""
    await _acted(lambda: _wake_now(session, conversation_id, runtime))


async def _wake_now(session: AsyncSession, conversation_id: uuid.UUID, runtime: Runtime) -> None:
    row = await repository.lock_conversation(session, conversation_id)
    if row is None:
        raise service.NotFound(f"no conversation {conversation_id}")
    if row.status != "snoozed":
        raise service.Refused("the conversation is not snoozed")
    row.snoozed_until = runtime.clock.now()
    await service.wake(session, [conversation_id], now=runtime.clock.now(), deps=runtime.deps)


@actions.post("/conversations/{conversation_id}/resolve", status_code=204)
async def resolve(conversation_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep) -> None:
    """Resolved: the resolution clock is met; a reply clock still running ends unanswered."""
    await _acted(lambda: service.resolve(
        session, conversation_id, now=runtime.clock.now(), deps=runtime.deps
    ))  # fmt: skip


@actions.post("/conversations/{conversation_id}/reopen", status_code=204)
async def reopen(conversation_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep) -> None:
    """Open a resolved conversation again: a new resolution clock, if the policy has one."""
    await _acted(lambda: service.reopen(
        session, conversation_id, now=runtime.clock.now(), deps=runtime.deps
    ))  # fmt: skip
