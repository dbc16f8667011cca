"""When a brand's cut points are refreshed before their turn (`standings.TierDrift`), and which
fans such a refresh looks at (`standings.Refreshed.between`)."""

from services.scoring.scores.tiers import TierCutPoints
from services.scoring.standings import DRIFT_MIN_CHANGES, Refreshed, TierDrift

A, B = ("weibo", "a"), ("weibo", "b")


def test_a_brand_drifts_once_its_changes_reach_the_share_of_its_fans_and_the_least() -> None:
    drift = TierDrift()
    drift.refreshed(A, fans=10_000, at=0.0)
    drift.refreshed(B, fans=100, at=0.0)
    for _ in range(99):
        drift.changed(A)
    for _ in range(DRIFT_MIN_CHANGES - 1):
        drift.changed(B)
    assert drift.drifted(share=0.01, at=10.0, spacing=5.0) == []
    drift.changed(A)
    drift.changed(B)
    assert drift.drifted(share=0.01, at=10.0, spacing=5.0) == [A, B]
    assert drift.drifted(share=0.01, at=4.0, spacing=5.0) == [], "refreshed too lately"
    drift.refreshed(A, fans=10_000, at=10.0)
    assert drift.drifted(share=0.01, at=20.0, spacing=5.0) == [B], "A's changes start again"


def test_a_brand_never_refreshed_drifts_on_the_least_changes() -> None:
    drift = TierDrift()
    for _ in range(DRIFT_MIN_CHANGES):
        drift.changed(A)
    assert drift.drifted(share=0.5, at=0.0, spacing=5.0) == [A]


def test_an_early_refresh_looks_at_the_fans_between_the_cut_points_before_and_now() -> None:
    before = TierCutPoints(occasional=10, frequent=50, leader=90)
    moved = Refreshed(TierCutPoints(occasional=10, frequent=70, leader=80), before, fans=100)
    assert moved.between() == [(50, 70), (80, 90)]
    assert Refreshed(before, before, fans=100).between() == []
    assert Refreshed(before, TierCutPoints(), fans=100).between() is None, "first cut points"
    assert Refreshed(TierCutPoints(), TierCutPoints(), fans=0).between() == []
