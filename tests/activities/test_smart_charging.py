"""The site's problem as the planning activity builds it from the vehicles present."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.smart_charging import site_problem, solve_with_profiles
from optimizer.evaluate import violations
from workflows.smart_charging import PresentVehicle, PriceBand, SiteCharger, SiteChargingConfig

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
CONFIG = SiteChargingConfig(
    connection_kw=30.0,
    chargers=[SiteCharger("CP-1", 1, 11.0), SiteCharger("CP-2", 1, 11.0)],
    prices=[PriceBand(0, 24, 0.2)],
)


def present(station: str, tx: str, arrived: datetime) -> PresentVehicle:
    return PresentVehicle(f"{station}#1", station, 1, tx, arrived)


def test_a_new_session_on_an_evse_replaces_the_car_whose_stop_has_not_arrived() -> None:
    earlier = present("CP-1", "TX-1", NOW - timedelta(hours=3))
    later = present("CP-1", "TX-2", NOW - timedelta(minutes=5))
    other = present("CP-2", "TX-3", NOW - timedelta(hours=1))
    problem = site_problem(
        CONFIG, [(later, 20.0, None), (earlier, 5.0, None), (other, 10.0, None)], NOW
    )
    assert sorted((v.id, v.energy_kwh) for v in problem.vehicles) == [
        ("CP-1#1", 20.0),
        ("CP-2#1", 10.0),
    ]
    schedule, planned = solve_with_profiles(
        CONFIG, problem, NOW, {"CP-1#1": "TX-2", "CP-2#1": "TX-3"}
    )
    assert schedule.status == "optimal"
    assert violations(problem, schedule.power_kw) == []
    assert set(planned.by_station) == {"CP-1", "CP-2"}


def test_a_departure_already_past_or_a_need_already_met_breaks_nothing() -> None:
    gone = present("CP-1", "TX-1", NOW - timedelta(hours=12))
    full = present("CP-2", "TX-2", NOW - timedelta(hours=1))
    problem = site_problem(
        CONFIG,
        [(gone, 12.0, NOW - timedelta(hours=2)), (full, -4.5, None)],
        NOW,
    )
    stays = {v.id: v for v in problem.vehicles}
    assert (stays["CP-1#1"].arrival, stays["CP-1#1"].departure) == (0, 1)
    assert stays["CP-2#1"].energy_kwh == 0.0
    schedule, _ = solve_with_profiles(CONFIG, problem, NOW, {})
    assert schedule.status == "optimal"
    assert violations(problem, schedule.power_kw) == []


def test_profiles_follow_each_chargers_voltage_wiring_and_minimum_current() -> None:
    """A 208 V single-phase charger taking amperes: 6.6 kW is 31.7 A there (not the
    9.5 A of a 230 V three-phase reading), and no period asks for 0 < I < 6 A even
    when the site is shared thin."""
    config = SiteChargingConfig(
        connection_kw=12.0,
        chargers=[
            SiteCharger(f"NA-{i}", 1, 6.6, phases="L1", rate_unit="A", voltage_v=208.0)
            for i in range(4)
        ],
        prices=[PriceBand(0, 24, 0.2)],
    )
    vehicles = [
        (present(f"NA-{i}", f"TX-{i}", NOW - timedelta(minutes=10)), 12.0, None) for i in range(4)
    ]
    problem = site_problem(config, vehicles, NOW)
    schedule, planned = solve_with_profiles(
        config, problem, NOW, {f"NA-{i}#1": f"TX-{i}" for i in range(4)}
    )
    assert violations(problem, schedule.power_kw) == []
    limits = [
        period.limit
        for profiles in planned.by_station.values()
        for profile in profiles
        if profile.purpose == "TxProfile"
        for period in profile.periods
    ]
    assert limits and all(limit == 0 or limit >= 6.0 for limit in limits), limits
    station_max = [
        p.periods[0].limit
        for profiles in planned.by_station.values()
        for p in profiles
        if p.purpose == "StationMax"
    ]
    assert station_max == [31.7] * 4  # 6.6 kW / 208 V, rounded down
    # Sharing 12 kW, some chargers are off while others draw at least 6 A.
    assert 0 in limits
