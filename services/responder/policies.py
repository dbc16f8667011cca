"""The SLA policies in force: stored as one document (replaced whole through the admin API, each
replacement a new version) and read by every replica, parsed once per version."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import repository
from services.responder.sla.policy import DEFAULT_POLICIES, PolicySet


class PolicyBook:
    """The policies of the latest version stored (the defaults before any), cached per
    version: a replica reads one small row per use, and parses only a new version."""

    def __init__(self) -> None:
        self._version = 0
        self._policies = DEFAULT_POLICIES

    async def current(self, session: AsyncSession) -> tuple[PolicySet, int]:
        stored = await repository.policies(session)
        if stored is None:
            return DEFAULT_POLICIES, 0
        if stored.version != self._version:
            self._policies = PolicySet.model_validate({"policies": stored.policies})
            self._version = stored.version
        return self._policies, self._version


async def replace(
    session: AsyncSession, policies: PolicySet, *, at: datetime, by: str | None
) -> int:
    """Put `policies` in force (validated by the caller); returns their version."""
    document = policies.model_dump(mode="json")["policies"]
    return await repository.save_policies(session, document, at=at, by=by)
