"""Scrambled Sobol' sequence (``scipy.stats.qmc``): ``n`` space-filling points.

This is a quasi-Monte Carlo design for covering a space evenly; it is not a design for
Sobol' sensitivity indices, which is ``sobol_indices`` (Saltelli's scheme, SALib).
"""

from __future__ import annotations

import numpy as np

from experiments.designs._problem import Option, Problem

NAME = "sobol"
DESCRIPTION = "n points of a scrambled Sobol' sequence (space-filling; n a power of 2)"
OPTIONS: dict[str, Option] = {}
#: Space-filling designs are analysed by sweep charts and ``discover``, not by indices.
analyse = None


def check(n: int, problem: Problem) -> str | None:
    """``n`` must be a power of 2 (the sequence is balanced only then)."""
    return None if n & (n - 1) == 0 else f"n must be a power of 2 for method 'sobol', got {n}"


def size(n: int, dims: int) -> int:
    """Number of design points: ``n``."""
    return n


def sample(problem: Problem, n: int, seed: int) -> np.ndarray:
    """The first ``n`` points of a scrambled Sobol' sequence over the unit cube."""
    from scipy.stats import qmc  # imported here: workers never need it

    return qmc.Sobol(d=problem.dims, scramble=True, seed=seed).random(n)
