"""The scratch record of one month: what the month's rules hand to each other.

Persistent state lives in the borrower arrays (:class:`~model.population.BorrowerState`),
the loan book (:class:`~model.loans.LoanBook`) and the lenders. A :class:`Month` holds
only what one rule computes for a later rule of the same month (the cash a borrower
has, what is due, what was paid) and is dropped when the month ends, so reading the
schedule in ``CreditEconomy.step`` tells which rule reads what.

Its per-borrower arrays are a :class:`MonthScratch` the economy allocates once and the
rules overwrite each month (so nothing may keep them past the month). Allocated afresh
each month, the C library hands their memory (about 50 bytes per borrower) back to the
system when the month ends and the kernel page-faults it in again the next: at a million
borrowers that cost about a tenth of a month (``benchmarks.paired``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model.macro import MacroState


@dataclass
class Month:
    """What the rules of month ``number`` pass to each other.

    Attributes:
        number: Month number (negative during the burn-in).
        macro: The scenario's conditions this month.
        common_factor: The month's common income shock Z ~ N(0, 1).
        fell_ill: Borrowers who fell ill this month (they bear the one-off cost).
        cash: Savings + income - essentials - medical costs, per borrower.
        protected: Discretionary spending a borrower keeps before paying debt.
        total_due: Amount due per borrower, all lenders together (each loan's own
            ``due`` and ``paid`` are fields of the loan book).
        total_paid: Amount paid per borrower, all lenders together.
        remaining: Cash each borrower has left after debt, for spending and saving.
        repaid: Loan slots repaid in full (closed) this month, shape (lenders, borrowers).
        written_off: Loan slots written off this month, shape (lenders, borrowers).
        settled: ``(lenders, borrowers)`` of the loans a relief waiver settled (closed)
            this month, or None.
    """

    number: int
    macro: MacroState
    common_factor: float
    fell_ill: np.ndarray = field(default=None, repr=False)
    cash: np.ndarray = field(default=None, repr=False)
    protected: np.ndarray = field(default=None, repr=False)
    total_due: np.ndarray = field(default=None, repr=False)
    total_paid: np.ndarray = field(default=None, repr=False)
    remaining: np.ndarray = field(default=None, repr=False)
    repaid: np.ndarray = field(default=None, repr=False)
    written_off: np.ndarray = field(default=None, repr=False)
    settled: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def start(cls, number: int, macro: MacroState, common_factor: float,
              scratch: MonthScratch) -> Month:  # fmt: skip
        """Month ``number`` whose arrays are ``scratch``'s (their values are last month's)."""
        return cls(number, macro, common_factor, **scratch.arrays())

    @property
    def record(self) -> bool:
        """Whether the month is recorded (month >= 0; the burn-in is not)."""
        return self.number >= 0


class MonthScratch:
    """The arrays of a :class:`Month`, allocated once and reused month after month.

    Args:
        n_borrowers: Borrowers of the economy.
        n_lenders: Lenders of the economy.

    Attributes:
        normals: Room for the month's N(0, 1) income draws (a rule's working array).
        available: Room for the cash borrowers can still put to debt after paying.
    """

    _PER_BORROWER = ("cash", "protected", "total_due", "total_paid", "remaining",
                     "normals", "available")  # fmt: skip
    _PER_SLOT = ("repaid", "written_off")

    def __init__(self, n_borrowers: int, n_lenders: int) -> None:
        for name in self._PER_BORROWER:
            setattr(self, name, np.empty(n_borrowers))
        for name in self._PER_SLOT:
            setattr(self, name, np.zeros((n_lenders, n_borrowers), bool))
        self.fell_ill = np.zeros(n_borrowers, bool)

    def arrays(self) -> dict[str, np.ndarray]:
        """The :class:`Month` fields these arrays serve, by name."""
        names = ("fell_ill", "cash", "protected", "total_due", "total_paid", "remaining",
                 *self._PER_SLOT)  # fmt: skip
        return {name: getattr(self, name) for name in names}
