"""The borrower's repayment decisions alone, on hand-made slots (model/repayment.py)."""

import numpy as np
import pytest
from slot_books import book_of_slots, pay_slots

from model.loan_book import SPARSE_MONTHS
from model.repayment import (
    RECOVERY_BASE,
    RECOVERY_COLLECTION,
    available_cash,
    may_fall_short,
    pay_loans,
    pay_threshold,
    recovery_share,
)

NO_STAGES = np.zeros(5)


def _pay(
    dpd,
    due,
    cash,
    *,
    protected=0.0,
    willingness=1.0,
    uniform=0.0,
    tie_break=None,
    effect=None,
    squeeze=None,
):
    """``pay_loans`` on (lenders, borrowers) slots; scalars broadcast."""
    due = np.atleast_2d(np.asarray(due, float))
    shape = due.shape
    n = shape[1]
    dpd = np.array(np.broadcast_to(np.asarray(dpd, np.int16), shape))
    if tie_break is None:
        tie_break = np.zeros((1, 1)) if shape[0] == 1 else np.zeros(shape)
    lenders = shape[0]
    effect = np.zeros((lenders, 5)) if effect is None else np.atleast_2d(effect)
    squeeze = np.zeros((lenders, 5)) if squeeze is None else np.atleast_2d(squeeze)
    paid, left, total = pay_slots(
        dpd,
        due,
        np.array(np.broadcast_to(np.asarray(cash, float), (n,))),
        np.array(np.broadcast_to(np.asarray(protected, float), (n,))),
        np.array(np.broadcast_to(np.asarray(willingness, float), (n,))),
        np.array(np.broadcast_to(np.asarray(uniform, float), shape)),
        np.asarray(tie_break, float),
        np.asarray(effect, float),
        np.asarray(squeeze, float),
    )
    np.testing.assert_allclose(total, paid.sum(axis=0), rtol=1e-12)  # every borrower's sum
    return paid, left


# --------------------------------------------------------------- available cash
def test_available_cash_is_cash_less_protected_spending_never_negative():
    out = available_cash(
        book_of_slots(np.zeros((1, 3), np.int16)),
        np.zeros((1, 5)),
        np.array([100.0, 50.0, -20.0]),
        np.array([30.0, 80.0, 0.0]),
    )
    assert out.tolist() == [70.0, 0.0, 0.0]


def test_the_strongest_stage_across_lenders_sets_the_squeeze():
    squeeze = np.array([[0.0, 0.3, 0.5, 0.7, 0.8], [0.0, 0.1, 0.2, 0.9, 0.95]])
    dpd = np.array([[2, 0, 1, 9], [1, 0, 3, 0]], np.int16)  # 9 months: the 90+ stage
    out = available_cash(book_of_slots(dpd), squeeze, np.full(4, 100.0), np.full(4, 100.0))
    # squeezes: max(0.5, 0.1), none, max(0.3, 0.9), max(0.8, 0.0)
    np.testing.assert_allclose(out, [50.0, 0.0, 90.0, 80.0])


# -------------------------------------------------------------- one lender
def test_a_willing_borrower_pays_what_is_due_out_of_available_cash():
    paid, left = _pay(0, [[100.0, 100.0, 100.0, 0.0]], [150.0, 60.0, -5.0, 80.0])
    assert paid.tolist() == [[100.0, 60.0, 0.0, 0.0]]  # never more than due or available
    assert left.tolist() == [50.0, 0.0, 0.0, 80.0]


def test_protected_spending_is_kept_unless_collection_squeezes_it():
    squeeze = [0.0, 0.5, 0.5, 0.5, 0.5]
    paid, left = _pay([[0, 1]], [[100.0, 100.0]], 100.0, protected=60.0, squeeze=squeeze)
    assert paid.tolist() == [[40.0, 70.0]]  # 100 - 60, and 100 - 60 * 0.5
    assert left.tolist() == [0.0, 0.0]


def test_a_short_rows_loans_squeeze_by_their_own_bucket_too():
    """The same rule when the lender's row holds few loans (slots found by borrower)."""
    dpd, due = np.zeros((1, 20), np.int16), np.zeros((1, 20))
    due[0, [3, 11]], dpd[0, 11] = 100.0, 1
    book = book_of_slots(dpd, due)
    for _ in range(SPARSE_MONTHS):
        book.tidy()  # a sparse row is rebuilt short
    assert not book.is_dense(0)
    n, squeeze = 20, np.array([[0.0, 0.5, 0.5, 0.5, 0.5]])
    cash, protected, draws = np.full(n, 100.0), np.full(n, 60.0), np.zeros((1, n))
    left, total = pay_loans(
        book, cash, protected, np.ones(n), draws, np.zeros((1, 1)), np.zeros((1, 5)), squeeze
    )
    paid = np.asarray(book.paid)
    assert paid[0, [3, 11]].tolist() == [40.0, 70.0] and paid.sum() == total.sum() == 110.0
    assert left[[3, 11]].tolist() == [0.0, 0.0]
    assert (np.delete(left, [3, 11]) == 40.0).all()  # no loan: protected spending kept


def test_a_reluctant_borrower_pays_when_the_draw_is_below_w_plus_the_closed_gap():
    effect = [0.0, 0.0, 0.5, 0.0, 0.0]
    w = 0.6
    threshold = w + (1 - w) * 0.5  # 0.8
    uniform = [[0.59, 0.6, 0.79, 0.8, 0.79]]
    dpd = [[0, 0, 2, 2, 1]]
    paid, left = _pay(
        dpd, np.full((1, 5), 10.0), 50.0, willingness=w, uniform=uniform, effect=effect
    )
    assert threshold == pytest.approx(0.8)
    assert paid.tolist() == [[10.0, 0.0, 10.0, 0.0, 0.0]]
    assert left.tolist() == [40.0, 50.0, 40.0, 50.0, 50.0]  # a skipped payment keeps the cash


def test_the_pay_effect_of_dpd_past_90_is_the_last_stage():
    effect = [0.0, 0.0, 0.0, 0.0, 1.0]
    paid, _ = _pay(
        [[4, 7, 3]], np.full((1, 3), 10.0), 50.0, willingness=0.0, uniform=0.5, effect=effect
    )
    assert paid.tolist() == [[10.0, 10.0, 0.0]]


def test_pay_threshold_closes_a_share_of_the_gap_to_certain_payment():
    assert pay_threshold(0.6, 0.5) == pytest.approx(0.8)
    assert pay_threshold(1.0, 0.0) == 1.0 and pay_threshold(0.3, 0.0) == 0.3
    assert pay_threshold(0.0, 0.7) == pytest.approx(0.7)
    np.testing.assert_allclose(pay_threshold(np.array([0.2, 0.5]), 1.0), [1.0, 1.0])


@pytest.mark.parametrize("lenders", [1, 2])
def test_the_kernels_pay_exactly_when_the_draw_is_below_pay_threshold(lenders):
    """``pay_threshold`` (used by the per-agent reference) is the rule the kernels apply."""
    rng = np.random.default_rng(11)
    n = 400
    effect = rng.uniform(0, 1, (lenders, 5))
    dpd = rng.integers(0, 6, (lenders, n)).astype(np.int16)
    will, uniform = rng.uniform(0, 1, n), rng.uniform(0, 1, (lenders, n))
    paid, _ = _pay(
        dpd,
        np.ones((lenders, n)),
        1e6,
        willingness=will,
        uniform=uniform,
        tie_break=rng.random((lenders, n)),
        effect=effect,
    )
    stage = np.take_along_axis(effect, np.minimum(dpd, 4), axis=1)
    np.testing.assert_array_equal(paid > 0, uniform < pay_threshold(will, stage))


# ---------------------------------------------------------- several lenders
def test_the_lender_pressing_hardest_is_paid_first_and_gets_all_it_is_owed():
    effect = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]] * 3)
    dpd = [[1], [3], [0]]  # lender 1 presses hardest, then lender 0, then lender 2
    paid, left = _pay(dpd, [[60.0], [70.0], [50.0]], 100.0, effect=effect)
    assert paid[:, 0].tolist() == [30.0, 70.0, 0.0]
    assert left.tolist() == [0.0]


def test_lenders_pressing_equally_are_ordered_by_the_tie_break_draw():
    due = [[80.0, 80.0], [80.0, 80.0]]
    tie = [[0.9, 0.1], [0.1, 0.9]]
    paid, _ = _pay(0, due, 100.0, tie_break=tie)
    assert paid.tolist() == [[20.0, 80.0], [80.0, 20.0]]


def test_a_payment_skipped_leaves_the_cash_for_the_next_lender():
    effect = np.array([[0.0, 0.0, 0.9, 0.0, 0.0], [0.0, 0.3, 0.0, 0.0, 0.0]])
    dpd = [[2], [1]]  # lender 0 first
    paid, left = _pay(
        dpd, [[80.0], [80.0]], 100.0, willingness=0.0, uniform=[[0.95], [0.1]], effect=effect
    )
    assert paid[:, 0].tolist() == [0.0, 80.0]
    assert left.tolist() == [20.0]


def test_several_lenders_share_the_cash_squeezed_by_the_strongest_stage():
    squeeze = np.array([[0.0, 0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0, 0.0]])
    paid, left = _pay([[1], [0]], [[30.0], [100.0]], 100.0, protected=40.0, squeeze=squeeze)
    # 100 - 40 * (1 - 0.5) = 80 available; tie-break draws equal: lender 0 first.
    assert paid[:, 0].tolist() == [30.0, 50.0]
    assert left.tolist() == [0.0]


def test_an_empty_second_slot_changes_nothing_for_the_first_lender():
    rng = np.random.default_rng(3)
    n = 200
    effect = np.array([[0.3, 0.4, 0.5, 0.6, 0.7], [0.3, 0.4, 0.5, 0.6, 0.7]])
    squeeze = np.array([[0.0, 0.2, 0.4, 0.6, 0.8], [0.0, 0.2, 0.4, 0.6, 0.8]])
    dpd = rng.integers(0, 6, n).astype(np.int16)
    due = rng.uniform(0, 200, n)
    cash, protected = rng.uniform(-50, 300, n), rng.uniform(0, 100, n)
    will, uniform = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    one, left_one = _pay(
        dpd[None],
        due[None],
        cash,
        protected=protected,
        willingness=will,
        uniform=uniform[None],
        effect=effect[:1],
        squeeze=squeeze[:1],
    )
    two, left_two = _pay(
        np.stack([dpd, np.zeros(n, np.int16)]),
        np.stack([due, np.zeros(n)]),
        cash,
        protected=protected,
        willingness=will,
        uniform=np.stack([uniform, np.ones(n)]),
        tie_break=rng.uniform(0, 1, (2, n)),
        effect=effect,
        squeeze=squeeze,
    )
    np.testing.assert_array_equal(two[0], one[0])
    np.testing.assert_array_equal(two[1], 0.0)
    np.testing.assert_array_equal(left_two, left_one)


def test_a_borrower_with_one_loan_among_several_lenders_pays_as_with_that_lender_alone():
    rng = np.random.default_rng(11)
    n, lenders = 600, 3
    at = rng.integers(0, lenders, n)  # each borrower's one lender
    due, dpd = np.zeros((lenders, n)), np.zeros((lenders, n), np.int16)
    due[at, np.arange(n)] = rng.uniform(0, 100, n) * (rng.random(n) < 0.9)
    dpd[at, np.arange(n)] = rng.integers(0, 7, n)
    dpd[due == 0] = 0  # a loan past due owes its arrears
    squeeze = np.sort(rng.uniform(0, 1, (lenders, 5)), axis=1)
    squeeze[:, 0] = 0.0  # no squeeze from a lender where none is held
    levers = {
        "protected": rng.uniform(0, 80, n),
        "willingness": rng.random(n),
        "effect": rng.uniform(0, 1, (lenders, 5)),
        "squeeze": squeeze,
    }
    uniform, cash = rng.random((lenders, n)), rng.uniform(-50, 250, n)
    paid, left = _pay(dpd, due, cash, uniform=uniform, **levers)
    for j in range(lenders):
        mine = at == j
        alone = {**levers, "effect": levers["effect"][j], "squeeze": squeeze[j]}
        paid_j, left_j = _pay(dpd[j], due[j], cash, uniform=uniform[j], **alone)
        np.testing.assert_array_equal(paid[j, mine], paid_j[0, mine])
        np.testing.assert_array_equal(left[mine], left_j[mine])


def test_payments_never_exceed_dues_or_the_cash_available():
    rng = np.random.default_rng(7)
    n, lenders = 500, 3
    effect = rng.uniform(0, 1, (lenders, 5))
    squeeze = np.sort(rng.uniform(0, 1, (lenders, 5)), axis=1)  # stronger stages squeeze more
    due = rng.uniform(0, 100, (lenders, n)) * (rng.random((lenders, n)) < 0.7)
    dpd = (rng.integers(0, 6, (lenders, n)) * (due > 0)).astype(np.int16)  # late ones owe
    cash, protected = rng.uniform(-50, 250, n), rng.uniform(0, 80, n)
    paid, left = _pay(
        dpd,
        due,
        cash,
        protected=protected,
        willingness=rng.random(n),
        uniform=rng.random((lenders, n)),
        tie_break=rng.random((lenders, n)),
        effect=effect,
        squeeze=squeeze,
    )
    available = available_cash(book_of_slots(dpd), squeeze, cash, protected)
    assert np.all(paid >= 0) and np.all(paid <= due)
    np.testing.assert_allclose(paid.sum(axis=0) + left, available)
    assert np.all(left >= -1e-9)


# --------------------------------------------------------------- recoveries
def test_recovery_share_rises_with_collection_intensity():
    assert recovery_share(0.0) == RECOVERY_BASE
    assert recovery_share(1.0) == pytest.approx(RECOVERY_BASE + RECOVERY_COLLECTION)
    assert recovery_share(0.5) == pytest.approx(RECOVERY_BASE + 0.5 * RECOVERY_COLLECTION)


@pytest.mark.parametrize("lenders", [1, 3])
def test_payments_compute_their_draws_per_slot_from_the_streams_addresses(lenders):
    """Keyed draws (``RandomAccessUniform.address``) pay exactly as the same draws given
    as arrays, with one lender (its own kernel) or several: the draw of slot (lender j,
    borrower i) is cell ``i * lenders + j``."""
    from model.draws import RandomAccessUniform

    n, month = 3000, 4
    rng = np.random.default_rng(2)
    repayment = RandomAccessUniform(np.random.SeedSequence(1), n * lenders, first_month=-2)
    order = RandomAccessUniform(np.random.SeedSequence(2), n * lenders, first_month=-2)
    as_array = {
        name: stream(month, np.arange(n * lenders)).reshape(n, lenders).T.copy()
        for name, stream in (("u", repayment), ("tie", order))
    }
    due = np.where(rng.random((lenders, n)) < 0.5, 100.0, 0.0)
    dpd = rng.integers(0, 5, (lenders, n)).astype(np.int16)
    effect = np.tile([0.0, 0.2, 0.2, 0.5, 0.5], (lenders, 1))  # ties within a stage
    squeeze = np.tile([0.0, 0.1, 0.2, 0.3, 0.4], (lenders, 1))
    args = (dpd, due, rng.uniform(0, 300, n), rng.uniform(0, 50, n), rng.uniform(0.3, 1, n))
    keyed = pay_slots(*args, repayment.address(month), order.address(month), effect, squeeze)
    arrays = pay_slots(*args, as_array["u"], as_array["tie"], effect, squeeze)
    for mine, theirs in zip(keyed, arrays, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert 0 < (keyed[0] > 0).sum() < (due > 0).sum()  # some paid, some not


def test_in_the_economy_a_slot_with_nothing_due_is_empty_or_current(monkeypatch):
    """The pay kernel's shortcut for borrowers owing nothing rests on this book invariant
    (DPD > 0 means unpaid instalments, which are due): checked at every month's payment."""
    from model import CreditEconomy

    checked = []
    original = CreditEconomy._pay

    def pay(self, m):
        late = np.asarray(self.book.dpd) > 0
        assert not np.any(late & (np.asarray(self.book.due) <= 0.0))
        checked.append(int(late.sum()))
        original(self, m)

    monkeypatch.setattr(CreditEconomy, "_pay", pay)
    CreditEconomy(3000, "severe_recession", ["balanced", "aggressive"], seed=2, burn_in=12).run(24)
    assert len(checked) == 36 and max(checked) > 0


def test_one_lender_paid_by_keyed_draws_books_this_months_payments_only():
    """With keyed draws, one lender's kernel sets only the loans paid this month: the
    payments of an earlier month must not survive in the others."""
    from model.draws import keyed_streams
    from model.repayment import pay_loans

    streams = keyed_streams(np.random.SeedSequence(1), 4, 1, 0)
    book = book_of_slots(np.zeros((1, 4), np.int16), np.full((1, 4), 10.0))
    book.columns["paid"][0, :] = 777.0  # last month's
    left, total = pay_loans(
        book, np.full(4, 100.0), np.zeros(4), np.zeros(4),  # unwilling: pays nothing
        streams["repayment"].address(0), streams["payment_order"].address(0),
        np.zeros((1, 5)), np.zeros((1, 5)),
    )  # fmt: skip
    assert total.tolist() == [0.0] * 4 and book.total("paid", 0) == 0.0


def test_available_cash_refuses_a_stage_squeezing_less_than_the_current_one():
    squeeze = np.array([[0.2, 0.1, 0.5, 0.7, 0.8]])
    with pytest.raises(ValueError, match="squeeze"):
        available_cash(book_of_slots(np.zeros((1, 2), np.int16)), squeeze, np.ones(2), np.ones(2))


def test_available_cash_takes_a_mask_of_borrowers():
    book = book_of_slots(np.array([[0, 2, 0]], np.int16))
    squeeze = np.array([[0.0, 0.3, 0.5, 0.7, 0.8]])
    cash, protected = np.full(3, 100.0), np.full(3, 60.0)
    mask = np.array([False, True, True])
    by_index = available_cash(book, squeeze, cash, protected, np.array([1, 2]))
    assert available_cash(book, squeeze, cash, protected, mask).tolist() == by_index.tolist()


def test_payment_draws_must_be_both_arrays_or_both_addresses():
    from model.draws import keyed_streams
    from model.repayment import pay_loans

    streams = keyed_streams(np.random.SeedSequence(1), 4, 1, 0)
    book = book_of_slots(np.zeros((1, 4), np.int16), np.full((1, 4), 10.0))
    with pytest.raises(ValueError, match="both arrays or both stream addresses"):
        pay_loans(
            book, np.full(4, 100.0), np.zeros(4), np.ones(4), streams["repayment"].address(0),
            np.zeros((1, 4)), np.zeros((1, 5)), np.zeros((1, 5)),
        )  # fmt: skip


def test_payment_draws_by_address_need_a_cell_per_loan_slot():
    from model.draws import keyed_streams
    from model.repayment import pay_loans

    per_borrower = keyed_streams(np.random.SeedSequence(1), 4, 1, 0)  # 4 cells a month
    book = book_of_slots(np.zeros((2, 4), np.int16), np.full((2, 4), 10.0))  # 8 slots
    with pytest.raises(ValueError, match=r"uniform: a stream of 4 cells a month, .* \(8\)"):
        pay_loans(
            book, np.full(4, 100.0), np.zeros(4), np.ones(4),
            per_borrower["repayment"].address(0), per_borrower["payment_order"].address(0),
            np.zeros((2, 5)), np.zeros((2, 5)),
        )  # fmt: skip


@pytest.mark.parametrize("lenders", [1, 3])
def test_payments_written_into_given_arrays_are_those_returned(lenders):
    from model.repayment import pay_loans

    rng = np.random.default_rng(5)
    dpd = rng.integers(0, 4, (lenders, 50)).astype(np.int16)
    draws = rng.random((lenders, 50)), rng.random((lenders, 50))
    effects = np.full((lenders, 5), 0.5), np.zeros((lenders, 5))
    args = (np.full(50, 30.0), np.zeros(50), np.full(50, 0.8), *draws, *effects)
    left, total = pay_loans(book_of_slots(dpd, np.full((lenders, 50), 12.0)), *args)
    out = np.full(50, np.nan), np.full(50, np.nan)
    into = pay_loans(book_of_slots(dpd, np.full((lenders, 50), 12.0)), *args, out=out)
    assert into[0] is out[0] and np.array_equal(out[0], left)
    assert np.array_equal(into[1], total) and 0 < total.sum() < 50 * 12.0 * lenders


def test_may_fall_short_lists_those_whose_dues_exceed_cash_less_protected_spending():
    rng = np.random.default_rng(3)
    dues, cash, protected = (rng.choice([0.0, 1.0, 2.0, 3.0], 1000) for _ in range(3))
    expected = np.flatnonzero(dues - (cash - protected) > 1e-6)
    assert np.array_equal(may_fall_short(dues, cash, protected), expected)
    assert may_fall_short(np.zeros(0), np.zeros(0), np.zeros(0)).size == 0
