"""The three-phase network: which line currents a charger's power makes, as phasors.

A circuit with a phase limit carries at most that current on each of its three
lines. The optimizer measures line current in *kW per phase*: the current times
the network's phase-to-neutral voltage (a 100 A breaker on a 230 V phase is
23 kW, on a 120 V phase (208Y/120) 12 kW), so the geometry below holds at any
voltage and every figure stays in the plan's unit.

Every line's current is expressed relative to that line's own phase voltage (A
to V_an, B to V_bn, C to V_cn), at unity power factor. Per kW a charger puts:

- on one phase (``L1``): 1 on that line, at 0°;
- on three phases (``L123``): 1/3 on each line, at 0°;
- between two lines (``L12``, ``L23``, ``L31``: AB, BC, CA, e.g. 208 V in North
  America): 1/√3 on each of the two lines, +30° on the leading line (A of AB),
  -30° on the trailing one (B of AB). Three such chargers of P kW rotated over a
  pod load each line with exactly P; two on AB and BC load B with 2/√3·P·cos 30° = P
  but A and C with 0.58 P each.

So the current of a line is a sum of phasors within ±30° of its phase voltage,
and its magnitude (what the breaker sees) is the length of that sum, which is
neither the sum of the lengths nor any one line's share. The LP cannot hold a
length: it holds cuts of the circle, :func:`cuts`, a polygon inside it whose
edges face directions across the ±30° cone, so a plan within the cuts is within
the circle (never over the limit) and gives up at most 1 - cos(arc/2) of it.
The greedy planners and the checker use the exact length (:func:`most`).
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Iterable

from optimizer.problem import PhaseWiring

LINES = ("L1", "L2", "L3")

_R = 1 / math.sqrt(3)
_LEAD, _TRAIL = cmath.rect(_R, math.radians(30)), cmath.rect(_R, math.radians(-30))

PHASORS: dict[PhaseWiring, tuple[complex, complex, complex]] = {
    "L1": (1, 0, 0),
    "L2": (0, 1, 0),
    "L3": (0, 0, 1),
    "L123": (1 / 3, 1 / 3, 1 / 3),
    "L12": (_LEAD, _TRAIL, 0),
    "L23": (0, _LEAD, _TRAIL),
    "L31": (_TRAIL, 0, _LEAD),
}
"""Per kW of a charger: its current on lines L1, L2, L3 (kW per phase, relative to
each line's phase voltage)."""

CUT_ARC_DEG = 10.0
"""The widest arc one cut spans: the polygon gives up at most 1 - cos 5° = 0.38% of
a line's limit (at the middle of an edge; nothing at its corners)."""


def phasor(wiring: PhaseWiring, line: int) -> complex:
    """A charger's current per kW on line ``line`` (0, 1, 2)."""
    return complex(PHASORS[wiring][line])


def cuts(phasors: Iterable[complex]) -> list[tuple[complex, float]]:
    """The cuts that hold the length of a sum of non-negative multiples of
    ``phasors`` within 1: (direction, bound) pairs, each meaning
    ``Re(sum * conj(direction)) <= bound``.

    The sum lies in the cone the phasors span; the cuts are the edges of the polygon
    whose corners lie on the unit circle at evenly spaced angles across that cone
    (one exact cut when every phasor points the same way).
    """
    angles = [cmath.phase(p) for p in phasors if abs(p) > 1e-12]
    if not angles:
        return []
    low, high = min(angles), max(angles)
    if high - low >= math.pi:
        raise ValueError("line currents more than 180° apart cannot be cut as a cone")
    pieces = max(1, math.ceil(math.degrees(high - low) / CUT_ARC_DEG - 1e-9))
    width = (high - low) / pieces
    bound = math.cos(width / 2)
    return [(cmath.rect(1.0, low + (k + 0.5) * width), bound) for k in range(pieces)]


def most(load: complex, add: complex, limit: float) -> float:
    """The most ``s >= 0`` with ``|load + s * add| <= limit``: what a charger whose
    current per kW is ``add`` may still draw on a line already carrying ``load``."""
    if abs(add) < 1e-12:
        return math.inf
    a = abs(add) ** 2
    b = (load * add.conjugate()).real
    c = abs(load) ** 2 - limit**2
    if c > 0:
        return 0.0  # already over (the base load's doing): nothing more
    return max(0.0, (-b + math.sqrt(max(0.0, b * b - a * c))) / a)
