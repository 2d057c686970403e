"""Garbage-collector settings for the long-running CSMS processes.

Why: a gateway holding 10,000 connections tracks about a million objects, and
CPython 3.11's full (generation 2) collection walks every one of them with the
event loop stopped: 0.3-0.65 s on this project's 2-core benchmark machine,
which every charger waiting for an answer at that moment sees as latency.
Measured with ``tests/benchmarks/bench_gateway.py``: p99 at 5,000 stations
went from 210-280 ms to 20-50 ms with this policy.

The policy, in the spirit of Instagram's ``gc.freeze()`` (see the ``gc`` docs):

- A larger young generation (``young_threshold`` allocations instead of 700):
  objects that live for a fraction of a second (a frame being answered, a row
  waiting for the next batch insert) die young instead of being promoted, so
  full collections come less often.
- After every full collection, the survivors are frozen (moved to the permanent
  generation): the next full collections walk only what was created since.
  Nothing garbage is frozen: a full collection has just removed it.
- Full collections being cheap then, CPython may consider one after every
  middle-generation pass (its own rule, 25 % more long-lived objects since the
  last one, still gates it). A reconnect storm's objects are so walked and
  frozen while the storm goes on, not minutes later in the middle of steady
  traffic (measured: a 0.66 s pause a minute into the load otherwise).
- Frozen objects are still freed by reference counting, but a reference cycle
  among them (a closed connection's objects, an evicted workflow's) stays until
  the permanent generation is thawed and a full collection walks everything
  once. The thaw comes when the frozen objects have grown by ``thaw_growth``
  (0.5: half) since the last such walk, so dead cycles can never hold more than
  that fraction of the heap (CPython itself walks everything after 25 %
  growth), and at least once per ``thaw_interval_s``; a helper thread runs the
  walk right after. In a steady state it comes once an hour instead of every
  few seconds.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GcPolicy:
    """Young-generation size, freezing after full collections, and a periodic thaw."""

    young_threshold: int = 10_000
    thaw_interval_s: float = 3600.0
    thaw_growth: float = 0.5
    thaws: int = 0
    freezes: int = 0
    # Full walks done after a thaw.
    walks: int = 0
    _last_thaw: float = field(default_factory=time.monotonic)
    # Frozen objects right after the last full walk (the base of thaw_growth);
    # 0 while a thaw waits for its walk.
    _baseline: int = 0
    _previous_threshold: tuple[int, int, int] | None = None
    # Thaws for the helper thread. The collector's callback may run in that very
    # thread, inside a lock an Event or Condition holds: SimpleQueue.put is the
    # one signal documented as safe to call reentrantly.
    _thaws: queue.SimpleQueue[bool] = field(default_factory=queue.SimpleQueue)
    _walker: threading.Thread | None = None
    _stopping: bool = False

    def install(self) -> None:
        """Apply the policy to this process (once, at start-up)."""
        self._previous_threshold = gc.get_threshold()
        _, middle, _ = self._previous_threshold
        gc.set_threshold(self.young_threshold, middle, 1)
        # Modules, classes and settings loaded so far live as long as the process.
        gc.collect()
        gc.freeze()
        self._baseline = gc.get_freeze_count()
        gc.callbacks.append(self._after_collection)
        self._walker = threading.Thread(target=self._walk_after_thaws, name="gc-thaw", daemon=True)
        self._walker.start()

    def uninstall(self) -> None:
        """Restore the collector's defaults and thaw everything (tests)."""
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)
        self._stopping = True
        self._thaws.put(False)
        if self._walker is not None:
            self._walker.join()
        if self._previous_threshold is not None:
            gc.set_threshold(*self._previous_threshold)
        gc.unfreeze()

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Called by the collector itself, in whichever thread collected; freeze and
        # unfreeze only move the generation lists, which is safe here.
        if phase != "stop" or info["generation"] != 2:
            return
        self.freezes += 1
        gc.freeze()
        frozen = gc.get_freeze_count()
        if self._baseline == 0:  # the walk after a thaw
            self.walks += 1
            self._baseline = frozen
            return
        now = time.monotonic()
        overdue = now - self._last_thaw >= self.thaw_interval_s
        if overdue or frozen > (1 + self.thaw_growth) * self._baseline:
            self._last_thaw = now
            self.thaws += 1
            self._baseline = 0
            gc.unfreeze()
            self._thaws.put(True)

    def _walk_after_thaws(self) -> None:
        """Walk everything right after a thaw, not whenever CPython next decides to:
        during a reconnect storm, not a minute into the steady traffic after it."""
        while True:
            if not self._thaws.get():
                return
            # A collection started while the collector is still running (its callback
            # sent the thaw) does nothing: try until the walk has happened.
            while self._baseline == 0 and not self._stopping:
                gc.collect()
                if self._baseline == 0:
                    time.sleep(0.01)
            if self._stopping:
                return
