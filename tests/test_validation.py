"""The economy, configured as a one-factor model, reproduces the Vasicek distribution."""

import numpy as np
import pytest
from scipy import stats

from model.validation import one_factor_default_fractions, vasicek_cdf, vasicek_quantile

CASES = [(0.1, 0.02), (0.2, 0.05), (0.3, 0.1)]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"rho={c[0]},pd={c[1]}")
def sample(request):
    rho, pd = request.param
    return rho, pd, one_factor_default_fractions(rho, pd, n_borrowers=10_000, draws=300, seed=7)


def test_fractions_follow_the_vasicek_cdf(sample):
    rho, pd, fractions = sample
    assert stats.kstest(fractions, lambda x: vasicek_cdf(x, rho, pd)).pvalue > 0.01


def test_mean_fraction_is_pd(sample):
    _, pd, fractions = sample
    se = fractions.std(ddof=1) / np.sqrt(fractions.size)
    assert abs(fractions.mean() - pd) < 4 * se


def test_tail_matches_the_vasicek_quantiles(sample):
    rho, pd, fractions = sample
    for q in (0.9, 0.99):
        beyond = np.count_nonzero(fractions > vasicek_quantile(q, rho, pd))
        expected = (1 - q) * fractions.size
        assert stats.binomtest(beyond, fractions.size, 1 - q).pvalue > 0.001, (q, beyond, expected)


def test_the_ks_check_has_power_against_a_wrong_correlation(sample):
    rho, pd, fractions = sample
    wrong = rho / 3
    assert stats.kstest(fractions, lambda x: vasicek_cdf(x, wrong, pd)).pvalue < 0.001


@pytest.mark.slow
def test_the_999_quantile_matches():
    rho, pd = 0.2, 0.05
    fractions = one_factor_default_fractions(rho, pd, n_borrowers=2_000, draws=4_000, seed=11)
    theory = vasicek_quantile(0.999, rho, pd)
    assert np.quantile(fractions, 0.999) == pytest.approx(theory, rel=0.2)
    assert stats.binomtest(np.count_nonzero(fractions > theory), 4000, 0.001).pvalue > 0.001


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rho": 0.0}, "rho"),
        ({"rho": 1.0}, "rho"),
        ({"pd": 0.0}, "pd"),
        ({"pd": 0.7}, "pd"),
        ({"draws": 0}, "draws"),
        ({"n_borrowers": -1}, "n_borrowers"),
    ],
)
def test_bad_arguments(kwargs, fragment):
    args = {"rho": 0.2, "pd": 0.05, "n_borrowers": 10, "draws": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        one_factor_default_fractions(**args)


def test_the_replays_monthly_peaks_are_read_on_3_month_centred_means():
    import pandas as pd

    from experiments.facts import monthly_peaks

    months = np.arange(24)
    bump = np.exp(-0.5 * ((months - 10) / 2.0) ** 2)
    spike = bump.copy()
    spike[16] = 1.5  # one month alone: the centred mean of 15-17 stays below the bump's
    frame = pd.DataFrame(
        {
            "month": np.tile(months, 2),
            "overdue_rate_30": np.tile(bump, 2),
            "chargeoff_rate": np.tile(np.roll(bump, 4), 2),
            "scenario_unemployment": np.tile(spike, 2),
        }
    )
    assert monthly_peaks(frame) == {
        "overdue_rate_30": 10,
        "chargeoff_rate": 14,
        "scenario_unemployment": 10,
    }
