"""Sobol' sensitivity indices (SALib): Saltelli's sampling scheme and variance decomposition.

From ``n`` base points (a power of 2) of a scrambled Sobol' sequence, Saltelli's scheme
makes ``n * (dims + 2)`` points (first and total order; no second order). The analysis
(SALib's ``sobol.analyze``) gives, per lever, ``S1`` (first-order index: the share of the
output's variance the lever explains alone), ``ST`` (total index: alone and through
interactions) and their ``_conf`` (half-widths of the bootstrap confidence intervals).

Not to be confused with method ``sobol``, a space-filling Sobol' sequence of ``n`` points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.designs._problem import Option, Problem

NAME = "sobol_indices"
DESCRIPTION = "Saltelli's n * (dims + 2) points for Sobol' indices (SALib; S1, ST)"
OPTIONS: dict[str, Option] = {}
#: Bootstrap resamples for the confidence intervals.
RESAMPLES = 1000
#: Confidence level of the intervals.
CONF_LEVEL = 0.95
#: Columns of :func:`analyse`, in order.
COLUMNS = ("S1", "S1_conf", "ST", "ST_conf")


def check(n: int, problem: Problem) -> str | None:
    """``n`` must be a power of 2 (the Sobol' sequence is balanced only then)."""
    if n & (n - 1) or n < 2:
        return f"n (base points) must be a power of 2 >= 2 for method 'sobol_indices', got {n}"
    return None


def size(n: int, dims: int) -> int:
    """Number of design points: ``n * (dims + 2)``."""
    return n * (dims + 2)


def sample(problem: Problem, n: int, seed: int) -> np.ndarray:
    """Saltelli's design over the unit cube: blocks of ``dims + 2`` rows per base point."""
    from SALib.sample import sobol

    return sobol.sample(problem.salib(), n, calc_second_order=False, scramble=True, seed=seed)


def analyse(problem: Problem, x: np.ndarray, y: np.ndarray, seed: int) -> pd.DataFrame:
    """Sobol' indices of output ``y`` at Saltelli's design ``x``.

    A constant output has every index 0 (no lever moves it).

    Returns:
        One row per lever (index: lever names), columns :data:`COLUMNS`.
    """
    y = np.asarray(y, dtype=float)
    if np.ptp(y) == 0:
        return pd.DataFrame(0.0, index=list(problem.names), columns=list(COLUMNS))
    from SALib.analyze import sobol

    result = sobol.analyze(
        problem.salib(),
        y,
        calc_second_order=False,
        num_resamples=RESAMPLES,
        conf_level=CONF_LEVEL,
        seed=seed,
    )
    frame = pd.DataFrame({c: np.asarray(result[c], dtype=float) for c in COLUMNS})
    return frame.set_axis(list(problem.names))
