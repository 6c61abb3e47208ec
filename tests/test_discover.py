"""Scenario discovery (experiments.discover): PRIM peeling recovers known boxes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.discover import choose, peel


def uniform(n: int = 1000, dims: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.uniform(size=(n, dims)), columns=[f"x{i + 1}" for i in range(dims)])


def test_peeling_recovers_a_known_box():
    x = uniform()
    y = ((x["x1"] > 0.7) & (x["x2"] < 0.3)).to_numpy()
    trajectory = peel(x, y)
    first = trajectory[0]
    assert (first.coverage, first.mass, first.restricted) == (1.0, 1.0, ())
    assert first.density == pytest.approx(y.mean())
    assert all(a.mass > b.mass for a, b in zip(trajectory, trajectory[1:], strict=False))
    assert trajectory[-1].mass >= 0.05
    box = trajectory[choose(trajectory, 0.8)[0]]
    assert set(box.restricted) == {"x1", "x2"}  # x3 does not matter
    assert box.limits["x1"][0] == pytest.approx(0.7, abs=0.03) and box.limits["x1"][1] > 0.99
    assert box.limits["x2"][1] == pytest.approx(0.3, abs=0.03) and box.limits["x2"][0] < 0.01
    assert box.coverage >= 0.95 and box.density >= 0.95
    assert box.mass == pytest.approx(0.3 * 0.3, abs=0.02)  # the true box holds 9% of runs


def test_coverage_density_and_mass_are_counts_of_runs():
    x = uniform(400, 2, seed=3)
    y = (x["x1"] > 0.5).to_numpy()
    for box in peel(x, y):
        inside = np.ones(len(y), dtype=bool)
        for name, (low, high) in box.limits.items():
            inside &= (x[name] >= low).to_numpy() & (x[name] <= high).to_numpy()
        assert inside.sum() == box.runs and y[inside].sum() == box.bad
        assert box.coverage == box.bad / y.sum() and box.mass == box.runs / len(y)
        assert box.density == box.bad / box.runs


def test_categorical_and_grid_inputs():
    rng = np.random.default_rng(1)
    x = uniform(800, 2, seed=1).assign(
        policy=rng.choice(["loose", "tight", "mid"], 800),
        level=rng.integers(0, 4, 800) * 40 + 560,  # a four-level grid, as Morris makes
        relief=rng.choice([True, False], 800),
    )
    y = ((x["policy"] == "loose") & (x["level"] <= 600)).to_numpy()
    box = (trajectory := peel(x, y))[choose(trajectory)[0]]
    assert set(box.restricted) == {"policy", "level"}
    assert box.limits["policy"] == frozenset({"loose"})
    assert box.limits["level"] == (560.0, 600.0)  # whole levels peeled at once
    assert box.density == 1.0 and box.coverage == 1.0


def test_choose_prefers_coverage_then_falls_back_to_the_densest():
    x = uniform(500, 2, seed=2)
    rng = np.random.default_rng(2)
    y = (x["x1"] > 0.8).to_numpy() & (rng.uniform(size=500) < 0.5)  # at most half bad anywhere
    trajectory = peel(x, y)
    index, met = choose(trajectory, 0.9)
    assert not met and trajectory[index].density == max(b.density for b in trajectory)
    index, met = choose(trajectory, 0.3)
    assert met and trajectory[index].density >= 0.3
    assert trajectory[index].coverage == max(b.coverage for b in trajectory if b.density >= 0.3)


def test_peel_refuses_what_it_cannot_peel():
    x = uniform(10, 1)
    with pytest.raises(ValueError, match="no case is bad"):
        peel(x, np.zeros(10, dtype=bool))
    with pytest.raises(ValueError, match="no input varies"):
        peel(x[[]], np.ones(10, dtype=bool))
    with pytest.raises(ValueError, match="one outcome per case"):
        peel(x, np.ones(9, dtype=bool))
