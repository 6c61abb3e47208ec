"""Stylized facts of DOMAIN.md, checked on paired runs (same seeds) at modest size."""

import numpy as np
import pandas as pd
import pytest

from model import CreditEconomy, RiskPolicy

SEEDS = (1, 2, 3)
N = 20_000
MONTHS = 60


def _mean_run(scenario="baseline", policy="balanced") -> pd.DataFrame:
    runs = [CreditEconomy(N, scenario, policy, seed=s).run(MONTHS) for s in SEEDS]
    return sum(runs) / len(runs)


def _loss_rate(df):
    return df["net_loss"].sum() / df["originations"].sum()


@pytest.fixture(scope="module")
def base():
    return _mean_run()


@pytest.fixture(scope="module")
def severe():
    return _mean_run("severe_recession")


def test_baseline_overdue_is_in_the_low_single_digits(base):
    assert 0.02 <= base["overdue_rate"].mean() <= 0.07
    annual_loss = base["net_loss"].sum() / base["balance"].mean() / (MONTHS / 12)
    assert 0.005 <= annual_loss <= 0.06


def test_severe_recession_raises_peak_overdue_and_losses(base, severe):
    assert severe["overdue_rate"].max() >= 1.3 * base["overdue_rate"].max()
    assert severe["cum_net_loss"].iloc[-1] >= 1.3 * base["cum_net_loss"].iloc[-1]


def test_overdue_rises_a_few_months_after_job_losses_start(base, severe):
    u_gap = severe["unemployment_rate"] - base["unemployment_rate"]
    o_gap = severe["overdue_rate"] - base["overdue_rate"]
    jobs_start = int(np.argmax(u_gap.to_numpy() > 0.005))
    overdue_start = int(np.argmax(o_gap.to_numpy() > 0.005))
    assert 1 <= overdue_start - jobs_start <= 9


def _timing(excess: pd.Series) -> float:
    """Centre of mass (month) of the positive part of a recession-minus-baseline series."""
    weight = excess.clip(lower=0).to_numpy()
    return float(np.average(np.arange(weight.size), weights=weight))


def test_writeoffs_come_after_overdue(base, severe):
    # Peaks of monthly write-offs are noisy at this size; the centre of mass of the
    # recession's excess charge-off rate is the robust form of "write-offs peak after overdue".
    overdue = _timing(severe["overdue_rate"] - base["overdue_rate"])
    rate = lambda df: df["writeoffs"] / df["balance"]  # noqa: E731
    assert _timing(rate(severe) - rate(base)) > overdue


def test_conservative_policy_lends_less_and_loses_less():
    cons, aggr = _mean_run(policy="conservative"), _mean_run(policy="aggressive")
    assert _loss_rate(cons) < _loss_rate(aggr)
    approval = lambda df: df["approvals"].sum() / df["applications"].sum()  # noqa: E731
    assert approval(cons) < approval(aggr)
    assert cons["originations"].sum() < aggr["originations"].sum()


def test_collection_and_relief_lower_overdue_at_a_cost():
    weak = RiskPolicy.preset("balanced", collection_intensity=0.0, relief_enabled=False)
    strong = RiskPolicy.preset("balanced", collection_intensity=1.0, relief_enabled=True)
    w, s = _mean_run(policy=weak), _mean_run(policy=strong)
    assert s["overdue_rate"].mean() < 0.85 * w["overdue_rate"].mean()
    assert s["collection_cost"].sum() > w["collection_cost"].sum()
    assert s["relief_granted"].sum() > 0 == w["relief_granted"].sum()


def test_noisier_scores_raise_losses_at_the_same_cutoff():
    clear = RiskPolicy.preset("balanced", score_noise=0.1)
    noisy = RiskPolicy.preset("balanced", score_noise=1.5)
    assert _loss_rate(_mean_run(policy=noisy)) > _loss_rate(_mean_run(policy=clear))


def test_penalty_interest_raises_overdue_balances():
    mild = RiskPolicy.preset("balanced", penalty_rate=0.0, late_fee=0.0)
    harsh = RiskPolicy.preset("balanced", penalty_rate=0.6, late_fee=0.2)
    m, h = _mean_run(policy=mild), _mean_run(policy=harsh)
    assert h["overdue_balance_rate"].mean() > m["overdue_balance_rate"].mean()


@pytest.mark.xfail(
    strict=True,
    reason="a known miss at default settings (docs/validation.md, fact 7): two balanced "
    "lenders that see each other's loans refuse almost every application to repay, so "
    "borrowing to repay changes overdue and losses by less than their noise",
)
def test_borrowing_to_repay_hides_distress_then_amplifies_it():
    """Fact 7, as the validation report measures it (fewer replications)."""
    from experiments.facts import multi_lending, multi_lending_fact

    ts = multi_lending(borrowers=N // 2, replications=4, seed=4)
    fact = multi_lending_fact(ts)
    assert fact.passed, fact.measured
