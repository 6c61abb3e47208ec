"""The lender's rules alone, on hand-made books and applicants (model/lender.py).

Screening, sizing, pricing, terms and funding go through ``Lender.originate``; the
accounts each method books, the month's close (provisions, profit, capital, the dynamic
rule) and the score are each checked against the formula they implement.
"""

import math

import mesa
import numpy as np
import pytest

from model import loans
from model.lender import (
    PREDUE_REMINDER_SHARE,
    RELIEF_REACH,
    STAGE_PAY_EFFECT,
    STAGE_SQUEEZE,
    Lender,
    close_loans,
    grant_relief,
    write_off,
)
from model.loans import LoanBook, RedefaultCohorts, annuity_factor, annuity_payment
from model.market import MarketRules
from model.origination import DAMAGED_RECORD_PENALTY, MIN_LOAN, TIER_BOUNDS
from model.policy import RiskPolicy
from model.population import PopulationParams
from model.tape import LoanTape

POLICY_RATE = 0.03
#: Levers fixed here so the expected numbers do not move with the presets' defaults.
LEVERS = dict(
    score_cutoff=600.0,
    max_dti=0.4,
    max_loan_to_income=3.0,
    term_months=12,
    funding_spread=0.02,
    base_margin=0.10,
    tier_spread=0.05,
    funding_limit_per_borrower=1e6,
    capital_ratio=0.1,
    min_capital_ratio=0.05,
)


def _lender(n_borrowers=10, rules=None, **levers):
    policy = RiskPolicy.preset("balanced", **{**LEVERS, **levers})
    model = mesa.Model(seed=0)
    model.month = 0  # the economy's month, read when the lender fails
    return Lender(model, 0, policy, n_borrowers, rules)


def _full(value, n):
    return np.array(np.broadcast_to(np.asarray(value, float), (n,)))


def _apply(lender, score, wanted=1000.0, income=10_000.0, debt=0.0, draw=0.5, **kwargs):
    """Applicants 0..n-1 apply to ``lender`` on an empty book (unless one is given)."""
    score = np.asarray(score, float)
    n = score.size
    book = kwargs.pop("book", None) or LoanBook(1, max(n, 1))
    tape = LoanTape()
    lent = lender.originate(
        book,
        tape,
        np.arange(n),
        score,
        _full(wanted, n),
        _full(income, n),
        _full(debt, n),
        _full(draw, n),
        POLICY_RATE,
        kwargs.pop("month", 0),
        **kwargs,
    )
    return lent, book, tape


def _book(balance, dpd=None, forborne=None, n=None, redefaulted=None):
    """One lender's hand-made open loans (slots beyond ``balance`` stay empty)."""
    k = len(balance)
    book = LoanBook(1, n or k)
    book.insert(
        0, np.arange(k), balance=balance, dpd=dpd if dpd is not None else 0,
        forborne=forborne if forborne is not None else False,
        redefaulted=redefaulted if redefaulted is not None else False,
    )  # fmt: skip
    return book


# ------------------------------------------------------------------ screening
def test_an_applicant_is_approved_at_the_cutoff_and_refused_just_below():
    lent, book, _ = _apply(_lender(), [599.99, 600.0, 750.0])
    assert lent.tolist() == [0.0, 1000.0, 1000.0]
    assert book.active[0].tolist() == [False, True, True]


def test_the_cutoff_in_force_adds_the_dynamic_tightening():
    lender = _lender()
    lender.tightening = 30.0
    assert lender.cutoff == 630.0
    lent, _, _ = _apply(lender, [629.0, 630.0, 700.0, 710.0, 720.0])
    assert lent.tolist() == [0.0, 1000.0, 1000.0, 1000.0, 1000.0]


def test_cutoff_for_is_the_cutoff_when_there_is_no_tightening():
    lender = _lender(dynamic_min_approval=0.9)
    scores = np.array([500.0, 550.0, 620.0])
    assert lender.cutoff_for(scores) == 600.0  # the floor binds only on the tightening
    lender.tightening = 20.0
    assert lender.cutoff_for(np.empty(0)) == 620.0


def test_cutoff_for_keeps_the_tightened_cutoff_when_enough_pass():
    lender = _lender(dynamic_min_approval=0.2)
    lender.tightening = 50.0
    scores = np.array([600.0, 640.0, 650.0, 660.0, 700.0])  # 3 of 5 pass 650 >= ceil(1)
    assert lender.cutoff_for(scores) == 650.0


def test_the_approval_floor_lowers_the_cutoff_to_let_its_share_pass():
    lender = _lender(dynamic_min_approval=0.2)
    lender.tightening = 250.0  # cut-off 850: nobody passes without the floor
    scores = np.array([550.0, 600, 610, 620, 630, 640, 650, 660, 670, 680, 690])
    # ceil(0.2 * 11) = 3 must pass: the cut-off drops to the third best score.
    assert lender.cutoff_for(scores) == 670.0
    lent, _, _ = _apply(lender, scores)
    assert np.flatnonzero(lent).tolist() == [8, 9, 10]


def test_the_approval_floor_never_passes_more_than_the_policys_own_cutoff_would():
    lender = _lender(dynamic_min_approval=0.5)
    lender.tightening = 100.0
    scores = np.array([500.0, 520, 540, 560, 580, 590, 620])  # one passes 600
    assert lender.cutoff_for(scores) == 620.0
    nobody = np.array([500.0, 550.0, 599.0])  # nobody passes 600: no floor
    assert lender.cutoff_for(nobody) == 700.0


# --------------------------------------------------------------------- sizing
def _factor(lender, tier=0, term=12):
    return annuity_factor(lender.policy.annual_rate(tier, POLICY_RATE) / 12, term)


def test_the_loan_is_what_the_applicant_wants_when_no_cap_binds():
    lent, book, _ = _apply(_lender(), [720.0], wanted=500.0, income=1000.0)
    assert lent[0] == 500.0 and book.principal[0, 0] == 500.0


def test_the_loan_to_income_cap_binds_on_large_requests():
    lender = _lender(max_loan_to_income=3.0, max_dti=1.0)
    lent, _, _ = _apply(lender, [720.0], wanted=1e6, income=1000.0)
    assert lent[0] == pytest.approx(3000.0)


def test_the_dti_cap_counts_existing_instalments():
    lender = _lender(max_dti=0.4, max_loan_to_income=36.0)
    debt = np.array([0.0, 300.0, 400.0, 500.0])
    lent, book, _ = _apply(lender, [720.0] * 4, wanted=1e6, income=1000.0, debt=debt)
    factor = _factor(lender)
    assert lent[0] == pytest.approx(400.0 * factor)
    assert lent[1] == pytest.approx(100.0 * factor)
    assert lent[2] == 0.0 and lent[3] == 0.0  # no room (or less than none): refused
    # The new instalment fills the room exactly: all instalments = max_dti x income.
    np.testing.assert_allclose(book.instalment[0, :2] + debt[:2], 400.0)


def test_a_loan_below_the_minimum_is_refused():
    lent, _, _ = _apply(_lender(), [720.0, 720.0], wanted=[MIN_LOAN - 0.01, MIN_LOAN])
    assert lent.tolist() == [0.0, MIN_LOAN]


# -------------------------------------------------------------------- pricing
def test_rates_follow_the_tier_of_the_score():
    assert TIER_BOUNDS == (700.0, 650.0, 600.0)
    lender = _lender(score_cutoff=300.0)
    scores = [850.0, 700.0, 699.99, 650.0, 649.99, 600.0, 599.99, 300.0]
    _, book, tape = _apply(lender, scores)
    tiers = [0, 0, 1, 1, 2, 2, 3, 3]
    assert book.tier[0].tolist() == tiers
    expected = [lender.policy.annual_rate(t, POLICY_RATE) / 12 for t in tiers]
    np.testing.assert_allclose(book.rate[0], expected)
    np.testing.assert_allclose(tape.column("rate"), np.array(expected) * 12)


def test_annual_rate_is_funding_plus_margin_plus_a_spread_per_tier():
    policy = RiskPolicy(funding_spread=0.02, base_margin=0.1, tier_spread=0.05)
    for tier in range(4):
        assert policy.annual_rate(tier, 0.03) == pytest.approx(0.03 + 0.02 + 0.1 + 0.05 * tier)


# ---------------------------------------------------------------------- terms
def test_the_term_is_drawn_from_the_term_mix():
    lender = _lender(term_mix=((3, 0.2), (12, 0.5), (36, 0.3)))
    draws = [0.0, 0.1999, 0.2, 0.6999, 0.7, 0.9999]
    _, book, _ = _apply(lender, [720.0] * 6, draw=draws)
    assert book.term[0].tolist() == [3, 3, 12, 12, 36, 36]
    assert book.months_left[0].tolist() == [3, 3, 12, 12, 36, 36]


def test_without_a_mix_every_loan_has_the_policy_term():
    _, book, _ = _apply(_lender(term_months=24), [720.0] * 3, draw=[0.0, 0.5, 0.9999])
    assert book.term[0].tolist() == [24, 24, 24]


def test_the_dti_cap_sizes_the_loan_for_its_own_term():
    lender = _lender(term_mix=((3, 0.5), (36, 0.5)), max_dti=0.4, max_loan_to_income=36.0)
    lent, book, _ = _apply(lender, [720.0, 720.0], wanted=1e6, income=1000.0, draw=[0.1, 0.9])
    assert lent[0] == pytest.approx(400.0 * _factor(lender, term=3))
    assert lent[1] == pytest.approx(400.0 * _factor(lender, term=36))
    np.testing.assert_allclose(book.instalment[0], 400.0)
    rate = book.rate[0]
    np.testing.assert_allclose(book.instalment[0], annuity_payment(lent, rate, book.term[0]))


# -------------------------------------------------------------------- funding
def test_the_funding_limit_is_per_borrower_in_the_economy():
    assert _lender(n_borrowers=30, funding_limit_per_borrower=100.0).funding_limit == 3000.0


def test_when_funding_binds_the_best_scores_are_funded_first():
    lender = _lender(n_borrowers=16, funding_limit_per_borrower=125.0)  # limit 2000
    lent, _, _ = _apply(lender, [650.0, 800.0, 700.0, 580.0], book=LoanBook(1, 16))
    assert lent.tolist() == [0.0, 1000.0, 1000.0, 0.0]
    assert lender.accounts["approvals"] == 2 and lender.accounts["originations"] == 2000.0


def test_the_open_book_takes_its_share_of_the_funding_limit():
    lender = _lender(n_borrowers=20, funding_limit_per_borrower=125.0)  # limit 2500
    book = _book([600.0], n=20)  # 1900 left: room for one loan of 1000
    lent, _, _ = _apply(lender, [650.0, 800.0, 700.0], book=book)
    assert lent.tolist() == [0.0, 1000.0, 0.0]


def test_funding_exactly_enough_funds_everyone():
    lender = _lender(n_borrowers=30, funding_limit_per_borrower=100.0)  # limit 3000
    lent, _, _ = _apply(lender, [650.0, 800.0, 700.0])
    assert lent.tolist() == [1000.0, 1000.0, 1000.0]


def test_refused_applicants_take_no_funding():
    lender = _lender(n_borrowers=10, funding_limit_per_borrower=100.0)  # limit 1000
    lent, _, _ = _apply(lender, [800.0, 700.0], wanted=[MIN_LOAN - 1, 1000.0])
    assert lent.tolist() == [0.0, 1000.0]


# ------------------------------------------------------------- origination books
def test_originate_books_the_applications_and_opens_the_loans():
    lender = _lender(acquisition_cost=60.0)
    lent, book, tape = _apply(lender, [500.0, 700.0, 720.0], month=7, to_repay=True)
    a = lender.accounts
    assert (a["applications"], a["approvals"]) == (3, 2)
    assert (a["applications_to_repay"], a["approvals_to_repay"]) == (3, 2)
    assert a["originations"] == 2000.0 and a["acquisition_cost"] == 120.0
    assert book.vintage[0, 1:].tolist() == [7, 7]
    assert len(tape) == 2 and tape.column("borrower").tolist() == [1, 2]
    assert book.loan_id[0].tolist() == [-1, 0, 1]
    _apply(lender, [720.0])
    assert lender.accounts["applications_to_repay"] == 3  # only applications to repay


# --------------------------------------------------------------------- capital
def test_capital_starts_at_the_ratio_of_the_book():
    lender = _lender(capital_ratio=0.1)
    assert lender.capital is None and lender.capital_ratio is None and lender.can_lend
    lender.cum_net_loss = 5.0
    lender.start_capital(_book([600.0, 400.0]))
    assert lender.capital == pytest.approx(100.0)
    assert lender.capital_ratio == pytest.approx(0.1)
    assert lender.cum_net_loss == 0.0


def test_a_lender_lends_at_the_minimum_capital_ratio_and_stops_below_it():
    lender = _lender(capital_ratio=0.1, min_capital_ratio=0.05)
    lender.start_capital(_book([1000.0]))
    lender.capital = 50.0
    assert lender.can_lend
    lender.capital = 49.99
    assert not lender.can_lend
    lent, book, _ = _apply(lender, [800.0, 800.0])
    assert lent.tolist() == [0.0, 0.0] and not book.active.any()
    assert lender.accounts["applications"] == 2 and lender.accounts["approvals"] == 0


def test_a_failed_lender_does_not_lend_and_an_empty_book_has_no_ratio_limit():
    lender = _lender()
    lender.capital = 1.0  # no book at the last close: ratio infinite
    assert lender.capital_ratio == float("inf") and lender.can_lend
    lender.failed = True
    assert not lender.can_lend


# -------------------------------------------------------------------- accounts
def test_open_month_resets_the_flows_and_charges_funding_and_servicing():
    lender = _lender(funding_spread=0.02, servicing_cost=35.0)
    lender.accounts["interest_income"] = 99.0
    lender.open_month(_book([1000.0, 500.0], n=4), policy_rate=0.04)
    a = lender.accounts
    assert a["interest_income"] == 0.0
    assert a["funding_cost"] == pytest.approx(1500.0 * 0.06 / 12)
    assert a["servicing_cost"] == 70.0


def test_accrue_books_interest_and_penalty_interest_and_sets_what_is_due():
    lender = _lender(penalty_rate=0.12)
    book = LoanBook(1, 2)
    loans.originate(
        book,
        0,
        np.arange(2),
        np.full(2, 1200.0),
        np.full(2, 0.02),
        np.full(2, 12, np.int16),
        np.zeros(2, np.int8),
        0,
        np.arange(2),
    )
    book.arrears[0, 1] = 100.0
    inst = book.instalment[0, 0]
    lender.accrue(book)
    due = book.due[0]
    assert lender.accounts["interest_income"] == pytest.approx(2 * 1200.0 * 0.02 + 100.0 * 0.01)
    assert due[0] == pytest.approx(inst)
    assert due[1] == pytest.approx(100.0 + inst + 1.0)  # arrears, instalment, penalty


def test_settle_books_fees_repayments_and_the_new_delinquency_flow():
    lender = _lender(late_fee=0.05)
    book = LoanBook(1, 3)
    loans.originate(
        book,
        0,
        np.arange(3),
        np.full(3, 1200.0),
        np.full(3, 0.01),
        np.full(3, 12, np.int16),
        np.zeros(3, np.int8),
        0,
        np.arange(3),
    )
    book.forborne[0, 2] = True
    lender.accrue(book)
    due = book.due[0]
    owed = book.balance[0].copy()
    book.paid[0] = [due[0], 0.0, 0.0]
    done = lender.settle(book, month=1, redefaults=RedefaultCohorts(1, 0, 12))
    a = lender.accounts
    inst = book.instalment[0, 0]
    assert a["fee_income"] == pytest.approx(2 * 0.05 * inst) == pytest.approx(done.fees)
    assert a["repayments"] == pytest.approx(due[0])
    assert a["redefaults"] == 1.0  # the forborne loan missed
    assert a["current_balance"] == pytest.approx(owed.sum())
    assert a["newly_delinquent_balance"] == pytest.approx(owed[1] + owed[2])


def test_recoveries_add_up():
    lender = _lender()
    lender.receive_recoveries(12.5)
    lender.receive_recoveries(np.float64(7.5))
    assert lender.accounts["recoveries"] == 20.0


def test_collection_cost_is_the_stage_cost_per_account_with_predue_reminders():
    lender = _lender(collection_costs=(5.0, 30.0, 100.0, 200.0), collection_intensity=0.5)
    book = _book([1.0] * 8, dpd=[0, 0, 1, 1, 2, 3, 4, 6], n=10)  # two empty slots
    lender.collect(book)
    stages = 2 * 5.0 + 1 * 30.0 + 1 * 100.0 + 2 * 200.0
    predue = 2 * 5.0 * PREDUE_REMINDER_SHARE
    assert lender.accounts["collection_cost"] == pytest.approx(0.5 * (stages + predue))


def test_stage_effects_and_relief_reach_scale_with_intensity():
    lender = _lender(collection_intensity=0.5)
    effect, squeeze = lender.stage_effects()
    np.testing.assert_allclose(effect, 0.5 * STAGE_PAY_EFFECT)
    np.testing.assert_allclose(squeeze, 0.5 * STAGE_SQUEEZE)
    assert lender.relief_reach == pytest.approx(0.5 * RELIEF_REACH)


def test_relief_candidates_are_1_to_90_dpd_and_never_relieved():
    lender = _lender()
    book = _book([1.0] * 6, dpd=[0, 1, 2, 3, 4, 1], n=8)
    book.relieved[0, 5] = True
    assert lender.relief_candidates(book).tolist() == [1, 2, 3]
    assert _lender(relief_enabled=False).relief_candidates(book).size == 0


def test_a_failed_lender_that_no_longer_collects_offers_no_relief():
    """Relief needs a lender that collects (7.13, 7.19.3): once failed without run-off, none.

    A failed lender whose book the market runs off (``collect_after_failure``) still
    restructures its overdue loans.
    """
    book = _book([1.0] * 3, dpd=[1, 2, 3])
    for collect in (True, False):
        lender = _lender(rules=MarketRules(collect_after_failure=collect))
        lender.failed = True
        assert lender.relief_candidates(book).tolist() == ([0, 1, 2] if collect else [])


def test_the_markets_cap_on_collection_intensity_caps_the_reach_for_relief():
    """The team reaches borrowers in trouble at ``RELIEF_REACH`` x the intensity in force,
    the policy's within the market's ``max_collection_intensity`` (7.13, 7.19.4)."""
    capped = _lender(rules=MarketRules(max_collection_intensity=0.25), collection_intensity=0.8)
    assert capped.intensity == 0.25
    assert capped.relief_reach == pytest.approx(0.25 * RELIEF_REACH)


def test_grant_relief_books_the_waiver_and_the_grant():
    lender = _lender(relief_waiver=0.25, relief_rate_cut=0.0, relief_extension_months=0)
    book = _book([1000.0, 800.0], dpd=[2, 1])
    book.arrears[0] = [200.0, 100.0]
    book.fees_due[0] = [20.0, 0.0]
    book.months_left[0] = 6
    book.rate[0] = 0.01
    cohorts = RedefaultCohorts(1, -5, 20)
    grant_relief([lender], book, np.zeros(2, np.int64), np.array([0, 1]), 3, cohorts)
    assert lender.accounts["waived"] == pytest.approx(0.25 * 320.0)
    assert lender.accounts["relief_granted"] == 2.0
    assert cohorts.granted[0, 3 + 5] == 2
    assert book.forborne[0].all() and (book.dpd[0] == 0).all()


def test_relief_that_settles_a_loan_counts_as_relief_but_in_no_redefault_cohort():
    lender = _lender(relief_waiver=1.0, relief_rate_cut=0.0, relief_extension_months=0)
    book = _book([300.0, 800.0], dpd=[3, 1])
    book.arrears[0] = [280.0, 100.0]  # the first owes only arrears and fees (matured)
    book.fees_due[0] = [20.0, 0.0]
    book.months_left[0] = [0, 6]
    book.rate[0] = 0.01
    cohorts = RedefaultCohorts(1, -5, 20)
    waived, settled = grant_relief(
        [lender], book, np.zeros(2, np.int64), np.array([0, 1]), 3, cohorts
    )
    assert settled.tolist() == [True, False] and book.balance[0, 0] == 0.0
    assert lender.accounts["relief_granted"] == 2.0 and lender.accounts["waived"] == 400.0
    assert cohorts.granted[0, 3 + 5] == 1  # the settled loan cannot re-default


def test_write_off_closes_the_loans_at_the_policys_dpd_and_books_their_balance():
    lender = _lender(writeoff_dpd=120)
    book = _book([100.0, 200.0, 300.0, 400.0], dpd=[3, 4, 5, 0])
    tape = LoanTape()
    book.loan_id[0] = tape.open(0, np.arange(4), np.full(4, 500.0), np.full(4, 0.01), -3)
    at, hit, ids, amounts = write_off([lender], book, tape, month=2)
    assert at.tolist() == [0, 0] and hit.tolist() == [1, 2] and ids.tolist() == [1, 2]
    assert amounts.tolist() == [200.0, 300.0]
    assert lender.accounts["writeoffs"] == 500.0
    assert lender.accounts["writeoffs_after_relief"] == 0.0  # neither was relieved
    assert book.active[0].tolist() == [True, False, False, True]
    assert tape.column("written_off").tolist() == [0.0, 200.0, 300.0, 0.0]
    assert tape.column("closed_month")[1:3].tolist() == [2, 2]


def test_write_offs_after_relief_count_the_relieved_loans_only():
    lender = _lender(writeoff_dpd=120)
    book = _book([100.0, 200.0, 300.0], dpd=[4, 4, 4])
    book.relieved[0, 1] = True
    write_off([lender], book, LoanTape(), month=2)
    assert lender.accounts["writeoffs"] == 600.0
    assert lender.accounts["writeoffs_after_relief"] == 200.0


def test_close_loans_empties_the_repaid_slots_and_closes_them_on_the_tape():
    book = _book([0.0, 50.0])
    tape = LoanTape()
    book.loan_id[0] = tape.open(0, np.arange(2), np.full(2, 500.0), np.full(2, 0.01), 0)
    close_loans(book, tape, 0, np.array([0]), np.array([0]), month=4)  # (a dense row)
    assert book.active[0].tolist() == [False, True] and book.loan_id[0, 0] == -1
    assert tape.column("closed_month")[0] == 4 and tape.column("written_off")[0] == 0.0


# ------------------------------------------------------------------ the close
RATES = (0.01, 0.1, 0.3, 0.5, 0.8)


def test_the_allowance_is_the_provision_matrix_with_forborne_loans_at_stage_2_or_3():
    lender = _lender(provision_rates=RATES)
    book = _book(
        [1000.0, 500.0, 200.0, 100.0, 300.0, 400.0, 50.0],
        dpd=[0, 1, 2, 6, 0, 1, 3],
        forborne=[False, False, False, False, True, True, True],
        redefaulted=[False, False, False, False, False, True, True],
    )
    lender.provisions = 100.0
    row = lender.close_month(book, record=True)
    plain = 0.01 * 1000 + 0.1 * 500 + 0.3 * 200 + 0.8 * 100
    forborne = 0.3 * 300 + 0.8 * 400 + 0.8 * 50  # stage 2 until re-defaulted, then stage 3
    assert lender.provisions == pytest.approx(plain + forborne)
    assert row["provisions"] == lender.provisions
    assert row["provision_charge"] == pytest.approx(plain + forborne - 100.0)


def test_a_forborne_loan_keeps_its_buckets_rate_when_that_is_higher():
    lender = _lender(provision_rates=(0.5, 0.1, 0.3, 0.4, 0.45))
    lender.close_month(_book([100.0], dpd=[0], forborne=[True]), record=False)
    assert lender.provisions == pytest.approx(50.0)  # 0.5 on current, above stage 2's 0.3


FLOWS = dict(
    interest_income=1000.0,
    fee_income=50.0,
    recoveries=30.0,
    writeoffs=200.0,
    waived=7.0,
    funding_cost=60.0,
    collection_cost=20.0,
    acquisition_cost=11.0,
    servicing_cost=13.0,
)


def _close(lender, book=None, relief_cohorts=(0, 0), **flows):
    """Close a month with ``FLOWS`` (overridden by ``flows``) booked."""
    lender.accounts = {**dict.fromkeys(lender.accounts, 0.0), **FLOWS, **flows}
    book = book if book is not None else LoanBook(1, 1)
    return lender.close_month(book, record=True, relief_cohorts=relief_cohorts)


def test_profit_is_income_less_losses_provision_charge_and_costs():
    lender = _lender(provision_rates=RATES)
    row = _close(lender, _book([1000.0]))  # charge 10
    expected = 1000 + 50 + 30 - 200 - 7 - 10 - 60 - 20 - 11 - 13  # 759
    assert row["profit"] == pytest.approx(expected)
    assert row["net_loss"] == 170.0


def test_capital_moves_with_profit_below_the_target():
    lender = _lender(capital_ratio=0.5, provision_rates=(0,) * 5)
    lender.capital = 10.0
    row = _close(lender, _book([10_000.0]))
    assert lender.capital == pytest.approx(10.0 + 769.0)
    assert row["capital"] == lender.capital and row["dividends"] == 0.0
    assert lender.capital_ratio == pytest.approx(779.0 / 10_000.0)


def test_equity_above_the_target_is_paid_out_as_dividends():
    lender = _lender(capital_ratio=0.1, provision_rates=(0,) * 5)
    lender.capital = 5000.0
    row = _close(lender, _book([10_000.0]))
    assert lender.capital == pytest.approx(1000.0)
    assert row["dividends"] == pytest.approx(5000.0 + 769.0 - 1000.0)
    assert row["capital_ratio"] == pytest.approx(0.1)


def test_during_the_burn_in_there_is_no_capital_to_move():
    lender = _lender()
    row = _close(lender, _book([10_000.0]))
    assert lender.capital is None and row["capital"] == 0.0 and row["dividends"] == 0.0


def test_the_lender_fails_at_zero_equity_and_not_above():
    zero = dict.fromkeys(FLOWS, 0.0)
    lender = _lender(capital_ratio=0.1, provision_rates=(0,) * 5)
    book = _book([1000.0])  # target 100: no dividend moves the equity
    lender.capital = 1e-9
    row = _close(lender, book, **zero)
    assert not lender.failed and row["failed_lenders"] == 0.0
    lender.capital = 0.0
    row = _close(lender, book, **zero)
    assert lender.failed and row["failed_lenders"] == 1.0


def test_a_loss_beyond_equity_fails_the_lender_and_a_failed_lender_pays_no_dividend():
    lender = _lender(capital_ratio=0.1, provision_rates=(0,) * 5)
    lender.capital = 100.0
    _close(lender, _book([1000.0]), writeoffs=2000.0)
    assert lender.failed and lender.capital < 0
    lender.capital = 5000.0  # say, recapitalised by hand
    row = _close(lender, _book([1000.0]))
    assert row["dividends"] == 0.0 and lender.capital == pytest.approx(5769.0)
    assert lender.failed  # failure is for good


def test_the_row_has_the_book_the_running_net_loss_and_the_cutoff_in_force():
    lender = _lender(dynamic_target=0.01, dynamic_step=10.0)
    lender.tightening = 20.0
    book = _book([100.0, 300.0], dpd=[0, 2], n=3)
    row = _close(lender, book, current_balance=100.0, newly_delinquent_balance=50.0)
    assert row["active_loans"] == 2 and row["balance"] == 400.0 and row["overdue_loans_30"] == 1
    assert row["overdue_rate"] == 0.5
    assert row["cum_net_loss"] == 170.0
    assert row["cutoff"] == 620.0 and lender.cutoff == 630.0  # the rule moves it after
    row = _close(lender, book, relief_cohorts=(4, 1))
    assert row["cum_net_loss"] == 340.0
    assert (row["cohort_relieved"], row["cohort_redefaults"]) == (4, 1)
    assert row["redefault_rate"] == 0.25


def test_only_recorded_months_enter_the_history():
    lender = _lender()
    lender.close_month(LoanBook(1, 1), record=False)
    assert lender.history == []
    row = lender.close_month(LoanBook(1, 1), record=True)
    assert lender.history == [row]


# ------------------------------------------------------------- the dynamic rule
def _month_with_flow(lender, flow):
    lender.accounts = dict.fromkeys(lender.accounts, 0.0)
    lender.accounts["current_balance"] = 1000.0
    lender.accounts["newly_delinquent_balance"] = 1000.0 * flow
    lender.close_month(LoanBook(1, 1), record=False)
    return lender.tightening


def test_the_dynamic_rule_tightens_a_step_above_the_target_up_to_its_maximum():
    lender = _lender(dynamic_target=0.05, dynamic_step=10.0, dynamic_max_tightening=25.0)
    assert [_month_with_flow(lender, 0.2) for _ in range(4)] == [10.0, 20.0, 25.0, 25.0]


def test_the_dynamic_rule_loosens_a_step_at_or_below_the_target_down_to_zero():
    lender = _lender(dynamic_target=0.05, dynamic_step=10.0)
    lender.tightening = 15.0
    assert _month_with_flow(lender, 0.05) == 5.0  # at the target: loosens
    assert _month_with_flow(lender, 0.0) == 0.0
    assert _month_with_flow(lender, 0.0) == 0.0


def test_the_dynamic_rule_watches_a_three_month_average_of_the_flow():
    lender = _lender(dynamic_target=0.05, dynamic_step=10.0)
    steps = [_month_with_flow(lender, f) for f in (0.3, 0.0, 0.0, 0.0, 0.1)]
    # averages 0.3, 0.15, 0.1, 0 (the 0.3 left the window), 0.033
    assert steps == [10.0, 20.0, 30.0, 20.0, 10.0]


def test_without_a_target_the_cutoff_never_moves():
    lender = _lender(dynamic_target=None)
    assert [_month_with_flow(lender, 0.9) for _ in range(3)] == [0.0, 0.0, 0.0]


# ---------------------------------------------------------------------- score
def test_the_score_is_the_mean_plus_sd_times_quality_and_noise():
    params = PopulationParams(score_mean=620.0, score_sd=60.0)
    lender = _lender(score_noise=0.5)
    score = lender.score(
        np.array([0.0, 1.0, -1.0]), np.array([0.0, 0.0, 2.0]), np.zeros(3, bool), params
    )
    np.testing.assert_allclose(score, [620.0, 680.0, 620.0])


def test_a_damaged_record_costs_its_penalty_and_scores_stay_within_300_850():
    params = PopulationParams(score_mean=620.0, score_sd=60.0)
    lender = _lender(score_noise=0.0)
    quality = np.array([0.0, 0.0, 10.0, -10.0, -4.0])
    damaged = np.array([False, True, True, False, True])
    score = lender.score(quality, np.zeros(5), damaged, params)
    assert score[0] - score[1] == DAMAGED_RECORD_PENALTY
    assert score[2] == 850.0  # clipped after the penalty (1220 - 150)
    assert score[3] == 300.0
    assert score[4] == 300.0  # 380 - 150 would be below the floor
    assert math.isclose(score[1], 470.0)


def test_subprime_applications_and_approvals_are_counted_below_650():
    lender = _lender()
    lent, _, _ = _apply(lender, [599.0, 640.0, 649.99, 650.0, 720.0])
    assert lent.tolist() == [0.0, 1000.0, 1000.0, 1000.0, 1000.0]  # cut-off 600
    assert lender.accounts["applications_subprime"] == 3  # 599, 640, 649.99
    assert lender.accounts["approvals_subprime"] == 2


# ------------------------------------------- rules' own meaning (mutation audit, 2026-12-04)
def test_a_margin_cut_never_takes_a_rate_below_zero():
    """``annual = max(... - easing*competition_max_margin_cut, 0)`` (7.16, 7.19.6)."""
    lender = _lender(
        funding_spread=0.0, base_margin=0.01, tier_spread=0.01,
        competition_max_margin_cut=0.05, share_target=0.5,
    )  # fmt: skip
    lender.easing = 1.0
    np.testing.assert_allclose(lender.annual_rates(0.0), [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(lender.annual_rates(0.03), [0.0, 0.0, 0.01, 0.02], atol=1e-12)


def test_a_tier_priced_exactly_at_the_apr_cap_is_lent_to():
    """``approve &= annual[tier] <= apr_cap``: the cap is inclusive."""
    cap = float(_lender().annual_rates(POLICY_RATE)[0])  # tier A's rate in force
    lent, _, _ = _apply(_lender(rules=MarketRules(apr_cap=cap)), [720.0, 680.0])
    assert lent.tolist() == [1000.0, 0.0]  # tier A at the cap; tier B above it


def test_collection_cost_past_the_last_allowed_stage_is_charged_at_that_stage():
    """``cost = intensity*(sum_b count_b*collection_costs[min(b, top) - 1] + predue)``."""
    costs = (5.0, 30.0, 100.0, 200.0)
    lender = _lender(
        rules=MarketRules(max_collection_stage=2), collection_costs=costs,
        collection_intensity=0.5,
    )  # fmt: skip
    lender.collect(_book([1000.0] * 5, dpd=[0, 1, 2, 3, 4]))
    assert lender.accounts["collection_cost"] == pytest.approx(
        0.5 * (5.0 + 30.0 + 30.0 + 30.0 + 5.0 * PREDUE_REMINDER_SHARE)
    )


def test_collection_cost_uses_the_intensity_within_the_markets_cap():
    """``intensity = min(collection_intensity, max_collection_intensity)`` (7.12)."""
    lender = _lender(
        rules=MarketRules(max_collection_intensity=0.3),
        collection_costs=(5.0, 30.0, 100.0, 200.0), collection_intensity=0.6,
    )  # fmt: skip
    lender.collect(_book([1000.0, 1000.0], dpd=[4, 4]))
    assert lender.accounts["collection_cost"] == pytest.approx(0.3 * 2 * 200.0)


def test_the_dynamic_rule_averages_only_the_months_in_its_window():
    """``flow = mean of the window``: after one close the mean is that month's flow."""
    lender = _lender(dynamic_target=0.05, dynamic_step=10.0)
    lender.accounts["current_balance"] = 1000.0
    lender.accounts["newly_delinquent_balance"] = 1000.0 * 0.1
    lender.close_month(LoanBook(1, 1), record=False)
    assert lender.tightening == 10.0  # a flow of 0.1 is above the target of 0.05
