"""Monthly metrics, roll rates between DPD buckets, and vintage loss curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from model.loans import BUCKETS, DEFAULT_DPD_MONTHS, LoanBook

#: Monthly metric columns (contract; DESIGN.md), in order.
METRIC_COLUMNS = (
    "month",
    "unemployment_rate",
    "active_loans",
    "balance",
    "overdue_rate",
    "overdue_rate_30",
    "npl_rate",
    "overdue_balance_rate",
    "applications",
    "approvals",
    "approval_rate",
    "originations",
    "writeoffs",
    "recoveries",
    "net_loss",
    "cum_net_loss",
    "interest_income",
    "fee_income",
    "funding_cost",
    "collection_cost",
    "profit",
    "relief_granted",
)
#: Further monthly columns: the scenario's own unemployment, other flows, bucket shares.
EXTRA_COLUMNS = (
    "scenario_unemployment",
    "repayments",
    "waived",
    "acquisition_cost",
    "servicing_cost",
    "capital",
    "provisions",
    "provision_charge",
    "applications_to_repay",
    "approvals_to_repay",
    "cutoff",
    "share_current",
    "share_1_30",
    "share_31_60",
    "share_61_90",
    "share_90_plus",
)
#: Roll-rate destinations: the five buckets, then written off and repaid.
ROLL_STATES = (*BUCKETS, "written_off", "repaid")

_SUMMED = (
    "applications",
    "approvals",
    "originations",
    "writeoffs",
    "recoveries",
    "interest_income",
    "fee_income",
    "funding_cost",
    "collection_cost",
    "profit",
    "relief_granted",
    "repayments",
    "waived",
    "acquisition_cost",
    "servicing_cost",
    "capital",
    "provisions",
    "provision_charge",
    "applications_to_repay",
    "approvals_to_repay",
)


def book_metrics(book: LoanBook) -> dict[str, float]:
    """Counts and rates over all active loans of all lenders (by count and by balance)."""
    bucket_counts = book.bucket_counts()
    n_active = int(bucket_counts.sum())
    balance = book.balance.ravel()
    overdue_balance = float(balance[book.dpd.ravel() > 0].sum())  # closed slots have DPD 0
    total_balance = float(balance.sum())
    share = bucket_counts / n_active if n_active else np.zeros(len(BUCKETS))
    return {
        "active_loans": n_active,
        "balance": total_balance,
        "overdue_rate": float(share[1:].sum()),
        "overdue_rate_30": float(share[2:].sum()),
        "npl_rate": float(share[4]),
        "overdue_balance_rate": overdue_balance / total_balance if total_balance > 0 else 0.0,
        "share_current": float(share[0]),
        "share_1_30": float(share[1]),
        "share_31_60": float(share[2]),
        "share_61_90": float(share[3]),
        "share_90_plus": float(share[4]),
    }


def combine_accounts(accounts: Sequence[dict[str, float]]) -> dict[str, float]:
    """Sum the lenders' monthly accounts; cut-off is the first lender's."""
    out = {key: float(sum(a[key] for a in accounts)) for key in _SUMMED}
    out["cutoff"] = float(accounts[0]["cutoff"])
    out["approval_rate"] = out["approvals"] / out["applications"] if out["applications"] else 0.0
    out["net_loss"] = out["writeoffs"] - out["recoveries"]
    return out


class RollRates:
    """Balance flowing between DPD buckets month to month, summed over the run."""

    def __init__(self) -> None:
        self.flows = np.zeros((len(BUCKETS), len(ROLL_STATES)))

    def record(
        self,
        opened: np.ndarray,
        start_bucket: np.ndarray,
        start_balance: np.ndarray,
        book: LoanBook,
        written_off: np.ndarray,
        repaid: np.ndarray,
    ) -> None:
        """Add one month's transitions of the loans open at the start of the month.

        Args:
            opened: Flat (lender, borrower) slot indices of the loans open at the start.
            start_bucket: Their DPD buckets at the start.
            start_balance: Their balances at the start.
            book: The loan book at the end of the month.
            written_off: Flat mask of slots written off this month.
            repaid: Flat mask of slots repaid this month.
        """
        end = np.minimum(book.dpd.ravel()[opened], DEFAULT_DPD_MONTHS).astype(np.intp)
        end[repaid[opened]] = 6
        end[written_off[opened]] = 5
        idx = start_bucket.astype(np.intp) * len(ROLL_STATES) + end
        self.flows += np.bincount(idx, weights=start_balance, minlength=self.flows.size).reshape(
            self.flows.shape
        )

    def table(self) -> pd.DataFrame:
        """Roll-rate matrix: share of each starting bucket's balance by end state."""
        totals = self.flows.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.where(totals > 0, self.flows / totals, 0.0)
        frame = pd.DataFrame(rates, index=list(BUCKETS), columns=list(ROLL_STATES))
        frame.index.name = "from_bucket"
        return frame


class Vintages:
    """Originations and write-offs by origination month and months on book."""

    def __init__(self, months: int) -> None:
        self.months = months
        self.originated = np.zeros(months)
        self.written_off = np.zeros((months, months + 1))

    def grow(self, months: int) -> None:
        """Extend the horizon to ``months`` (for runs longer than planned)."""
        if months <= self.months:
            return
        originated = np.zeros(months)
        originated[: self.months] = self.originated
        written = np.zeros((months, months + 1))
        written[: self.months, : self.months + 1] = self.written_off
        self.months, self.originated, self.written_off = months, originated, written

    def record_originations(self, month: int, amount: float) -> None:
        """Add the amount originated in ``month``."""
        if 0 <= month < self.months:
            self.originated[month] += amount

    def record_writeoffs(self, vintage: np.ndarray, age: np.ndarray, amount: np.ndarray) -> None:
        """Add written-off amounts by the loans' vintage and months on book."""
        hit = (amount > 0) & (vintage >= 0) & (vintage < self.months)
        np.add.at(self.written_off, (vintage[hit], np.minimum(age[hit], self.months)), amount[hit])

    def table(self) -> pd.DataFrame:
        """Long table: vintage, months on book, cumulative write-off rate of the vintage."""
        cum = np.cumsum(self.written_off, axis=1)
        rows = []
        for v in np.flatnonzero(self.originated > 0):
            horizon = self.months - v
            rate = cum[v, : horizon + 1] / self.originated[v]
            rows.append(
                pd.DataFrame(
                    {
                        "vintage": v,
                        "months_on_book": np.arange(horizon + 1),
                        "cum_writeoff_rate": rate,
                    }
                )
            )
        if not rows:
            return pd.DataFrame(columns=["vintage", "months_on_book", "cum_writeoff_rate"])
        return pd.concat(rows, ignore_index=True)
