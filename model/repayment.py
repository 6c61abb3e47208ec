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

from model.loans import DEFAULT_DPD_MONTHS

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
def _available(dpd, squeeze, cash, protected, out):
    for i in range(cash.size):
        keep = protected[i] * (1.0 - _squeezed(dpd, squeeze, i))
        out[i] = max(cash[i] - keep, 0.0)


@njit(cache=True, nogil=True)
def _pay_one(dpd, due, cash, protected, willingness, uniform, effect, squeeze, paid, left):
    for i in range(cash.size):
        bucket = min(dpd[i], DEFAULT_DPD_MONTHS)
        available = max(cash[i] - protected[i] * (1.0 - squeeze[bucket]), 0.0)
        w = willingness[i]
        pay = min(due[i], available) if uniform[i] < w + (1.0 - w) * effect[bucket] else 0.0
        paid[i] = pay
        left[i] = available - pay


@njit(cache=True, nogil=True)
def _pay(dpd, due, cash, protected, willingness, uniform, tie_break, effect, squeeze, paid, left):
    n_lenders = dpd.shape[0]
    if n_lenders == 1:
        _pay_one(dpd[0], due[0], cash, protected, willingness, uniform[0], effect[0],
                 squeeze[0], paid[0], left)  # fmt: skip
        return
    order = np.empty(n_lenders, np.int64)
    key = np.empty(n_lenders)
    for i in range(cash.size):
        available = max(cash[i] - protected[i] * (1.0 - _squeezed(dpd, squeeze, i)), 0.0)
        n_due = 0  # a slot with nothing due is paid nothing, in any order: left out
        for j in range(n_lenders):
            paid[j, i] = 0.0
            if due[j, i] > 0.0:
                order[n_due] = j
                key[j] = -effect[j, min(dpd[j, i], DEFAULT_DPD_MONTHS)]
                n_due += 1
        for a in range(1, n_due):  # pressing hardest first, ties by the random draw
            b = a
            while b > 0 and (
                key[order[b]] < key[order[b - 1]]
                or (
                    key[order[b]] == key[order[b - 1]]
                    and tie_break[order[b], i] < tie_break[order[b - 1], i]
                )
            ):
                order[b], order[b - 1] = order[b - 1], order[b]
                b -= 1
        w = willingness[i]
        for k in range(n_due):
            j = order[k]
            if uniform[j, i] < w + (1.0 - w) * effect[j, min(dpd[j, i], DEFAULT_DPD_MONTHS)]:
                pay = min(due[j, i], available)
            else:
                pay = 0.0
            paid[j, i] = pay
            available -= pay
        left[i] = available


def available_cash(
    dpd: np.ndarray, squeeze: np.ndarray, cash: np.ndarray, protected: np.ndarray
) -> np.ndarray:
    """Cash each borrower can put to debt this month.

    Cash after essentials, less the protected discretionary spending; the strongest
    collection stage a borrower faces makes them give up part of it.

    Args:
        dpd: Months past due per loan slot, shape (lenders, borrowers).
        squeeze: Each lender's squeeze by DPD bucket, shape (lenders, 5).
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending kept before debt, per borrower.
    """
    out = np.empty(cash.size)
    _available(dpd, squeeze, cash, protected, out)
    return out


def pay_loans(
    dpd: np.ndarray,
    due: np.ndarray,
    cash: np.ndarray,
    protected: np.ndarray,
    willingness: np.ndarray,
    uniform: np.ndarray,
    tie_break: np.ndarray,
    effect: np.ndarray,
    squeeze: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pay this month's dues out of the cash a borrower can spare.

    Args:
        dpd: Months past due per loan slot, shape (lenders, borrowers).
        due: Amount due per loan slot (0 where there is no loan).
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending kept before debt, per borrower.
        willingness: Each borrower's willingness to pay.
        uniform: U(0,1) per slot: the willingness draws.
        tie_break: U(0,1) per slot: orders lenders pressing equally hard.
        effect: Each lender's pay effect by DPD bucket, shape (lenders, 5).
        squeeze: Each lender's squeeze by DPD bucket, shape (lenders, 5).

    Returns:
        ``(paid, available)``: payments per slot, and the cash each borrower could still
        put to debt after them.
    """
    paid = np.empty_like(due)
    left = np.empty(cash.size)
    _pay(dpd, due, cash, protected, willingness, uniform, tie_break, effect, squeeze, paid, left)
    return paid, left
