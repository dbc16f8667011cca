"""Keyset cursors for the fan list: the last row's sort value and fan key, opaque to clients."""

import base64
import binascii
import json
from decimal import Decimal, InvalidOperation


class BadCursor(ValueError):
    """A cursor this service did not write."""


def write(value: Decimal, fan_key: str) -> str:
    raw = json.dumps([str(value), fan_key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read(cursor: str) -> tuple[Decimal, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, fan_key = json.loads(raw)
        return Decimal(value), str(fan_key)
    except (binascii.Error, ValueError, TypeError, InvalidOperation) as exc:
        raise BadCursor(f"not a cursor of this list: {cursor!r}") from exc
