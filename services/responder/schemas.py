"""responder's API models."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    fan_key: str
    platform: str
    account: str
    status: str
    opened_at: datetime
    last_inbound_at: datetime
    unanswered_count: int
