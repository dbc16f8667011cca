"""Replies as direct messages through X's v2 DM API: the request, and what its answer means."""

from collections.abc import Mapping

import httpx

from services.ingest.platforms.base import SendOutcome
from services.ingest.platforms.common import json_object, not_sent, retryable_status
from services.ingest.platforms.x.account import XAccount
from shared.contracts import ReplyRequested


async def send_reply(
    account: XAccount, reply: ReplyRequested, *, http: httpx.AsyncClient, base_url: str
) -> SendOutcome:
    """One DM through ``POST /2/dm_conversations/with/{user_id}/messages``. X's DM API has
    no idempotency key: a crash after X accepted a reply sends it again on restart."""
    if account.access_token is None:
        return not_sent("no access_token for this X account")
    if not reply.user_id.isdigit():
        return not_sent("an X user id is numeric")
    response = await http.post(
        f"{base_url.rstrip('/')}/2/dm_conversations/with/{reply.user_id}/messages",
        headers={"Authorization": f"Bearer {account.access_token.get_secret_value()}"},
        json={"text": reply.text},
    )
    return send_outcome(response)


def send_outcome(response: httpx.Response) -> SendOutcome:
    """What the API's answer means: delivered, or why not and whether it is worth retrying."""
    status = response.status_code
    body = json_object(response)
    if status in (200, 201):
        data = body.get("data")
        message_id = data.get("dm_event_id") if isinstance(data, dict) else None
        return SendOutcome(
            delivered=True, status_code=status,
            platform_message_id=str(message_id) if message_id is not None else None,
        )  # fmt: skip
    error = _problem(body) or f"HTTP {status}"
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset")
        error = f"{error} (rate limit resets at {reset})" if reset else error
    return SendOutcome(
        delivered=False, status_code=status, error=error[:2000],
        retryable=retryable_status(status),
    )  # fmt: skip


def _problem(body: Mapping[str, object]) -> str | None:
    """X's problem JSON (``title``, ``detail``, ``type``), or the v1.1 ``errors`` list."""
    parts = [str(body[key]) for key in ("title", "detail", "type") if body.get(key)]
    errors = body.get("errors")
    if not parts and isinstance(errors, list):
        parts = [str(err.get("message", err)) for err in errors[:3] if isinstance(err, dict)]
    return ": ".join(parts) or None
