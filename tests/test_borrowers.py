"""Unit tests of the borrower rules and the lender's screening, one rule at a time."""

import numpy as np
import pytest

from model import CreditEconomy, PopulationParams, RiskPolicy
from model import borrowers as rules
from model.lender import DAMAGED_RECORD_PENALTY
from model.macro import MacroState
from model.population import init_population

CALM = MacroState(
    unemployment=0.042, wage_index=1.0, price_index=1.0, policy_rate=0.03, illness_factor=1.0
)


def _state(n=20_000, seed=0, **params):
    p = PopulationParams().replace(**params)
    return p, init_population(p, n, 0.042, np.random.default_rng(seed))


def test_population_is_heterogeneous_by_segment():
    p, s = _state()
    shares = np.bincount(s.segment, minlength=3) / len(s)
    np.testing.assert_allclose(shares, p.segment_shares, atol=0.02)
    for seg, median in enumerate(p.median_income):
        assert np.median(s.base_income[s.segment == seg]) == pytest.approx(median, rel=0.05)
    assert s.overspender[s.segment == 2].mean() > s.overspender[s.segment == 0].mean()
    assert 0.2 < (s.misreport > 1).mean() < 0.3


def test_job_losses_hit_young_and_self_employed_harder():
    p, s = _state(n=200_000)
    lost = np.zeros(3)
    for _ in range(6):
        before = s.employed.copy()
        rules.labour_market(s, 0.10, 0.042, p, np.random.default_rng(len(lost)).random(len(s)))
        newly = before & ~s.employed
        lost += np.bincount(s.segment[newly], minlength=3) / np.bincount(s.segment, minlength=3)
    assert lost[2] > lost[1] > lost[0]


def test_illness_starts_at_the_scaled_rate_and_lasts_geometric_months():
    p, s = _state(n=200_000, illness_rate=0.01, illness_months=3.0)
    rng = np.random.default_rng(1)
    duration = rng.random(len(s))
    onset = rules.illness(s, p, 2.0, rng.random(len(s)), lambda idx: duration[idx])
    assert onset.mean() == pytest.approx(0.02, rel=0.05)
    assert s.ill_months[onset].mean() == pytest.approx(3.0, rel=0.05)


def test_unemployed_get_benefit_then_assistance_and_illness_cuts_income():
    p, s = _state(n=10, income_shock_sd=(0.0, 0.0, 0.0), business_cycle_beta=(0, 0, 0))
    s.employed[:] = [True] * 5 + [False] * 5
    s.months_unemployed[:] = [0] * 5 + [1, 1, 7, 7, 7]
    s.ill_months[:] = [0, 2, 0, 0, 0, 0, 0, 0, 0, 0]
    rules.income(s, p, CALM, 0.042, 0.0, np.zeros(10))
    base = s.base_income
    assert s.income[0] == pytest.approx(base[0])
    assert s.income[1] == pytest.approx(base[1] * (1 - p.illness_income_loss))
    assert s.income[5] == pytest.approx(base[5] * p.replacement_ratio)
    assert s.income[7] == pytest.approx(base[7] * p.assistance_ratio)


def test_common_factor_correlates_incomes():
    p, s = _state(n=50_000, income_common_share=0.8)
    rules.income(s, p, CALM, 0.042, -2.0, np.random.default_rng(2).standard_normal(len(s)))
    ratio = s.income[s.employed] / s.base_income[s.employed]
    assert np.median(ratio) < 0.97  # a bad common draw lowers most incomes


def test_habit_adjusts_slowly_so_an_income_fall_bites():
    p, s = _state(n=100)
    habit0 = s.habit.copy()
    s.smoothed_income *= 0.5
    rules.settle_spending(s, p, np.full(100, 1e6))
    assert np.all(s.habit < habit0) and np.all(s.habit > 0.5 * habit0)
    assert np.all(s.savings >= 0)


def test_essentials_scale_with_prices_and_illness_costs_cash():
    p, s = _state(n=100)
    ill = np.zeros(100, bool)
    ill[0] = True
    cash1, _ = rules.spending_needs(s, p, CALM, ill)
    cash2, _ = rules.spending_needs(s, p, CALM._replace(price_index=1.2), np.zeros(100, bool))
    np.testing.assert_allclose(cash1[1:] - cash2[1:], 0.2 * s.essentials[1:])
    assert cash1[0] < cash2[0] + 0.2 * s.essentials[0]


def test_damaged_record_lowers_the_score():
    eco = CreditEconomy(100, seed=1, burn_in=0)
    lender = eco.lenders[0]
    clean = lender.score(np.zeros(3), np.zeros(3), np.zeros(3, bool), eco.params)
    bad = lender.score(np.zeros(3), np.zeros(3), np.ones(3, bool), eco.params)
    np.testing.assert_allclose(clean - bad, DAMAGED_RECORD_PENALTY)


def test_funding_limit_caps_the_book():
    tight = RiskPolicy.preset("aggressive", funding_limit_per_borrower=500.0)
    eco = CreditEconomy(3000, "baseline", tight, seed=1, burn_in=24)
    df = eco.run(12)
    assert (df["balance"] <= 500.0 * 3000 * 1.05).all()  # interest may accrue above the line
    loose = CreditEconomy(3000, "baseline", "aggressive", seed=1, burn_in=24).run(12)
    assert loose["balance"].mean() > 2 * df["balance"].mean()


def test_misreported_income_raises_losses():
    honest = CreditEconomy(20000, "baseline", seed=1, population={"misreport_share": 0.0}).run(36)
    liars = CreditEconomy(20000, "baseline", seed=1, population={"misreport_share": 0.8}).run(36)
    rate = lambda df: df["net_loss"].sum() / df["originations"].sum()  # noqa: E731
    assert rate(liars) > rate(honest)


def test_distress_raises_demand_for_credit():
    calm = CreditEconomy(
        5000, "baseline", seed=1, burn_in=24, population={"distress_apply_multiplier": 1.0}
    ).run(12)
    eager = CreditEconomy(
        5000, "baseline", seed=1, burn_in=24, population={"distress_apply_multiplier": 6.0}
    ).run(12)
    assert eager["applications"].sum() > calm["applications"].sum()


def test_recoveries_follow_writeoffs():
    eco = CreditEconomy(5000, "severe_recession", seed=1, burn_in=24)
    df = eco.run(36)
    assert df["recoveries"].sum() > 0
    assert df["recoveries"].sum() < df["writeoffs"].sum()
