"""The loan tape: one row per loan, with its terms and its state (at closing for closed loans).

A bank's credit-risk function works from such a tape. Rows are kept for every loan
originated after the burn-in and for the seasoned loans (vintage < 0) open at month 0;
the loans of the burn-in that closed before month 0 are dropped, to bound memory. Open loans
are read from the loan book when the tape is asked for; a loan that closes (repaid
or written off) keeps its values at closing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from model.loans import LoanBook

#: Loan statuses (contract), in code order.
STATUSES = ("current", "delinquent", "forborne", "probation", "written_off", "closed")
#: DPD buckets of the tape (contract), by days past due.
DPD_BUCKETS = ("current", "1-30", "31-60", "61-90", "91-180", "180+")
#: Upper DPD (in months of 30 days) of each bucket but the last.
_BUCKET_EDGES = np.array([0, 1, 2, 3, 6])
_CLOSED, _WRITTEN_OFF = STATUSES.index("closed"), STATUSES.index("written_off")
#: ``closed_month`` of a loan still open (months of the burn-in are negative).
_OPEN = np.iinfo(np.int32).min
#: Columns of :meth:`LoanTape.frame` (contract first, then further columns).
COLUMNS = (
    "loan_id",
    "lender",
    "borrower",
    "vintage",
    "amount",
    "rate",
    "term",
    "months_on_book",
    "balance",
    "instalment",
    "arrears",
    "fees_due",
    "dpd",
    "dpd_bucket",
    "status",
    "seasoned",
    "closed_month",
    "written_off",
    "recovered",
    "relieved",
    "waived",
)

_STATIC = {
    "lender": np.int16,
    "borrower": np.int32,
    "vintage": np.int32,
    "amount": np.float64,
    "rate": np.float64,
}
_CLOSING = {
    "term": np.int16,
    "closed_month": np.int32,
    "status": np.int8,
    "balance": np.float64,
    "arrears": np.float64,
    "fees_due": np.float64,
    "instalment": np.float64,
    "dpd": np.int16,
    "months_on_book": np.int16,
    "written_off": np.float64,
    "recovered": np.float64,
    "relieved": np.bool_,
    "waived": np.float64,
}


def dpd_bucket_codes(dpd_months: np.ndarray) -> np.ndarray:
    """Index into :data:`DPD_BUCKETS` of each DPD given in months past due."""
    return np.searchsorted(_BUCKET_EDGES, dpd_months, side="left")


def status_codes(dpd: np.ndarray, forborne: np.ndarray) -> np.ndarray:
    """Index into :data:`STATUSES` of open loans with these DPD and forbearance flags."""
    late = dpd > 0
    codes = np.where(late, 1, 0).astype(np.int8)
    codes[forborne & late] = STATUSES.index("forborne")
    codes[forborne & ~late] = STATUSES.index("probation")
    return codes


#: The book's fields a closing loan's row of the tape takes (in ``_record_closing``'s order).
_CLOSED_FROM_BOOK = ("loan_id", "balance", "arrears", "fees_due", "instalment", "dpd", "term",
                     "relieved", "age")  # fmt: skip


@njit(cache=True, nogil=True)
def _record_closing(
    positions, loan_id, balance, arrears, fees_due, instalment, dpd, term, relieved, age,
    month, status, written_off, t_closed, t_status, t_balance, t_arrears, t_fees_due,
    t_instalment, t_dpd, t_term, t_relieved, t_months_on_book, t_written_off,
):  # fmt: skip
    for i in positions:
        k = loan_id[i]
        t_closed[k] = month
        t_status[k] = status
        t_balance[k] = balance[i]
        t_arrears[k] = arrears[i]
        t_fees_due[k] = fees_due[i]
        t_instalment[k] = instalment[i]
        t_dpd[k] = dpd[i]
        t_term[k] = term[i]
        t_relieved[k] = relieved[i]
        t_months_on_book[k] = age[i]
        if written_off:
            t_written_off[k] = balance[i]


@njit(cache=True, nogil=True)
def _add_by_id(column, ids, amounts):
    """Add ``amounts`` to ``column`` at ``ids``, in order (ids < 0 left out)."""
    for k in range(ids.size):
        if ids[k] >= 0:
            column[ids[k]] += amounts[k]


class LoanTape:
    """Growing arrays, one element per loan; a loan's id is its row.

    Args:
        capacity: Rows allocated at first (the arrays double as needed).
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.size = 0
        self._cols = {
            name: np.zeros(max(capacity, 1), dtype)
            for name, dtype in {**_STATIC, **_CLOSING}.items()
        }
        self._cols["closed_month"][:] = _OPEN

    def __len__(self) -> int:
        return self.size

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        capacity = self._cols["lender"].size
        if need <= capacity:
            return
        capacity = max(need, 2 * capacity)
        for name, col in self._cols.items():
            grown = np.zeros(capacity, col.dtype)
            grown[: self.size] = col[: self.size]
            if name == "closed_month":
                grown[self.size :] = _OPEN
            self._cols[name] = grown

    def column(self, name: str) -> np.ndarray:
        """The stored values of column ``name`` for every row (closing values where closed)."""
        return self._cols[name][: self.size]

    def open(
        self,
        lender: int | np.ndarray,
        borrowers: np.ndarray,
        amount: np.ndarray,
        monthly_rate: np.ndarray,
        month: int,
    ) -> np.ndarray:
        """Add new loans (at ``lender``: one for all, or one per loan); return their ids."""
        n = borrowers.size
        self._reserve(n)
        ids = np.arange(self.size, self.size + n, dtype=np.int64)
        c = self._cols
        c["lender"][ids] = lender
        c["borrower"][ids] = borrowers
        c["vintage"][ids] = month
        c["amount"][ids] = amount
        c["rate"][ids] = monthly_rate * 12
        self.size += n
        return ids

    def close(
        self,
        book: LoanBook,
        lender: int | np.ndarray,
        slots: np.ndarray,
        month: int,
        written_off: bool,
    ) -> None:
        """Record the closing values of the loans in ``lender``'s ``slots`` (before removal).

        ``lender`` is one lender for all the loans, or one per loan.
        """
        c, names = self._cols, _CLOSED_FROM_BOOK
        _record_closing(
            book.flat(lender, slots), *(book.columns[name].reshape(-1) for name in names),
            month, _WRITTEN_OFF if written_off else _CLOSED, written_off,
            c["closed_month"], c["status"], c["balance"], c["arrears"], c["fees_due"],
            c["instalment"], c["dpd"], c["term"], c["relieved"], c["months_on_book"],
            c["written_off"],
        )  # fmt: skip

    def add_recovered(self, ids: np.ndarray, amounts: np.ndarray) -> None:
        """Add cash recovered on written-off loans ``ids`` (ids < 0 are loans no longer kept).

        Raises:
            IndexError: If an id is not on the tape.
        """
        self._add("recovered", ids, amounts)

    def add_waived(self, ids: np.ndarray, amounts: np.ndarray) -> None:
        """Add arrears and fees waived under relief on open loans ``ids`` (their losses).

        Raises:
            IndexError: If an id is not on the tape.
        """
        self._add("waived", ids, amounts)

    def _add(self, column: str, ids: np.ndarray, amounts: np.ndarray) -> None:
        if ids.size and ids.max() >= self.size:
            raise IndexError(f"loan id {int(ids.max())} is not on the tape ({self.size} loans)")
        _add_by_id(self._cols[column], ids, amounts)

    def drop_closed(self, book: LoanBook) -> np.ndarray:
        """Drop the loans closed so far and renumber the rest (at the end of the burn-in).

        Returns:
            The new id of every old id (-1 where dropped), for other holders of ids.
        """
        keep = self.column("closed_month") == _OPEN
        new_ids = np.full(self.size, -1, np.int64)
        new_ids[keep] = np.arange(int(keep.sum()))
        for name, col in self._cols.items():
            kept = col[: self.size][keep]
            col[: kept.size] = kept
            col[kept.size : self.size] = _OPEN if name == "closed_month" else 0
        self.size = int(keep.sum())
        for j in range(book.n_lenders):
            ids, held = book.slots("loan_id", j), book.slots("open", j)
            ids[held] = new_ids[ids[held]]
        return new_ids

    def frame(self, book: LoanBook) -> pd.DataFrame:
        """The tape as a table (:data:`COLUMNS`), open loans read from ``book``."""
        c = {name: self.column(name).copy() for name in self._cols}
        for j in range(book.n_lenders):
            ids = book.row("loan_id", j)
            c["status"][ids] = status_codes(book.row("dpd", j), book.row("forborne", j))
            for name in ("balance", "arrears", "fees_due", "instalment", "dpd", "term", "relieved"):
                c[name][ids] = book.row(name, j)
            c["months_on_book"][ids] = book.row("age", j)
        frame = pd.DataFrame(
            {
                "loan_id": np.arange(self.size, dtype=np.int64),
                **{name: c[name] for name in _STATIC},
                "term": c["term"],
                "months_on_book": c["months_on_book"],
                "balance": c["balance"],
                "instalment": c["instalment"],
                "arrears": c["arrears"],
                "fees_due": c["fees_due"],
                "dpd": c["dpd"].astype(np.int32) * 30,
                "dpd_bucket": pd.Categorical.from_codes(
                    dpd_bucket_codes(c["dpd"]), categories=list(DPD_BUCKETS)
                ),
                "status": pd.Categorical.from_codes(c["status"], categories=list(STATUSES)),
                "seasoned": c["vintage"] < 0,
                "closed_month": pd.arrays.IntegerArray(
                    c["closed_month"], mask=c["closed_month"] == _OPEN
                ),
                "written_off": c["written_off"],
                "recovered": c["recovered"],
                "relieved": c["relieved"],
                "waived": c["waived"],
            }
        )
        return frame[list(COLUMNS)]

    def vintages(self, last_month: int, lender: int | None = None) -> pd.DataFrame:
        """Cumulative write-off rate by vintage and months on book, from month 0 on.

        A vintage ``v`` (month of origination) has rows for months on book 0 to
        ``last_month - v``: the written-off balance of its loans written off at or
        before that age, over the amount the vintage lent; every lender's loans, or
        only those of ``lender`` (its index).
        """
        columns = ["vintage", "months_on_book", "cum_writeoff_rate"]
        vintage = self.column("vintage")
        kept = vintage >= 0
        if lender is not None:
            kept &= self.column("lender") == lender
        if last_month < 0 or not kept.any():
            return pd.DataFrame(columns=columns)
        months = last_month + 1
        lent = np.bincount(vintage[kept], weights=self.column("amount")[kept], minlength=months)
        hit = kept & (self.column("status") == _WRITTEN_OFF)
        lost = np.zeros((months, months))
        np.add.at(
            lost,
            (vintage[hit], self.column("months_on_book")[hit]),
            self.column("written_off")[hit],
        )
        cum = np.cumsum(lost, axis=1)
        rows = []
        for v in np.flatnonzero(lent > 0):
            horizon = last_month - v
            rows.append(
                pd.DataFrame(
                    {
                        "vintage": v,
                        "months_on_book": np.arange(horizon + 1),
                        "cum_writeoff_rate": cum[v, : horizon + 1] / lent[v],
                    }
                )
            )
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
