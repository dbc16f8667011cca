"""Replies through the Send API (Messenger, Instagram) and the Cloud API (WhatsApp): the
request, and what the API's answer means."""

from collections.abc import Mapping
from urllib.parse import quote

import httpx

from services.ingest.platforms.base import SendOutcome
from services.ingest.platforms.common import json_object, not_sent, redact, retryable_status
from services.ingest.platforms.meta.account import MetaAccount
from shared.contracts import ReplyRequested

GRAPH_VERSION = "v21.0"
# Graph API error codes that mean "busy, throttled or temporarily down", even under HTTP 400.
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131048, 131056})


async def send_reply(
    account: MetaAccount, reply: ReplyRequested, *, http: httpx.AsyncClient, base_url: str
) -> SendOutcome:
    """One POST, the token in the Authorization header so that it never lands in a URL or an
    access log."""
    if account.access_token is None:
        return not_sent("the account has no access_token")
    token = account.access_token.get_secret_value()
    url, body = send_request(account, reply, base_url)
    response = await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    return send_outcome(response, token)


def send_request(
    account: MetaAccount, reply: ReplyRequested, base_url: str
) -> tuple[str, dict[str, object]]:
    """The URL and JSON body of the POST that sends ``reply``."""
    base = base_url.rstrip("/")
    if account.platform == "whatsapp":
        number = quote(account.account_id, safe="")
        return f"{base}/{GRAPH_VERSION}/{number}/messages", _whatsapp_body(reply)
    body: dict[str, object] = {
        "recipient": {"id": reply.user_id}, "messaging_type": "RESPONSE",
        "message": {"text": reply.text},
    }  # fmt: skip
    return f"{base}/{GRAPH_VERSION}/me/messages", body


def _whatsapp_body(reply: ReplyRequested) -> dict[str, object]:
    body: dict[str, object] = {
        "messaging_product": "whatsapp", "recipient_type": "individual",
        "to": reply.user_id, "type": "text",
        "text": {"preview_url": False, "body": reply.text},
    }  # fmt: skip
    if reply.in_reply_to:
        body["context"] = {"message_id": reply.in_reply_to}
    return body


def send_outcome(response: httpx.Response, token: str) -> SendOutcome:
    """What the API's answer means: delivered, or why not and whether it is worth retrying."""
    status = response.status_code
    answer = json_object(response)
    if 200 <= status < 300:
        return SendOutcome(delivered=True, status_code=status, platform_message_id=_sent_id(answer))
    error = _graph_error(answer)
    code = error.get("code")
    transient = error.get("is_transient") is True
    known = isinstance(code, int) and code in RETRYABLE_CODES
    retryable = retryable_status(status) or transient or known
    detail = (
        f"HTTP {status}: {error.get('type', '')} code={code} "
        f"subcode={error.get('error_subcode')} {error.get('message', '')}"
    )
    return SendOutcome(
        delivered=False, status_code=status, error=redact(detail, token)[:1000],
        retryable=retryable,
    )  # fmt: skip


def _graph_error(answer: Mapping[str, object]) -> Mapping[str, object]:
    """The Graph API's ``error`` object; empty when the answer has none."""
    error = answer.get("error")
    return error if isinstance(error, dict) else {}


def _sent_id(answer: Mapping[str, object]) -> str | None:
    """``message_id`` (Send API) or ``messages[0].id`` (WhatsApp Cloud API)."""
    if isinstance(answer.get("message_id"), str):
        return str(answer["message_id"])
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        sent = messages[0].get("id")
        return sent if isinstance(sent, str) else None
    return None
