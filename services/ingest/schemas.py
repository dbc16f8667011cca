"""The ingest API's own answers: the problem a refused request gets, and the brand accounts the
admin API lists."""

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Problem(BaseModel):
    detail: str
    reason: str


class AccountOut(BaseModel):
    """A brand account as the admin API shows it: the platform's fields, secrets as "[set]"."""

    model_config = ConfigDict(extra="allow")

    platform: str
    account_id: str
    source: Literal["file", "api"]


class AccountList(BaseModel):
    accounts: list[AccountOut]
