"""The campaign's pure pacing: how targets are ordered and cut into waves."""

from __future__ import annotations

from workflows import rollout_plan
from workflows.firmware import RolloutSettings, Target


def _targets(image: str | None, sites: dict[str, int]) -> list[Target]:
    return [
        Target(f"{image}-{site}-{n}", site, "UTC", "2.0.1", "0.9", image)
        for site, count in sites.items()
        for n in range(count)
    ]


def test_any_prefix_of_a_single_image_campaign_is_spread_over_the_sites() -> None:
    order = rollout_plan.interleaved(_targets(None, {"b": 2, "a": 3, "c": 1}))
    assert [t.site_id for t in order] == ["a", "b", "c", "a", "b", "a"]


def test_the_first_stations_of_a_multi_image_campaign_cover_every_image() -> None:
    # Image A is on three sites, image B on one: B still comes second.
    targets = _targets("A", {"s1": 2, "s2": 2, "s3": 2}) + _targets("B", {"s4": 2})
    order = rollout_plan.interleaved(targets)
    assert [t.image_id for t in order[:2]] == ["A", "B"]
    assert sorted(t.station_id for t in order) == sorted(t.station_id for t in targets)
    waves = rollout_plan.cohorts(targets, RolloutSettings(canary_count=1, growth_factor=2.0))
    assert {t.image_id for t in waves[0]} == {"A", "B"}
    assert [len(w) for w in waves] == [2, 4, 2]


def test_the_canary_holds_a_station_per_image_but_never_more_than_the_targets() -> None:
    settings = RolloutSettings(canary_share=0.01)
    assert rollout_plan.canary_size(settings, 1000, images=3) == 10
    assert rollout_plan.canary_size(settings, 100, images=3) == 3
    assert rollout_plan.canary_size(RolloutSettings(canary_count=5), 2, images=3) == 2
