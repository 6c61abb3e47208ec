"""The metric registry: every monthly metric declared once, with its unit and aggregation.

Each :class:`Metric` says what a column means, its unit, where its value comes from
and how it aggregates:

- across lenders (``lenders``): ``"sum"`` (counts, money), ``"mean"`` (the cut-off in
  force), ``"ratio"`` (recomputed from the summed numerator and denominator, so a
  market's overdue rate is overdue loans over active loans of all lenders, not a mean
  of rates), or ``"market"`` (a value of the whole economy, not of a lender);
- across months (``months``): ``"sum"`` for flows (totals add up), ``"last"`` for
  stocks and running totals, ``"mean"`` for rates;
- across runs: always the mean, with a t-interval over replications (the analysis
  layer's job).

The monthly frame (:data:`METRIC_COLUMNS` then :data:`EXTRA_COLUMNS`), a lender's
accounts (:data:`FLOW_FIELDS`), chart units and the docs all read this table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from model.loans import BookSummary

#: Units a metric may have: shares in [0, 1] (shown as %), currency units, counts,
#: months, score points, and indices (levels without a unit).
UNITS = ("share", "currency", "count", "month", "points", "index")
#: Where a metric's monthly value comes from.
SOURCES = ("flow", "book", "ledger", "derived", "economy")


@dataclass(frozen=True)
class Metric:
    """One monthly metric.

    Attributes:
        name: Column name.
        unit: One of :data:`UNITS`.
        description: One line: what the value is.
        source: ``"flow"`` (booked by a lender during the month), ``"book"`` (measured
            on the loan book at the end of the month), ``"ledger"`` (the lender's
            closing accounts), ``"derived"`` (computed from other metrics of the row),
            or ``"economy"`` (a value of the whole economy).
        lenders: How a market's value comes from its lenders' values.
        months: How months aggregate: ``"sum"``, ``"last"`` or ``"mean"``.
        ratio: ``(numerator, denominator)`` metric names when ``lenders == "ratio"``.
        contract: Whether the column is part of the published contract (DESIGN.md).
        part_of_whole: For a ratio, whether the numerator is a part of the denominator
            (the value is then at most 1, rounding in the sums aside).
        label: Short readable name for charts and tables, without the unit, where the
            spaced name would be unclear ("" = the name, spaced: ``Active loans``).
        when_empty: A ratio's value when its denominator is 0: 0 for rates of nothing
            (no loans, no applications), NaN where the ratio is undefined (equity over
            no book).
    """

    name: str
    unit: str
    description: str
    source: str
    lenders: str = "sum"
    months: str = "sum"
    ratio: tuple[str, str] | None = None
    contract: bool = False
    part_of_whole: bool = False
    label: str = ""
    when_empty: float = 0.0


def _flow(
    name: str, unit: str, description: str, contract: bool = False, label: str = ""
) -> Metric:
    return Metric(name, unit, description, "flow", "sum", "sum", contract=contract, label=label)


def _count(name: str, description: str, contract: bool = False, label: str = "") -> Metric:
    return Metric(name, "count", description, "book", "sum", "last", contract=contract, label=label)


def _share(
    name: str,
    num: str,
    den: str,
    description: str,
    contract: bool = False,
    source: str = "derived",
    label: str = "",
) -> Metric:
    return Metric(
        name, "share", description, source, "ratio", "mean", (num, den), contract, True, label
    )


_METRICS: tuple[Metric, ...] = (
    # --- the published contract, in its column order
    Metric(
        "month",
        "month",
        "Month number (0 = first recorded month).",
        "economy",
        "market",
        "last",
        contract=True,
    ),
    Metric(
        "unemployment_rate",
        "share",
        "Share of borrowers without a job (simulated).",
        "economy",
        "market",
        "mean",
        contract=True,
    ),
    _count("active_loans", "Open loans.", contract=True),
    Metric(
        "balance",
        "currency",
        "Outstanding balance of open loans.",
        "book",
        "sum",
        "last",
        contract=True,
    ),
    _share(
        "overdue_rate",
        "overdue_loans",
        "active_loans",
        "Share of open loans 1+ days past due (by count).",
        contract=True,
        label="Overdue rate (1+ DPD)",
    ),
    _share(
        "overdue_rate_30",
        "overdue_loans_30",
        "active_loans",
        "Share of open loans 31+ days past due (by count).",
        contract=True,
        label="Overdue rate (31+ DPD)",
    ),
    _share(
        "npl_rate",
        "npl_loans",
        "active_loans",
        "Share of open loans 91+ days past due (non-performing, by count).",
        contract=True,
        label="NPL rate (91+ DPD)",
    ),
    _share(
        "overdue_balance_rate",
        "overdue_balance",
        "balance",
        "Share of the balance on loans 1+ days past due.",
        contract=True,
        label="Overdue balance share (1+ DPD)",
    ),
    _flow("applications", "count", "Loan applications received.", contract=True),
    _flow("approvals", "count", "Applications approved (loans made).", contract=True),
    _share(
        "approval_rate", "approvals", "applications", "Approvals over applications.", contract=True
    ),
    _flow("originations", "currency", "Amount lent.", contract=True),
    _flow("writeoffs", "currency", "Balance written off.", contract=True, label="Write-offs"),
    _flow("recoveries", "currency", "Cash recovered on written-off debt.", contract=True),
    Metric(
        "net_loss",
        "currency",
        "Write-offs less recoveries.",
        "derived",
        "sum",
        "sum",
        contract=True,
    ),
    Metric(
        "cum_net_loss",
        "currency",
        "Net loss summed since month 0.",
        "derived",
        "sum",
        "last",
        contract=True,
        label="Cumulative net loss",
    ),
    _flow("interest_income", "currency", "Interest accrued (contract and penalty).", contract=True),
    _flow("fee_income", "currency", "Late fees charged.", contract=True),
    _flow("funding_cost", "currency", "Cost of funding the opening book.", contract=True),
    _flow("collection_cost", "currency", "Cost of graded collection and reminders.", contract=True),
    Metric(
        "profit",
        "currency",
        "Income less losses, provision charge and costs.",
        "ledger",
        "sum",
        "sum",
        contract=True,
    ),
    _flow(
        "relief_granted",
        "count",
        "Loans granted repayment relief.",
        contract=True,
        label="Loans granted relief",
    ),
    # --- further columns
    Metric(
        "scenario_unemployment",
        "share",
        "The scenario's unemployment rate this month.",
        "economy",
        "market",
        "mean",
        label="Scenario unemployment rate",
    ),
    _flow("repayments", "currency", "Payments received on open loans."),
    _flow("waived", "currency", "Arrears waived under relief."),
    _flow("acquisition_cost", "currency", "Operating cost of the new loans."),
    _flow("servicing_cost", "currency", "Operating cost of the open loans."),
    Metric(
        "capital",
        "currency",
        "Equity: initial capital plus profit since month 0, less dividends paid.",
        "ledger",
        "sum",
        "last",
    ),
    Metric(
        "provisions", "currency", "Loss allowance held against the book.", "ledger", "sum", "last"
    ),
    _flow("provision_charge", "currency", "Change in the loss allowance over the month."),
    _flow(
        "applications_to_repay",
        "count",
        "Applications made to repay another lender.",
        label="Applications to repay another lender",
    ),
    _flow(
        "approvals_to_repay",
        "count",
        "Of those, approved.",
        label="Approvals to repay another lender",
    ),
    _flow(
        "applications_subprime",
        "count",
        "Applications of applicants whose observed score is below 650 (tiers C and D).",
        label="Subprime applications (score < 650)",
    ),
    _flow(
        "approvals_subprime",
        "count",
        "Of those, approved.",
        label="Subprime approvals (score < 650)",
    ),
    _share(
        "approval_rate_subprime",
        "approvals_subprime",
        "applications_subprime",
        "Approvals over applications of applicants scoring below 650: who still gets credit.",
        label="Subprime approval rate (score < 650)",
    ),
    Metric(
        "cutoff",
        "points",
        "Score cut-off in force (mean over lenders).",
        "ledger",
        "mean",
        "mean",
        label="Score cut-off in force",
    ),
    _share("share_current", "loans_current", "active_loans", "Share of open loans current."),
    _share(
        "share_1_30",
        "loans_1_30",
        "active_loans",
        "Share of open loans 1-30 DPD.",
        label="Share 1-30 DPD",
    ),
    _share(
        "share_31_60",
        "loans_31_60",
        "active_loans",
        "Share of open loans 31-60 DPD.",
        label="Share 31-60 DPD",
    ),
    _share(
        "share_61_90",
        "loans_61_90",
        "active_loans",
        "Share of open loans 61-90 DPD.",
        label="Share 61-90 DPD",
    ),
    _share(
        "share_90_plus",
        "npl_loans",
        "active_loans",
        "Share of open loans 91+ DPD.",
        label="Share 91+ DPD",
    ),
    # --- counts behind the ratios (so markets aggregate exactly)
    _count("loans_current", "Open loans current."),
    _count("loans_1_30", "Open loans 1-30 DPD.", label="Loans 1-30 DPD"),
    _count("loans_31_60", "Open loans 31-60 DPD.", label="Loans 31-60 DPD"),
    _count("loans_61_90", "Open loans 61-90 DPD.", label="Loans 61-90 DPD"),
    _count("overdue_loans", "Open loans 1+ DPD.", label="Overdue loans (1+ DPD)"),
    _count("overdue_loans_30", "Open loans 31+ DPD.", label="Overdue loans (31+ DPD)"),
    _count("npl_loans", "Open loans 91+ DPD.", label="Non-performing loans (91+ DPD)"),
    Metric(
        "overdue_balance",
        "currency",
        "Balance of open loans 1+ DPD.",
        "book",
        "sum",
        "last",
        label="Overdue balance (1+ DPD)",
    ),
    # --- forbearance, flows and capital (credit accounting)
    _share(
        "forborne_share",
        "forborne_loans",
        "active_loans",
        "Share of open loans under forbearance (relieved, probation not yet served).",
    ),
    _share(
        "overdue_rate_underlying",
        "underlying_overdue_loans",
        "active_loans",
        "Overdue rate counting forborne loans as overdue (relief that only re-ages "
        "arrears shows here).",
        label="Underlying overdue rate (forborne as overdue)",
    ),
    _share(
        "redefault_rate",
        "cohort_redefaults",
        "cohort_relieved",
        "Share of loans relieved 12-23 months earlier that missed a payment within 12 "
        "months of relief.",
        label="Re-default rate of relieved loans",
    ),
    _share(
        "relieved_writeoff_share",
        "writeoffs_after_relief",
        "writeoffs",
        "Share of the balance written off on loans that had been granted relief: how much "
        "of the loss relief only delayed.",
        label="Write-offs after relief (share)",
    ),
    _share(
        "new_delinquency_rate",
        "newly_delinquent_balance",
        "current_balance",
        "Balance of current loans that fell 1+ DPD this month over the current balance "
        "(the flow the dynamic rule watches).",
    ),
    Metric(
        "capital_ratio",
        "share",
        "Equity over the book; NaN while the lender has no book (undefined, not a breach).",
        "derived",
        "ratio",
        "mean",
        ("capital", "balance"),
        when_empty=math.nan,
    ),
    _count("forborne_loans", "Open loans under forbearance."),
    _count("underlying_overdue_loans", "Open loans 1+ DPD or forborne."),
    Metric(
        "cohort_relieved", "count", "Loans relieved 12-23 months earlier.", "ledger", "sum", "last"
    ),
    Metric(
        "cohort_redefaults",
        "count",
        "Of those, re-defaulted within 12 months of relief.",
        "ledger",
        "sum",
        "last",
    ),
    _flow("redefaults", "count", "Forborne loans that missed a payment for the first time."),
    _flow(
        "writeoffs_after_relief",
        "currency",
        "Of the write-offs, the balance of loans that had been granted relief (forbearance "
        "that failed).",
    ),
    _flow("current_balance", "currency", "Balance of the loans current before payments."),
    _flow("newly_delinquent_balance", "currency", "Of that, the balance that fell 1+ DPD."),
    _flow("dividends", "currency", "Equity above the target ratio paid out."),
    Metric(
        "failed_lenders", "count", "Lenders whose equity reached zero.", "ledger", "sum", "last"
    ),
    Metric(
        "funding_line",
        "currency",
        "Largest book the lenders' funding allows now (an investor-funded lender's shrinks "
        "when its investors lose confidence).",
        "ledger",
        "sum",
        "last",
    ),
    # --- the scenario's drivers
    Metric(
        "wage_index", "index", "Nominal wage level (1 at month 0).", "economy", "market", "mean"
    ),
    Metric(
        "price_index", "index", "Consumer-price level (1 at month 0).", "economy", "market", "mean"
    ),
    Metric("policy_rate", "share", "Annual policy rate.", "economy", "market", "mean"),
    Metric(
        "illness_factor", "index", "Multiplier on illness incidence.", "economy", "market", "mean"
    ),
    Metric(
        "common_factor",
        "index",
        "The month's common income shock Z ~ N(0, 1).",
        "economy",
        "market",
        "mean",
    ),
)

#: Every monthly metric by name, in column order.
METRICS: Mapping[str, Metric] = {m.name: m for m in _METRICS}
#: Monthly columns of the published contract (DESIGN.md), in order.
METRIC_COLUMNS: tuple[str, ...] = tuple(m.name for m in _METRICS if m.contract)
#: Further monthly columns, in order.
EXTRA_COLUMNS: tuple[str, ...] = tuple(m.name for m in _METRICS if not m.contract)
#: The flows a lender books during a month (its accounts, reset every month).
FLOW_FIELDS: tuple[str, ...] = tuple(m.name for m in _METRICS if m.source == "flow")
#: The metrics a lender has of its own (everything but the economy's values).
LENDER_COLUMNS: tuple[str, ...] = tuple(m.name for m in _METRICS if m.lenders != "market")


def unit_of(name: str) -> str | None:
    """Unit of a monthly metric (see :data:`UNITS`), or None if it is not one."""
    metric = METRICS.get(name)
    return metric.unit if metric is not None else None


def derive(row: dict[str, float]) -> dict[str, float]:
    """Fill a row's derived metrics (ratios and net loss) from its other values, in place.

    A ratio with a zero denominator is its metric's ``when_empty`` (0 for no loans or no
    applications; NaN for the capital ratio without a book); a part of a whole is at most
    1 (the two sums may round differently).
    """
    row["net_loss"] = row["writeoffs"] - row["recoveries"]
    for metric in _METRICS:
        if metric.lenders == "ratio":
            num, den = metric.ratio
            value = row[num] / row[den] if row[den] else metric.when_empty
            row[metric.name] = min(value, 1.0) if metric.part_of_whole else value
    return row


def combine(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """A market's row from its lenders' rows, each metric aggregated as the registry says."""
    out: dict[str, float] = {}
    for metric in _METRICS:
        if metric.lenders == "sum":
            out[metric.name] = float(sum(r[metric.name] for r in rows))
        elif metric.lenders == "mean":
            out[metric.name] = float(sum(r[metric.name] for r in rows) / len(rows))
    return derive(out)


def book_measures(summary: BookSummary) -> dict[str, float]:
    """The ``"book"`` metrics of one lender's loans at the end of a month.

    Args:
        summary: The lender's open loans by DPD bucket (``model.loans.summary``).
    """
    current, m1, m2, m3, npl = (int(c) for c in summary.counts)
    forborne = summary.forborne_counts
    return {
        "active_loans": current + m1 + m2 + m3 + npl,
        "balance": float(summary.balances.sum()),
        "loans_current": current,
        "loans_1_30": m1,
        "loans_31_60": m2,
        "loans_61_90": m3,
        "overdue_loans": m1 + m2 + m3 + npl,
        "overdue_loans_30": m2 + m3 + npl,
        "npl_loans": npl,
        "overdue_balance": float(summary.balances[1:].sum()),
        "forborne_loans": int(forborne.sum()),
        "underlying_overdue_loans": m1 + m2 + m3 + npl + int(forborne[0]),
    }
