"""What ingest's HTTP surface works with, built once at start-up by the composition root, and
the typed dependencies that hand it to the routes."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import State

from services.ingest.config import IngestSettings
from services.ingest.service import AccountAdmin, WebhookIntake


@dataclass(frozen=True)
class IngestState:
    settings: IngestSettings
    intake: WebhookIntake
    accounts: AccountAdmin

    @staticmethod
    def of(state: State) -> "IngestState":
        """The one the lifespan stored on the application; RuntimeError before start-up."""
        ingest = getattr(state, "ingest", None)
        if not isinstance(ingest, IngestState):
            raise RuntimeError("ingest has not started")
        return ingest


async def _ingest(request: Request) -> IngestState:  # async: no thread-pool hop
    return IngestState.of(request.app.state)


IngestDep = Annotated[IngestState, Depends(_ingest)]
