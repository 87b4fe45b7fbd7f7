"""The collector settings the gateway runs with once started (``cli.settle_heap``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.cli import YOUNG_COLLECTION_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    _, middle, old = gc.get_threshold()
    settle_heap()
    assert gc.get_freeze_count() > 0  # everything alive at start-up is out of the collector's sight
    assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, middle, old)
