import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import SecretStr

from services.scoring import service
from services.scoring.config import ScoringSettings
from services.scoring.cursor import BadCursor
from services.scoring.queries import FanFilter
from services.scoring.schemas import (
    AudienceOut,
    DecisionAccepted,
    FanPage,
    FanProfileOut,
    LabelsIn,
    Lifecycle,
    Role,
    Share,
    Sort,
    Tier,
)
from shared.auth import RESPONSES, bearer_guard
from shared.contracts import MAX_FAN_KEY, PRINTABLE, FanLabelled
from shared.deps import IdInPath, PartsDep, SessionDep
from shared.events import CloudEvent
from shared.service import parts_of

router = APIRouter(prefix="/v1", tags=["fans"])
SOURCE = "scrm/scoring/api"


def _operator_token(request: Request) -> SecretStr | None:
    settings = parts_of(request.app).settings
    return settings.operator_token if isinstance(settings, ScoringSettings) else None


_require_operator = bearer_guard("operator API", "SCORING_OPERATOR_TOKEN", _operator_token)
# What a caller names is bounded and printable as the stored keys are (PostgreSQL refuses NUL):
# anything else is a 422, never a query.
FanKey = Annotated[str, Path(max_length=MAX_FAN_KEY, pattern=PRINTABLE)]
Account = Annotated[str, Query(min_length=1, max_length=200, pattern=PRINTABLE)]
Text = Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)]


@router.get("/fans/{fan_key}", response_model=FanProfileOut)
async def read_fan_profile(fan_key: FanKey, session: SessionDep) -> FanProfileOut:
    profile = await service.get_profile(session, fan_key)
    if profile is None:
        raise HTTPException(status_code=404, detail=f"no profile for fan {fan_key}")
    return FanProfileOut.of(profile)


@router.get("/fans", response_model=FanPage)
async def list_fans(
    session: SessionDep,
    account: Account,
    tier: Tier | None = None,
    role: Role | None = None,
    tag: Text = None,
    lifecycle: Lifecycle | None = None,
    min_priority: Annotated[int | None, Query(ge=0, le=100)] = None,
    sort: Sort = "priority",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(max_length=1000, pattern=PRINTABLE)] = None,
) -> FanPage:
    """The account's fans, highest first by `sort`, a page at a time (`after`: the `next` of
    the page before)."""
    where = FanFilter(account, tier, role, tag, lifecycle, min_priority)
    try:
        page, following = await service.list_fans(
            session, where, sort=sort, limit=limit, after=after
        )
    except BadCursor as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    return FanPage(items=[FanProfileOut.of(profile) for profile in page], next=following)


@router.get("/accounts/{account}/audience", response_model=AudienceOut)
async def read_audience(account: IdInPath, session: SessionDep) -> AudienceOut:
    """How the account's fans divide by tier, role and lifecycle stage."""
    counts = await service.audience(session, account)
    fans = sum(counts["tier"].values())

    def shares(by: dict[str | None, int]) -> dict[str, Share]:
        return {str(k or "none"): Share(count=n, share=n / fans) for k, n in by.items()}

    return AudienceOut(
        account=account, fans=fans, tiers=shares(counts["tier"]),
        roles=shares(counts["role"]), lifecycles=shares(counts["lifecycle"]),
    )  # fmt: skip


@router.put(
    "/fans/{fan_key}/labels", status_code=202, response_model=DecisionAccepted,
    dependencies=[Depends(_require_operator)], responses=RESPONSES, tags=["operator"],
)  # fmt: skip
async def set_labels(
    fan_key: FanKey, labels: LabelsIn, session: SessionDep, parts: PartsDep
) -> DecisionAccepted:
    """Set the fan's role and tags by hand (bearer `SCORING_OPERATOR_TOKEN`). The decision is
    an event on `scrm.operator.v1`, applied to the profile like the fan's own events."""
    if await service.get_profile(session, fan_key) is None:
        raise HTTPException(status_code=404, detail=f"no profile for fan {fan_key}")
    decision = FanLabelled(
        fan_key=fan_key, decided_at=datetime.now(UTC), operator=labels.operator,
        role=labels.role, tags=tuple(dict.fromkeys(labels.tags)),
    )  # fmt: skip
    event = CloudEvent.of(decision, id=str(uuid.uuid4()), source=SOURCE, subject=fan_key)
    await parts.outbox.add(session, event)
    return DecisionAccepted(event_id=event.id, fan_key=fan_key)
