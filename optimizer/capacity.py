"""What the capacity tree still allows in one slot, as chargers take from it.

Shared by every planner that fills slots greedily (the baselines, the pilot
rounding): per circuit (the site connection less its base load and within any
import limit), per line of a circuit with a phase limit (the exact length of its
current phasor, :mod:`optimizer.network`), and per charger (vehicles following
each other on one charger share its rating).
"""

from __future__ import annotations

from optimizer import network
from optimizer.network import LINES
from optimizer.problem import Charger, Circuit, SiteProblem


class Capacity:
    """The tree of a problem, resolved once: each charger's circuits up to the root."""

    def __init__(self, problem: SiteProblem) -> None:
        self.problem = problem
        self.chargers = {c.id: c for c in problem.chargers}
        self.chains: dict[str, list[Circuit]] = {
            c.id: problem.ancestors(c.circuit) for c in problem.chargers
        }

    def slot(self, t: int) -> SlotRoom:
        """The room of slot ``t``, before any charger takes from it."""
        return SlotRoom(self, t)


class SlotRoom:
    """The room left in one slot."""

    def __init__(self, capacity: Capacity, t: int) -> None:
        problem = capacity.problem
        self._capacity = capacity
        self.circuit: dict[str, float] = {}
        # Per (circuit, line): the current it carries (kW per phase, a phasor) and its limit.
        self.line: dict[tuple[str, int], complex] = {}
        self.line_limit: dict[str, float] = {}
        for circuit in problem.circuits:
            root = circuit.parent is None
            base = problem.base(t) if root else 0.0
            limit = problem.site_limit(t) if root else circuit.limit_kw
            # A base load above the limit leaves nothing (it is not the chargers' doing).
            self.circuit[circuit.id] = max(0.0, limit - base)
            if circuit.phase_limit_kw is not None:
                self.line_limit[circuit.id] = circuit.phase_limit_kw
                for n in range(len(LINES)):
                    # Balanced and in phase with each line; an export is not counted.
                    self.line[(circuit.id, n)] = complex(max(0.0, base) / 3)
        self.charger = {c.id: c.max_kw for c in problem.chargers}

    def most(self, charger_id: str) -> float:
        """The most that charger may still add in this slot."""
        charger = self._capacity.chargers[charger_id]
        kw = self.charger[charger_id]
        for circuit in self._capacity.chains[charger_id]:
            kw = min(kw, self.circuit[circuit.id])
            if circuit.id in self.line_limit:
                for n in range(len(LINES)):
                    add = network.phasor(charger.phases, n)
                    if add:
                        load = self.line[(circuit.id, n)]
                        kw = min(kw, network.most(load, add, self.line_limit[circuit.id]))
        return max(0.0, kw)

    def take(self, charger_id: str, kw: float) -> None:
        """Use ``kw`` of the slot for that charger."""
        charger: Charger = self._capacity.chargers[charger_id]
        self.charger[charger_id] -= kw
        for circuit in self._capacity.chains[charger_id]:
            self.circuit[circuit.id] -= kw
            if circuit.id in self.line_limit:
                for n in range(len(LINES)):
                    self.line[(circuit.id, n)] += kw * network.phasor(charger.phases, n)
