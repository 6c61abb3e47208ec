"""The loan book's storage (model/loan_book.py): slots, layouts, totals, dense views."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import loans
from model.loan_book import DENSE, ROOM, SPARSE, SPARSE_MONTHS, LoanBook, dense_sum
from model.loans import RedefaultCohorts


# ----------------------------------------------------------------- dense_sum
@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 127, 128, 129, 1000, 8193, 100_000, 300_001])
@pytest.mark.parametrize("density", [0.01, 0.3, 1.0])
def test_dense_sum_is_numpys_sum_of_the_dense_array_bit_for_bit(size, density):
    rng = np.random.default_rng(size)
    held = np.flatnonzero(rng.random(size) < density)
    dense = np.zeros(size)
    dense[held] = rng.lognormal(5, 2, held.size)
    assert dense_sum(held, dense[held], size) == dense.sum()


# --------------------------------------------------------- the book's invariants
def _check(book, reference):
    """The book holds exactly ``reference`` ({(lender, borrower): balance}), well formed."""
    expected = np.zeros((book.n_lenders, book.n_borrowers))
    for (j, i), balance in reference.items():
        expected[j, i] = balance
    assert np.array_equal(book.active, expected > 0)
    assert np.array_equal(np.asarray(book.balance), expected)
    for j in range(book.n_lenders):
        keys, held = book.slots("borrower", j), book.slots("open", j)
        assert (np.diff(keys) > 0).all()  # strictly increasing keys
        slot_of = book.slot_of[j]
        assert np.array_equal(slot_of[keys], np.arange(keys.size))
        assert (np.delete(slot_of, keys) == -1).all()
        assert np.array_equal(keys[held], np.flatnonzero(expected[j]))
        assert book.n_open[j] == held.sum()
        for name in ("balance", "arrears", "dpd", "due"):
            assert (book.slots(name, j)[~held] == 0).all(), name  # free slots hold 0
        assert book.total("balance", j) == expected[j].sum()  # bit for bit


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_sequence_of_openings_closings_and_tidies_keeps_the_book_exact(data):
    n = data.draw(st.integers(20, 400))
    book, reference = LoanBook(2, n), {}
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for _ in range(data.draw(st.integers(1, 25))):
        j = int(rng.integers(2))
        action = data.draw(st.sampled_from(["open", "open_run", "close", "tidy"]))
        free = np.setdiff1d(np.arange(n), [i for (k, i) in reference if k == j])
        held = np.array(sorted(i for (k, i) in reference if k == j), int)
        if action in ("open", "open_run") and free.size:
            size = int(rng.integers(1, free.size + 1))
            if action == "open":
                new = np.sort(rng.choice(free, size, replace=False))
            else:  # consecutive borrowers: they must shift slots to fit
                start = int(rng.integers(free.size))
                new = free[start : start + size]
            amounts = rng.uniform(1.0, 100.0, new.size)
            book.insert(j, new, balance=amounts, loan_id=new)
            reference.update({(j, int(i)): a for i, a in zip(new, amounts, strict=True)})
        elif action == "close" and held.size:
            gone = rng.choice(held, int(rng.integers(1, held.size + 1)), replace=False)
            book.remove(j, gone)
            for i in gone:
                del reference[(j, int(i))]
        elif action == "tidy":  # a month-end: a row sparse for months is rebuilt short
            for _ in range(SPARSE_MONTHS):
                book.tidy()
        _check(book, reference)


def _tidy_until_short(book):
    for month in range(SPARSE_MONTHS):
        assert book.is_dense(0), month  # sparse for fewer months: the row waits
        book.tidy()


def test_a_row_sparse_for_months_is_rebuilt_short_and_a_crowded_one_dense():
    n = 1000
    book = LoanBook(1, n)
    few = np.arange(0, n, 50)  # 2% of the borrowers
    book.insert(0, few, balance=1.0)
    _tidy_until_short(book)
    assert book.n_slots[0] <= (1 + ROOM) * few.size and not book.is_dense(0)
    many = np.setdiff1d(np.arange(0, n, 3), few)  # now a third of them
    book.insert(0, many, balance=2.0)
    assert book.n_open[0] * DENSE >= n
    book.tidy()
    assert book.is_dense(0) and np.array_equal(book.slot_of[0], np.arange(n))
    book.remove(0, book.borrowers(0)[:-1])  # one loan left
    _tidy_until_short(book)
    assert book.n_slots[0] == 1 < n // SPARSE and book.borrowers(0).tolist() == [999]


def _month_of(book):
    """Fall due, pay half of each due, settle: what the rules return, and the loans after."""
    interest = loans.fall_due(book, 0, 0.01)
    book.paid[0] = 0.5 * np.asarray(book.due[0])
    done = loans.settle(
        book, 0, late_fee=0.05, payment_order="fees_first", probation_months=6, month=3,
        redefaults=RedefaultCohorts(1, 0, 12),
    )  # fmt: skip
    fields = {name: np.asarray(getattr(book, name)) for name in ("balance", "arrears", "dpd")}
    return interest, done, fields


def test_the_rules_give_the_same_numbers_whatever_the_layout():
    n, rng = 5000, np.random.default_rng(4)
    held = np.flatnonzero(rng.random(n) < 0.05)
    terms = {
        "balance": rng.uniform(100, 5000, held.size),
        "rate": rng.uniform(0.005, 0.03, held.size),
        "instalment": rng.uniform(20, 300, held.size),
        "months_left": rng.integers(1, 24, held.size),
        "arrears": rng.uniform(0, 200, held.size) * (rng.random(held.size) < 0.3),
    }
    dense, short = LoanBook(1, n), LoanBook(1, n)
    dense.insert(0, held, **terms)
    short.insert(0, held, **terms)
    _tidy_until_short(short)
    assert dense.is_dense(0) and short.n_slots[0] < n // 5
    (i1, d1, f1), (i2, d2, f2) = _month_of(dense), _month_of(short)
    assert i1 == i2 and d1.fees == d2.fees and d1.repayments == d2.repayments
    assert np.array_equal(d1.repaid, d2.repaid) and d1.current_balance == d2.current_balance
    for name in f1:
        assert np.array_equal(f1[name], f2[name]), name
    assert loans.summary(dense, 0).balances.tolist() == loans.summary(short, 0).balances.tolist()


def test_available_cash_is_the_strongest_stage_of_each_borrower_whatever_the_layout():
    from model.repayment import available_cash

    n, rng = 3000, np.random.default_rng(8)
    held = [np.flatnonzero(rng.random(n) < p) for p in (0.05, 0.3)]  # short and dense rows
    dpd = [rng.integers(0, 7, h.size) for h in held]
    dense, short = LoanBook(2, n), LoanBook(2, n)
    for book in (dense, short):
        for j in range(2):
            book.insert(j, held[j], balance=1.0, dpd=dpd[j])
    for _ in range(SPARSE_MONTHS):
        short.tidy()
    assert not short.is_dense(0) and short.is_dense(1) and dense.is_dense(0)
    squeeze = np.array([[0.05, 0.3, 0.5, 0.7, 0.8], [0.1, 0.2, 0.4, 0.6, 0.9]])
    cash, protected = rng.uniform(-50, 300, n), rng.uniform(0, 200, n)
    each = np.empty((2, n))  # each lender's squeeze: its loan's stage, else the current one
    for j in range(2):
        each[j] = squeeze[j, 0]
        each[j, held[j]] = squeeze[j, np.minimum(dpd[j], 4)]
    strongest = each.max(axis=0)
    expected = np.maximum(cash - protected * (1.0 - strongest), 0.0)
    some = np.sort(rng.choice(n, 700, replace=False))  # a subset: found by its slots
    for book in (dense, short):
        np.testing.assert_array_equal(available_cash(book, squeeze, cash, protected), expected)
        np.testing.assert_array_equal(
            available_cash(book, squeeze, cash, protected, some), expected[some]
        )


# ----------------------------------------------------------- copies and errors
def test_the_months_payments_outlive_the_loans_they_repay(monkeypatch):
    """Rule 10 closes repaid loans, then marks distress from each borrower's payments:
    with one dense lender those are a view of the book's ``paid``, which closing keeps."""
    from model import CreditEconomy

    seen = []
    original = CreditEconomy._settle

    def settle(self, m):
        before = m.total_paid.copy()
        assert np.array_equal(before, np.asarray(self.book.paid).sum(axis=0))
        original(self, m)
        assert np.array_equal(m.total_paid, before)
        seen.append(int(np.count_nonzero(m.repaid)))

    monkeypatch.setattr(CreditEconomy, "_settle", settle)
    CreditEconomy(2000, "baseline", "balanced", seed=3, burn_in=6).run(18)
    assert len(seen) == 24 and sum(seen) > 0  # loans were repaid and closed meanwhile


def test_a_copied_book_is_independent_of_the_original():
    book = LoanBook(1, 10)
    book.insert(0, [2, 5], balance=[10.0, 20.0])
    twin = copy.deepcopy(book)
    twin.columns["balance"][0, twin.positions(0, 2)] = 99.0
    twin.insert(0, [7], balance=1.0)
    assert book.balance[0, 2] == 10.0 and not book.active[0, 7]
    assert twin.balance[0, 2] == 99.0 and twin.total("balance", 0) == 120.0


def test_bad_openings_and_lookups_are_refused_with_the_borrower_named():
    book = LoanBook(1, 5)
    book.insert(0, [1, 3], balance=5.0)
    with pytest.raises(ValueError, match="borrower 3 already holds a loan at lender 0"):
        book.insert(0, [3])
    with pytest.raises(ValueError, match="unknown loan field"):
        book.insert(0, [4], colour=1)
    with pytest.raises(KeyError, match="borrower 2 holds no open loan at lender 0"):
        book.positions(0, [1, 2])
    with pytest.raises(KeyError, match="holds no loan of borrower 0"):
        book.balance[0] = 1.0  # nonzero where there is no loan
    with pytest.raises(ValueError, match="read-only"):
        book.active[0, 0] = True  # loans open with insert
    book.balance[0, [1, 3]] = [7.0, 8.0]
    assert np.asarray(book.balance).tolist() == [[0.0, 7.0, 0.0, 8.0, 0.0]]


def test_a_repeated_borrower_closes_once_and_only_money_amounts_are_summed():
    book = LoanBook(1, 6)
    book.insert(0, [1, 3, 4], balance=10.0, principal=100.0)
    book.remove(0, [3, 3])
    assert book.n_open[0] == 2 and loans.bucket_counts(book, 0).tolist() == [2, 0, 0, 0, 0]
    assert book.total("balance", 0) == 20.0
    with pytest.raises(ValueError, match="'principal' cannot be summed"):
        book.total("principal", 0)  # a freed slot keeps its principal


def test_a_dense_view_is_written_by_index_only():
    book = LoanBook(1, 4)
    book.insert(0, [2], balance=5.0, loan_id=[7])
    book.loan_id[0] = np.asarray(book.loan_id)[0]  # -1 where there is no loan: accepted
    assert np.asarray(book.loan_id).tolist() == [[-1, -1, 7, -1]]
    with pytest.raises(TypeError, match="written by index"):
        book.balance += 1.0
    with pytest.raises(AttributeError, match="is a view"):
        book.balance = np.zeros((1, 4))
    assert book.balance[0, 2] == 5.0
    book.insert(0, np.array([3, 0]), balance=np.array([1.0]))  # unsorted, one value for all
    assert np.asarray(book.balance).tolist() == [[1.0, 0.0, 5.0, 1.0]]
