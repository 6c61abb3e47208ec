"""Repayment: how a borrower's cash is split between loans, recoveries and spending."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.lender import Lender
from model.loans import LoanBook
from model.population import BorrowerState

#: Share of a borrower's spare cash (at most the month's income) collected each month on
#: written-off debt with no collection effort, and the extra share at full intensity.
RECOVERY_BASE, RECOVERY_COLLECTION = 0.003, 0.01


def available_cash(
    cash: np.ndarray, protected: np.ndarray, squeeze: Sequence[np.ndarray]
) -> np.ndarray:
    """Cash a borrower can put to debt this month.

    Cash after essentials, less the protected discretionary spending; the strongest
    collection stage a borrower faces (``squeeze``, one array per lender, from
    ``Lender.collection_pressure``; zero on closed slots) makes them give up part of it.
    """
    strongest = squeeze[0] if len(squeeze) == 1 else np.max(squeeze, axis=0)
    return np.maximum(cash - protected * (1.0 - strongest), 0.0)


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
        ``(paid, recovered, remaining)``: payments per slot, recoveries per slot,
        and each borrower's cash left for spending and saving.
    """
    n_lenders, _ = due.shape
    pressure = [lender.collection_pressure(book) for lender in lenders]
    pay_effect = np.stack([effect for effect, _ in pressure])
    available = available_cash(cash, protected, [squeeze for _, squeeze in pressure])
    will = state.willingness
    willing = pay_uniform < will + (1.0 - will) * pay_effect
    if n_lenders == 1:
        paid = np.where(willing, np.minimum(due, available), 0.0)
        available -= paid[0]
    else:
        paid = np.zeros_like(due)
        order = np.argsort(-pay_effect, axis=0, kind="stable")
        cols = np.arange(due.shape[1])
        for j in order:
            pay = np.where(willing[j, cols], np.minimum(due[j, cols], available), 0.0)
            paid[j, cols] = pay
            available -= pay
    recovered = np.zeros_like(due)
    for j, lender in enumerate(lenders):
        owed = book.wo_balance[j]
        debtors = np.flatnonzero(owed)
        share = RECOVERY_BASE + RECOVERY_COLLECTION * lender.policy.collection_intensity
        take = np.minimum(
            owed[debtors], share * np.minimum(available[debtors], state.income[debtors])
        )
        recovered[j, debtors] = take
        owed[debtors] -= take
        available[debtors] -= take
    remaining = cash - paid[0] if n_lenders == 1 else cash - paid.sum(axis=0)
    remaining -= recovered[0] if n_lenders == 1 else recovered.sum(axis=0)
    return paid, recovered, remaining
