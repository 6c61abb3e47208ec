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

from model.draws import uniform_at
from model.loans import DEFAULT_DPD_MONTHS

#: A month's draws per loan slot: an array (lenders, borrowers), or the ``(key, offset)``
#: address of a random-access stream (``RandomAccessUniform.address``).
SlotDraws = np.ndarray | tuple[np.uint64, np.uint64]

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
def _squeezed(dpd, squeeze, i):
    """Largest squeeze the lenders put on borrower ``i`` (stage 0 squeezes nothing)."""
    strongest = 0.0
    for j in range(dpd.shape[0]):
        strongest = max(strongest, squeeze[j, min(dpd[j, i], DEFAULT_DPD_MONTHS)])
    return strongest


@njit(cache=True, nogil=True)
def _available(dpd, squeeze, cash, protected, borrowers, out):
    for k in range(borrowers.size):
        i = borrowers[k]
        keep = protected[i] * (1.0 - _squeezed(dpd, squeeze, i))
        out[k] = max(cash[i] - keep, 0.0)


@njit(cache=True, nogil=True)
def _pay_one(dpd, due, cash, protected, willingness, uniform, effect, squeeze, paid, left):
    for i in range(cash.size):
        bucket = min(dpd[i], DEFAULT_DPD_MONTHS)
        available = max(cash[i] - protected[i] * (1.0 - squeeze[bucket]), 0.0)
        w = willingness[i]
        pay = min(due[i], available) if uniform[i] < w + (1.0 - w) * effect[bucket] else 0.0
        paid[i] = pay
        left[i] = available - pay


@njit(cache=True, nogil=True, inline="always")
def _slot_draw(values, keyed, key, offset, j, i, n_lenders):
    """Slot ``(j, i)``'s draw: from ``values``, or computed from a keyed stream's address."""
    if keyed:
        return uniform_at(key, offset, i * n_lenders + j)
    return values[j, i]


@njit(cache=True, nogil=True)
def _pay(dpd, due, total_due, cash, protected, willingness, uniform, tie_break, keys, effect,
         squeeze, paid, left, total):  # fmt: skip
    n_lenders = dpd.shape[0]
    keyed = keys.size == 4  # (repayment key, offset, order key, offset), or arrays
    order = np.empty(n_lenders, np.int64)
    key = np.empty(n_lenders)
    tie = np.empty(n_lenders)
    current = 0.0  # the squeeze on a borrower owing nothing: every slot is current or empty
    for j in range(n_lenders):
        current = max(current, squeeze[j, 0])
    for i in range(cash.size):
        for j in range(n_lenders):
            paid[j, i] = 0.0
        if total_due[i] <= 0.0:  # nothing to pay
            left[i] = max(cash[i] - protected[i] * (1.0 - current), 0.0)
            total[i] = 0.0
            continue
        strongest = 0.0  # the largest squeeze the lenders put on borrower i
        n_due = 0  # a slot with nothing due is paid nothing, in any order: left out
        for j in range(n_lenders):
            stage = min(dpd[j, i], DEFAULT_DPD_MONTHS)
            strongest = max(strongest, squeeze[j, stage])
            if due[j, i] > 0.0:
                order[n_due] = j
                key[j] = -effect[j, stage]
                n_due += 1
        available = max(cash[i] - protected[i] * (1.0 - strongest), 0.0)
        if n_due > 1:
            for k in range(n_due):
                j = order[k]
                tie[j] = _slot_draw(tie_break, keyed, keys[2], keys[3], j, i, n_lenders)
            for a in range(1, n_due):  # pressing hardest first, ties by the random draw
                b = a
                while b > 0 and (
                    key[order[b]] < key[order[b - 1]]
                    or (key[order[b]] == key[order[b - 1]] and tie[order[b]] < tie[order[b - 1]])
                ):
                    order[b], order[b - 1] = order[b - 1], order[b]
                    b -= 1
        w = willingness[i]
        for k in range(n_due):
            j = order[k]
            u = _slot_draw(uniform, keyed, keys[0], keys[1], j, i, n_lenders)
            if u < w + (1.0 - w) * effect[j, min(dpd[j, i], DEFAULT_DPD_MONTHS)]:
                pay = min(due[j, i], available)
                paid[j, i] = pay
                available -= pay
        left[i] = available
        spent = 0.0
        for j in range(n_lenders):  # in lender order, as a sum over the lenders' axis
            spent += paid[j, i]
        total[i] = spent


def available_cash(
    dpd: np.ndarray,
    squeeze: np.ndarray,
    cash: np.ndarray,
    protected: np.ndarray,
    borrowers: np.ndarray | None = None,
) -> np.ndarray:
    """Cash each borrower can put to debt this month.

    Cash after essentials, less the protected discretionary spending; the strongest
    collection stage a borrower faces makes them give up part of it.

    Args:
        dpd: Months past due per loan slot, shape (lenders, borrowers).
        squeeze: Each lender's squeeze by DPD bucket, shape (lenders, 5).
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending kept before debt, per borrower.
        borrowers: The borrowers to compute it for (indices; default all).

    Returns:
        The available cash of ``borrowers``, in their order.
    """
    if borrowers is None:
        borrowers = np.arange(cash.size)
    out = np.empty(borrowers.size)
    _available(dpd, squeeze, cash, protected, borrowers, out)
    return out


def pay_loans(
    dpd: np.ndarray,
    due: np.ndarray,
    cash: np.ndarray,
    protected: np.ndarray,
    willingness: np.ndarray,
    uniform: SlotDraws,
    tie_break: SlotDraws,
    effect: np.ndarray,
    squeeze: np.ndarray,
    total_due: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pay this month's dues out of the cash a borrower can spare.

    The draws come as arrays of shape (lenders, borrowers), or, with several lenders, as
    the addresses ``(key, offset)`` of random-access streams
    (``RandomAccessUniform.address``) whose cell ``borrower * lenders + lender`` is the
    slot's draw: then only the slots with something due compute one. A slot with
    nothing due is empty or current (DPD 0), as in the loan book.

    Args:
        dpd: Months past due per loan slot, shape (lenders, borrowers).
        due: Amount due per loan slot (0 where there is no loan).
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending kept before debt, per borrower.
        willingness: Each borrower's willingness to pay.
        uniform: U(0,1) per slot: the willingness draws.
        tie_break: U(0,1) per slot: orders lenders pressing equally hard (unused with one
            lender: any array).
        effect: Each lender's pay effect by DPD bucket, shape (lenders, 5).
        squeeze: Each lender's squeeze by DPD bucket, shape (lenders, 5).
        total_due: Each borrower's dues at all lenders (``due.sum(axis=0)``), if known.

    Returns:
        ``(paid, available, total)``: payments per slot, the cash each borrower could
        still put to debt after them, and each borrower's payments in all.
    """
    left = np.empty(cash.size)
    if due.shape[0] == 1 and not isinstance(uniform, tuple):
        paid = np.empty_like(due)
        _pay_one(dpd[0], due[0], cash, protected, willingness, uniform[0], effect[0],
                 squeeze[0], paid[0], left)  # fmt: skip
        return paid, left, paid[0]
    paid, total = np.empty_like(due), np.empty(cash.size)
    if total_due is None:
        total_due = due.sum(axis=0)
    if isinstance(uniform, tuple):
        keys = np.array([*uniform, *tie_break], np.uint64)
        uniform = tie_break = np.zeros((1, 1))
    else:
        keys = np.empty(0, np.uint64)
    _pay(dpd, due, total_due, cash, protected, willingness, uniform, tie_break, keys, effect,
         squeeze, paid, left, total)  # fmt: skip
    return paid, left, total
