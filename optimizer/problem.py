"""A site's charging problem and its schedule, as plain dataclasses.

Time is a sequence of equal slots (index 0 is the horizon's start); power in
kW, energy in kWh, money in the tariff's currency. A vehicle is plugged into
one charger from its ``arrival`` slot up to (not including) its ``departure``
slot. The capacity tree runs from the site connection (the circuit without a
parent) through feeders and circuits to the chargers; any circuit may also
limit the current on each of its three lines (in kW per phase: the current times
the phase-to-neutral voltage; :mod:`optimizer.network`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

PhaseWiring = Literal["L1", "L2", "L3", "L123", "L12", "L23", "L31"]
"""A single-phase charger between one line and neutral (``L1``...), a three-phase
charger on all three (``L123``), or a single-phase charger between two lines
(``L12``, ``L23``, ``L31``: AB, BC, CA, as 208 V chargers are wired in North
America). :mod:`optimizer.network` says which line currents each makes."""


@dataclass(frozen=True)
class Circuit:
    """A node of the capacity tree: the site connection, a feeder, a circuit."""

    id: str
    limit_kw: float
    parent: str | None = None
    # Per-line current limit, as the breaker's current times the network's phase
    # (to neutral) voltage, if any: 100 A at 230 V is 23 kW, at 120 V 12 kW.
    phase_limit_kw: float | None = None


@dataclass(frozen=True)
class Charger:
    """A charging point on a circuit."""

    id: str
    circuit: str
    max_kw: float
    phases: PhaseWiring = "L123"
    # The pilot signal's grid (IEC 61851 / J1772), as power: nothing between off and
    # ``min_kw`` (6 A), and above it only steps of ``step_kw`` (0: any value).
    # Planned continuously; optimizer.pilot rounds a plan onto the grid.
    min_kw: float = 0.0
    step_kw: float = 0.0


@dataclass(frozen=True)
class Vehicle:
    """A vehicle's stay and its need."""

    id: str
    charger: str
    arrival: int
    departure: int
    energy_kwh: float
    max_kw: float
    # The slot from which the vehicle may have left: its departure is the driver's
    # estimate, and drivers leave early. Energy planned from there on carries the
    # problem's risk premium (half of it in that slot, all of it at the departure),
    # so the plan charges before it whenever that costs less. None: sure.
    sure_until: int | None = None
    # How much its shortfall counts against others' (2: served before vehicles of
    # priority 1 when not all can be; a fleet's ambulance, a paying customer).
    priority: float = 1.0


@dataclass(frozen=True)
class Tariff:
    """Time-of-use energy prices per slot and a demand charge on the billing period's peak."""

    price_per_kwh: Sequence[float]
    demand_charge_per_kw: float = 0.0
    # The share of the billing period this horizon stands for (the demand charge
    # is prorated to it) and the period's peak so far (already paid for).
    demand_charge_share: float = 1.0
    peak_so_far_kw: float = 0.0


@dataclass(frozen=True)
class SiteProblem:
    """Everything the scheduler needs."""

    slot_hours: float
    slots: int
    circuits: Sequence[Circuit]
    chargers: Sequence[Charger]
    vehicles: Sequence[Vehicle]
    tariff: Tariff
    # Non-EV load at the site connection per slot (kW), spread evenly on the phases.
    base_load_kw: Sequence[float] | None = None
    # Time-varying cap on the site's import (demand response), per slot (kW).
    import_limit_kw: Sequence[float | None] | None = None
    # Cost of each kWh not delivered by departure: high enough to dominate prices.
    unmet_penalty_per_kwh: float = 1000.0
    # Per kWh planned after a vehicle's ``sure_until`` (half of it at first). None:
    # 2.2 x the horizon's price spread, so a kWh moves ahead of the uncertain hours
    # from any price where there is room under the peak; small against a demand
    # charge, so it seldom raises the peak for that (measured: bench_optimizer).
    risk_premium_per_kwh: float | None = None

    def __post_init__(self) -> None:
        _check_numbers(self)
        for kind, ids in (
            ("circuit", [c.id for c in self.circuits]),
            ("charger", [c.id for c in self.chargers]),
            ("vehicle", [v.id for v in self.vehicles]),
        ):
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{kind} ids must be unique: {', '.join(repeated)} repeated")
        roots = [c for c in self.circuits if c.parent is None]
        if len(roots) != 1:
            raise ValueError("the capacity tree needs exactly one root (the site connection)")
        known = {c.id for c in self.circuits}
        for circuit in self.circuits:
            if circuit.parent is not None and circuit.parent not in known:
                raise ValueError(f"circuit {circuit.id}: unknown parent {circuit.parent}")
        parents = {c.id: c.parent for c in self.circuits}
        for circuit in self.circuits:
            seen: set[str] = set()
            current: str | None = circuit.id
            while current is not None:
                if current in seen:
                    raise ValueError(f"circuit {circuit.id}: the capacity tree has a cycle")
                seen.add(current)
                current = parents[current]
        chargers = {c.id for c in self.chargers}
        for charger in self.chargers:
            if charger.circuit not in known:
                raise ValueError(f"charger {charger.id}: unknown circuit {charger.circuit}")
        for vehicle in self.vehicles:
            if vehicle.charger not in chargers:
                raise ValueError(f"vehicle {vehicle.id}: unknown charger {vehicle.charger}")
            if not 0 <= vehicle.arrival <= vehicle.departure <= self.slots:
                raise ValueError(f"vehicle {vehicle.id}: stay outside the horizon")
            if vehicle.sure_until is not None and vehicle.sure_until < 0:
                raise ValueError(f"vehicle {vehicle.id}: sure_until before the horizon")
        if len(self.tariff.price_per_kwh) != self.slots:
            raise ValueError("one price per slot")
        for series in (self.base_load_kw, self.import_limit_kw):
            if series is not None and len(series) != self.slots:
                raise ValueError("one base load / import limit value per slot")

    def risk_premium(self) -> float:
        """Per kWh planned when a vehicle may have left (see ``risk_premium_per_kwh``)."""
        if self.risk_premium_per_kwh is not None:
            return self.risk_premium_per_kwh
        prices = self.tariff.price_per_kwh
        return 2.2 * (max(prices) - min(prices)) + 1e-3

    @property
    def root(self) -> Circuit:
        """The site connection."""
        return next(c for c in self.circuits if c.parent is None)

    def base(self, slot: int) -> float:
        """Non-EV load in ``slot``."""
        return self.base_load_kw[slot] if self.base_load_kw is not None else 0.0

    def site_limit(self, slot: int) -> float:
        """The site connection's limit in ``slot`` (lowered by an import limit)."""
        limit = self.root.limit_kw
        if self.import_limit_kw is not None and self.import_limit_kw[slot] is not None:
            limit = min(limit, float(self.import_limit_kw[slot]))  # type: ignore[arg-type]
        return limit

    def ancestors(self, circuit_id: str) -> list[Circuit]:
        """The circuit and every circuit above it, up to the site connection."""
        by_id = {c.id: c for c in self.circuits}
        chain = []
        current: str | None = circuit_id
        while current is not None:
            chain.append(by_id[current])
            current = by_id[current].parent
        return chain


def _check_numbers(problem: SiteProblem) -> None:
    """Every number finite, and those that cannot be negative not negative: a NaN or a
    negative rating must fail here, with its name, not deep inside the solver."""

    def check(name: str, value: float | None, *, least: float | None = 0.0) -> None:
        if value is None:
            return
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, not {value!r}")
        if least is not None and value < least:
            raise ValueError(f"{name} must be at least {least:g}, not {value!r}")

    def each(name: str, values: Iterable[float | None], least: float | None = 0.0) -> None:
        for t, value in enumerate(values):
            check(f"{name}[{t}]", value, least=least)

    check("slot_hours", problem.slot_hours)
    if problem.slot_hours <= 0:
        raise ValueError("slot_hours must be positive")
    if not isinstance(problem.slots, numbers.Integral) or problem.slots < 1:
        raise ValueError(f"slots must be a positive whole number, not {problem.slots!r}")
    for circuit in problem.circuits:
        check(f"circuit {circuit.id} limit_kw", circuit.limit_kw)
        check(f"circuit {circuit.id} phase_limit_kw", circuit.phase_limit_kw)
    for charger in problem.chargers:
        check(f"charger {charger.id} max_kw", charger.max_kw)
        check(f"charger {charger.id} min_kw", charger.min_kw)
        check(f"charger {charger.id} step_kw", charger.step_kw)
    for vehicle in problem.vehicles:
        check(f"vehicle {vehicle.id} energy_kwh", vehicle.energy_kwh)
        check(f"vehicle {vehicle.id} max_kw", vehicle.max_kw)
        check(f"vehicle {vehicle.id} priority", vehicle.priority)
        if not 0.01 <= vehicle.priority <= 100:
            raise ValueError(f"vehicle {vehicle.id} priority must be between 0.01 and 100")
    tariff = problem.tariff
    # Prices may be negative (markets pay for consumption at times); never NaN.
    each("tariff price_per_kwh", tariff.price_per_kwh, least=None)
    check("tariff demand_charge_per_kw", tariff.demand_charge_per_kw)
    check("tariff demand_charge_share", tariff.demand_charge_share)
    check("tariff peak_so_far_kw", tariff.peak_so_far_kw)
    # Base load may be negative (on-site generation exporting).
    each("base_load_kw", problem.base_load_kw or [], least=None)
    each("import_limit_kw", problem.import_limit_kw or [])
    check("unmet_penalty_per_kwh", problem.unmet_penalty_per_kwh)
    check("risk_premium_per_kwh", problem.risk_premium_per_kwh)
    if problem.unmet_penalty_per_kwh <= 0:
        raise ValueError("unmet_penalty_per_kwh must be positive")


@dataclass
class Schedule:
    """Planned power per vehicle and slot, what it achieves and what it costs."""

    power_kw: dict[str, list[float]]
    delivered_kwh: dict[str, float]
    shortfall_kwh: dict[str, float]
    energy_cost: float
    demand_cost: float
    peak_kw: float
    method: str
    build_s: float = 0.0
    solve_s: float = 0.0
    status: str = "optimal"
    notes: list[str] = field(default_factory=list)
    # The pilot offers behind ``power_kw`` when the plan was rounded onto chargers'
    # pilot grids (optimizer.pilot): what the profiles send; None: the power itself.
    pilot_kw: dict[str, list[float]] | None = None

    @property
    def total_cost(self) -> float:
        """Energy plus (prorated) demand charge."""
        return self.energy_cost + self.demand_cost

    @property
    def delivered_share(self) -> float:
        """Energy delivered over energy needed (1.0 when nothing was needed)."""
        delivered = sum(self.delivered_kwh.values())
        needed = delivered + sum(self.shortfall_kwh.values())
        return delivered / needed if needed else 1.0
