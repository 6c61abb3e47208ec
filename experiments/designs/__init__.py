"""Experimental designs, one module per method, in SALib's shape: problem -> sample -> analyse.

Every sampled method (``[sample] method``) is a module with the same functions:

- ``check(n, problem, **options)``: what is wrong with ``n`` for this problem, or None;
- ``size(n, dims, **options)``: the number of design points;
- ``sample(problem, n, seed, **options)``: the design's rows over the unit cube;
- ``analyse(problem, x, y, seed, **options)``: sensitivity indices per lever, or
  ``analyse = None`` for designs that have none (``lhs``, ``sobol``);

with ``NAME``, ``DESCRIPTION`` and ``OPTIONS`` (extra ``[sample]`` keys). The grid of
``[sweep]`` is the ``grid`` module. Evaluation, the step between sample and analyse, is
a sweep of simulations (``experiments.execute``), or any function in a test.

This package imports nothing else from ``experiments``: config and design read it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from experiments.designs import grid, lhs, morris, sobol, sobol_indices
from experiments.designs._problem import Option, Problem

#: Sampled designs by ``[sample] method`` name.
METHODS: dict[str, ModuleType] = {m.NAME: m for m in (lhs, sobol, morris, sobol_indices)}
#: Methods whose designs have a sensitivity analysis (``python -m experiments sensitivity``).
ANALYSED = tuple(name for name, m in METHODS.items() if m.analyse is not None)


def method(name: str) -> ModuleType:
    """The module of sampled design ``name``.

    Raises:
        ValueError: If there is no such method (the message lists the methods).
    """
    if name not in METHODS:
        raise ValueError(f"unknown design method {name!r}; allowed: {', '.join(METHODS)}")
    return METHODS[name]


def sample_points(
    name: str, problem: Problem, n: int, seed: int, options: dict[str, Any] | None = None
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Sample design ``name`` and make its lever values.

    Returns:
        The unit-cube rows (what the analysis takes) and one dict of lever values per row
        (what the simulations run).
    """
    unit = method(name).sample(problem, n, seed, **(options or {}))
    return unit, problem.values(unit)


__all__ = [
    "ANALYSED",
    "METHODS",
    "Option",
    "Problem",
    "grid",
    "lhs",
    "method",
    "morris",
    "sample_points",
    "sobol",
    "sobol_indices",
]
