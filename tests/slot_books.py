"""Hand-made loan books from dense (lenders, borrowers) slot arrays, for the rule tests."""

from __future__ import annotations

import numpy as np

from model.loans import LoanBook
from model.repayment import pay_loans


def book_of_slots(dpd: np.ndarray, due: np.ndarray | None = None) -> LoanBook:
    """A book with a loan in every slot that has something due or is past due."""
    dpd = np.atleast_2d(np.asarray(dpd, np.int16))
    due = np.zeros(dpd.shape) if due is None else np.atleast_2d(np.asarray(due, float))
    dpd = np.array(np.broadcast_to(dpd, due.shape))
    return LoanBook.from_dense((due > 0) | (dpd > 0), dpd=dpd, due=due)


def pay_slots(dpd, due, *args):
    """``pay_loans`` on a book of those slots; returns ``(paid, available, total)``.

    ``paid`` per slot, as a dense ``(lenders, borrowers)`` array.
    """
    book = book_of_slots(dpd, due)
    left, total = pay_loans(book, *args)
    return np.asarray(book.paid), left, total
