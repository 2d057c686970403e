"""The site's problem as the planning activity builds it from the vehicles present."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from activities.smart_charging import site_problem, solve_with_profiles
from optimizer import lp
from optimizer.evaluate import violations
from optimizer.pilot import off_grid
from optimizer.problem import PhaseWiring
from tests.optimizer import phasors
from workflows.smart_charging import (
    PresentVehicle,
    PriceBand,
    SiteCharger,
    SiteChargingConfig,
    SiteCircuit,
)

ROTATED: tuple[PhaseWiring, ...] = ("L12", "L23", "L31", "L12")
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


def test_a_208y_120_site_limits_line_currents_in_amperes_and_pilots_at_208_v() -> None:
    """Three chargers between two lines each (AB, BC, CA) behind a 60 A panel on a
    208Y/120 V service: the panel's limit becomes 7.2 kW per phase, no line carries
    more than 60 A (summed from the network's voltages), and each profile's
    amperes are its power over 208 V."""
    config = SiteChargingConfig(
        connection_kw=50.0,
        phase_voltage_v=120.0,
        connection_phase_limit_a=200.0,
        circuits=[SiteCircuit("pod", 50.0, phase_limit_a=60.0)],
        chargers=[
            SiteCharger(f"NA-{i}", 1, 6.6, "pod", wiring, rate_unit="A", voltage_v=208.0)
            for i, wiring in enumerate(ROTATED)
        ],
        prices=[PriceBand(0, 24, 0.2)],
    )
    vehicles = [
        (present(f"NA-{i}", f"TX-{i}", NOW - timedelta(minutes=10)), 30.0, None) for i in range(4)
    ]
    problem = site_problem(config, vehicles, NOW)
    limits = {c.id: c.phase_limit_kw for c in problem.circuits}
    assert limits == {"site": 24.0, "pod": 7.2}
    schedule, planned = solve_with_profiles(
        config, problem, NOW, {f"NA-{i}#1": f"TX-{i}" for i in range(4)}
    )
    assert violations(problem, schedule.power_kw) == []
    assert phasors.overloads(problem, schedule.power_kw, 120.0) == []
    first = {
        station: next(p for p in profiles if p.purpose == "TxProfile").periods[0].limit
        for station, profiles in planned.by_station.items()
    }
    assert schedule.pilot_kw is not None
    for i in range(4):
        offer = schedule.pilot_kw[f"NA-{i}#1"][0]
        assert first[f"NA-{i}"] == pytest.approx(offer * 1000 / 208, abs=0.1)
    # Lines A and B of the pod carry two AB chargers and a CA (BC) one at ±30°: the
    # panel binds, and the LP fills it to within its cuts' arc (0.4%)...
    continuous = lp.solve(problem).power_kw
    assert max(phasors.line_amperes(problem, continuous, 0, "pod", 120.0)) >= 0.996 * 60.0
    # ...and the pilot plan, rounded onto 6 A and above, stays within it too.
    assert off_grid(problem, schedule.pilot_kw) == []


def test_a_charger_voltage_that_does_not_fit_the_network_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit its L12 wiring"):
        SiteChargingConfig(
            connection_kw=50.0,
            phase_voltage_v=120.0,
            chargers=[SiteCharger("NA-1", 1, 6.6, phases="L12")],  # 230 V left as default
            prices=[PriceBand(0, 24, 0.2)],
        )
    with pytest.raises(ValueError, match="not both"):
        SiteCircuit("pod", 50.0, phase_limit_kw=7.2, phase_limit_a=60.0)
    # Without a named network voltage, configurations from before it stay valid.
    SiteChargingConfig(
        connection_kw=50.0,
        chargers=[SiteCharger("NA-1", 1, 6.6, phases="L1", voltage_v=208.0)],
        prices=[PriceBand(0, 24, 0.2)],
    )


def test_the_last_hours_of_each_estimate_are_hedged() -> None:
    """A driver who says 22:00 may leave from 19:00 (3 h margin by default): slots from
    then on are uncertain; a departure beyond the horizon leaves all of it sure."""
    near = present("CP-1", "TX-1", NOW - timedelta(hours=1))
    far = present("CP-2", "TX-2", NOW - timedelta(hours=1))
    problem = site_problem(
        CONFIG,
        [(near, 10.0, NOW + timedelta(hours=4)), (far, 10.0, NOW + timedelta(hours=40))],
        NOW,
    )
    stays = {v.id: v for v in problem.vehicles}
    assert (stays["CP-1#1"].sure_until, stays["CP-1#1"].departure) == (4, 16)
    assert stays["CP-2#1"].sure_until is not None
    assert stays["CP-2#1"].sure_until >= stays["CP-2#1"].departure
    sure = site_problem(
        replace(CONFIG, departure_margin_hours=0.0), [(near, 10.0, NOW + timedelta(hours=4))], NOW
    )
    assert sure.vehicles[0].sure_until is None
    with pytest.raises(ValueError, match="departure_margin_hours"):
        replace(CONFIG, departure_margin_hours=float("nan"))


@pytest.mark.parametrize(
    "utc_hour, when",
    [(21, datetime(2026, 12, 1, tzinfo=UTC)), (20, datetime(2026, 7, 1, tzinfo=UTC))],
)
def test_price_bands_are_in_the_sites_time_zone_in_winter_and_summer(
    utc_hour: int, when: datetime
) -> None:
    """A Berlin night tariff from 22:00: 21:00 UTC in winter, 20:00 UTC in summer."""
    config = replace(
        CONFIG,
        time_zone="Europe/Berlin",
        prices=[PriceBand(22, 6, 0.10), PriceBand(6, 22, 0.30)],
    )
    start = when.replace(hour=utc_hour - 1)
    problem = site_problem(config, [], start)
    per_hour = 4
    assert problem.tariff.price_per_kwh[:per_hour] == [0.30] * per_hour  # 21:00-22:00 local
    assert problem.tariff.price_per_kwh[per_hour : 2 * per_hour] == [0.10] * per_hour
    # The same bands read as UTC would start the night an hour or two late.
    assert site_problem(replace(config, time_zone="UTC"), [], start).tariff.price_per_kwh[
        per_hour
    ] == pytest.approx(0.30)


def test_a_time_zone_that_is_not_iana_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        replace(CONFIG, time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="not an IANA time zone"):
        replace(CONFIG, time_zone="../../etc/passwd")


def test_a_priority_bay_is_served_first_when_the_site_is_short() -> None:
    config = replace(
        CONFIG,
        connection_kw=11.0,
        chargers=[SiteCharger("CP-1", 1, 11.0, priority=3.0), SiteCharger("CP-2", 1, 11.0)],
        default_stay_hours=2.0,
        departure_margin_hours=0.0,
    )
    cars = [(present(s, f"TX-{s}", NOW), 20.0, NOW + timedelta(hours=2)) for s in ("CP-1", "CP-2")]
    problem = site_problem(config, cars, NOW)
    schedule, _ = solve_with_profiles(config, problem, NOW, {})
    # (20 kWh less what rounding onto whole amperes above 6 A costs.)
    assert schedule.delivered_kwh["CP-1#1"] == pytest.approx(20.0, abs=1.0)
    assert schedule.delivered_kwh["CP-2#1"] < 3.0
    with pytest.raises(ValueError, match="priority"):
        SiteCharger("CP-3", 1, 11.0, priority=float("nan"))
