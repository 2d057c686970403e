"""The garbage-collector policy: survivors of full collections frozen, thawed periodically."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Callable, Iterator

import pytest

from deploy.gc_policy import GcPolicy


class Node:
    """An object in a reference cycle: only the cycle collector can free it."""

    def __init__(self) -> None:
        self.me = self


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Poll ``condition`` (the walk runs in the policy's helper thread; a loaded machine
    walking a large heap, as in a full test run, may take a while)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def policy() -> Iterator[GcPolicy]:
    before = gc.get_threshold()
    installed = GcPolicy(young_threshold=5_000, thaw_interval_s=3600)
    installed.install()
    try:
        yield installed
    finally:
        installed.uninstall()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_install_sets_the_young_generation_and_freezes_what_is_loaded(policy: GcPolicy) -> None:
    young, _, old = gc.get_threshold()
    assert (young, old) == (5_000, 1)
    assert gc.get_freeze_count() > 0


def test_survivors_of_a_full_collection_are_frozen(policy: GcPolicy) -> None:
    survivors = [Node() for _ in range(1_000)]
    frozen_before = gc.get_freeze_count()
    gc.collect()
    assert policy.freezes == 1
    assert gc.get_freeze_count() >= frozen_before + len(survivors)


def test_a_thaw_reclaims_cycles_that_died_while_frozen(policy: GcPolicy) -> None:
    node = Node()
    alive = weakref.ref(node)
    gc.collect()  # the node survives and is frozen
    del node
    gc.collect()
    assert alive() is not None, "frozen: a full collection does not walk it"
    policy.thaw_interval_s = 0
    gc.collect()  # the thaw is due: this collection's end unfreezes everything
    assert policy.thaws >= 1
    policy.thaw_interval_s = 3600
    assert wait_for(lambda: policy.walks >= 1), "the helper walks everything at once"
    assert alive() is None, "that walk reclaimed the dead cycle"
    assert gc.get_freeze_count() > 0, "and froze the survivors again"


def test_frozen_growth_brings_the_thaw_forward(policy: GcPolicy) -> None:
    gc.collect()
    assert policy.thaws == 0
    # Frozen objects grow by more than half (new ones, or dead cycles: the
    # collector cannot tell them apart without walking them).
    grown = [Node() for _ in range(gc.get_freeze_count())]
    gc.collect()
    assert policy.thaws >= 1, "an hour has not passed: the growth alone thawed"
    assert wait_for(lambda: policy.walks >= 1)
    del grown
