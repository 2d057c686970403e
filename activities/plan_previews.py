"""Plans on request, not applied by a workflow: "what if" site plans and fleet plans.

The API calls these (in a worker thread: they are CPU-bound) and stores or
returns the JSON-ready results; the optimizer stays behind this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from activities.smart_charging import depot_of, site_problem, slot_start
from optimizer import lp
from optimizer.evaluate import site_import
from optimizer.fleet import FleetVehicle, plan
from workflows.smart_charging import PresentVehicle, SiteChargingConfig


def what_if(
    config: SiteChargingConfig,
    vehicles: Sequence[tuple[str, int, float, datetime]],
    now: datetime,
) -> dict[str, Any]:
    """The site's plan for ``vehicles`` = (station id, EVSE, kWh needed, departure)."""
    start = slot_start(now, config.slot_minutes)
    present = [
        (PresentVehicle(f"{s}#{e}", s, e, "what-if", now), kwh, leaves)
        for s, e, kwh, leaves in vehicles
    ]
    result = lp.solve(site_problem(config, present, start))
    return {
        "planned_at": start.isoformat(),
        "slot_minutes": config.slot_minutes,
        "power_kw": {k: [round(x, 3) for x in v] for k, v in result.power_kw.items()},
        "energy_cost": round(result.energy_cost, 4),
        "demand_cost": round(result.demand_cost, 4),
        "peak_kw": round(result.peak_kw, 3),
        "delivered_kwh": {k: round(v, 3) for k, v in result.delivered_kwh.items()},
        "shortfall_kwh": result.shortfall_kwh,
        "build_s": result.build_s,
        "solve_s": result.solve_s,
        "notes": result.notes,
    }


def fleet_plan(
    config: SiteChargingConfig,
    vehicles: Sequence[dict[str, Any]],
    start: datetime,
    hours: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fleet plan on the site's chargers and tariff: (result, needs by charging point).

    ``vehicles`` are :class:`optimizer.fleet.FleetVehicle` fields. Raises
    ``ValueError`` for a plan the tariff cannot price.
    """
    fleet = [FleetVehicle(**v) for v in vehicles]
    outcome = plan(depot_of(config), fleet, start, hours=hours, slot_minutes=config.slot_minutes)
    schedule, on_arrival, problem = outcome.schedule, outcome.on_arrival, outcome.problem
    result: dict[str, Any] = {
        "start": start.isoformat(),
        "slot_minutes": config.slot_minutes,
        "vehicles": {
            vid: {
                "charger": outcome.assignments[vid],
                "power_kw": [round(x, 3) for x in schedule.power_kw[vid]],
                "delivered_kwh": round(schedule.delivered_kwh[vid], 3),
                "shortfall_kwh": round(schedule.shortfall_kwh.get(vid, 0.0), 3),
            }
            for vid in schedule.power_kw
        },
        "unassigned": outcome.unassigned,
        "energy_cost": round(schedule.energy_cost, 4),
        "demand_cost": round(schedule.demand_cost, 4),
        "total_cost": round(schedule.total_cost, 4),
        "peak_kw": round(schedule.peak_kw, 3),
        "on_arrival": {
            "total_cost": round(on_arrival.total_cost, 4),
            "peak_kw": round(on_arrival.peak_kw, 3),
        },
        "saving": round(outcome.saving, 4),
        "site_load_kw": [round(x, 3) for x in site_import(problem, schedule.power_kw)],
        "on_arrival_load_kw": [round(x, 3) for x in site_import(problem, on_arrival.power_kw)],
        "site_limit_kw": [problem.site_limit(t) for t in range(problem.slots)],
        "price_per_kwh": list(problem.tariff.price_per_kwh),
        "build_s": round(schedule.build_s, 4),
        "solve_s": round(schedule.solve_s, 4),
        "notes": schedule.notes,
    }
    by_id = {v.id: v for v in fleet}
    needs = {
        charger: {
            "vehicle": vid,
            "energy_kwh": by_id[vid].need_kwh,
            "arrival": by_id[vid].arrival.isoformat(),
            "departure": by_id[vid].departure.isoformat(),
        }
        for vid, charger in outcome.assignments.items()
    }
    return result, needs
