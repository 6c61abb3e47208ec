import numpy as np
import pytest

from model.loans import LoanBook, annuity_factor, annuity_payment


def _book_with_loan(amount=1200.0, annual_rate=0.24, term=12):
    book = LoanBook(1, 1)
    book.originate(
        0,
        np.array([0]),
        np.array([amount]),
        np.array([annual_rate / 12]),
        term,
        np.array([0], np.int8),
        month=0,
    )
    return book


def test_annuity_repays_exactly_over_the_term():
    book = _book_with_loan()
    payments = []
    for _ in range(12):
        interest, due = book.due(0, penalty_monthly=0.0)
        payments.append(due[0])
        _, _, repaid = book.settle(0, due, due.copy(), late_fee_share=0.05)
    assert repaid[0] and not book.active[0, 0]
    assert book.balance[0, 0] == 0.0
    assert payments[0] == pytest.approx(payments[5])
    assert payments[-1] == pytest.approx(payments[0], rel=1e-9)
    assert sum(payments) > 1200.0


def test_zero_rate_annuity_and_factor():
    pay = annuity_payment(np.array([1200.0]), np.array([0.0]), np.array([12]))
    assert pay[0] == pytest.approx(100.0)
    assert annuity_factor(0.0, 12) == 12.0
    assert annuity_factor(0.01, 12) == pytest.approx(11.2551, rel=1e-4)


def test_missed_payment_ages_dpd_charges_fee_and_cure_resets():
    book = _book_with_loan()
    inst = book.instalment[0, 0]
    _, due = book.due(0, penalty_monthly=0.02)
    late, fees, _ = book.settle(0, due, np.zeros(1), late_fee_share=0.05)
    assert book.dpd[0, 0] == 1
    assert late.tolist() == [0] and fees[0] == pytest.approx(0.05 * inst)
    assert book.arrears[0, 0] == pytest.approx(due[0] + fees[0])
    _, due2 = book.due(0, penalty_monthly=0.02)
    assert due2[0] == pytest.approx(book.arrears[0, 0] + inst)  # arrears plus the new instalment
    book.settle(0, due2, np.zeros(1), late_fee_share=0.05)
    assert book.dpd[0, 0] == 2
    _, due3 = book.due(0, penalty_monthly=0.02)
    book.settle(0, due3, due3.copy(), late_fee_share=0.05)
    assert book.dpd[0, 0] == 0 and book.arrears[0, 0] == 0.0


def test_partial_payment_still_ages_dpd():
    book = _book_with_loan()
    _, due = book.due(0, 0.0)
    book.settle(0, due, due * 0.5, 0.05)
    assert book.dpd[0, 0] == 1


def test_penalty_interest_snowballs_unpaid_debt():
    quiet, harsh = _book_with_loan(), _book_with_loan()
    for _ in range(4):
        for book, pen in ((quiet, 0.0), (harsh, 0.03)):
            _, due = book.due(0, pen)
            book.settle(0, due, np.zeros(1), 0.05)
    assert harsh.balance[0, 0] > quiet.balance[0, 0] > 1200.0


def test_write_off_moves_balance_to_recovery():
    book = _book_with_loan()
    for _ in range(6):
        _, due = book.due(0, 0.0)
        book.settle(0, due, np.zeros(1), 0.05)
    bal = book.balance[0, 0]
    hit, amount = book.write_off(0, writeoff_months=7)
    assert hit.size == 0 and amount.size == 0
    hit, amount = book.write_off(0, writeoff_months=6)
    assert hit.tolist() == [0] and amount[0] == pytest.approx(bal)
    assert not book.active[0, 0] and book.balance[0, 0] == 0.0
    assert book.wo_balance[0, 0] == pytest.approx(bal)


def test_relief_cures_extends_and_lowers_instalment():
    book = _book_with_loan()
    for _ in range(2):
        _, due = book.due(0, 0.0)
        book.settle(0, due, np.zeros(1), 0.05)
    before_bal, before_inst, left = (
        book.balance[0, 0],
        book.instalment[0, 0],
        book.months_left[0, 0],
    )
    arrears = book.arrears[0, 0]
    waived = book.grant_relief(0, np.array([0]), waiver=0.5, rate_cut=0.3, extension=6)
    assert waived[0] == pytest.approx(0.5 * arrears)
    assert book.balance[0, 0] == pytest.approx(before_bal - waived[0])
    assert book.dpd[0, 0] == 0 and book.relieved[0, 0]
    assert book.months_left[0, 0] == left + 6
    assert book.rate[0, 0] == pytest.approx(0.02 * 0.7)
    assert book.instalment[0, 0] < before_inst
