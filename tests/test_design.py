"""Designs as a registry (experiments.designs): same runs as before, new methods, bad input."""

from __future__ import annotations

import hashlib
import itertools
import json
import math

import numpy as np
import pytest
from scipy.stats import qmc

from experiments import designs
from experiments.cli import CONFIG_DIR, main
from experiments.config import ConfigError, load_config, parse_config
from experiments.design import (
    build_design,
    param_types,
    point_indices,
    replication_seeds,
    sample_design,
    sweep_points,
)

BASE = {
    "experiment": {"name": "t", "seed": 11, "replications": 3, "months": 12, "borrowers": 300},
    "scenario": [{"preset": "severe_recession"}],
    "policy": [{"preset": "balanced"}, {"name": "c", "preset": "conservative"}],
}
RANGES = {
    "policy.score_cutoff": [550, 680],
    "policy.writeoff_dpd": [90, 240],
    "policy.term_months": [6, 24],
    "scenario.severity": [0.0, 2.0],
    "policy.max_dti": [0.25, 0.6],
    "population.savings_months": [0.5, 4.0],
}


def sampled(method: str, n: int, seed: int | None = None, **options: int) -> dict:
    sample = {"method": method, "n": n, "ranges": RANGES, **options}
    return {**BASE, "sample": sample if seed is None else {**sample, "seed": seed}}


def digest(specs: list) -> str:
    text = json.dumps([s.to_dict() for s in specs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# build_design output and config hashes of sampled configs, recorded with the code before the
# designs registry (commit 4f2feb5): the registry must not change what existing configs run.
BEFORE = {
    ("lhs", 20, 5): (
        "f156fc647e5f209fa4ebdef21e1dbfdfb397d0743262af545e48259072691306",
        "9c5c87f6da5dc934bf33ad22fabd7c79933b9eac87f0069f96d6a7de2c8b3696",
    ),
    ("sobol", 32, 9): (
        "c894076357c34c10ac1b63e4f6ab7f7d39438ef1d54e8d32f2cc7a42adf2f979",
        "db28d81011f0fd8a83b50cc65a761b3253d38587507d7a0f28ba9b777ea9443d",
    ),
    ("lhs", 7, None): (
        "6bfe8b89af014b4e02d29c2d9dbd12476d0817d39a2642a99e72f2dec2370daa",
        "ec3dd1db1f51afd17dc74e74508df7dc29e9a86bf70c55861b34809e9ebe3cc0",
    ),
}


@pytest.mark.parametrize("key", sorted(BEFORE, key=str), ids=str)
def test_sampled_designs_run_what_they_ran_before_the_registry(key):
    config = parse_config(sampled(*key))
    runs, config_hash = BEFORE[key]
    assert digest(build_design(config)) == runs
    assert config.config_hash() == config_hash  # old folders still --resume


def legacy_points(config) -> list[dict]:
    """sweep_points as written before the registry (commit 4f2feb5), for comparison."""
    types = param_types(config)
    if config.sample:
        spec = config.sample
        dims = len(spec.ranges)
        if spec.method == "lhs":
            unit = qmc.LatinHypercube(d=dims, seed=spec.seed).random(spec.n)
        else:
            unit = qmc.Sobol(d=dims, scramble=True, seed=spec.seed).random(spec.n)
        points = []
        for row in unit:
            point = {}
            for u, (lever, (low, high)) in zip(row, spec.ranges.items(), strict=True):
                if types[lever] == "int":
                    step = 30 if lever == "policy.writeoff_dpd" else 1
                    first, last = math.ceil(low / step), math.floor(high / step)
                    point[lever] = step * min(first + int(u * (last - first + 1)), last)
                else:
                    point[lever] = float(low + u * (high - low))
            points.append(point)
        return points
    cast = {"bool": bool, "int": int, "float": float}
    axes = [[cast[types[k]](v) for v in values] for k, values in config.sweep.items()]
    return [dict(zip(config.sweep, combo, strict=True)) for combo in itertools.product(*axes)]


SHIPPED = sorted(p for p in CONFIG_DIR.glob("*.toml") if p.name != "sensitivity.toml")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_have_the_points_of_the_previous_code(path):
    config = load_config(path)
    points = sweep_points(config)
    old = legacy_points(config)
    assert [json.dumps(p, sort_keys=True) for p in points] == [
        json.dumps(p, sort_keys=True) for p in old
    ]
    seeds = replication_seeds(config.seed, config.replications)
    assert [s.seed for s in build_design(config)] == seeds * (
        len(config.scenarios) * len(config.policies) * len(points)
    )


def test_the_registry_has_one_shape():
    assert tuple(designs.METHODS) == ("lhs", "sobol", "morris", "sobol_indices")
    assert designs.ANALYSED == ("morris", "sobol_indices")
    problem = designs.Problem(names=("a", "b"), bounds=((0.0, 1.0), (10.0, 20.0)))
    for name, module in designs.METHODS.items():
        assert name == module.NAME and module.DESCRIPTION
        options = {k: o.default for k, o in module.OPTIONS.items()}
        n = 4
        assert module.check(n, problem, **options) is None
        unit, points = designs.sample_points(name, problem, n, seed=1, options=options)
        assert unit.shape == (module.size(n, 2, **options), 2)
        assert ((unit >= 0) & (unit <= 1)).all()
        assert all(10 <= p["b"] <= 20 for p in points)
        again, _ = designs.sample_points(name, problem, n, seed=1, options=options)
        assert np.array_equal(unit, again)  # the seed fixes the design
    assert designs.grid.points({"a": [1, 2], "b": [True, False]}, {"a": "int", "b": "bool"}) == [
        {"a": 1, "b": True},
        {"a": 1, "b": False},
        {"a": 2, "b": True},
        {"a": 2, "b": False},
    ]
    with pytest.raises(ValueError, match="unknown design method 'saltelli'"):
        designs.method("saltelli")


def test_morris_and_sobol_indices_designs_from_a_config():
    config = parse_config(sampled("morris", 5, seed=2, levels=4))
    problem, unit, points = sample_design(config)
    assert len(points) == config.sample.size == 5 * (len(RANGES) + 1)
    assert config.to_dict()["sample"]["levels"] == 4  # defaults filled in
    # Four levels: every lever takes at most four values, integer levers stay integers.
    for lever in RANGES:
        assert len({p[lever] for p in points}) <= 4
    assert {p["policy.writeoff_dpd"] % 30 for p in points} == {0}
    assert all(isinstance(p["policy.term_months"], int) for p in points)
    # One lever moves at each step of a trajectory.
    steps = np.abs(np.diff(unit.reshape(5, len(RANGES) + 1, len(RANGES)), axis=1))
    assert ((steps > 0).sum(axis=2) == 1).all()
    specs = build_design(config)
    assert len(specs) == len(points) * 2 * 3
    for spec, j in zip(specs, point_indices(config, specs), strict=True):
        assert spec.params == points[j]
        assert spec.seed == replication_seeds(11, 3)[spec.replication]
    config = parse_config(sampled("sobol_indices", 8, seed=2))
    assert len(sweep_points(config)) == 8 * (len(RANGES) + 2)


def test_point_indices_on_a_grid():
    config = parse_config({**BASE, "sweep": {"policy.max_dti": [0.3, 0.4, 0.5]}})
    specs = build_design(config)
    points = sweep_points(config)
    assert [points[j] for j in point_indices(config, specs)] == [s.params for s in specs]


BAD_SAMPLES = {
    "unknown method": ({"method": "saltelli"}, "method must be one of lhs, sobol, morris"),
    "levels with lhs": (
        {"method": "lhs", "levels": 4},
        "key 'levels' belongs to method morris, not to 'lhs'",
    ),
    "levels not an int": ({"method": "morris", "levels": 4.5}, "levels must be an integer"),
    "levels too few": ({"method": "morris", "levels": 1}, "levels must be in [2, 100]"),
    "one trajectory": ({"method": "morris", "n": 1}, "n (trajectories) must be >= 2"),
    "integer lever coarser than levels": (
        {"method": "morris", "levels": 8, "ranges": {"policy.writeoff_dpd": [90, 180]}},
        "'policy.writeoff_dpd' has 4 values of step 30 in its range, fewer than levels = 8",
    ),
    "base points not a power of 2": (
        {"method": "sobol_indices", "n": 12},
        "n (base points) must be a power of 2 >= 2 for method 'sobol_indices', got 12",
    ),
    "unknown key": ({"method": "sobol_indices", "second_order": True}, "unknown key"),
}


@pytest.mark.parametrize("case", sorted(BAD_SAMPLES))
def test_bad_sample_keys_exit_2_with_one_line(case, tmp_path, capsys):
    changes, fragment = BAD_SAMPLES[case]
    sample = {"method": "morris", "n": 4, "ranges": {"policy.max_dti": [0.3, 0.5]}, **changes}
    with pytest.raises(ConfigError) as error:
        parse_config({**BASE, "sample": sample})
    assert fragment in str(error.value)
    lines = ["[experiment]", 'name = "x"', "seed = 1", "[sample]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in sample.items() if k != "ranges"]
    lines += ["[sample.ranges]"] + [f'"{k}" = {v}' for k, v in sample["ranges"].items()]
    path = tmp_path / "c.toml"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
    assert not out.exists()


def test_the_sensitivity_config_is_a_small_morris_design():
    config = load_config(CONFIG_DIR / "sensitivity.toml")
    assert config.sample.method == "morris"
    assert len(build_design(config)) <= 1500  # about a minute on two cores
    with pytest.raises(ConfigError, match="no \\[sample\\] design"):
        sample_design(parse_config({**BASE}))
