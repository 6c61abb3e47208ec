"""Loss allowance (provisions): a provision matrix by DPD bucket, charged to profit."""

import numpy as np
import pytest

from model import CreditEconomy, RiskPolicy
from model.loans import DEFAULT_DPD_MONTHS

RATES = (0.02, 0.2, 0.4, 0.6, 0.8)


def _two_lenders(scenario="severe_recession", seed=3):
    policies = [
        RiskPolicy.preset("balanced", provision_rates=RATES),
        RiskPolicy.preset("aggressive", provision_rates=(0.05, 0.1, 0.3, 0.5, 0.9)),
    ]
    return CreditEconomy(4000, scenario, policies, seed=seed, burn_in=24)


def test_allowance_is_the_provision_matrix_times_the_book():
    eco = _two_lenders()
    for _ in range(18):
        eco.step()
        book = eco.book
        for lender in eco.lenders:
            j = lender.index
            active = book.active[j]
            rates = np.asarray(lender.policy.provision_rates)
            dpd = book.dpd[j][active]
            held = rates[np.minimum(dpd, DEFAULT_DPD_MONTHS)]
            # IFRS 9: a forborne loan is stage 2 at least, stage 3 once it re-defaults.
            forborne = book.forborne[j][active]
            again = forborne & book.redefaulted[j][active]
            held[forborne & ~again] = np.maximum(held[forborne & ~again], rates[2])
            held[again] = np.maximum(held[again], rates[4])
            expected = float(np.dot(held, book.balance[j][active]))
            assert lender.provisions == pytest.approx(expected, rel=1e-10)
            assert lender.history[-1]["provisions"] == lender.provisions
    assert eco.metrics()["provisions"].iloc[-1] == pytest.approx(
        sum(lender.provisions for lender in eco.lenders)
    )


def test_profit_is_charged_with_the_change_in_the_allowance():
    eco = _two_lenders()
    opening = [lender.provisions for lender in eco.lenders]  # the seasoned book's allowance
    assert all(p > 0 for p in opening)
    eco.run(36)
    for lender, start in zip(eco.lenders, opening, strict=True):
        h = lender.history
        charges = np.array([a["provision_charge"] for a in h])
        assert charges.sum() == pytest.approx(lender.provisions - start, rel=1e-9)
        for a in h:
            cash_profit = (
                a["interest_income"] + a["fee_income"] + a["recoveries"] - a["writeoffs"]
                - a["waived"] - a["funding_cost"] - a["collection_cost"]
                - a["acquisition_cost"] - a["servicing_cost"]
            )  # fmt: skip
            assert a["profit"] == pytest.approx(cash_profit - a["provision_charge"], abs=1e-6)


def test_zero_rates_hold_no_allowance_and_leave_the_rest_unchanged():
    zero = RiskPolicy.preset("balanced", provision_rates=(0, 0, 0, 0, 0))
    with_allowance = CreditEconomy(3000, "baseline", "balanced", seed=5, burn_in=12).run(12)
    without = CreditEconomy(3000, "baseline", zero, seed=5, burn_in=12).run(12)
    assert (without["provisions"] == 0).all() and (without["provision_charge"] == 0).all()
    money = ["provisions", "provision_charge", "profit", "capital", "capital_ratio", "dividends"]
    same = without.columns.difference(money)
    assert without[same].equals(with_allowance[same])  # provisions move no money
    assert np.allclose(
        without["profit"] - with_allowance["provision_charge"], with_allowance["profit"]
    )


def test_a_recession_builds_the_allowance_before_write_offs_peak():
    """Provisions recognise the downturn's losses as loans fall overdue, ahead of write-off."""
    frames = {
        sc: [CreditEconomy(10_000, sc, "balanced", seed=s).run(48) for s in (1, 2, 3)]
        for sc in ("baseline", "severe_recession")
    }
    mean = {sc: sum(runs) / 3 for sc, runs in frames.items()}
    excess = mean["severe_recession"] - mean["baseline"]
    allowance_peak = int(excess["provisions"].rolling(3, center=True).mean().idxmax())
    writeoff_peak = int(excess["writeoffs"].rolling(3, center=True).mean().idxmax())
    assert allowance_peak < writeoff_peak
    # In the first two years the charge takes profit down by more than write-offs alone do.
    first = excess.loc[:23]
    assert first["provision_charge"].sum() > 0
