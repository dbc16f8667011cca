import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import service
from services.scoring.config import ScoringSettings
from services.scoring.cursor import BadCursor
from services.scoring.queries import VALUE_SCORES, FanFilter
from services.scoring.schemas import (
    AudienceOut,
    DecisionAccepted,
    FanDetailOut,
    FanPage,
    FanProfileOut,
    LabelsIn,
    Lifecycle,
    MergeIn,
    Role,
    Share,
    Sort,
    Tier,
    TopFansOut,
    UnmergeIn,
)
from shared.auth import RESPONSES, bearer_guard
from shared.contracts import (
    MAX_FAN_KEY,
    PRINTABLE,
    FanLabelled,
    FanMerged,
    FanUnmerged,
    OperatorDecision,
)
from shared.deps import IdInPath, PartsDep, SessionDep
from shared.events import CloudEvent
from shared.service import ServiceParts, parts_of

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


@router.get("/fans/{fan_key}", response_model=FanDetailOut)
async def read_fan_profile(fan_key: FanKey, session: SessionDep) -> FanDetailOut:
    """The profile, each score with the components it adds up to, and the identities of the
    fan's person with their own channel data."""
    found = await service.get_person(session, fan_key)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no profile for fan {fan_key}")
    profile, identities = found
    return FanDetailOut.model_validate(
        {**FanProfileOut.of(profile).model_dump(), "identities": identities}
    )


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
        return {
            str(k or "none"): Share(count=n, share=n / fans if fans else 0.0) for k, n in by.items()
        }

    return AudienceOut(
        account=account, fans=fans, tiers=shares(counts["tier"]),
        roles=shares(counts["role"]), lifecycles=shares(counts["lifecycle"]),
        values={name: shares(counts[name]) for name in VALUE_SCORES},
    )  # fmt: skip


@router.get("/accounts/{account}/top", response_model=TopFansOut)
async def read_top_fans(
    account: IdInPath, session: SessionDep, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> TopFansOut:
    """The account's top fans by wallet value and by social value, side by side (ties: the
    higher fan key first, as `GET /v1/fans` sorts)."""
    tops = {}
    for sort in ("wallet", "social"):
        page, _ = await service.list_fans(session, FanFilter(account), sort=sort, limit=limit)
        tops[sort] = [FanProfileOut.of(profile) for profile in page]
    return TopFansOut(account=account, by_wallet=tops["wallet"], by_social=tops["social"])


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
    return await _decided(session, parts, decision)


@router.post(
    "/fans/{fan_key}/merge", status_code=202, response_model=DecisionAccepted,
    dependencies=[Depends(_require_operator)], responses=RESPONSES, tags=["operator"],
)  # fmt: skip
async def merge(
    fan_key: FanKey, merge: MergeIn, session: SessionDep, parts: PartsDep
) -> DecisionAccepted:
    """Make these identities one person with the fan (bearer `SCORING_OPERATOR_TOKEN`): the
    person's scores count all their identities. The decision is an event on
    `scrm.operator.v1`; an unmerge decided later undoes it."""
    others = sorted(set(merge.fan_keys) - {fan_key})
    if not others:
        raise HTTPException(status_code=422, detail="name at least one other identity")
    missing = await service.missing_profiles(session, [fan_key, *others])
    if missing:
        raise HTTPException(status_code=404, detail=f"no profile for {', '.join(missing)}")
    decision = FanMerged(
        fan_key=fan_key, decided_at=datetime.now(UTC), operator=merge.operator,
        other_fan_keys=tuple(others),
    )  # fmt: skip
    return await _decided(session, parts, decision)


@router.post(
    "/fans/{fan_key}/unmerge", status_code=202, response_model=DecisionAccepted,
    dependencies=[Depends(_require_operator)], responses=RESPONSES, tags=["operator"],
)  # fmt: skip
async def unmerge(
    fan_key: FanKey, unmerge: UnmergeIn, session: SessionDep, parts: PartsDep
) -> DecisionAccepted:
    """Take the identity out of its person (bearer `SCORING_OPERATOR_TOKEN`): the merges of it
    decided before are undone, and the identifiers it carries no longer link it. A merge
    decided later links it again."""
    if await service.missing_profiles(session, [fan_key]):
        raise HTTPException(status_code=404, detail=f"no profile for fan {fan_key}")
    decision = FanUnmerged(fan_key=fan_key, decided_at=datetime.now(UTC), operator=unmerge.operator)
    return await _decided(session, parts, decision)


async def _decided(
    session: AsyncSession, parts: ServiceParts, decision: OperatorDecision
) -> DecisionAccepted:
    event = CloudEvent.of(decision, id=str(uuid.uuid4()), source=SOURCE, subject=decision.fan_key)
    await parts.outbox.add(session, event)
    return DecisionAccepted(event_id=event.id, fan_key=decision.fan_key)
