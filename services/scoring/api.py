from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from services.scoring import service
from services.scoring.cursor import BadCursor
from services.scoring.repository import FanFilter
from services.scoring.schemas import (
    AudienceOut,
    FanPage,
    FanProfileOut,
    Lifecycle,
    Role,
    Share,
    Sort,
    Tier,
)
from shared.contracts import MAX_FAN_KEY, PRINTABLE
from shared.deps import IdInPath, SessionDep

router = APIRouter(prefix="/v1", tags=["fans"])
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
