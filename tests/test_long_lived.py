"""gc.freeze in a worker: nothing the collector skips may leak when a hot swap drops it."""

from __future__ import annotations

import gc
import weakref

from predictor.scoring.long_lived import freeze_long_lived_objects
from predictor.scoring.registry import REGISTRY


def test_frozen_models_are_still_freed_when_a_swap_drops_them(tiny_models):
    snapshot = REGISTRY.snapshot()
    model = snapshot.get(1, "4")
    watched = [weakref.ref(model), weakref.ref(model.module), weakref.ref(model.calibration),
               weakref.ref(snapshot)]
    collecting = gc.isenabled()
    try:
        assert freeze_long_lived_objects() > 0
        gc.disable()  # freed by reference counting alone, as frozen objects must be
        del snapshot, model
        REGISTRY.reset()  # what a swap does to the old snapshot: nothing refers to it any more
        assert [ref() for ref in watched] == [None] * len(watched)
    finally:
        gc.unfreeze()
        if collecting:
            gc.enable()
