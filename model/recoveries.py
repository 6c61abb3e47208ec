"""Written-off debt in recovery: one row per written-off loan, each on its own clock.

A loan written off in month ``t`` (at the start of the month) is pursued in months ``t``
to ``t + horizon - 1`` (the policy's ``recovery_months``), then dropped; a later
write-off of another loan of the same borrower starts its own clock and never restarts
this one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from model.loans import MONEY_TOLERANCE


@njit(cache=True, nogil=True)
def _collect(lender, debtor, owed, shares, available, income, remaining, by_lender):
    """Each row takes its share of its debtor's spare cash (as it was before any row took).

    The rows of one debtor never take more than that cash together (a row finding less
    left than its share takes what is left): the shares are small, so this binds only
    for a debtor with dozens of written-off loans in recovery.
    """
    take = np.empty(owed.size)
    for k in range(owed.size):
        d = debtor[k]
        take[k] = max(min(owed[k], shares[lender[k]] * min(available[d], income[d])), 0.0)
    for k in range(owed.size):  # in row order, as the sums over rows
        d = debtor[k]
        take[k] = min(take[k], max(available[d], 0.0))
        owed[k] -= take[k]
        available[d] -= take[k]
        remaining[d] -= take[k]
        by_lender[lender[k]] += take[k]
    return take


class Recoveries:
    """Rows of written-off loans still owed something."""

    def __init__(self) -> None:
        self.loan_id = np.empty(0, np.int64)
        self.lender = np.empty(0, np.int16)
        self.borrower = np.empty(0, np.int64)
        self.owed = np.empty(0)
        self.written_off = np.empty(0, np.int32)
        self.horizon = np.empty(0, np.int16)

    def __len__(self) -> int:
        return int(self.owed.size)

    def add(
        self,
        lender: int,
        borrowers: np.ndarray,
        loan_ids: np.ndarray,
        amounts: np.ndarray,
        month: int,
        horizon: int,
    ) -> None:
        """Start the recovery of loans written off by ``lender`` in ``month``.

        ``horizon`` is the months each is pursued, the write-off month included; with 0
        (a lender that does not pursue written-off debt) no row is added.
        """
        if horizon <= 0:
            return
        n = borrowers.size
        self.loan_id = np.concatenate([self.loan_id, loan_ids])
        self.lender = np.concatenate([self.lender, np.full(n, lender, np.int16)])
        self.borrower = np.concatenate([self.borrower, borrowers.astype(np.int64)])
        self.owed = np.concatenate([self.owed, amounts])
        self.written_off = np.concatenate([self.written_off, np.full(n, month, np.int32)])
        self.horizon = np.concatenate([self.horizon, np.full(n, horizon, np.int16)])

    def collect(
        self,
        shares: Sequence[float],
        available: np.ndarray,
        income: np.ndarray,
        remaining: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Debtors pay part of their spare cash on each written-off loan.

        A loan of lender ``j`` recovers ``shares[j]`` of the debtor's spare cash after the
        month's dues (at most the month's income), up to what it is owed; each debt is
        pursued separately, from the spare cash before the month's recoveries.

        Args:
            shares: Each lender's share (``repayment.recovery_share``).
            available: Spare cash per borrower after dues; reduced in place.
            income: This month's income per borrower.
            remaining: Cash left for spending and saving; reduced in place.

        Returns:
            ``(by_lender, by_row)``: amounts recovered per lender, and per row.
        """
        if not len(self):
            return np.zeros(len(shares)), np.empty(0)
        by_lender = np.zeros(len(shares))
        take = _collect(self.lender, self.borrower, self.owed, np.asarray(shares, float),
                        available, income, remaining, by_lender)  # fmt: skip
        return by_lender, take

    def expire(self, month: int) -> None:
        """Drop the loans paid off or past their recovery horizon at the end of ``month``."""
        keep = (self.owed > MONEY_TOLERANCE) & (month + 1 - self.written_off < self.horizon)
        if keep.all():
            return
        for name in ("loan_id", "lender", "borrower", "owed", "written_off", "horizon"):
            setattr(self, name, getattr(self, name)[keep])

    def renumber(self, new_ids: np.ndarray) -> None:
        """Map loan ids after the tape dropped closed loans (-1: no longer on the tape)."""
        self.loan_id = new_ids[self.loan_id]
