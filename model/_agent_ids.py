"""Agent ids that do not keep models alive.

Mesa 3.3 numbers agents from ``Agent._ids``, a class-level dict keyed by the model, so
every model ever built stays in memory (about 220 bytes per borrower per run in a
sweep). The package's agents read :data:`MODEL_IDS` instead: the same counters, held
by weak reference, so a model is freed when the last reference to it goes.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any


class ModelIds(weakref.WeakKeyDictionary):
    """One ``itertools.count(1)`` per live model, created on first use."""

    def __getitem__(self, model: Any) -> itertools.count:
        try:
            return super().__getitem__(model)
        except KeyError:
            counter = itertools.count(1)
            self[model] = counter
            return counter


#: The counters shared by every agent class of the package (ids unique within a model).
MODEL_IDS = ModelIds()
