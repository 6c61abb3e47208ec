"""Repayment: the borrower's decisions on paying debt, and how a month's cash is split.

A borrower first keeps essentials and the protected part of the discretionary habit;
collection pressure (the strongest stage the borrower faces) makes them give up part
of that protection. Loans are paid in order of collection pressure (the lender pressing
hardest first, ties at random), each in full or with all that is left; a reluctant
borrower (``willingness`` < 1) skips a payment unless collection persuades them.
Written-off debts in recovery then get a share of what is left (``model.recoveries``).

A lender's collection stages come as two tables by DPD bucket (current, 1-30, 31-60,
61-90, 90+; ``Lender.stage_effects``): the share of a reluctant borrower's gap to certain
payment that the stage closes, and the share of protected spending it squeezes out.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from model.draws import Address, address_keys, uniform_at
from model.loan_book import LoanBook, as_index
from model.loans import BUCKETS, DEFAULT_DPD_MONTHS, MONEY_TOLERANCE

#: A month's draws per loan slot: an array (lenders, borrowers), or the address of a
#: random-access stream with a cell per slot (``RandomAccessUniform.address``).
SlotDraws = np.ndarray | Address

#: Share of a borrower's spare cash (at most the month's income) collected each month on
#: written-off debt with no collection effort, and the extra share at full intensity.
RECOVERY_BASE, RECOVERY_COLLECTION = 0.003, 0.01


def recovery_share(collection_intensity: float) -> float:
    """Share of a debtor's spare cash a lender recovers each month on written-off debt."""
    return RECOVERY_BASE + RECOVERY_COLLECTION * collection_intensity


def pay_threshold(willingness: np.ndarray | float, pay_effect: np.ndarray | float):
    """Probability a borrower pays an instalment they can afford: ``w + (1 - w) * effect``.

    Collection closes a share ``pay_effect`` of a reluctant borrower's gap to certain
    payment.
    """
    return willingness + (1.0 - willingness) * pay_effect


@njit(cache=True, nogil=True)
def _squeeze_loans(keys, is_open, dpd, n_slots, squeeze, strongest):
    """Raise each borrower's ``strongest`` to the squeeze of each of their loans' stages."""
    for j in range(n_slots.size):
        for s in range(n_slots[j]):
            if is_open[j, s]:
                value = squeeze[j, min(dpd[j, s], DEFAULT_DPD_MONTHS)]
                if value > strongest[keys[j, s]]:
                    strongest[keys[j, s]] = value


@njit(cache=True, nogil=True)
def _squeeze_of(held, slot_of, dpd, dense, squeeze, borrowers, strongest):
    """:func:`_squeeze_loans` for the borrowers ``borrowers`` only (``strongest`` theirs)."""
    for j in range(slot_of.shape[0]):
        for k in range(borrowers.size):
            i = borrowers[k]
            if held[j, i]:  # (a flag per borrower: denser in the cache than slot_of)
                s = i if dense[j] else slot_of[j, i]
                value = squeeze[j, min(dpd[j, s], DEFAULT_DPD_MONTHS)]
                if value > strongest[k]:
                    strongest[k] = value


@njit(cache=True, nogil=True)
def _pay_one(slot_of, is_open, dpd, due, paid, cash, protected, willingness, uniform, keyed,
             keys, effect, squeeze, left, total):  # fmt: skip
    """Pay one lender's loans, borrower by borrower.

    A dense row (``slot_of`` empty: borrower i's slot is i, a free slot owes nothing at
    DPD 0, and ``total`` is ``paid`` itself) goes to :func:`_pay_dense`; else loans are
    found by their slots, and only a borrower with something due draws.
    """
    if slot_of.size == 0:
        _pay_dense(dpd, due, paid, cash, protected, willingness, uniform, keyed, keys,
                   effect, squeeze, left)  # fmt: skip
        return
    for i in range(cash.size):
        c = slot_of[i]
        has = c >= 0 and is_open[c]
        bucket = min(dpd[c], DEFAULT_DPD_MONTHS) if has else 0
        owed = due[c] if has else 0.0
        available = max(cash[i] - protected[i] * (1.0 - squeeze[bucket]), 0.0)
        pay = 0.0
        if owed > 0.0:
            w = willingness[i]
            u = _slot_draw(uniform, keyed, keys[0], keys[1], 0, i, 1)
            if u < w + (1.0 - w) * effect[bucket]:
                pay = min(owed, available)
        if has:
            paid[c] = pay
        total[i] = pay
        left[i] = available - pay


@njit(cache=True, nogil=True)
def _pay_dense(dpd, due, paid, cash, protected, willingness, uniform, keyed, keys, effect,
               squeeze, left):  # fmt: skip
    """:func:`_pay_one` on a dense row, without a branch on the data.

    Every borrower draws (a keyed draw is the same whoever asks, and one who owes nothing
    pays nothing whatever it draws), so the loop compiles to selects: the same payments,
    about twice as fast at 1M borrowers as branching on who owes (a quarter, at random).
    """
    for i in range(cash.size):
        bucket = min(dpd[i], DEFAULT_DPD_MONTHS)
        owed = due[i]
        available = max(cash[i] - protected[i] * (1.0 - squeeze[bucket]), 0.0)
        w = willingness[i]
        u = _slot_draw(uniform, keyed, keys[0], keys[1], 0, i, 1)
        willing = (owed > 0.0) & (u < w + (1.0 - w) * effect[bucket])
        pay = min(owed, available) if willing else 0.0
        paid[i] = pay
        left[i] = available - pay


@njit(cache=True, nogil=True, inline="always")
def _slot_draw(values, keyed, key, offset, j, i, n_lenders):
    """Slot ``(j, i)``'s draw: from ``values``, or computed from a keyed stream's address."""
    if keyed:
        return uniform_at(key, offset, i * n_lenders + j)
    return values[j, i]


@njit(cache=True, nogil=True)
def _order_by_pressure(order, key, tie, n_due):
    """Sort ``order[:n_due]`` (lenders) by ``key``, ties by ``tie`` (insertion sort)."""
    for a in range(1, n_due):
        b = a
        while b > 0 and (
            key[order[b]] < key[order[b - 1]]
            or (key[order[b]] == key[order[b - 1]] and tie[order[b]] < tie[order[b - 1]])
        ):
            order[b], order[b - 1] = order[b - 1], order[b]
            b -= 1


@njit(cache=True, nogil=True, inline="always")
def _loans_of(slot_of, is_open, dpd, due, effect, squeeze, i, at, order, key):
    """Borrower ``i``'s loans: their slots, the lenders with something due, the squeeze.

    Fills each lender's slot (``at``, -1: none), the lenders with something due
    (``order``, in lender order) and their pressure (``key``).

    Returns:
        ``(strongest, n_due)``: the largest squeeze the lenders put on the borrower (a
        lender without a loan of theirs at its current stage) and how many loans are due.
    """
    strongest = 0.0
    n_due = 0  # a loan with nothing due is paid nothing, in any order: left out
    for j in range(slot_of.shape[0]):
        s = slot_of[j, i]
        if s < 0 or not is_open[j, s]:
            at[j] = -1
            strongest = max(strongest, squeeze[j, 0])
            continue
        at[j] = s
        stage = min(dpd[j, s], DEFAULT_DPD_MONTHS)
        strongest = max(strongest, squeeze[j, stage])
        if due[j, s] > 0.0:
            order[n_due] = j
            key[j] = -effect[j, stage]
            n_due += 1
    return strongest, n_due


@njit(cache=True, nogil=True)
def _owe_nothing(total_due, cash, protected, current, left, total, owing):
    """Every borrower's ``left`` and ``total`` as if they owed nothing; list who owes.

    A borrower owing nothing pays nothing (``paid`` comes zeroed), every loan of theirs
    current: ``current`` is the strongest squeeze of a current loan. One pass without a
    branch on the data (about one borrower in five owes, at random): the borrowers who
    owe go to ``owing``, sorted. Returns how many owe.
    """
    n = 0
    for i in range(cash.size):
        left[i] = max(cash[i] - protected[i] * (1.0 - current), 0.0)
        total[i] = 0.0
        owing[n] = i
        n += total_due[i] > 0.0
    return n


@njit(cache=True, nogil=True)
def _pay(slot_of, is_open, dpd, due, paid, total_due, cash, protected, willingness, uniform,
         tie_break, keyed, keys, effect, squeeze, left, total):  # fmt: skip
    n_lenders = slot_of.shape[0]
    order = np.empty(n_lenders, np.int64)
    key, tie = np.empty(n_lenders), np.empty(n_lenders)  # each loan's pressure, tie draw
    at = np.empty(n_lenders, np.int64)
    current = 0.0
    for j in range(n_lenders):
        current = max(current, squeeze[j, 0])
    owing = np.empty(cash.size, np.int64)
    for i in owing[: _owe_nothing(total_due, cash, protected, current, left, total, owing)]:
        strongest, n_due = _loans_of(slot_of, is_open, dpd, due, effect, squeeze, i, at, order,
                                     key)  # fmt: skip
        available = max(cash[i] - protected[i] * (1.0 - strongest), 0.0)
        if n_due > 1:  # pressing hardest first, ties by the random draw
            for k in range(n_due):
                tie[order[k]] = _slot_draw(tie_break, keyed, keys[2], keys[3], order[k], i,
                                           n_lenders)  # fmt: skip
            _order_by_pressure(order, key, tie, n_due)
        w = willingness[i]
        for k in range(n_due):
            j = order[k]
            u = _slot_draw(uniform, keyed, keys[0], keys[1], j, i, n_lenders)
            if u < w + (1.0 - w) * effect[j, min(dpd[j, at[j]], DEFAULT_DPD_MONTHS)]:
                pay = min(due[j, at[j]], available)
                paid[j, at[j]] = pay
                available -= pay
        if n_due == 1:  # the sum below, of one payment and zeros
            total[i] = paid[order[0], at[order[0]]]
        else:
            spent = 0.0
            for j in range(n_lenders):  # in lender order, as a sum over the lenders' axis
                if at[j] >= 0:
                    spent += paid[j, at[j]]
            total[i] = spent
        left[i] = available


@njit(cache=True, nogil=True)
def _may_fall_short(dues, cash, protected, out):
    n = 0
    for i in range(dues.size):  # (branch-free: the index is written, then kept or not)
        out[n] = i
        n += dues[i] - (cash[i] - protected[i]) > MONEY_TOLERANCE
    return n


def may_fall_short(dues: np.ndarray, cash: np.ndarray, protected: np.ndarray) -> np.ndarray:
    """The borrowers whose dues exceed their cash less all their protected spending.

    Collection squeezes out at most the protected spending, so only they can fall short
    of their dues (rounding is monotone: the test is exact). Sorted; one pass, without
    temporaries over the population.
    """
    out = np.empty(dues.size, np.int64)
    return out[: _may_fall_short(dues, cash, protected, out)]


def total_due(book: LoanBook) -> np.ndarray:
    """Each borrower's dues at all lenders (the loans' ``due``, summed in lender order)."""
    out = np.zeros(book.n_borrowers)
    for j in range(book.n_lenders):
        np.add.at(out, book.borrowers(j), book.row("due", j))
    return out


def available_cash(
    book: LoanBook,
    squeeze: np.ndarray,
    cash: np.ndarray,
    protected: np.ndarray,
    borrowers: np.ndarray | None = None,
) -> np.ndarray:
    """Cash each borrower can put to debt this month.

    Cash after essentials, less the protected discretionary spending; the strongest
    collection stage a borrower faces makes them give up part of it.

    Args:
        book: The loan book (the stage of each loan is its DPD bucket).
        squeeze: Each lender's squeeze by DPD bucket, shape (lenders, 5); no stage
            squeezes less than the current one (column 0), as ``Lender.stage_effects``
            builds them.
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending kept before debt, per borrower.
        borrowers: The borrowers to compute it for (indices or a mask; default all).

    Returns:
        The available cash of ``borrowers``, in their order.

    Raises:
        ValueError: If ``squeeze`` is not (lenders, 5), a stage squeezes less than the
            current one, or ``cash`` or ``protected`` is not one value per borrower.
    """
    squeeze = np.asarray(squeeze, float)
    if squeeze.shape != (book.n_lenders, len(BUCKETS)):  # a column per DPD bucket
        raise ValueError(
            f"squeeze: shape {squeeze.shape}, expected ({book.n_lenders}, {len(BUCKETS)})"
        )
    if np.any(squeeze < squeeze[:, :1]):
        raise ValueError("squeeze: no stage may squeeze less than the current one (column 0)")
    if cash.size != book.n_borrowers or protected.size != book.n_borrowers:
        raise ValueError(f"cash and protected: one value per borrower ({book.n_borrowers})")
    least = max(float(squeeze[:, 0].max()), 0.0)  # a borrower without a loan: stage 0
    c = book.columns
    if borrowers is None:
        strongest = np.full(cash.size, least)
        _squeeze_loans(c["borrower"], c["open"], c["dpd"], book.n_slots, squeeze, strongest)
    else:  # the borrowers' loans only, found by their slots
        borrowers = np.ascontiguousarray(as_index(borrowers, cash.size), np.int64)
        strongest = np.full(borrowers.size, least)
        _squeeze_of(book.active, book.slot_of, c["dpd"], book.dense_flags(), squeeze, borrowers,
                    strongest)  # fmt: skip
        cash, protected = cash[borrowers], protected[borrowers]
    return np.maximum(cash - protected * (1.0 - strongest), 0.0)


def pay_loans(
    book: LoanBook,
    cash: np.ndarray,
    protected: np.ndarray,
    willingness: np.ndarray,
    uniform: SlotDraws,
    tie_break: SlotDraws,
    effect: np.ndarray,
    squeeze: np.ndarray,
    dues: np.ndarray | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pay this month's dues (each loan's ``due``) out of the cash a borrower can spare.

    Each loan's payment goes to its ``paid``. The draws come as arrays of shape
    (lenders, borrowers), one per loan slot, or as the addresses of random-access streams
    (``RandomAccessUniform.address``) whose cell ``borrower * lenders + lender`` is the
    slot's draw: then only the loans with something due compute one.

    Args:
        book: The loan book.
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending kept before debt, per borrower.
        willingness: Each borrower's willingness to pay.
        uniform: U(0,1) per slot: the willingness draws.
        tie_break: U(0,1) per slot: orders lenders pressing equally hard (never read with
            one lender, but of the same kind as ``uniform``: arrays or addresses).
        effect: Each lender's pay effect by DPD bucket, shape (lenders, 5).
        squeeze: Each lender's squeeze by DPD bucket, shape (lenders, 5).
        dues: Each borrower's dues at all lenders (:func:`total_due`), if known.
        out: Two arrays (one value per borrower) to hold the result (the second is
            left unused where the payments' totals are a view, as below).

    Returns:
        ``(available, total)``: the cash each borrower could still put to debt after the
        payments, and each borrower's payments in all (with one lender whose row is dense,
        a view of its ``paid``: it holds until the next payment or ``LoanBook.tidy``).
    """
    left, total = (np.empty(cash.size), np.empty(cash.size)) if out is None else out
    c = book.columns
    one = book.n_lenders == 1
    for j in range(book.n_lenders):  # free slots keep last month's: the kernels set loans'
        if not (one and book.is_dense(j)):  # (a dense row's kernel sets every slot)
            book.slots("paid", j)[:] = 0.0
    keyed, keys, uniform, tie_break = _keys_of(uniform, tie_break, book.n_lenders * cash.size)
    if one:
        slot_of = book.slot_of[0]
        if book.is_dense(0):  # every slot is paid (0 if free): the totals are the payments
            slot_of, total = np.empty(0, np.int32), c["paid"][0, : cash.size]
        _pay_one(slot_of, *(c[name][0] for name in ("open", "dpd", "due", "paid")),
                 cash, protected, willingness, uniform, keyed, keys, effect[0], squeeze[0],
                 left, total)  # fmt: skip
        return left, total
    dues = total_due(book) if dues is None else dues
    _pay(book.slot_of, c["open"], c["dpd"], c["due"], c["paid"], dues, cash, protected,
         willingness, uniform, tie_break, keyed, keys, effect, squeeze, left, total)  # fmt: skip
    return left, total


def _keys_of(
    uniform: SlotDraws, tie_break: SlotDraws, cells: int
) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
    """``(keyed, keys, uniform, tie_break)`` for the payment kernels.

    ``keys`` holds the streams' keys and offsets (zeros, never read, with arrays); with
    addresses the arrays are a stand-in.

    Raises:
        ValueError: If one of the draws is an address and the other an array, or an
            address is of a stream without a cell per slot (``cells``).
    """
    if isinstance(uniform, Address) != isinstance(tie_break, Address):
        raise ValueError("uniform and tie_break: both arrays or both stream addresses")
    if not isinstance(uniform, Address):
        return False, np.zeros(4, np.uint64), uniform, tie_break
    keys = [*address_keys(uniform, cells, "uniform", "loan slot")]
    keys += address_keys(tie_break, cells, "tie_break", "loan slot")
    return True, np.array(keys, np.uint64), np.zeros((1, 1)), np.zeros((1, 1))
