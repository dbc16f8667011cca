"""Pure scoring logic, no I/O."""

from services.scoring.models import FanProfile
from shared.contracts import ProfileUpdated


def profile_snapshot(profile: FanProfile) -> ProfileUpdated:
    return ProfileUpdated(
        fan_key=profile.fan_key,
        interaction_count=profile.interaction_count,
        first_seen_at=profile.first_seen_at,
        last_seen_at=profile.last_seen_at,
    )
