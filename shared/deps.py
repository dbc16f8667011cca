"""FastAPI dependencies shared by the services' routers."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PRINTABLE
from shared.db import transaction
from shared.service import ServiceParts, parts_of


async def get_parts(request: Request) -> ServiceParts:
    # async: a plain def dependency would cost every request a hop to the thread pool
    return parts_of(request.app)


PartsDep = Annotated[ServiceParts, Depends(get_parts)]


async def _transaction(parts: PartsDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed here at the edge, rolled back on error."""
    async with transaction(parts.sessionmaker) as session:
        yield session


# scope="function": the commit happens before the answer is sent, so a failed commit answers
# 500 instead of a success that was never kept (FastAPI's default ends it after the response).
SessionDep = Annotated[AsyncSession, Depends(_transaction, scope="function")]


# A path segment naming something stored (an account, an order): bounded and printable as the
# stored ids are (PostgreSQL refuses NUL), so anything else is a 422, never a query.
IdInPath = Annotated[str, Path(min_length=1, max_length=200, pattern=PRINTABLE)]
