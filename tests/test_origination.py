"""A round of applications: several lenders in one pass, as lender after lender would.

``origination.originate_round`` gathers the lenders' levers into arrays; these tests hold
it to ``Lender.originate`` run once per lender, in index order, on a copy of the same
book, with lenders that differ in every lever the round gathers (cut-off, score noise,
caps, term mix, prices, funding) and in the per-lender steps (approval floor, funding
rationing, a lender that cannot lend).
"""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from model.lender import Lender
from model.loan_book import LOAN_FIELDS, LoanBook
from model.market import MarketRules
from model.origination import Applications, observed_score, originate_round, per_application
from model.policy import RiskPolicy
from model.population import PopulationParams
from model.tape import LoanTape

N, POLICY_RATE, MONTH = 2000, 0.03, 5

POLICIES = (
    RiskPolicy.preset("balanced", term_mix=((3, 0.2), (12, 0.5), (36, 0.3))),
    RiskPolicy.preset("aggressive", max_dti=0.6, base_margin=0.2, acquisition_cost=90.0),
    RiskPolicy.preset("conservative", max_loan_to_income=1.5, term_mix=((6, 0.6), (24, 0.4))),
    RiskPolicy.preset("balanced", score_cutoff=560.0),
)


def _market(case: str) -> tuple[list[Lender], LoanBook]:
    """Four lenders and a book holding some loans at each (the same for every call)."""
    model = mesa.Model(seed=0)
    model.month = MONTH
    rules = MarketRules(apr_cap=0.28)
    lenders = [Lender(model, j, p, N, rules) for j, p in enumerate(POLICIES)]
    book = LoanBook(len(lenders), N)
    rng = np.random.default_rng(3)
    for j in range(len(lenders)):
        held = np.flatnonzero(rng.random(N) < 0.1)
        book.insert(j, held, balance=rng.uniform(500, 5000, held.size), instalment=100.0)
    if case == "funding_binds":  # lender 1's line leaves room for a few loans only
        lenders[1].funding_line = book.total("balance", 1) + 20_000.0
    if case == "floor_binds":  # lender 2 tightened past its approval floor
        lenders[2].tightening = 120.0
    if case == "cannot_lend":
        lenders[3].failed = True
    return lenders, book


def _applications(lenders: list[Lender], book: LoanBook) -> Applications:
    """Every borrower without a loan at the lender drawn for them applies there."""
    rng = np.random.default_rng(11)
    choice = rng.integers(0, len(lenders), N)
    free = ~book.active[choice, np.arange(N)]
    borrower = np.flatnonzero(free)
    lender = choice[borrower]
    order = np.argsort(lender, kind="stable")
    borrower, lender = borrower[order], lender[order]
    k = borrower.size
    return Applications(
        borrower,
        lender,
        rng.uniform(450.0, 800.0, k),
        rng.uniform(200.0, 20_000.0, k),
        rng.uniform(500.0, 6000.0, k),
        rng.uniform(0.0, 800.0, k),
        rng.random(k),
    )


def _one_by_one(lenders: list[Lender], book: LoanBook, tape: LoanTape, apps: Applications):
    lent = np.zeros(apps.borrower.size)
    for j, lender in enumerate(lenders):
        mine = apps.lender == j
        fields = (apps.score, apps.wanted, apps.reported_income, apps.debt_service,
                  apps.term_draw)  # fmt: skip
        lent[mine] = lender.originate(
            book, tape, apps.borrower[mine], *(x[mine] for x in fields), POLICY_RATE, MONTH
        )
    return lent


@pytest.mark.parametrize("case", ["plain", "funding_binds", "floor_binds", "cannot_lend"])
def test_a_round_at_several_lenders_is_the_same_as_lender_after_lender(case):
    round_lenders, round_book = _market(case)
    apps = _applications(round_lenders, round_book)
    round_tape = LoanTape()
    lent = originate_round(round_lenders, round_book, round_tape, apps, POLICY_RATE, MONTH)
    lenders, book = _market(case)
    tape = LoanTape()
    expected = _one_by_one(lenders, book, tape, apps)
    np.testing.assert_array_equal(lent, expected)
    made = np.bincount(apps.lender[lent > 0], minlength=len(lenders))
    assert (made > 0).sum() >= (2 if case == "cannot_lend" else 3)  # the case is exercised
    if case == "cannot_lend":
        assert made[3] == 0
    if case == "floor_binds":  # the floor on the share passing loosened the cut-off
        scores = apps.score[apps.lender == 2]
        assert lenders[2].cutoff_for(scores) < lenders[2].cutoff
    if case == "funding_binds":  # rationed: fewer loans than with room for all
        unrationed, unrationed_book = _market("plain")
        free = originate_round(unrationed, unrationed_book, LoanTape(), apps, POLICY_RATE, MONTH)
        assert 0 < made[1] < 0.5 * np.count_nonzero(free[apps.lender == 1])
    for name in LOAN_FIELDS:
        np.testing.assert_array_equal(round_book.dense(name), book.dense(name), err_msg=name)
    assert round_tape.size == tape.size == np.count_nonzero(lent)
    for name in ("lender", "borrower", "vintage", "amount", "rate"):
        np.testing.assert_array_equal(round_tape.column(name), tape.column(name), err_msg=name)
    for mine, theirs in zip(round_lenders, lenders, strict=True):
        assert mine.accounts == theirs.accounts


def test_the_round_books_what_it_lent_and_to_whom():
    lenders, book = _market("plain")
    apps = _applications(lenders, book)
    tape = LoanTape()
    lent = originate_round(lenders, book, tape, apps, POLICY_RATE, MONTH, to_repay=True)
    for j, lender in enumerate(lenders):
        mine = apps.lender == j
        a = lender.accounts
        assert a["applications"] == a["applications_to_repay"] == mine.sum()
        assert a["approvals"] == a["approvals_to_repay"] == np.count_nonzero(lent[mine])
        assert a["applications_subprime"] == np.count_nonzero(apps.score[mine] < 650)
        assert a["originations"] == pytest.approx(lent[mine].sum())
        assert a["acquisition_cost"] == pytest.approx(
            a["approvals"] * lender.policy.acquisition_cost
        )
    approved = lent > 0
    for j, lender in enumerate(lenders):
        mine = (apps.lender == j) & approved
        assert lender.accounts["approvals_subprime"] == np.count_nonzero(apps.score[mine] < 650)
    # each loan priced at its own lender's rate for its tier, sized within its own caps
    tier = (apps.score < 700).astype(int) + (apps.score < 650) + (apps.score < 600)
    rates = np.array([lender.annual_rates(POLICY_RATE) for lender in lenders])
    expected = rates[apps.lender, tier][approved]  # (the tape keeps 12 x the monthly rate)
    np.testing.assert_allclose(tape.column("rate"), expected, rtol=1e-12)
    lti = np.array([lender.policy.max_loan_to_income for lender in lenders])[apps.lender]
    assert (lent <= np.minimum(apps.wanted, lti * apps.reported_income) + 1e-9).all()
    cutoff = np.array([lender.cutoff for lender in lenders])[apps.lender]
    assert (apps.score[approved] >= cutoff[approved]).all()
    assert len({lender.policy.max_loan_to_income for lender in lenders}) > 1  # they differ
    # tape rows lender after lender, borrowers in order within each
    np.testing.assert_array_equal(tape.column("lender"), apps.lender[lent > 0])
    np.testing.assert_array_equal(tape.column("borrower"), apps.borrower[lent > 0])
    opened = book.active[apps.lender, apps.borrower]
    np.testing.assert_array_equal(opened, lent > 0)


def test_per_application_is_the_lenders_value_for_each():
    assert per_application([7.0], np.zeros(3, np.int64)) == 7.0
    np.testing.assert_array_equal(per_application([1.0, 2.0], np.array([1, 0, 1])), [2, 1, 2])


def test_observed_score_takes_each_applications_own_noise():
    params = PopulationParams()
    quality, error = np.array([0.5, 0.5]), np.array([1.0, 1.0])
    both = observed_score(quality, error, np.zeros(2, bool), np.array([0.1, 1.5]), params)
    for k, noise in enumerate((0.1, 1.5)):
        one = observed_score(quality[k : k + 1], error[k : k + 1], np.zeros(1, bool), noise, params)
        assert both[k] == one[0]
    assert both[1] - both[0] == pytest.approx(params.score_sd * 1.4)
