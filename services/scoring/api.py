from fastapi import APIRouter, HTTPException

from services.scoring import service
from services.scoring.schemas import FanProfileOut
from shared.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["fans"])


@router.get("/fans/{fan_key}", response_model=FanProfileOut)
async def read_fan_profile(fan_key: str, session: SessionDep) -> FanProfileOut:
    profile = await service.get_profile(session, fan_key)
    if profile is None:
        raise HTTPException(status_code=404, detail=f"no profile for fan {fan_key}")
    return FanProfileOut.of(profile)
