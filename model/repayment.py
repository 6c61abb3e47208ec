"""Repayment: how a borrower's cash is split between loans, recoveries and spending."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.lender import CollectionPressure, Lender
from model.loans import LoanBook
from model.population import BorrowerState

#: Share of a borrower's spare cash (at most the month's income) collected each month on
#: written-off debt with no collection effort, and the extra share at full intensity.
RECOVERY_BASE, RECOVERY_COLLECTION = 0.003, 0.01


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


def pay_loans(
    book: LoanBook,
    lenders: Sequence[Lender],
    state: BorrowerState,
    cash: np.ndarray,
    protected: np.ndarray,
    due: np.ndarray,
    pay_uniform: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pay this month's dues out of the cash a borrower can spare.

    A borrower first keeps essentials and the protected part of the discretionary
    habit; collection pressure (the strongest stage the borrower faces) makes
    them give up part of that protection. Loans are then paid in order of
    collection pressure (the lender pressing hardest first), each in full or with
    all that is left; a reluctant borrower (``willingness`` < 1) skips a payment
    unless collection persuades them. Written-off debts in recovery get a share
    of what is left.

    Args:
        book: The loan book (read; ``wo_balance`` reduced by recoveries).
        lenders: Lenders in book-row order.
        state: Borrower state (read).
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending kept before debt, per borrower.
        due: Amount due per loan slot, shape (lenders, borrowers).
        pay_uniform: U(0,1) per slot, shape (lenders, borrowers).

    Returns:
        ``(paid, recovered, remaining)``: payments per slot, recoveries per lender
        (total), and each borrower's cash left for spending and saving.
    """
    n_lenders, n = due.shape
    pressure = [lender.collection_pressure(book) for lender in lenders]
    available = available_cash(cash, protected, pressure)
    will = state.willingness
    if n_lenders == 1:
        # Dues and available cash are never negative, so a refusal pays exactly 0.
        paid = np.minimum(due, available)
        paid[0] *= lenders[0].willing_to_pay(pressure[0], will, pay_uniform[0])
        pending = paid[0]  # not yet taken off ``available``: done below where it is read
    else:
        paid = np.zeros_like(due)
        pay_effect = np.stack([p.dense(n)[0] for p in pressure])
        order = np.argsort(-pay_effect, axis=0, kind="stable")
        cols = np.arange(n)
        willing = np.stack(
            [
                lender.willing_to_pay(p, will, pay_uniform[j])
                for j, (lender, p) in enumerate(zip(lenders, pressure, strict=True))
            ]
        )
        for j in order:
            pay = np.where(willing[j, cols], np.minimum(due[j, cols], available), 0.0)
            paid[j, cols] = pay
            available -= pay
        pending = None
    remaining = cash - paid[0] if n_lenders == 1 else cash - paid.sum(axis=0)
    recovered = np.zeros(n_lenders)
    for j, lender in enumerate(lenders):
        owed = book.wo_balance[j]
        debtors = np.flatnonzero(owed != 0)
        left = available[debtors]
        if pending is not None:
            left -= pending[debtors]
        share = RECOVERY_BASE + RECOVERY_COLLECTION * lender.policy.collection_intensity
        take = np.minimum(owed[debtors], share * np.minimum(left, state.income[debtors]))
        recovered[j] = take.sum()
        owed[debtors] -= take
        available[debtors] = left - take
        remaining[debtors] -= take
    return paid, recovered, remaining
