"""Scoring's API models."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class FanProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    fan_key: str
    platform: str
    account: str
    interaction_count: int
    first_seen_at: datetime
    last_seen_at: datetime
