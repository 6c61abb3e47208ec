"""The problem every sampled design shares: named levers, their ranges, how values are made.

As in SALib, a design samples the unit cube of the problem's levers; the problem maps
each unit row to lever values. Integer levers take evenly spread values on their grid
(the integers, or a coarser step such as 30 days).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Option:
    """An integer option of a design's ``[sample]`` table (e.g. Morris' ``levels``)."""

    default: int
    low: int
    high: int
    help: str


@dataclass(frozen=True)
class Problem:
    """Levers sampled by a design, each over a range.

    Attributes:
        names: Lever names (dotted, e.g. ``policy.max_dti``), in sampling order.
        bounds: ``(low, high)`` of each lever.
        kinds: ``'float'`` or ``'int'`` for each lever (default: all float).
        steps: Grid step of each integer lever (default 1).
    """

    names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    kinds: tuple[str, ...] = ()
    steps: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.kinds:
            object.__setattr__(self, "kinds", ("float",) * len(self.names))
        if not len(self.names) == len(self.bounds) == len(self.kinds):
            raise ValueError("a problem needs one bound and one kind per name")

    @property
    def dims(self) -> int:
        """Number of levers."""
        return len(self.names)

    def salib(self) -> dict[str, Any]:
        """The problem as SALib takes it, over the unit cube (designs sample ``[0, 1]``)."""
        bounds = [[0.0, 1.0]] * self.dims
        return {"num_vars": self.dims, "names": list(self.names), "bounds": bounds}

    def integer_grid(self, name: str) -> tuple[int, int, int]:
        """``(first, last, step)`` of an integer lever: values are ``step * k``, k in [first, last].

        Raises:
            ValueError: If the range holds no multiple of the step.
        """
        low, high = self.bounds[self.names.index(name)]
        step = self.steps.get(name, 1)
        first, last = math.ceil(low / step), math.floor(high / step)
        if last < first:
            raise ValueError(f"'{name}' holds no multiple of {step} in [{low}, {high}]")
        return first, last, step

    def values(self, unit: np.ndarray) -> list[dict[str, Any]]:
        """Lever values of each unit-cube row: one dict per row, keyed by lever name.

        A float lever is ``low + u * (high - low)``; an integer lever takes
        ``step * min(first + floor(u * count), last)``, so its values are spread
        evenly over the grid of the range.

        Raises:
            ValueError: If an integer lever's range holds no value of its grid.
        """
        kinds = zip(self.names, self.kinds, strict=True)
        grids = {name: self.integer_grid(name) for name, kind in kinds if kind == "int"}
        points = []
        for row in unit:
            point: dict[str, Any] = {}
            for u, name, (low, high) in zip(row, self.names, self.bounds, strict=True):
                if name in grids:
                    first, last, step = grids[name]
                    point[name] = step * min(first + int(u * (last - first + 1)), last)
                else:
                    point[name] = float(low + u * (high - low))
            points.append(point)
        return points
