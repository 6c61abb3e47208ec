"""The stochastic macro generator and stochastic scenario families in configs."""

import numpy as np
import pytest

from experiments.config import ConfigError, parse_config, path_seeds
from experiments.design import build_design, model_inputs
from model import MacroScenario
from model.macro import SERIES_BOUNDS, SERIES_BY_NAME, StochasticParams, stochastic_paths


def _config(paths=5, policies=("balanced", "aggressive"), **stochastic):
    return parse_config(
        {
            "experiment": {"name": "s", "seed": 11, "months": 24, "borrowers": 200},
            "scenario": [{"name": "mc", "stochastic": {"paths": paths, **stochastic}}],
            "policy": [{"preset": p} for p in policies],
        }
    )


def test_a_seed_gives_the_same_path_and_another_seed_another():
    a, b = (MacroScenario.stochastic(60, seed=7) for _ in range(2))
    c = MacroScenario.stochastic(60, seed=8)
    for series in SERIES_BOUNDS:
        np.testing.assert_array_equal(getattr(a, series), getattr(b, series))
    assert not np.array_equal(a.unemployment, c.unemployment)


def test_paths_stay_within_the_declared_bounds_even_when_wild():
    wild = StochasticParams(recession_probability=0.5, recession_rise=0.05, volatility=5)
    for seed in range(30):
        paths = stochastic_paths(240, np.random.default_rng(seed), wild)
        for series, (low, high) in SERIES_BOUNDS.items():
            assert low <= paths[series].min() and paths[series].max() <= high, series
    # at these settings the bounds bind: the clipping is what keeps the paths inside
    assert max(stochastic_paths(240, np.random.default_rng(1), wild)["unemployment"]) == 0.6


def test_every_path_starts_at_the_baseline_month_0():
    for seed in range(10):
        path = MacroScenario.stochastic(12, seed=seed)
        for series in SERIES_BOUNDS:
            assert getattr(path, series)[0] == SERIES_BY_NAME[series].baseline


def test_recessions_raise_unemployment_and_cut_rates():
    never = StochasticParams(recession_probability=0.0, volatility=0.0)
    always = StochasticParams(recession_probability=1.0, recession_months=120, volatility=0.0)
    calm = stochastic_paths(36, np.random.default_rng(0), never)
    slump = stochastic_paths(36, np.random.default_rng(0), always)
    assert np.all(calm["unemployment"] == 0.042)
    assert slump["unemployment"][-1] > 0.042 + 35 * 0.001  # a rise every month
    assert slump["policy_rate"][-1] < calm["policy_rate"][-1]
    assert slump["wage_growth"][-1] < calm["wage_growth"][-1]


def test_the_fitted_regime_frequencies_come_out_of_long_paths():
    """Mean recession spell and share of months in recession match the fitted chain."""
    params = StochasticParams(volatility=0.0)
    rng = np.random.default_rng(3)
    rises = np.concatenate(
        [np.diff(stochastic_paths(1200, rng, params)["unemployment"]) for _ in range(20)]
    )
    in_recession = np.mean(rises > 0)
    p, q = params.recession_probability, 1 / params.recession_months
    assert in_recession == pytest.approx(p / (p + q), rel=0.2)


def test_a_family_expands_to_one_scenario_per_path_with_spawned_seeds():
    config = _config(paths=5)
    names = [s.name for s in config.scenarios]
    assert names == [f"mc/p000{k}" for k in range(1, 6)]
    assert [s.path_seed for s in config.scenarios] == path_seeds(11, 5)
    assert len(set(path_seeds(11, 5))) == 5
    # the normalised config round-trips: each path keeps its seed
    assert parse_config(config.to_dict()) == config
    # another family seed, other paths; the same seed, the same paths
    assert _config(paths=5, seed=12).scenarios[0].path_seed != config.scenarios[0].path_seed
    assert _config(paths=5, seed=11).scenarios == config.scenarios


def test_paths_are_paired_across_policies():
    config = _config(paths=3)
    specs = build_design(config)
    by_scenario: dict[str, list] = {}
    for spec in specs:
        by_scenario.setdefault(spec.scenario, []).append(spec)
    assert len(by_scenario) == 3 and all(len(v) == 2 for v in by_scenario.values())
    for runs in by_scenario.values():
        a, b = (model_inputs(config, spec).scenario for spec in runs)
        assert runs[0].seed == runs[1].seed
        np.testing.assert_array_equal(a.unemployment, b.unemployment)
        np.testing.assert_array_equal(a.policy_rate, b.policy_rate)
    paths = [model_inputs(config, runs[0]).scenario.unemployment for runs in by_scenario.values()]
    assert not np.array_equal(paths[0], paths[1])


@pytest.mark.parametrize(
    ("stochastic", "fragment"),
    [
        ({"paths": 0}, "stochastic paths must be in [1, 100000], got 0"),
        ({"paths": 2, "volatility": 9}, "stochastic: volatility must be in [0, 5], got 9"),
        ({"paths": 2, "recession_months": 0}, "recession_months must be in [1, 120]"),
        ({"paths": 2, "drift": 1}, "stochastic: unknown key 'drift'; allowed: paths, seed"),
        ({}, "stochastic needs 'paths'"),
        ({"paths": 2, "path_seed": 3}, "not 'path_seed' with it"),
    ],
)
def test_bad_stochastic_tables_are_one_line_errors(stochastic, fragment):
    raw = {"experiment": {"name": "s", "seed": 1}, "scenario": [{"stochastic": stochastic}]}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert fragment in str(err.value) and "\n" not in str(err.value)
