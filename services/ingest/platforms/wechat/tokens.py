"""The access-token cache: one token per (account, base URL), fetched once under a lock and
refreshed five minutes before it expires or when the platform has refused it."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from services.ingest.platforms.base import SendOutcome

TOKEN_REFRESH_EARLY = 300.0

TokenKey = tuple[str, str]
"""(account id, base URL of the send API)"""


class FetchedToken(NamedTuple):
    value: str
    expires_in: float  # seconds


TokenFetch = Callable[[bool], Awaitable[FetchedToken | SendOutcome]]
"""Fetch a token, the argument saying whether to force a refresh; or the outcome of a failed
fetch."""


@dataclass
class _Token:
    value: str
    expires_at: float


class AccessTokens:
    """With ``can_force_refresh`` (the token API has a forced-refresh mode, which invalidates the
    token for every other holder too), a refresh is forced only when a normal fetch hands back
    the very token the platform has just refused."""

    def __init__(self, clock: Callable[[], float], *, can_force_refresh: bool) -> None:
        self._clock = clock
        self._can_force_refresh = can_force_refresh
        self._tokens: dict[TokenKey, _Token] = {}
        self._locks: dict[TokenKey, asyncio.Lock] = {}

    def drop(self, key: TokenKey, value: str) -> None:
        cached = self._tokens.get(key)
        if cached is not None and cached.value == value:
            del self._tokens[key]

    async def get(
        self, key: TokenKey, fetch: TokenFetch, *, refused: str | None = None
    ) -> str | SendOutcome:
        """The cached token, else a fetched one. ``refused``: a token the platform has just
        refused, never returned from the cache. Under the lock, so that callers refused the same
        token at once force at most one refresh."""
        cached = self._cached(key, refused)
        if cached is not None:
            return cached
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._cached(key, refused)
            if cached is not None:
                return cached
            fetched = await self._fetch(fetch, refused)
            if isinstance(fetched, SendOutcome):
                return fetched
            lifetime = max(fetched.expires_in - TOKEN_REFRESH_EARLY, 0.0)
            self._tokens[key] = _Token(fetched.value, self._clock() + lifetime)
            return fetched.value

    def _cached(self, key: TokenKey, refused: str | None) -> str | None:
        cached = self._tokens.get(key)
        if cached is None or cached.expires_at <= self._clock() or cached.value == refused:
            return None
        return cached.value

    async def _fetch(self, fetch: TokenFetch, refused: str | None) -> FetchedToken | SendOutcome:
        """A normal fetch; when it hands back ``refused`` again, one forced refresh if the token
        API has that mode."""
        fetched = await fetch(False)
        if isinstance(fetched, SendOutcome) or fetched.value != refused:
            return fetched
        return await fetch(True) if self._can_force_refresh else fetched
