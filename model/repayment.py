"""Repayment: the borrower's decisions on paying debt, and how a month's cash is split.

A borrower first keeps essentials and the protected part of the discretionary habit;
collection pressure (the strongest stage the borrower faces) makes them give up part
of that protection. Loans are paid in order of collection pressure (the lender pressing
hardest first, ties at random), each in full or with all that is left; a reluctant
borrower (``willingness`` < 1) skips a payment unless collection persuades them.
Written-off debts in recovery then get a share of what is left (``model.recoveries``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.lender import CollectionPressure

#: Share of a borrower's spare cash (at most the month's income) collected each month on
#: written-off debt with no collection effort, and the extra share at full intensity.
RECOVERY_BASE, RECOVERY_COLLECTION = 0.003, 0.01


def recovery_share(collection_intensity: float) -> float:
    """Share of a debtor's spare cash a lender recovers each month on written-off debt."""
    return RECOVERY_BASE + RECOVERY_COLLECTION * collection_intensity


def available_cash(
    cash: np.ndarray, protected: np.ndarray, pressure: Sequence[CollectionPressure]
) -> np.ndarray:
    """Cash a borrower can put to debt this month.

    Cash after essentials, less the protected discretionary spending; the strongest
    collection stage a borrower faces (``pressure``, one per lender, from
    ``Lender.collection_pressure``) makes them give up part of it.
    """
    if len(pressure) == 1:
        base, pressed, squeeze = pressure[0].base_squeeze, pressure[0].overdue, pressure[0].squeeze
    else:
        strongest = np.max([p.dense(cash.size)[1] for p in pressure], axis=0)
        base, pressed = 0.0, np.flatnonzero(strongest != 0)
        squeeze = strongest[pressed]
    available = cash - protected if base == 0.0 else cash - protected * (1.0 - base)
    available[pressed] = cash[pressed] - protected[pressed] * (1.0 - squeeze)
    return np.maximum(available, 0.0, out=available)


def pay_threshold(willingness: np.ndarray, pay_effect: np.ndarray | float) -> np.ndarray:
    """Probability a borrower pays an instalment they can afford: ``w + (1 - w) * effect``.

    Collection closes a share ``pay_effect`` of a reluctant borrower's gap to certain
    payment.
    """
    return willingness + (1.0 - willingness) * pay_effect


def willing_to_pay(
    pressure: CollectionPressure,
    willingness: np.ndarray,
    stage0_threshold: np.ndarray,
    uniform: np.ndarray,
) -> np.ndarray:
    """Whether each borrower would pay one lender's instalment this month.

    Args:
        pressure: That lender's collection pressure this month.
        willingness: Each borrower's willingness ``w`` (fixed per borrower).
        stage0_threshold: :func:`pay_threshold` at the lender's stage-0 effect (the
            pre-due reminder), computed once per lender since willingness is fixed.
        uniform: One U(0,1) draw per borrower.
    """
    willing = uniform < stage0_threshold
    late = pressure.overdue
    willing[late] = uniform[late] < pay_threshold(willingness[late], pressure.pay_effect)
    return willing


def pay_loans(
    pressure: Sequence[CollectionPressure],
    willingness: np.ndarray,
    stage0_thresholds: Sequence[np.ndarray],
    cash: np.ndarray,
    protected: np.ndarray,
    due: np.ndarray,
    pay_uniform: np.ndarray,
    tie_break: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pay this month's dues out of the cash a borrower can spare.

    With several lenders, loans are paid in order of collection pressure (the lender
    pressing hardest first), ties broken at random (``tie_break``), never by lender
    index; each loan is paid in full or with all that is left.

    Args:
        pressure: Each lender's collection pressure, in book-row order.
        willingness: Each borrower's willingness to pay.
        stage0_thresholds: Each lender's :func:`pay_threshold` at stage 0.
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending kept before debt, per borrower.
        due: Amount due per loan slot, shape (lenders, borrowers).
        pay_uniform: U(0,1) per slot, shape (lenders, borrowers): willingness draws.
        tie_break: U(0,1) per slot, shape (lenders, borrowers), with several lenders.

    Returns:
        ``(paid, available)``: payments per slot, and the cash each borrower could still
        put to debt after them.
    """
    n_lenders, n = due.shape
    available = available_cash(cash, protected, pressure)
    if n_lenders == 1:
        # Dues and available cash are never negative, so a refusal pays exactly 0.
        paid = np.minimum(due, available)
        paid[0] *= willing_to_pay(pressure[0], willingness, stage0_thresholds[0], pay_uniform[0])
        available -= paid[0]
        return paid, available
    paid = np.zeros_like(due)
    pay_effect = np.stack([p.dense(n)[0] for p in pressure])
    order = np.lexsort((tie_break, -pay_effect), axis=0)
    cols = np.arange(n)
    willing = np.stack(
        [
            willing_to_pay(p, willingness, base, pay_uniform[j])
            for j, (p, base) in enumerate(zip(pressure, stage0_thresholds, strict=True))
        ]
    )
    for j in order:
        pay = np.where(willing[j, cols], np.minimum(due[j, cols], available), 0.0)
        paid[j, cols] = pay
        available -= pay
    return paid, available
