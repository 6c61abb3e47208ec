import dataclasses
import pickle

import numpy as np
import pytest

from model import CreditEconomy, MacroScenario
from model.macro import (
    INDEX,
    PATH,
    SERIES,
    SERIES_BOUNDS,
    SERIES_BY_NAME,
    MacroState,
    ScenarioParams,
)
from model.metrics import METRICS
from model.params import unit_kind


def test_presets_have_the_requested_length_and_contract_names():
    assert MacroScenario.names() == [
        "baseline",
        "mild_recession",
        "severe_recession",
        "stagflation",
        "pandemic",
        "us_2007",
    ]
    for name in MacroScenario.names():
        s = MacroScenario.preset(name, months=48)
        assert s.months == 48
        assert s.wage_index[0] == 1.0 and s.price_index[0] == 1.0


def test_severe_recession_follows_the_supervisory_shape():
    s = MacroScenario.preset("severe_recession", months=60)
    u = s.unemployment
    assert u[0] == pytest.approx(0.042)
    assert u.max() == pytest.approx(0.10, abs=1e-9)
    assert 18 <= int(u.argmax()) <= 27  # peak within 6-8 quarters of the start
    assert u[-1] < u.max()  # slow recovery


def test_pandemic_jumps_within_two_months():
    u = MacroScenario.preset("pandemic").unemployment
    assert u[4] > 0.15 and u[2] < 0.05


def test_stagflation_inflation_profile():
    s = MacroScenario.preset("stagflation")
    assert s.inflation[6] == pytest.approx(0.05)
    assert s.policy_rate.max() > MacroScenario.preset("baseline").policy_rate.max()


def test_severity_scales_the_deviation_from_baseline():
    base = MacroScenario.preset("baseline").unemployment
    one = MacroScenario.preset("severe_recession", severity=1.0).unemployment
    two = MacroScenario.preset("severe_recession", severity=2.0).unemployment
    zero = MacroScenario.preset("severe_recession", severity=0.0).unemployment
    np.testing.assert_allclose(two - base, 2 * (one - base))
    np.testing.assert_allclose(zero, base)


def test_from_knots_interpolates_and_defaults_other_series_to_baseline():
    s = MacroScenario.from_knots("v", 20, unemployment=[(0, 0.05), (3, 0.12), (15, 0.06)])
    assert s.unemployment[0] == pytest.approx(0.05)
    assert s.unemployment[3] == pytest.approx(0.12)
    assert s.unemployment[9] == pytest.approx(0.09)
    assert s.unemployment[19] == pytest.approx(0.06)
    np.testing.assert_allclose(s.inflation, MacroScenario.preset("baseline", months=20).inflation)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"unemployment": []}, "non-empty"),
        ({"unemployment": [(0, 0.7)]}, "unemployment[0] value"),
        ({"unemployment": [(3, 0.05), (1, 0.06)]}, "strictly increasing"),
        ({"unemployment": [(0, float("nan"))]}, "finite"),
        ({"gdp": [(0, 0.01)]}, "unknown scenario series 'gdp'"),
        ({"unemployment": [(0,)]}, "pair"),
    ],
)
def test_bad_knots_are_rejected_with_the_series_named(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        MacroScenario.from_knots("x", 12, **kwargs)
    assert fragment in str(err.value)


def test_unknown_preset_and_bad_severity():
    with pytest.raises(ValueError, match="allowed: baseline"):
        MacroScenario.preset("depression")
    with pytest.raises(ValueError, match="severity"):
        MacroScenario.preset("baseline", severity=-1)
    with pytest.raises(ValueError, match="months"):
        MacroScenario.preset("baseline", months=0)


def test_stochastic_paths_are_reproducible_and_vary_by_seed():
    a = MacroScenario.stochastic(120, seed=1, recession_probability=0.05)
    b = MacroScenario.stochastic(120, seed=1, recession_probability=0.05)
    c = MacroScenario.stochastic(120, seed=2, recession_probability=0.05)
    np.testing.assert_array_equal(a.unemployment, b.unemployment)
    assert not np.array_equal(a.unemployment, c.unemployment)
    assert a.unemployment.max() > 0.06  # at least one recession at this probability


def test_state_past_the_end_holds_rates_and_grows_indices():
    s = MacroScenario.preset("baseline", months=12)
    last, beyond = s.state(11), s.state(23)
    assert beyond.unemployment == last.unemployment
    assert beyond.price_index == pytest.approx(last.price_index * 1.025, rel=1e-9)


def test_paths_are_read_only():
    s = MacroScenario.preset("baseline")
    with pytest.raises(ValueError):
        s.unemployment[0] = 0.5


# --------------------------------------------------------------- series registry
def test_the_registry_builds_bounds_state_and_scenario_fields():
    paths = [s.name for s in SERIES if s.kind == PATH]
    assert list(SERIES_BOUNDS) == paths
    assert all(SERIES_BOUNDS[s.name] == (s.low, s.high) for s in SERIES if s.kind == PATH)
    assert MacroState._fields == tuple(s.name for s in SERIES if s.state)
    # positional order kept for callers that build a state by position
    assert MacroState._fields == (
        "unemployment",
        "wage_index",
        "price_index",
        "policy_rate",
        "illness_factor",
    )
    assert [f.name for f in dataclasses.fields(MacroScenario)] == ["name", *paths]
    scenario = MacroScenario.preset("stagflation", months=24)
    for series in SERIES:
        values = getattr(scenario, series.name)
        assert values.shape == (24,)
        assert series.label and series.unit and series.description
        if series.kind == PATH:
            assert not values.flags.writeable
            assert series.low <= series.baseline <= series.high
            assert series.source is None
        else:
            assert series.kind == INDEX and SERIES_BY_NAME[series.source].kind == PATH
            assert values[0] == 1.0


def test_recorded_series_are_economy_metrics_and_fill_them_from_the_state():
    for series in SERIES:
        if series.column is not None:
            assert series.state, series.name  # recorded from the month's state
            metric = METRICS[series.column]
            assert metric.source == "economy" and metric.lenders == "market", series.column
            assert (metric.unit == "share") == (unit_kind(series.unit) == "share"), series.name
    state = MacroScenario.preset("pandemic").state(4)
    assert state.columns() == {
        "scenario_unemployment": state.unemployment,
        "wage_index": state.wage_index,
        "price_index": state.price_index,
        "policy_rate": state.policy_rate,
        "illness_factor": state.illness_factor,
    }


def test_a_run_records_the_state_columns():
    eco = CreditEconomy(n_borrowers=300, scenario="pandemic", seed=3, burn_in=0)
    frame = eco.run(6)
    for month in range(6):
        expected = eco.scenario.state(month).columns()
        assert frame.loc[month, list(expected)].tolist() == list(expected.values())


def test_series_a_path_generator_does_not_model_keep_their_baseline():
    s = MacroScenario.stochastic(36, seed=4)
    assert np.all(s.illness_factor == SERIES_BY_NAME["illness_factor"].baseline)
    base = MacroScenario.preset("baseline", months=5)
    for series in SERIES:
        if series.kind == PATH:
            assert np.all(getattr(base, series.name) == series.baseline)


def test_scenarios_pickle_and_replace_with_their_fields():
    s = MacroScenario.preset("severe_recession", months=30, severity=1.5)
    t = pickle.loads(pickle.dumps(s))
    assert t.name == s.name and t.state(40) == s.state(40)
    u = dataclasses.replace(s, name="renamed")
    assert u.name == "renamed" and np.array_equal(u.unemployment, s.unemployment)
    assert "unemployment" not in repr(s)


def test_severity_is_a_declared_lever():
    (severity,) = ScenarioParams.describe()
    assert (severity["name"], severity["low"], severity["high"]) == ("severity", 0, 5)
    with pytest.raises(ValueError, match=r"severity must be in \[0, 5\]"):
        MacroScenario.preset("baseline", severity=5.5)


def test_preset_knots_name_only_declared_paths():
    from model.macro import _PRESET_KNOTS

    for name, knots in _PRESET_KNOTS.items():
        assert set(knots) <= set(SERIES_BOUNDS), name  # a typo would be ignored silently


def test_indices_grow_into_month_0_through_the_burn_in():
    """In the burn-in (``extra < 0``) ``index = index[0]*(1 + growth[0])^(extra/12)``."""
    s = MacroScenario.preset("baseline", months=12)
    assert s.state(-12).wage_index == pytest.approx(1 / 1.025)
    assert s.state(-6).price_index == pytest.approx(1.025**-0.5)
    assert s.state(0).wage_index == 1.0


def test_a_months_growth_moves_the_index_from_the_next_month():
    """``index[t] = prod_{s<t} (1 + growth[s])^(1/12)``: month t's own growth is not in it."""
    s = MacroScenario.from_knots(
        "jump", 4, wage_growth=[(0, 0.0), (1, 0.5), (3, 0.5)], inflation=[(0, 0.12), (3, 0.0)]
    )
    np.testing.assert_allclose(s.wage_index, [1.0, 1.0, 1.5 ** (1 / 12), 1.5 ** (2 / 12)])
    assert s.price_index[1] == pytest.approx(1.12 ** (1 / 12))


def test_a_scaled_path_is_clipped_to_each_series_bounds():
    """``clip(base + severity*(shocked - base), low, high)``: three times the severe
    recession's rate cut takes the policy rate past its floor, where it stays."""
    low, _ = SERIES_BOUNDS["policy_rate"]
    base = MacroScenario.preset("baseline").policy_rate
    one = MacroScenario.preset("severe_recession").policy_rate
    assert (base + 3 * (one - base)).min() < low
    assert MacroScenario.preset("severe_recession", severity=3.0).policy_rate.min() == low
    for name in MacroScenario.PRESETS:
        path = MacroScenario.preset(name, severity=5.0)
        for series, (low, high) in SERIES_BOUNDS.items():
            assert low <= getattr(path, series).min() <= getattr(path, series).max() <= high
