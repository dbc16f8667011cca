"""Signed claim links: how the claim page knows who is claiming without a brand API key in the
browser. The brand's back end, which knows its signed-in fan, asks coupons (with its API key)
for a link naming the packet, the fan and an expiry; coupons signs it with HMAC-SHA256 under a
key of the brand account, derived from `COUPONS_CLAIM_LINK_SECRET` (never stored, never given
out). The page's requests carry the link's fields back and are verified here: sizes bounded,
the signature compared in constant time, the expiry checked. Pure: no I/O."""

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlencode

from shared.contract_types import MAX_FAN_KEY

LinkRefusalCode = Literal["link_malformed", "link_forged", "link_expired"]
LINK_MESSAGES: dict[LinkRefusalCode, str] = {
    "link_malformed": "the claim link is incomplete or damaged",
    "link_forged": "the claim link's signature does not match: it was not made by the brand",
    "link_expired": "the claim link has expired: open the shared link again",
}
FIELDS = ("account", "claimer", "phone", "device", "expires", "sig")
_KEY_LABEL = b"scrm claim link key v1\x00"
_VERSION = "scrm-claim-link-v1"
_SIG_LENGTH = 43  # 32 bytes of HMAC-SHA256 in unpadded base64url
_PRINTABLE = r"[^\x00-\x1f\x7f-\x9f]"  # no control character
_ACCOUNT = re.compile(rf"{_PRINTABLE}{{1,200}}")
_CLAIMER = re.compile(rf"{_PRINTABLE}{{1,{MAX_FAN_KEY}}}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_EXPIRES = re.compile(r"[0-9]{1,10}")  # seconds: up to the year 2286
_SIG = re.compile(rf"[A-Za-z0-9_-]{{{_SIG_LENGTH}}}")


class LinkRefused(Exception):
    """A claim link that opens nothing, for a reason the page shows."""

    def __init__(self, code: LinkRefusalCode) -> None:
        super().__init__(LINK_MESSAGES[code])
        self.code: LinkRefusalCode = code


@dataclass(frozen=True)
class ClaimLink:
    """Who may claim a share of which packet, until when."""

    account: str
    share_code: str
    claimer: str
    expires_at: datetime
    phone_sha256: str | None = None
    device_sha256: str | None = None


def account_key(secret: bytes, account: str) -> bytes:
    """The account's own signing key: a link made for one account opens no other's packets."""
    return hmac.new(secret, _KEY_LABEL + account.encode(), hashlib.sha256).digest()


def _message(link: ClaimLink) -> bytes:
    # JSON of a list: unambiguous whatever the fields hold, so no two links sign alike.
    fields = [
        _VERSION, link.account, link.share_code, link.claimer, link.phone_sha256 or "",
        link.device_sha256 or "", int(link.expires_at.timestamp()),
    ]  # fmt: skip
    return json.dumps(fields, separators=(",", ":")).encode()


def signature(secret: bytes, link: ClaimLink) -> str:
    digest = hmac.new(account_key(secret, link.account), _message(link), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query(secret: bytes, link: ClaimLink) -> dict[str, str]:
    """The link's query parameters, signed."""
    params = {"account": link.account, "claimer": link.claimer}
    if link.phone_sha256:
        params["phone"] = link.phone_sha256
    if link.device_sha256:
        params["device"] = link.device_sha256
    params["expires"] = str(int(link.expires_at.timestamp()))
    params["sig"] = signature(secret, link)
    return params


def path(secret: bytes, link: ClaimLink) -> str:
    return f"/p/{link.share_code}?{urlencode(query(secret, link))}"


def _field(params: dict[str, str], name: str, pattern: re.Pattern[str]) -> str:
    value = params.get(name)
    if value is None or pattern.fullmatch(value) is None:
        raise LinkRefused("link_malformed")
    return value


def _optional(params: dict[str, str], name: str) -> str | None:
    return _field(params, name, _SHA256) if params.get(name) else None


def parse(share_code: str, params: dict[str, str]) -> tuple[ClaimLink, str]:
    """The link the parameters describe and the signature they carry; malformed when a field
    is missing, oversized or not of its form."""
    link = ClaimLink(
        account=_field(params, "account", _ACCOUNT), share_code=share_code,
        claimer=_field(params, "claimer", _CLAIMER),
        expires_at=datetime.fromtimestamp(int(_field(params, "expires", _EXPIRES)), UTC),
        phone_sha256=_optional(params, "phone"), device_sha256=_optional(params, "device"),
    )  # fmt: skip
    return link, _field(params, "sig", _SIG)


def verify(secret: bytes, share_code: str, params: dict[str, str], *, now: datetime) -> ClaimLink:
    """The link, when its signature is the brand account's and it has not expired."""
    link, sig = parse(share_code, params)
    if not hmac.compare_digest(signature(secret, link).encode(), sig.encode()):
        raise LinkRefused("link_forged")
    if now >= link.expires_at:
        raise LinkRefused("link_expired")
    return link
