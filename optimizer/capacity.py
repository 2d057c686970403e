"""What the capacity tree still allows in one slot, as chargers take from it.

Shared by every planner that fills slots greedily (the baselines, the pilot
rounding): per circuit (the site connection less its base load and within any
import limit), per phase of a circuit with a phase limit, and per charger
(vehicles following each other on one charger share its rating).
"""

from __future__ import annotations

from optimizer.evaluate import PHASES, phase_share
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
        self.phase: dict[tuple[str, str], float] = {}
        for circuit in problem.circuits:
            root = circuit.parent is None
            base = problem.base(t) if root else 0.0
            limit = problem.site_limit(t) if root else circuit.limit_kw
            # A base load above the limit leaves nothing (it is not the chargers' doing).
            self.circuit[circuit.id] = max(0.0, limit - base)
            if circuit.phase_limit_kw is not None:
                for p in PHASES:
                    self.phase[(circuit.id, p)] = max(0.0, circuit.phase_limit_kw - base / 3)
        self.charger = {c.id: c.max_kw for c in problem.chargers}

    def most(self, charger_id: str) -> float:
        """The most that charger may still add in this slot."""
        charger = self._capacity.chargers[charger_id]
        kw = self.charger[charger_id]
        for circuit in self._capacity.chains[charger_id]:
            kw = min(kw, self.circuit[circuit.id])
            for p in PHASES:
                share = phase_share(charger.phases, p)
                if share and (circuit.id, p) in self.phase:
                    kw = min(kw, self.phase[(circuit.id, p)] / share)
        return max(0.0, kw)

    def take(self, charger_id: str, kw: float) -> None:
        """Use ``kw`` of the slot for that charger."""
        charger: Charger = self._capacity.chargers[charger_id]
        self.charger[charger_id] -= kw
        for circuit in self._capacity.chains[charger_id]:
            self.circuit[circuit.id] -= kw
            for p in PHASES:
                if (circuit.id, p) in self.phase:
                    self.phase[(circuit.id, p)] -= kw * phase_share(charger.phases, p)
