"""Observers: bookkeeping that reads the state around a month, outside the rules.

An observer's ``begin`` sees the state before the month's rules run and its ``end``
sees the state and the :class:`~model.month.Month` record after them. Nothing here
changes the economy. Roll rates are kept for recorded months only; vintage curves are
a view on the loan tape (``LoanTape.vintages``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from model.loans import BUCKETS, DEFAULT_DPD_MONTHS, LoanBook
from model.month import Month

#: Roll-rate destinations: the five buckets, then written off and repaid.
ROLL_STATES = (*BUCKETS, "written_off", "repaid")


@njit(cache=True, nogil=True)
def _add_transitions(opened, bucket, opening_balance, dpd, repaid, written_off, flows):
    """Sum each (start bucket, end state) pair's opening balance into ``flows`` (flat)."""
    width = len(ROLL_STATES)
    for k in range(opened.size):
        s = opened[k]
        if written_off[s]:
            end = 5
        elif repaid[s]:
            end = 6
        else:
            end = min(dpd[s], DEFAULT_DPD_MONTHS)
        flows[bucket[k] * width + end] += opening_balance[k]


class RollRates:
    """Balance flowing between DPD buckets month to month, summed over the recorded months."""

    def __init__(self) -> None:
        self.flows = np.zeros((len(BUCKETS), len(ROLL_STATES)))
        self._opened = np.empty(0, np.intp)
        self._bucket = np.empty(0, np.intp)
        self._balance = np.empty(0)

    def begin(self, book: LoanBook, month: Month) -> None:
        """Note the loans open at the start of a recorded month, their buckets and balances."""
        if not month.record:
            return
        self._opened = np.flatnonzero(book.active)  # flat (lender, borrower) slots
        dpd = book.dpd.ravel()[self._opened]
        self._bucket = np.minimum(dpd, DEFAULT_DPD_MONTHS).astype(np.intp)
        self._balance = book.balance.ravel()[self._opened]

    def end(self, book: LoanBook, month: Month) -> None:
        """Add the month's transitions of the loans that were open at its start."""
        if not month.record:
            return
        flows = np.zeros(self.flows.size)
        _add_transitions(self._opened, self._bucket, self._balance, book.dpd.ravel(),
                         month.repaid.ravel(), month.written_off.ravel(), flows)  # fmt: skip
        self.flows += flows.reshape(self.flows.shape)

    def table(self) -> pd.DataFrame:
        """Roll-rate matrix: share of each starting bucket's balance by end state."""
        totals = self.flows.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.where(totals > 0, self.flows / totals, 0.0)
        frame = pd.DataFrame(rates, index=list(BUCKETS), columns=list(ROLL_STATES))
        frame.index.name = "from_bucket"
        return frame
