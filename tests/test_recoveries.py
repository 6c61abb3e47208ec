"""Written-off debt in recovery alone: add, collect, expire, renumber (model/recoveries.py)."""

import numpy as np

from model.loans import MONEY_TOLERANCE
from model.recoveries import Recoveries


def _rows():
    rec = Recoveries()
    rec.add(0, np.array([1, 3]), np.array([10, 11]), np.array([50.0, 1e6]), month=0, horizon=36)
    rec.add(1, np.array([3]), np.array([12]), np.array([400.0]), month=2, horizon=6)
    return rec


def test_add_starts_one_row_per_written_off_loan():
    rec = _rows()
    assert len(rec) == 3
    assert rec.loan_id.tolist() == [10, 11, 12]
    assert rec.lender.tolist() == [0, 0, 1]
    assert rec.borrower.tolist() == [1, 3, 3]
    assert rec.owed.tolist() == [50.0, 1e6, 400.0]
    assert rec.written_off.tolist() == [0, 0, 2]
    assert rec.horizon.tolist() == [36, 36, 6]


def test_collect_takes_each_lenders_share_of_spare_cash_capped_by_income_and_debt():
    rec = _rows()
    available = np.array([0.0, 1000.0, 0.0, 3000.0])
    remaining = np.array([5.0, 1100.0, 5.0, 3100.0])
    income = np.array([0.0, 2000.0, 0.0, 2000.0])
    by_lender, by_row = rec.collect([0.1, 0.05, 0.2], available, income, remaining)
    # Borrower 1: 10% of 1000. Borrower 3: 10% and 5% of min(3000, income 2000), each
    # debt on its own, from the spare cash before the month's recoveries.
    assert by_row.tolist() == [50.0, 200.0, 100.0]  # the first debt is capped at 50 owed
    assert by_lender.tolist() == [250.0, 100.0, 0.0]  # a lender with nothing to recover
    assert available.tolist() == [0.0, 950.0, 0.0, 2700.0]
    assert remaining.tolist() == [5.0, 1050.0, 5.0, 2800.0]
    assert rec.owed.tolist() == [0.0, 1e6 - 200.0, 300.0]


def test_no_spare_cash_recovers_nothing():
    rec = _rows()
    available = np.array([0.0, -40.0, 0.0, 0.0])
    by_lender, by_row = rec.collect([0.1, 0.1], available, np.full(4, 1000.0), np.zeros(4))
    assert by_row.tolist() == [0.0, 0.0, 0.0] and by_lender.tolist() == [0.0, 0.0]
    assert available[1] == -40.0


def test_collect_on_nothing_owed_returns_zeros_for_every_lender():
    by_lender, by_row = Recoveries().collect([0.1, 0.2, 0.3], np.ones(2), np.ones(2), np.ones(2))
    assert by_lender.tolist() == [0.0, 0.0, 0.0] and by_row.size == 0


def test_a_loan_is_pursued_for_its_horizon_from_the_write_off_month():
    rec = Recoveries()
    rec.add(0, np.array([7]), np.array([1]), np.array([100.0]), month=4, horizon=3)
    for month in (4, 5):
        rec.expire(month)
        assert len(rec) == 1, month
    rec.expire(6)  # pursued in months 4, 5 and 6: three months, then dropped
    assert len(rec) == 0


def test_a_horizon_of_zero_months_pursues_nothing():
    rec = Recoveries()
    rec.add(0, np.array([7]), np.array([1]), np.array([100.0]), month=4, horizon=0)
    assert len(rec) == 0
    by_lender, by_loan = rec.collect([0.5], np.array([1e3] * 8), np.array([1e3] * 8), np.zeros(8))
    assert by_lender.sum() == 0 and by_loan.size == 0


def test_a_loan_paid_off_is_dropped_and_the_rest_kept_in_order():
    rec = _rows()
    rec.owed[0] = MONEY_TOLERANCE / 2
    rec.expire(3)
    assert rec.loan_id.tolist() == [11, 12]
    assert rec.lender.tolist() == [0, 1] and rec.borrower.tolist() == [3, 3]
    assert rec.written_off.tolist() == [0, 2] and rec.horizon.tolist() == [36, 6]
    rec.expire(8)  # the second loan's 6 months end; the first's 36 run on
    assert rec.loan_id.tolist() == [11]


def test_renumber_maps_loan_ids_after_the_tape_dropped_closed_loans():
    rec = _rows()
    new_ids = np.full(13, -1, np.int64)
    new_ids[[11, 12]] = [0, 1]
    rec.renumber(new_ids)
    assert rec.loan_id.tolist() == [-1, 0, 1]
