from typing import Annotated

from fastapi import APIRouter, Query

from services.responder import service
from services.responder.schemas import ConversationOut
from shared.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["conversations"])


@router.get("/conversations", response_model=list[ConversationOut])
async def list_open_conversations(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ConversationOut]:
    conversations = await service.open_conversations(session, limit=limit)
    return [ConversationOut.model_validate(c) for c in conversations]
