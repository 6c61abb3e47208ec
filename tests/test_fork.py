"""CreditEconomy.fork: an independent copy at the current month, random streams included."""

import numpy as np
import pandas as pd
import pytest

from model import CreditEconomy, MacroScenario, RiskPolicy


def test_an_unchanged_fork_runs_bit_for_bit_as_the_original():
    eco = CreditEconomy(2000, "severe_recession", ["balanced", "aggressive"], seed=5, burn_in=12)
    eco.run(4)
    twin = eco.fork()
    pd.testing.assert_frame_equal(eco.run(12), twin.run(12))
    pd.testing.assert_frame_equal(eco.lender_history(), twin.lender_history())
    pd.testing.assert_frame_equal(eco.loan_tape(), twin.loan_tape())
    assert np.array_equal(eco.state.savings, twin.state.savings)


def test_a_fork_is_independent_of_the_original():
    eco = CreditEconomy(1000, seed=5, burn_in=6)
    twin = eco.fork()
    twin.run(3)
    assert eco.month == 0 and len(eco.metrics()) == 0
    assert twin.book is not eco.book and twin.lenders[0].model is twin
    assert twin.streams["income"] is not eco.streams["income"]


@pytest.mark.parametrize("scenario", ["severe_recession", "pandemic", "stagflation"])
def test_a_fork_at_month_0_with_another_scenario_is_that_scenarios_economy(scenario):
    """The shared burn-in: same seed, same month-0 conditions, so the same economy."""
    base = CreditEconomy(2000, "baseline", "balanced", seed=9)
    fresh = CreditEconomy(2000, scenario, "balanced", seed=9)
    pd.testing.assert_frame_equal(base.fork(scenario).run(24), fresh.run(24))


def test_a_fork_with_new_policies_continues_from_the_same_book():
    eco = CreditEconomy(2000, "baseline", "balanced", seed=9)
    tight = eco.fork(policy=RiskPolicy.preset("conservative"))
    assert tight.lenders[0].policy.name == "conservative"
    assert np.array_equal(tight.book.balance, eco.book.balance)
    assert tight.lenders[0].capital == pytest.approx(
        RiskPolicy.preset("conservative").capital_ratio * eco.book.balance.sum()
    )
    a, b = eco.run(12), tight.run(12)
    assert b.approval_rate.mean() < a.approval_rate.mean()


def test_a_fork_with_a_custom_path_reads_it_from_the_current_month():
    eco = CreditEconomy(1000, seed=2, burn_in=6)
    eco.run(3)
    path = MacroScenario.from_knots("jump", 12, unemployment=[(0, 0.04), (3, 0.2)])
    twin = eco.fork(path)
    assert twin.run(2).scenario_unemployment.tolist() == [0.042] * 3 + [0.2, 0.2]  # history kept


def test_bad_forks_raise_naming_the_argument():
    eco = CreditEconomy(500, seed=2, burn_in=3)
    with pytest.raises(ValueError, match="policy must give 1 lender"):
        eco.fork(policy=["balanced", "aggressive"])
    with pytest.raises(ValueError, match="unknown scenario preset"):
        eco.fork("depression")
