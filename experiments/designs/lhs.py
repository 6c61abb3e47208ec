"""Latin hypercube design (scrambled, ``scipy.stats.qmc``): ``n`` space-filling points."""

from __future__ import annotations

import numpy as np

from experiments.designs._problem import Option, Problem

NAME = "lhs"
DESCRIPTION = "n points of a Latin hypercube (space-filling)"
OPTIONS: dict[str, Option] = {}
#: Space-filling designs are analysed by sweep charts and ``discover``, not by indices.
analyse = None


def check(n: int, problem: Problem) -> str | None:
    """Any number of points will do."""
    return None


def size(n: int, dims: int) -> int:
    """Number of design points: ``n``."""
    return n


def sample(problem: Problem, n: int, seed: int) -> np.ndarray:
    """``n`` rows of a Latin hypercube over the unit cube of ``problem``."""
    from scipy.stats import qmc  # imported here: workers never need it

    return qmc.LatinHypercube(d=problem.dims, seed=seed).random(n)
