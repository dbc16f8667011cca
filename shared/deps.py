"""FastAPI dependencies shared by the services' routers."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed here at the edge, rolled back on error."""
    async with request.app.state.parts.sessionmaker() as session, session.begin():
        yield session


# scope="function": the commit happens before the answer is sent, so a failed commit answers
# 500 instead of a success that was never kept (FastAPI's default ends it after the response).
SessionDep = Annotated[AsyncSession, Depends(_transaction, scope="function")]
