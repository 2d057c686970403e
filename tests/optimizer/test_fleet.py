"""The fleet plan: needs from state of charge, charger assignment, off-peak shifting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from optimizer.fleet import Depot, DepotCharger, FleetVehicle, TimeOfUse, assign, plan

NOON = datetime(2030, 1, 1, 12, tzinfo=UTC)
PRICES = [TimeOfUse(23, 8, 0.05623), TimeOfUse(8, 12, 0.0925), TimeOfUse(12, 18, 0.26668),
          TimeOfUse(18, 23, 0.0925)]  # fmt: skip


def van(name: str, arrive: int, leave: int, **kw: object) -> FleetVehicle:
    """A 60 kWh van from 20 % to 80 %, arriving ``arrive`` h and leaving ``leave`` h after noon."""
    values: dict[str, object] = {
        "battery_kwh": 60.0,
        "soc_now": 0.2,
        "soc_departure": 0.8,
        "arrival": NOON.replace(hour=(12 + arrive) % 24, day=1 + (12 + arrive) // 24),
        "departure": NOON.replace(hour=(12 + leave) % 24, day=1 + (12 + leave) // 24),
    }
    values.update(kw)
    return FleetVehicle(name, **values)  # type: ignore[arg-type]


def test_needs_come_from_state_of_charge() -> None:
    """60 kWh from 20 % to 80 % is 36 kWh; a full battery needs nothing."""
    assert van("a", 6, 18).need_kwh == pytest.approx(36)
    assert van("b", 6, 18, soc_now=0.9).need_kwh == 0


def test_assignment_respects_stays_and_fixed_bays() -> None:
    """Two overlapping stays never share a charger; a fixed bay is honoured; a vehicle
    that fits nowhere is reported."""
    chargers = [DepotCharger("C1", 11), DepotCharger("C2", 11)]
    vehicles = [van("a", 6, 18), van("b", 7, 17, charger="C2"), van("c", 8, 16)]
    result = assign(vehicles, chargers)
    assert result["b"] == "C2" and result["a"] == "C1" and "c" not in result
    outcome = plan(Depot(chargers, 22, PRICES), vehicles, NOON)
    assert outcome.unassigned == ["c"]


def test_plan_charges_off_peak_and_beats_charging_on_arrival() -> None:
    """Vans arriving at 18:00 and leaving at 06:00: with energy prices only, everything
    moves into the 23:00-08:00 band; with a demand charge the load is flattened over the
    whole stay instead (12 kW for 144 kWh in 12 h). Both beat charging on arrival."""
    chargers = [DepotCharger(f"C{i}", 11) for i in range(4)]
    vehicles = [van(f"v{i}", 6, 18) for i in range(4)]
    energy_only = plan(Depot(chargers, 44, PRICES), vehicles, NOON)
    assert energy_only.schedule.delivered_share == pytest.approx(1.0)
    eleven_pm = (23 - 12) * 4
    for series in energy_only.schedule.power_kw.values():
        assert sum(series[eleven_pm:]) * 0.25 == pytest.approx(36, rel=1e-3)
    assert energy_only.saving > 0.3

    with_demand = plan(Depot(chargers, 44, PRICES, demand_charge_per_kw=15.51), vehicles, NOON)
    assert with_demand.schedule.peak_kw == pytest.approx(12, rel=1e-3)
    assert with_demand.on_arrival.peak_kw == pytest.approx(44)
    assert with_demand.saving > 0.6


def test_a_price_gap_is_refused() -> None:
    """A tariff that leaves hours without a price is an error, not a silent zero."""
    depot = Depot([DepotCharger("C1", 11)], 11, [TimeOfUse(0, 12, 0.1)])
    with pytest.raises(ValueError, match="no price"):
        plan(depot, [van("a", 6, 18)], NOON)
