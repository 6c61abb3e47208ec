"""Contractual loan accounting: each rule of model/loans.py alone, on hand-made loans."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import loans
from model.loans import (
    LoanBook,
    RedefaultCohorts,
    allocate_payment,
    annuity_factor,
    annuity_payment,
    next_dpd,
    unpaid_instalments,
)

RATE = 0.24 / 12


def _book(amount=1200.0, rate=RATE, term=12, n=1):
    book = LoanBook(1, n)
    idx = np.arange(n)
    loans.originate(
        book,
        0,
        idx,
        np.full(n, amount),
        np.full(n, rate),
        np.full(n, term, np.int16),
        np.zeros(n, np.int8),
        month=0,
        loan_id=idx.astype(np.int64),
    )
    return book


def _month(book, pay, month=1, late_fee=0.05, penalty=0.0, order="fees_first", cohorts=None):
    """One month of one loan: fall due, pay ``pay(due)``, settle. Returns (due, paid, result)."""
    loans.fall_due(book, 0, penalty)
    due = book.due[0]
    paid = np.minimum(np.asarray(pay(due), float), due)
    book.paid[0] = paid
    cohorts = cohorts or RedefaultCohorts(1, 0, 60)
    result = loans.settle(
        book,
        0,
        late_fee=late_fee,
        payment_order=order,
        probation_months=12,
        month=month,
        redefaults=cohorts,
    )
    return due, paid, result


def test_annuity_repays_exactly_over_the_term():
    book = _book()
    payments = []
    for month in range(1, 13):
        due, paid, result = _month(book, lambda d: d, month)
        payments.append(paid[0])
    assert result.repaid.tolist() == [0]
    assert book.balance[0, 0] == 0.0 and book.arrears[0, 0] == 0.0
    assert payments[0] == pytest.approx(book.instalment[0, 0])
    assert payments[-1] == pytest.approx(payments[0], rel=1e-9)
    assert sum(payments) == pytest.approx(12 * annuity_payment(1200.0, RATE, 12))


def test_zero_rate_annuity_and_factor():
    assert annuity_payment(np.array([1200.0]), np.array([0.0]), np.array([12]))[0] == 100.0
    assert annuity_factor(0.0, 12) == 12.0
    assert annuity_factor(0.01, 12) == pytest.approx(11.2551, rel=1e-4)


def test_unpaid_instalments_counts_part_instalments_as_one():
    assert unpaid_instalments(0.0, 100.0) == 0
    assert unpaid_instalments(1e-9, 100.0) == 0
    assert unpaid_instalments(0.5, 100.0) == 1
    assert unpaid_instalments(100.0, 100.0) == 1
    assert unpaid_instalments(100.01, 100.0) == 2
    assert unpaid_instalments(300.0, 100.0) == 3


def test_payment_goes_to_fees_first_then_to_arrears_or_the_reverse():
    assert allocate_payment(50.0, 20.0, 100.0, True) == (20.0, 30.0)
    assert allocate_payment(50.0, 20.0, 100.0, False) == (0.0, 50.0)
    assert allocate_payment(130.0, 20.0, 100.0, False) == (20.0, 100.0)
    assert allocate_payment(10.0, 20.0, 100.0, True) == (10.0, 0.0)


def test_next_dpd_is_the_age_of_the_oldest_unpaid_instalment():
    assert next_dpd(0, 1, 1) == 1  # a miss: 1-30 DPD
    assert next_dpd(1, 2, 2) == 2  # another miss
    assert next_dpd(2, 3, 1) == 1  # two instalments cleared: back two buckets
    assert next_dpd(3, 4, 0) == 0  # arrears cleared: current
    assert next_dpd(5, 2, 2) == 6  # after maturity, nothing new falls due: it ages


def test_a_miss_ages_one_bucket_charges_a_late_fee_and_a_full_payment_cures():
    book = _book()
    inst = book.instalment[0, 0]
    _, _, result = _month(book, lambda d: 0 * d)
    assert book.dpd[0, 0] == 1
    assert book.arrears[0, 0] == pytest.approx(inst)
    assert book.fees_due[0, 0] == pytest.approx(0.05 * inst) == pytest.approx(result.fees)
    due, _, _ = _month(book, lambda d: 0 * d, month=2)
    assert due[0] == pytest.approx(2 * inst + 0.05 * inst)  # two instalments and the fee
    assert book.dpd[0, 0] == 2
    # A fee per missed instalment, not a share of all the arrears: 5% of one instalment again.
    assert book.fees_due[0, 0] == pytest.approx(2 * 0.05 * inst)
    _month(book, lambda d: d, month=3)
    assert book.dpd[0, 0] == 0 and book.arrears[0, 0] == 0 and book.fees_due[0, 0] == 0


def test_a_partial_payment_reduces_arrears_and_rolls_the_loan_back():
    book = _book()
    inst = book.instalment[0, 0]
    for month in (1, 2, 3):
        _month(book, lambda d: 0 * d, month=month)
    assert book.dpd[0, 0] == 3
    # Pays the fees and two of the four instalments now due: 61-90 -> 31-60 DPD.
    _month(book, lambda d: book.fees_due[0] + 2 * inst, month=4)
    assert book.dpd[0, 0] == 2
    assert book.arrears[0, 0] == pytest.approx(2 * inst)


def test_a_payment_short_of_the_instalment_keeps_the_loan_overdue():
    """Current only when arrears are cleared: 99% of the instalment is still 1-30 DPD."""
    book = _book()
    _month(book, lambda d: 0.99 * d)
    assert book.dpd[0, 0] == 1 and book.arrears[0, 0] > 0


def test_fees_first_makes_a_short_payment_age_the_loan_arrears_first_does_not():
    """The snowball: paying the month's instalment while owing fees leaves it unpaid."""
    for order, dpd in (("fees_first", 2), ("arrears_first", 1)):
        book = _book()
        inst = book.instalment[0, 0]
        _month(book, lambda d: 0 * d, order=order)
        _month(book, lambda d, inst=inst: np.full(1, inst), month=2, order=order)
        assert book.dpd[0, 0] == dpd, order


def test_penalty_interest_goes_to_fees_due_and_snowballs():
    snow, flat = _book(), _book()
    for month in range(1, 5):
        _month(snow, lambda d: 0 * d, month=month, penalty=0.03)
        _month(flat, lambda d: 0 * d, month=month, penalty=0.0)
    assert snow.fees_due[0, 0] > flat.fees_due[0, 0]
    assert snow.balance[0, 0] > flat.balance[0, 0]
    assert snow.arrears[0, 0] == pytest.approx(flat.arrears[0, 0])  # instalments unchanged


def test_after_maturity_an_unpaid_loan_keeps_ageing():
    book = _book(term=3)
    for month in range(1, 10):
        _month(book, lambda d: 0 * d, month=month)
    assert book.months_left[0, 0] == 0
    assert book.dpd[0, 0] == 9  # the oldest unpaid instalment fell due 9 months ago
    assert book.arrears[0, 0] == pytest.approx(book.balance[0, 0] - book.fees_due[0, 0])


def test_write_off_picks_loans_at_the_horizon_only():
    book = _book(n=3)
    book.dpd[0] = [5, 6, 7]
    rows, slots = loans.past_due(book, np.array([6]))
    assert rows.tolist() == [0, 0] and book.borrowers_at(0, slots).tolist() == [1, 2]


def test_relief_capitalises_the_arrears_and_makes_the_loan_forborne():
    book = _book()
    for month in (1, 2):
        _month(book, lambda d: 0 * d, month=month)
    owed = book.balance[0, 0]
    arrears, fees = book.arrears[0, 0], book.fees_due[0, 0]
    inst = book.instalment[0, 0]
    waived = loans.restructure(
        book, 0, np.array([0]), waiver=0.2, rate_cut=0.3, extension=6, month=2
    )
    assert waived[0] == pytest.approx(0.2 * (arrears + fees))
    assert book.balance[0, 0] == pytest.approx(owed - waived[0])
    assert book.arrears[0, 0] == 0 and book.fees_due[0, 0] == 0 and book.dpd[0, 0] == 0
    assert book.forborne[0, 0] and book.relieved[0, 0]
    assert book.rate[0, 0] == pytest.approx(0.7 * RATE)
    assert book.months_left[0, 0] == 10 + 6
    assert book.term[0, 0] == 12 + 6  # the contract is extended, not only the schedule
    assert book.instalment[0, 0] < inst * 1.2
    # the new schedule amortises what is left after the waiver at the cut rate
    assert book.instalment[0, 0] == pytest.approx(annuity_payment(owed - waived[0], 0.7 * RATE, 16))


def test_relief_after_maturity_gives_at_least_a_month_to_pay():
    """A loan past its last instalment, relieved without an extension, owes its balance
    over one more month (never a schedule of zero months)."""
    book = _book(term=2)
    for month in (1, 2, 3):
        _month(book, lambda d: 0 * d, month=month)
    assert book.months_left[0, 0] == 0
    loans.restructure(book, 0, np.array([0]), waiver=0, rate_cut=0, extension=0, month=3)
    assert book.months_left[0, 0] == 1
    assert book.instalment[0, 0] == pytest.approx(book.balance[0, 0] * (1 + RATE))


def test_a_waiver_of_everything_owed_settles_the_loan_at_exactly_zero():
    """A matured loan owes only arrears (and fees); waiving all of them leaves nothing,
    not a rounding remainder of either sign that would keep a loan open owing nothing."""
    book = _book(term=2)
    for month in (1, 2, 3):
        _month(book, lambda d: 0 * d, month=month)
    owed = book.balance[0, 0]
    assert book.arrears[0, 0] + book.fees_due[0, 0] == pytest.approx(owed)
    waived = loans.restructure(book, 0, np.array([0]), waiver=1.0, rate_cut=0, extension=0,
                               month=3)  # fmt: skip
    assert waived[0] == owed and book.balance[0, 0] == 0.0 and book.instalment[0, 0] == 0.0


def test_forborne_loan_leaves_forbearance_after_its_probation_of_regular_payments():
    book = _book(term=36)
    _month(book, lambda d: 0 * d)
    loans.restructure(book, 0, np.array([0]), waiver=0, rate_cut=0, extension=0, month=1)
    for month in range(2, 13):
        _month(book, lambda d: d, month=month)
    assert book.forborne[0, 0] and book.regular[0, 0] == 11
    _month(book, lambda d: d, month=13)
    assert not book.forborne[0, 0]


def test_a_miss_in_probation_redefaults_at_once_and_is_counted_once():
    book = _book(term=36)
    cohorts = RedefaultCohorts(1, 0, 60)
    _month(book, lambda d: 0 * d, cohorts=cohorts)
    loans.restructure(book, 0, np.array([0]), waiver=0, rate_cut=0, extension=0, month=1)
    cohorts.record_grants(0, 1, 1)
    for month in range(2, 6):
        _month(book, lambda d: d, month=month, cohorts=cohorts)
    _, _, result = _month(book, lambda d: 0 * d, month=6, cohorts=cohorts)
    assert result.redefaulted.tolist() == [0] and book.redefaulted[0, 0]
    assert book.regular[0, 0] == 0 and book.forborne[0, 0]
    _, _, again = _month(book, lambda d: 0 * d, month=7, cohorts=cohorts)
    assert again.redefaulted.size == 0  # once per loan
    assert cohorts.redefaults[0, 1] == 1
    assert cohorts.closed_cohorts(0, 13) == (1, 1)  # the window of the month-1 cohort closed
    assert cohorts.closed_cohorts(0, 12) == (0, 0)


@settings(max_examples=200, deadline=None)
@given(
    shares=st.lists(st.sampled_from([0.0, 0.3, 0.9, 1.0, 1.5, 3.0]), min_size=1, max_size=30),
    term=st.integers(1, 24),
    order=st.sampled_from(loans.PAYMENT_ORDERS),
    penalty=st.sampled_from([0.0, 0.015]),
)
def test_dpd_is_thirty_days_per_instalment_due_and_unpaid(shares, term, order, penalty):
    """Before maturity DPD = unpaid instalments; after, it ages; balance = fees + arrears + rest."""
    book = _book(term=term)
    inst = book.instalment[0, 0]
    for month, share in enumerate(shares, start=1):
        if not book.active[0, 0]:
            break
        _, _, result = _month(
            book, lambda d, s=share: np.minimum(s * inst, d), month, order=order, penalty=penalty
        )
        b = book
        assert b.balance[0, 0] >= b.arrears[0, 0] + b.fees_due[0, 0] - 1e-9
        assert min(b.balance[0, 0], b.arrears[0, 0], b.fees_due[0, 0]) >= 0
        unpaid = unpaid_instalments(b.arrears[0, 0], inst)
        if b.months_left[0, 0] > 0:
            assert b.dpd[0, 0] == unpaid
        else:
            assert b.dpd[0, 0] >= min(unpaid, 1)
        if 0 in result.repaid:
            book.remove(0, np.array([0]))


def test_a_borrower_paying_90_percent_of_each_instalment_is_not_written_off_early():
    """Arrears grow by a tenth of an instalment a month (and fees): far from six instalments."""
    book = _book(term=12)
    inst = book.instalment[0, 0]
    for month in range(1, 40):
        _, _, result = _month(book, lambda d: np.minimum(0.9 * inst, d), month=month)
        if 0 in result.repaid:
            break
        assert 1 <= book.dpd[0, 0] < 6
        assert loans.past_due(book, 6)[1].size == 0
    assert 0 in result.repaid and month > 12  # repaid late, never written off


# ------------------------------------------------------------- the book's views
def _hand_book(balance, dpd, forborne=None, n_lenders=1):
    """Hand-made open loans (balance 0: an empty slot)."""
    balance = np.atleast_2d(np.asarray(balance, float))
    held = balance > 0
    fields = {"balance": balance, "dpd": np.where(held, np.atleast_2d(dpd), 0)}
    if forborne is not None:
        fields["forborne"] = np.broadcast_to(np.atleast_2d(forborne), held.shape) & held
    return LoanBook.from_dense(held, **fields)


def test_bucket_counts_count_open_loans_only():
    book = _hand_book([100.0, 0.0, 50.0, 50.0, 50.0, 50.0, 50.0, 0.0], [0, 0, 0, 1, 2, 3, 6, 0])
    assert loans.bucket_counts(book, 0).tolist() == [2, 1, 1, 1, 1]


def test_summary_splits_counts_and_balances_by_bucket_with_the_forborne_apart():
    book = _hand_book(
        [100.0, 200.0, 300.0, 400.0, 0.0, 500.0],
        [0, 0, 1, 5, 0, 0],
        forborne=[False, True, True, False, False, False],
    )
    s = loans.summary(book, 0)
    assert s.counts.tolist() == [3, 1, 0, 0, 1]
    assert s.balances.tolist() == [800.0, 300.0, 0.0, 0.0, 400.0]
    assert s.forborne_counts.tolist() == [1, 1, 0, 0, 0]
    assert s.forborne_balances.tolist() == [200.0, 300.0, 0.0, 0.0, 0.0]


def test_debt_service_counts_open_loans_at_one_lender_or_all():
    book = _hand_book([[100.0, 100.0, 100.0], [100.0, 100.0, 0.0]], 0, n_lenders=2)
    book.instalment[:] = [[10.0, 20.0, 99.0], [5.0, 99.0, 0.0]]
    book.remove(0, [2])  # closed loans keep their instalment in the free slot: not counted
    book.remove(1, [1])
    idx = np.array([0, 1, 2])
    assert loans.debt_service(book, idx).tolist() == [15.0, 20.0, 0.0]
    assert loans.debt_service(book, idx, lender=1).tolist() == [5.0, 0.0, 0.0]


def test_originate_opens_a_fresh_loan_and_close_empties_the_slot():
    book = _book(n=2)
    book.dpd[0, 0], book.forborne[0, 0], book.relieved[0, 0] = 2, True, True
    book.remove(0, np.array([0]))  # the slot keeps what closing does not reset
    inst = loans.originate(
        book,
        0,
        np.array([0]),
        np.array([600.0]),
        np.array([RATE]),
        np.array([6], np.int16),
        np.array([2], np.int8),
        5,
        np.array([9]),
    )
    assert inst[0] == pytest.approx(annuity_payment(600.0, RATE, 6))
    assert book.loan_id[0, 0] == 9 and book.vintage[0, 0] == 5 and book.tier[0, 0] == 2
    assert book.dpd[0, 0] == 0 and not book.forborne[0, 0] and not book.relieved[0, 0]
    assert book.months_left[0, 0] == 6 and book.balance[0, 0] == 600.0
    book.remove(0, np.array([0]))
    assert not book.active[0, 0] and book.loan_id[0, 0] == -1 and book.balance[0, 0] == 0
    assert book.active[0, 1]  # the other slot stays open


def test_describe_borrower_lists_open_loans_with_dpd_in_days():
    book = _book()
    book.dpd[0, 0] = 2
    (loan,) = loans.describe_borrower(book, 0)
    assert loan["dpd"] == 60 and loan["annual_rate"] == pytest.approx(RATE * 12)
    assert loan["principal"] == 1200.0 and loan["lender"] == 0
    book.remove(0, np.array([0]))
    assert loans.describe_borrower(book, 0) == []


def test_contract_interest_is_charged_on_the_balance_net_of_fees():
    book = _book()
    book.balance[0, 0] += 50.0
    book.fees_due[0, 0] = 50.0
    interest = loans.fall_due(book, 0, 0.0)
    assert interest == pytest.approx(1200.0 * RATE)


def test_a_payment_short_by_a_rounding_error_pays_the_instalment():
    """Amounts below MONEY_TOLERANCE are rounding: the loan stays current, no late fee."""
    book = _book()
    _month(book, lambda d: d - 1e-9)
    assert book.arrears[0, 0] == 0.0 and book.fees_due[0, 0] == 0.0 and book.dpd[0, 0] == 0
    _month(book, lambda d: d - 1e-3, month=2)  # a thousandth is not rounding
    assert book.dpd[0, 0] == 1 and book.fees_due[0, 0] > 0


def test_penalty_interest_is_charged_on_the_arrears_only():
    """Penalty interest accrues on the instalments due and unpaid, not on fees due
    (fees bear no interest of either kind)."""
    book = _book()
    _month(book, lambda d: 0 * d, penalty=0.0)  # one instalment in arrears, a late fee due
    arrears, fees = book.arrears[0, 0], book.fees_due[0, 0]
    assert arrears > 0 and fees > 0
    contract = (book.balance[0, 0] - fees) * RATE
    accrued = loans.fall_due(book, 0, 0.03)
    assert accrued == pytest.approx(contract + 0.03 * arrears)


def test_the_final_instalment_brings_everything_left_due():
    book = _book(term=2)
    _month(book, lambda d: d, month=1)
    book.balance[0, 0] += 7.0  # say, a rounding left over from the schedule
    loans.fall_due(book, 0, 0.0)
    assert book.due[0, 0] == pytest.approx(book.balance[0, 0])
    assert book.months_left[0, 0] == 0


def test_a_loan_made_this_month_owes_nothing_and_is_left_alone():
    book = _book()
    before = book.balance.copy()
    result = loans.settle(  # nothing due: as made this month
        book,
        0,
        late_fee=0.05,
        payment_order="fees_first",
        probation_months=12,
        month=1,
        redefaults=RedefaultCohorts(1, 0, 12),
    )
    assert result.fees == 0 and result.repaid.size == 0 and book.dpd[0, 0] == 0
    assert result.current_balance == 0.0  # not yet in the new-delinquency flow
    np.testing.assert_array_equal(book.balance, before)


def test_settle_measures_the_flow_of_current_balance_into_delinquency():
    book = _book(n=3)
    book.dpd[0, 2] = 1
    book.arrears[0, 2] = book.instalment[0, 2]
    loans.fall_due(book, 0, 0.0)
    owed = book.balance[0].copy()
    book.paid[0, 0] = book.due[0, 0]
    result = loans.settle(
        book,
        0,
        late_fee=0.0,
        payment_order="fees_first",
        probation_months=12,
        month=1,
        redefaults=RedefaultCohorts(1, 0, 12),
    )
    assert result.current_balance == pytest.approx(owed[0] + owed[1])  # not the late loan
    assert result.newly_delinquent == pytest.approx(owed[1])


def test_a_loan_is_repaid_only_when_its_balance_is_paid():
    book = _book(term=1, n=3)
    book.rate[0, 2] = 0.0
    book.balance[0, 2] = book.instalment[0, 2] = 100.0
    book.balance[0, 2] += 0.5  # half a unit beyond the final instalment, not yet due
    book.months_left[0, 2] = 2
    loans.fall_due(book, 0, 0.0)
    book.paid[0] = book.due[0] * [1.0, 0.999, 1.0]
    result = loans.settle(
        book,
        0,
        late_fee=0.0,
        payment_order="fees_first",
        probation_months=12,
        month=1,
        redefaults=RedefaultCohorts(1, 0, 12),
    )
    assert result.repaid.tolist() == [0]
    assert book.balance[0, 0] == 0.0 and book.dpd[0, 1] == 1
    assert book.balance[0, 2] == pytest.approx(0.5) and book.dpd[0, 2] == 0


@pytest.mark.parametrize(("window", "counted"), [(12, 1), (11, 0)])
def test_a_redefault_counts_in_its_cohort_up_to_window_months_after_relief(window, counted):
    book = _book(term=36)
    cohorts = RedefaultCohorts(1, 0, 60, window)
    _month(book, lambda d: 0 * d, cohorts=cohorts)
    loans.restructure(book, 0, np.array([0]), waiver=0, rate_cut=0, extension=0, month=1)
    cohorts.record_grants(0, 1, 1)
    for month in range(2, 13):  # 11 regular payments: still in probation (12 months)
        _month(book, lambda d: d, month=month, cohorts=cohorts)
    _, _, result = _month(book, lambda d: 0 * d, month=13, cohorts=cohorts)  # 12 after relief
    assert result.redefaulted.tolist() == [0]
    assert cohorts.redefaults[0, 1] == counted


def test_redefault_cohorts_grow_on_demand_and_close_after_their_window():
    cohorts = RedefaultCohorts(2, first_month=-3, months=4, window=2)
    cohorts.grow(0)
    assert cohorts.granted.shape == (2, 4)
    cohorts.grow(5)
    assert cohorts.granted.shape == (2, 9) and cohorts.redefaults.shape == (2, 9)
    cohorts.record_grants(1, -3, 4)
    cohorts.record_grants(1, -2, 6)
    cohorts.redefaults[1, 0] = 1
    assert cohorts.closed_cohorts(1, -2) == (0, 0)  # no window closed yet
    assert cohorts.closed_cohorts(1, -1) == (4, 1)  # the month -3 cohort, 2 months on
    assert cohorts.closed_cohorts(1, 0) == (10, 1)  # cohorts -3 and -2
    assert cohorts.closed_cohorts(1, 1) == (6, 0)  # cohorts -2 and -1
    assert cohorts.closed_cohorts(0, 1) == (0, 0)


def test_the_book_takes_masks_and_scalars_as_numpy_indexing_would():
    book = LoanBook(2, 6)
    loans.originate(book, 1, np.array([1, 4]), np.array([100.0, 200.0]), 0.01, 12, 2, 0,
                    np.array([7, 8]))  # fmt: skip
    assert book.term[1].tolist() == [0, 12, 0, 0, 12, 0] and book.tier[1, 4] == 2
    mask = np.zeros(6, bool)
    mask[[1, 2]] = True
    both = loans.debt_service(book, np.array([1, 2]))
    assert loans.debt_service(book, mask).tolist() == both.tolist()
    assert both[0] == book.instalment[1, 1] > 0
    assert loans.debt_service(book, np.array([], int)).size == 0


def test_fall_due_sets_each_loans_due_and_adds_it_to_the_borrowers_total_due():
    # Three lenders, loans at some borrowers each: each loan's due set, and the running
    # total after the lenders in order equals the sum over the lenders' axis, bit for bit
    # (the pay step and the borrowers' distress read it).
    rng = np.random.default_rng(3)
    book = LoanBook(3, 50)
    for j in range(3):
        idx = np.flatnonzero(rng.random(50) < 0.5)
        n = idx.size
        loans.originate(
            book, j, idx, rng.uniform(100, 5000, n), rng.uniform(0.005, 0.04, n),
            rng.integers(1, 24, n).astype(np.int16), np.zeros(n, np.int8), month=0,
            loan_id=np.arange(n),
        )  # fmt: skip
        book.arrears[j, idx[::3]] = rng.uniform(10, 300, idx[::3].size)  # some in arrears
    total = np.full(50, np.nan)  # the first lender's dues overwrite it
    for j in range(3):
        loans.fall_due(book, j, 0.01, total, first=j == 0)
    due = np.asarray(book.due)
    assert (due[~book.active] == 0).all() and (due[book.active] > 0).all()
    assert np.array_equal(total, due.sum(axis=0))
    assert (total > 0).sum() == book.active.any(axis=0).sum()


def test_relief_candidates_are_1_to_90_dpd_never_relieved_at_lenders_offering_relief():
    active = np.ones((3, 6), bool)
    dpd = np.tile([0, 1, 2, 3, 4, 1], (3, 1))
    relieved = np.zeros((3, 6), bool)
    relieved[:, 5] = True
    book = LoanBook.from_dense(active, dpd=dpd, relieved=relieved)
    rows, slots = loans.relief_candidates(book, [True, False, True])
    assert rows.tolist() == [0, 0, 0, 2, 2, 2] and slots.tolist() == [1, 2, 3, 1, 2, 3]
