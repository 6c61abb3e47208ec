import numpy as np
import pytest

from model import MacroScenario


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
