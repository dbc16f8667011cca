"""Bearer-token guards for the APIs people operate (ingest's accounts, scoring's decisions)."""

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

Guard = Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[None]]
RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "no or a wrong bearer token"},
    403: {"description": "the API is off: its token is not set"},
}


def bearer_guard(api: str, setting: str, token: Callable[[Request], SecretStr | None]) -> Guard:
    """A dependency that lets a request through with the bearer token `token` gives (the
    setting named `setting`); without the setting the API is off (403) rather than open."""
    scheme = HTTPBearer(auto_error=False, description=setting)

    async def require(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)],
    ) -> None:
        expected = token(request)
        if expected is None:
            raise HTTPException(403, f"the {api} is off: set {setting} to turn it on")
        presented = credentials.credentials.encode() if credentials else b""
        if not presented or not hmac.compare_digest(
            presented, expected.get_secret_value().encode()
        ):
            raise HTTPException(
                401, f"a valid {api} bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip

    return require
