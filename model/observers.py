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

from model.loans import BLOCK, BUCKETS, DEFAULT_DPD_MONTHS, LoanBook, open_in_block
from model.month import Month

#: Roll-rate destinations: the five buckets, then written off and repaid (closed: repaid
#: in full, or settled by a relief waiver of everything owed).
ROLL_STATES = (*BUCKETS, "written_off", "repaid")


@njit(cache=True, nogil=True)
def _add_transitions(borrowers, bucket, opening_balance, slot_of, dense, is_open, dpd, repaid,
                     written_off, flows):  # fmt: skip
    """Sum each (start bucket, end state) pair's opening balance into ``flows`` (flat).

    For one lender's loans open at the start (``borrowers``); a loan still open at the
    end is found in the lender's row through ``slot_of`` (a dense row: at the borrower's
    own index, where a free slot holds DPD 0).
    """
    width = len(ROLL_STATES)
    for k in range(borrowers.size):
        i = borrowers[k]
        if written_off[i]:
            end = 5
        elif repaid[i]:
            end = 6
        elif dense:
            end = min(dpd[i], DEFAULT_DPD_MONTHS)
        else:
            slot = slot_of[i]
            end = min(dpd[slot], DEFAULT_DPD_MONTHS) if slot >= 0 and is_open[slot] else 0
        flows[bucket[k] * width + end] += opening_balance[k]


@njit(cache=True, nogil=True)
def _list_open(keys, is_open, dpd, balance, borrowers, bucket, opening_balance):
    """Each open slot's borrower, DPD bucket and balance, in slot order (one pass).

    ``keys`` is the row's borrowers (empty for a dense row, whose slot is the borrower).
    Returns the number of open slots (only as many as the outputs hold are written).
    """
    dense = keys.size == 0
    buf = np.empty(BLOCK, np.int64)
    k = 0
    for start in range(0, is_open.size, BLOCK):  # a block's open slots first: no branch
        for t in range(open_in_block(is_open, start, min(start + BLOCK, is_open.size), buf)):
            s = buf[t]
            if k < borrowers.size:
                borrowers[k] = s if dense else keys[s]
                bucket[k] = min(dpd[s], DEFAULT_DPD_MONTHS)
                opening_balance[k] = balance[s]
            k += 1
    return k


class RollRates:
    """Balance flowing between DPD buckets month to month, summed over the recorded months."""

    def __init__(self) -> None:
        self.flows = np.zeros((len(BUCKETS), len(ROLL_STATES)))
        self._opened: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def begin(self, book: LoanBook, month: Month) -> None:
        """Note the loans open at the start of a recorded month, their buckets and balances."""
        if not month.record:
            return
        self._opened = []
        for j in range(book.n_lenders):  # per lender: borrowers, DPD buckets, balances
            n = int(book.n_open[j])
            opened = np.empty(n, np.int64), np.empty(n, np.intp), np.empty(n)
            keys = np.empty(0, np.int64) if book.is_dense(j) else book.slots("borrower", j)
            found = _list_open(keys, book.slots("open", j), book.slots("dpd", j),
                               book.slots("balance", j), *opened)  # fmt: skip
            if found != n:
                raise RuntimeError(f"lender {j}: {found} open slots, the book counts {n}")
            self._opened.append(opened)

    def end(self, book: LoanBook, month: Month) -> None:
        """Add the month's transitions of the loans that were open at its start."""
        if not month.record:
            return
        flows = np.zeros(self.flows.size)
        closed = month.repaid
        if month.settled is not None:  # settled by a relief waiver: closed, as if repaid
            closed = closed.copy()
            closed[month.settled] = True
        for j, (borrowers, bucket, balance) in enumerate(self._opened):  # in lender order
            _add_transitions(borrowers, bucket, balance, book.slot_of[j], book.is_dense(j),
                             book.slots("open", j), book.slots("dpd", j), closed[j],
                             month.written_off[j], flows)  # fmt: skip
        self.flows += flows.reshape(self.flows.shape)

    def table(self) -> pd.DataFrame:
        """Roll-rate matrix: share of each starting bucket's balance by end state."""
        totals = self.flows.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.where(totals > 0, self.flows / totals, 0.0)
        frame = pd.DataFrame(rates, index=list(BUCKETS), columns=list(ROLL_STATES))
        frame.index.name = "from_bucket"
        return frame
