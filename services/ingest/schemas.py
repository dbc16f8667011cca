"""The payloads ingest accepts from the generic Standard Webhooks source, and its answers."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("not a time that exists in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MessageData(_Payload):
    message_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    text: str | None = Field(default=None, max_length=20_000)
    thread_id: str | None = None


class OrderData(_Payload):
    order_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    amount_cents: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    referral_code: str | None = None


class MessageWebhook(_Payload):
    type: Literal["message.received"]
    timestamp: UtcDatetime
    data: MessageData


class OrderPaidWebhook(_Payload):
    type: Literal["order.paid"]
    timestamp: UtcDatetime
    data: OrderData


class OrderRefundedWebhook(_Payload):
    type: Literal["order.refunded"]
    timestamp: UtcDatetime
    data: OrderData


StandardWebhook = Annotated[
    MessageWebhook | OrderPaidWebhook | OrderRefundedWebhook, Field(discriminator="type")
]


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
