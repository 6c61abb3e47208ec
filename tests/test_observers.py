"""Roll rates on hand-made books: what ``RollRates`` sees around a month (model/observers.py)."""

import numpy as np
import pytest

from model.loans import BUCKETS, LoanBook
from model.macro import MacroState
from model.month import Month
from model.observers import ROLL_STATES, RollRates

CALM = MacroState(
    unemployment=0.042, wage_index=1.0, price_index=1.0, policy_rate=0.03, illness_factor=1.0
)


def _month(number, book):
    m = Month(number, CALM, 0.0)
    m.repaid = np.zeros_like(book.active)
    m.written_off = np.zeros_like(book.active)
    return m


def _book(n_lenders, balance, dpd):
    held = np.asarray(balance) > 0
    assert held.shape[0] == n_lenders
    return LoanBook.from_dense(held, balance=balance, dpd=dpd)


def _flow(roll, start, end):
    return roll.flows[BUCKETS.index(start), ROLL_STATES.index(end)]


def test_roll_states_are_the_buckets_then_written_off_and_repaid():
    assert (*BUCKETS, "written_off", "repaid") == ROLL_STATES
    assert RollRates().flows.shape == (5, 7)


def test_balances_flow_from_the_start_bucket_to_the_end_state():
    book = _book(1, [[100.0, 200.0, 300.0, 400.0, 500.0, 0.0]], [[0, 0, 1, 3, 6, 0]])
    roll = RollRates()
    m = _month(0, book)
    roll.begin(book, m)
    book.dpd[0] = [1, 0, 0, 4, 7, 0]  # roll, stay, cure, roll to 90+, stay 90+
    book.balance[0] *= 1.01  # balances at the end do not matter: the start's are weighed
    # A new loan in the empty slot is not counted: it was not open at the start.
    book.insert(0, [5], balance=1000.0)
    roll.end(book, m)
    assert _flow(roll, "current", "1-30") == 100.0
    assert _flow(roll, "current", "current") == 200.0
    assert _flow(roll, "1-30", "current") == 300.0
    assert _flow(roll, "61-90", "90+") == 400.0
    assert _flow(roll, "90+", "90+") == 500.0  # dpd past 4 months is the 90+ bucket
    assert roll.flows.sum() == 1500.0


def test_repaid_and_written_off_loans_land_in_their_own_states():
    book = _book(1, [[100.0, 200.0, 300.0]], [[0, 4, 2]])
    roll = RollRates()
    m = _month(3, book)
    roll.begin(book, m)
    book.remove(0, np.array([0, 1]))  # emptied slots show dpd 0, as the rules leave them
    m.repaid[0, 0] = True
    m.written_off[0, 1] = True
    roll.end(book, m)
    assert _flow(roll, "current", "repaid") == 100.0
    assert _flow(roll, "90+", "written_off") == 200.0
    assert _flow(roll, "31-60", "31-60") == 300.0
    assert _flow(roll, "current", "current") == 0.0


def test_a_loan_settled_by_relief_leaves_as_closed_not_as_cured():
    """A waiver of everything owed closes the loan (7.13): its balance leaves the bucket
    for 'repaid' (closed), where the emptied slot's DPD 0 would read as a cure."""
    book = _book(1, [[100.0, 200.0]], [[2, 1]])
    roll = RollRates()
    m = _month(3, book)
    roll.begin(book, m)
    book.remove(0, np.array([0]))
    m.settled = (np.array([0]), np.array([0]))
    roll.end(book, m)
    assert _flow(roll, "31-60", "repaid") == 100.0 and _flow(roll, "31-60", "current") == 0.0
    assert _flow(roll, "1-30", "1-30") == 200.0
    assert not m.repaid.any()  # the month's record of repaid loans is left as it was


def test_slots_of_several_lenders_are_kept_apart():
    book = _book(2, [[100.0, 0.0], [0.0, 50.0]], [[0, 0], [0, 2]])
    roll = RollRates()
    m = _month(0, book)
    roll.begin(book, m)
    book.dpd[:] = [[1, 0], [0, 3]]
    m.repaid[1, 0] = True  # a slot that held no loan: ignored
    roll.end(book, m)
    assert _flow(roll, "current", "1-30") == 100.0
    assert _flow(roll, "31-60", "61-90") == 50.0
    assert roll.flows.sum() == 150.0


def test_flows_add_up_over_recorded_months_and_the_burn_in_is_not_recorded():
    book = _book(1, [[100.0]], [[0]])
    roll = RollRates()
    for number in (-2, -1, 0, 1):
        m = _month(number, book)
        roll.begin(book, m)
        roll.end(book, m)
    assert _flow(roll, "current", "current") == 200.0  # months 0 and 1 only


def test_the_table_is_the_share_of_each_start_buckets_balance():
    book = _book(1, [[100.0, 300.0, 50.0]], [[0, 0, 1]])
    roll = RollRates()
    m = _month(0, book)
    roll.begin(book, m)
    book.dpd[0] = [1, 0, 2]
    roll.end(book, m)
    table = roll.table()
    assert list(table.index) == list(BUCKETS) and list(table.columns) == list(ROLL_STATES)
    assert table.loc["current", "1-30"] == pytest.approx(0.25)
    assert table.loc["current", "current"] == pytest.approx(0.75)
    assert table.loc["1-30", "31-60"] == 1.0
    assert (table.loc["90+"] == 0.0).all()  # no balance started there: zeros, not NaN


def test_a_short_row_keyed_by_borrower_is_read_as_a_dense_one():
    balance = np.zeros((1, 100))
    balance[0, [3, 50, 97]] = [100.0, 200.0, 300.0]
    dpd = np.zeros((1, 100), np.int16)
    dpd[0, 97] = 2
    book = _book(1, balance, dpd)
    for _ in range(4):
        book.tidy()
    assert not book.is_dense(0)  # the row was rebuilt short: slots keyed by borrower
    roll = RollRates()
    m = _month(0, book)
    roll.begin(book, m)
    book.columns["dpd"][0, book.positions(0, [3, 50])] = [1, 0]
    m.repaid[0, 97] = True
    roll.end(book, m)
    assert _flow(roll, "current", "1-30") == 100.0
    assert _flow(roll, "current", "current") == 200.0
    assert _flow(roll, "31-60", "repaid") == 300.0


def test_a_book_whose_count_of_open_loans_is_off_is_refused():
    book = _book(1, [[100.0, 200.0]], [[0, 0]])
    book.n_open[0] = 1
    with pytest.raises(RuntimeError, match="2 open slots, the book counts 1"):
        RollRates().begin(book, _month(0, book))
