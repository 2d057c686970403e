"""Online planning on generated days: it sees only what is known when it plans,
breaks no limit, and the offline optimum bounds what it can achieve."""

from __future__ import annotations

from dataclasses import replace

import pytest

from optimizer.lp import solve
from optimizer.online import POLICIES, Visit, offline, online
from optimizer.problem import Schedule, SiteProblem
from tests.optimizer import sites


def objective(outcome_cost: float, needed: float, delivered: float, site: SiteProblem) -> float:
    """What the planner minimises: money plus the penalty on energy not delivered."""
    return outcome_cost + site.unmet_penalty_per_kwh * (needed - delivered)


@pytest.mark.parametrize("limit", [50.0, 100.0])
def test_every_policy_respects_every_limit_and_the_offline_optimum_bounds_it(
    limit: float,
) -> None:
    site, visits = sites.site(limit), sites.day(4)
    best = offline(site, visits)
    assert best.broken == []
    for policy in POLICIES:
        outcome = online(site, visits, policy=policy)
        assert outcome.broken == [], (policy, outcome.broken[:3])
        assert outcome.needed_kwh == pytest.approx(best.needed_kwh)
        assert (
            objective(outcome.total_cost, outcome.needed_kwh, outcome.delivered_kwh, site)
            >= objective(best.total_cost, best.needed_kwh, best.delivered_kwh, site) - 1e-6
        )
        assert outcome.replans >= len({v.vehicle.arrival for v in visits})


def test_online_plans_know_only_the_vehicles_present_and_their_estimates() -> None:
    site, visits = sites.site(100.0), sites.day(5)
    early = [v for v in visits if v.vehicle.departure < v.estimated_departure]
    assert early, "the generated day has drivers leaving before their estimate"
    by_id = {v.id: v for v in visits}
    seen: list[tuple[int, SiteProblem]] = []

    def spy(problem: SiteProblem) -> Schedule:
        seen.append((site.slots - problem.slots, problem))
        return solve(problem)

    online(site, visits, policy="replan", planner=spy)
    for now, problem in seen:
        for vehicle in problem.vehicles:
            visit = by_id[vehicle.id]
            assert visit.vehicle.arrival <= now < visit.vehicle.departure  # present
            assert vehicle.departure == max(1, min(problem.slots, visit.estimated_departure - now))


def test_carrying_the_peak_keeps_it_down_and_delivers_more_on_the_generated_days() -> None:
    """The month's peak so far and the day's are paid for: planning with them as the
    floor fills that headroom instead of spreading thin and losing early leavers."""
    for day in (1, 2, 3):
        base = sites.site(100.0)
        month_peak = offline(base, sites.day(day + 100)).peak_kw
        site = replace(base, tariff=replace(base.tariff, peak_so_far_kw=month_peak))
        visits = sites.day(day)
        today = online(site, visits, policy="replan")
        carried = online(site, visits, policy="peak-carried")
        assert carried.peak_kw <= today.peak_kw + 1e-6
        assert carried.delivered_kwh > today.delivered_kwh
        assert carried.total_cost / carried.delivered_kwh < today.total_cost / today.delivered_kwh


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        online(sites.site(50.0), sites.day(1)[:3], policy="clairvoyant")


def test_a_visit_names_its_vehicle() -> None:
    visit = sites.day(1)[0]
    assert isinstance(visit, Visit) and visit.id == visit.vehicle.id
    assert visit.vehicle.departure <= visit.estimated_departure
