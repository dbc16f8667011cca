"""FastAPI dependencies shared by the services' routers."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed here at the edge, rolled back on error."""
    async with request.app.state.parts.sessionmaker() as session, session.begin():
        yield session


SessionDep = Annotated[AsyncSession, Depends(_transaction)]
