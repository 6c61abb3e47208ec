"""The loan book: amortising instalment loans as arrays of shape (lenders, borrowers).

A borrower holds at most one loan at each lender at a time (so a borrower may
hold loans at several lenders). ``dpd`` counts missed monthly instalments:
1 = 1-30 DPD (M1), 2 = 31-60 (M2), 3 = 61-90 (M3), 4+ = 90+ (M3+).

Money identity, per lender and month (tested)::

    balance change = originations + interest + fees - payments - write-offs - waived
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Names of the DPD buckets, indexed by ``min(dpd, 4)``.
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
#: Missed instalments at which a loan counts as 90+ DPD (default, NPL).
DEFAULT_DPD_MONTHS = 4


def annuity_payment(
    principal: np.ndarray, monthly_rate: np.ndarray, months: np.ndarray
) -> np.ndarray:
    """Level monthly instalment that repays ``principal`` over ``months`` at ``monthly_rate``."""
    months = np.maximum(months, 1)
    rate = np.asarray(monthly_rate, dtype=float)
    growth = (1.0 + rate) ** (-months.astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        pay = np.where(rate > 1e-12, principal * rate / (1.0 - growth), principal / months)
    return pay


def annuity_factor(monthly_rate: float, months: int) -> float:
    """Present value of 1 a month for ``months`` months (principal per unit instalment)."""
    if monthly_rate <= 1e-12:
        return float(months)
    return float((1.0 - (1.0 + monthly_rate) ** (-months)) / monthly_rate)


class LoanBook:
    """Structure of arrays for every loan slot, shape ``(n_lenders, n_borrowers)``."""

    def __init__(self, n_lenders: int, n_borrowers: int) -> None:
        shape = (n_lenders, n_borrowers)
        self.active = np.zeros(shape, bool)
        self.balance = np.zeros(shape)
        self.arrears = np.zeros(shape)
        self.principal = np.zeros(shape)
        self.rate = np.zeros(shape)
        self.instalment = np.zeros(shape)
        self.dpd = np.zeros(shape, np.int16)
        self.months_left = np.zeros(shape, np.int16)
        self.age = np.zeros(shape, np.int16)
        self.vintage = np.zeros(shape, np.int32)
        self.tier = np.zeros(shape, np.int8)
        self.relieved = np.zeros(shape, bool)
        self.wo_balance = np.zeros(shape)
        self.wo_months = np.zeros(shape, np.int16)

    def bucket_counts(self, lender: int | None = None) -> np.ndarray:
        """Active loans per DPD bucket (``BUCKETS`` order) at ``lender``, or at every lender.

        Closed slots hold DPD 0, so they are counted out of the current bucket.
        """
        dpd = self.dpd if lender is None else self.dpd[lender]
        active = self.active if lender is None else self.active[lender]
        late = [np.count_nonzero(dpd == k) for k in range(1, DEFAULT_DPD_MONTHS)]
        late.append(np.count_nonzero(dpd >= DEFAULT_DPD_MONTHS))
        return np.array([np.count_nonzero(active) - sum(late), *late], dtype=np.int64)

    def balance_by_bucket(self, lender: int) -> np.ndarray:
        """Balance of the active loans per DPD bucket (``BUCKETS`` order) at ``lender``."""
        dpd, balance = self.dpd[lender], self.balance[lender]
        late = np.flatnonzero(dpd != 0)  # closed slots hold DPD 0 and zero balance
        sums = np.bincount(
            np.minimum(dpd[late], DEFAULT_DPD_MONTHS), weights=balance[late], minlength=len(BUCKETS)
        )
        sums[0] = max(float(balance.sum()) - float(sums[1:].sum()), 0.0)
        return sums

    def due(self, lender: int, penalty_monthly: float) -> tuple[np.ndarray, np.ndarray]:
        """Accrue this month's interest and return ``(interest, amount_due)``.

        Interest accrues on the balance at the loan's rate plus penalty interest on
        arrears (the snowball). Due is the arrears plus the instalment, or the
        whole balance in the final month.
        """
        # Closed slots hold zero balance and arrears, so they accrue and owe nothing.
        balance = self.balance[lender]
        interest = balance * self.rate[lender] + self.arrears[lender] * penalty_monthly
        balance += interest
        due = np.minimum(balance, self.arrears[lender] + self.instalment[lender])
        final = np.flatnonzero((self.months_left[lender] <= 1) & self.active[lender])
        due[final] = balance[final]
        return interest, due

    def settle(
        self,
        lender: int,
        due: np.ndarray,
        paid: np.ndarray,
        late_fee_share: float,
        new_since: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Book this month's payments: cure, or age DPD and charge a late fee.

        Loans made this month before payments (vintage ``new_since``, when given) owe
        nothing yet and do not age.

        Returns:
            ``(late, fees, repaid)``: the borrower indices of the loans that missed a
            payment, the late fee charged to each, and a mask of loans repaid in full
            this month (closed).
        """
        active = self.active[lender]
        balance = self.balance[lender]
        balance -= paid
        np.maximum(balance, 0.0, out=balance)
        shortfall = due - paid
        missed = shortfall > 1e-6  # closed slots owe nothing, so never miss
        late = np.flatnonzero(missed)
        fees = late_fee_share * self.instalment[lender][late]
        balance[late] += fees
        arrears = self.arrears[lender]
        arrears.fill(0.0)
        arrears[late] = shortfall[late] + fees
        dpd = self.dpd[lender]
        dpd += 1
        dpd *= missed
        ageing = active if new_since is None else active & (self.vintage[lender] != new_since)
        months_left = self.months_left[lender]
        months_left -= ageing
        np.maximum(months_left, 0, out=months_left)
        self.age[lender] += ageing
        repaid = active & ~missed & (balance <= 1e-6)
        # Residues below a millionth of a unit are rounding: the borrower has paid.
        balance[repaid] = 0.0
        active &= ~repaid
        return late, fees, repaid

    def write_off(self, lender: int, writeoff_months: int) -> tuple[np.ndarray, np.ndarray]:
        """Write off loans at or past ``writeoff_months`` missed instalments.

        The written-off balance moves to ``wo_balance``, where recoveries are
        collected later.

        Returns:
            ``(borrowers, amounts)``: indices of the loans written off and their balances.
        """
        hit = np.flatnonzero(self.dpd[lender] >= writeoff_months)  # only open loans have DPD
        amount = self.balance[lender, hit]
        self.wo_balance[lender, hit] += amount
        self.wo_months[lender][hit] = 0
        self.active[lender][hit] = False
        self.balance[lender][hit] = 0.0
        self.arrears[lender][hit] = 0.0
        self.dpd[lender][hit] = 0
        return hit, amount

    def grant_relief(
        self,
        lender: int,
        mask: np.ndarray,
        waiver: float,
        rate_cut: float,
        extension: int,
    ) -> np.ndarray:
        """Restructure the loans ``mask`` (borrower indices): waive part of the arrears.

        The loan is cured (DPD 0), its rate cut and its term extended, and the
        instalment recomputed over the new remaining term (an instalment plan for
        the arrears).

        Returns:
            The amount waived per loan restructured.
        """
        waived = waiver * self.arrears[lender, mask]
        self.balance[lender, mask] -= waived
        self.arrears[lender][mask] = 0.0
        self.dpd[lender][mask] = 0
        self.rate[lender][mask] *= 1.0 - rate_cut
        left = np.maximum(self.months_left[lender][mask], 1) + extension
        self.months_left[lender][mask] = left
        self.instalment[lender][mask] = annuity_payment(
            self.balance[lender][mask], self.rate[lender][mask], left
        )
        self.relieved[lender][mask] = True
        return waived

    def originate(
        self,
        lender: int,
        borrowers: np.ndarray,
        amount: np.ndarray,
        monthly_rate: np.ndarray,
        term: int,
        tier: np.ndarray,
        month: int,
    ) -> None:
        """Open new loans at ``lender`` for the given borrower indices."""
        self.active[lender, borrowers] = True
        self.balance[lender, borrowers] = amount
        self.principal[lender, borrowers] = amount
        self.arrears[lender, borrowers] = 0.0
        self.rate[lender, borrowers] = monthly_rate
        self.instalment[lender, borrowers] = annuity_payment(
            amount, monthly_rate, np.full(amount.size, term)
        )
        self.dpd[lender, borrowers] = 0
        self.months_left[lender, borrowers] = term
        self.age[lender, borrowers] = 0
        self.vintage[lender, borrowers] = month
        self.tier[lender, borrowers] = tier
        self.relieved[lender, borrowers] = False

    def debt_service(self, borrowers: np.ndarray, lender: int | None = None) -> np.ndarray:
        """Scheduled instalments of the active loans of ``borrowers``.

        Counts the loans at ``lender`` only if given, else at every lender.
        """
        if lender is not None:
            return self.instalment[lender, borrowers] * self.active[lender, borrowers]
        return (self.instalment[:, borrowers] * self.active[:, borrowers]).sum(axis=0)

    def describe_borrower(self, index: int) -> list[dict[str, Any]]:
        """The active loans of borrower ``index`` as plain dicts (for inspection)."""
        out = []
        for j in np.flatnonzero(self.active[:, index]):
            out.append(
                {
                    "lender": int(j),
                    "balance": float(self.balance[j, index]),
                    "principal": float(self.principal[j, index]),
                    "instalment": float(self.instalment[j, index]),
                    "annual_rate": float(self.rate[j, index] * 12),
                    "arrears": float(self.arrears[j, index]),
                    "dpd": int(self.dpd[j, index]) * 30,
                    "months_left": int(self.months_left[j, index]),
                    "months_on_book": int(self.age[j, index]),
                    "relieved": bool(self.relieved[j, index]),
                }
            )
        return out
