"""Morris elementary effects (SALib): ``n`` one-at-a-time trajectories over a grid of levels.

Each trajectory has ``dims + 1`` points and moves one lever at a time by the same step
on a ``levels``-level grid of the unit cube, so a design has ``n * (dims + 1)`` points.
The analysis (SALib's ``morris.analyze``) gives, per lever, ``mu`` (mean elementary
effect), ``mu_star`` (mean absolute effect: the importance), ``sigma`` (spread of the
effects: non-linearity or interactions) and ``mu_star_conf`` (half-width of the
bootstrap confidence interval of ``mu_star``). Effects are changes of the output per
change of the lever by its whole range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.designs._problem import Option, Problem

NAME = "morris"
DESCRIPTION = "n Morris trajectories of dims + 1 points each (SALib; screening: mu*, sigma)"
OPTIONS = {"levels": Option(4, 2, 100, "grid levels of each lever (even numbers are best)")}
#: Bootstrap resamples for the confidence interval of ``mu_star``.
RESAMPLES = 1000
#: Confidence level of the intervals.
CONF_LEVEL = 0.95
#: Columns of :func:`analyse`, in order.
COLUMNS = ("mu", "mu_star", "mu_star_conf", "sigma")


def check(n: int, problem: Problem, levels: int = 4) -> str | None:
    """Two trajectories at least; every integer lever needs ``levels`` distinct values."""
    if n < 2:
        return f"n (trajectories) must be >= 2 for method 'morris', got {n}"
    for name, kind in zip(problem.names, problem.kinds, strict=True):
        if kind == "int":
            first, last, step = problem.integer_grid(name)
            if last - first + 1 < levels:
                return (
                    f"'{name}' has {last - first + 1} values of step {step} in its range, "
                    f"fewer than levels = {levels}; widen the range or lower levels"
                )
    return None


def size(n: int, dims: int, levels: int = 4) -> int:
    """Number of design points: ``n * (dims + 1)``."""
    return n * (dims + 1)


def sample(problem: Problem, n: int, seed: int, levels: int = 4) -> np.ndarray:
    """``n`` Morris trajectories over the unit cube (rows grouped by trajectory)."""
    from SALib.sample import morris

    return morris.sample(problem.salib(), n, num_levels=levels, seed=seed)


def analyse(
    problem: Problem, x: np.ndarray, y: np.ndarray, seed: int, levels: int = 4
) -> pd.DataFrame:
    """Morris indices of output ``y`` at design ``x`` (the unit rows of :func:`sample`).

    Returns:
        One row per lever (index: lever names), columns :data:`COLUMNS`.
    """
    from SALib.analyze import morris

    result = morris.analyze(
        problem.salib(),
        np.asarray(x, dtype=float),
        np.asarray(y, dtype=float),
        num_resamples=RESAMPLES,
        conf_level=CONF_LEVEL,
        num_levels=levels,
        seed=seed,
    )
    frame = pd.DataFrame({c: np.asarray(result[c], dtype=float) for c in COLUMNS})
    return frame.set_axis(list(problem.names))
