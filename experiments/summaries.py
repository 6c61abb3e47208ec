"""Per-run summary metrics: the columns of ``summary.parquet`` and how a run yields them.

Declared once here, upstream of the modules that read them: a run's summary row is made
by ``execute`` and stored by ``store``, before any analysis, so they import these names
from here rather than from :mod:`experiments.analysis` (which re-exports them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.metrics import unit_of as metric_unit


@dataclass(frozen=True)
class SummaryMetric:
    """One per-run summary metric: its unit (as in ``model.metrics.UNITS``) and meaning."""

    name: str
    unit: str
    description: str


_SUMMARIES = (
    SummaryMetric("mean_overdue_rate", "share", "Mean of the monthly overdue rate (1+ DPD)."),
    SummaryMetric("peak_overdue_rate", "share", "Highest monthly overdue rate."),
    SummaryMetric("peak_overdue_month", "month", "Month of the highest overdue rate."),
    SummaryMetric("peak_npl_rate", "share", "Highest monthly 91+ DPD rate."),
    SummaryMetric("bad_debt_loss", "currency", "Cumulative net loss (write-offs - recoveries)."),
    SummaryMetric("bad_debt_loss_rate", "share", "Cumulative net loss over cumulative lending."),
    SummaryMetric("total_originations", "currency", "Amount lent over the run."),
    SummaryMetric("approval_rate", "share", "Approvals over applications over the run."),
    SummaryMetric("profit", "currency", "Profit summed over the run."),
    SummaryMetric(
        "annual_net_loss_rate", "share", "Net loss a year over the mean balance (charge-off rate)."
    ),
    SummaryMetric(
        "approval_rate_subprime",
        "share",
        "Approvals over applications of applicants scoring below 650, over the run.",
    ),
    SummaryMetric("failed_lenders", "count", "Lenders failed by the end of the run."),
    SummaryMetric(
        "lowest_capital_ratio",
        "share",
        "Lowest month-end capital ratio (equity over book; months without a book skipped).",
    ),
)
#: What a lender's summary has beyond the run's (:func:`summarise_lender`).
_LENDER_ONLY = (
    SummaryMetric("failure_month", "month", "Month the lender failed (none: it did not)."),
    SummaryMetric("final_balance_share", "share", "The lender's share of the balance at the end."),
)
#: Per-run summary metrics by name (contract columns of ``summary.parquet``, in order).
SUMMARIES = {m.name: m for m in _SUMMARIES}
#: Their names, in order.
SUMMARY_METRICS = tuple(SUMMARIES)
#: A lender's summary metrics in a run (the run's, of its own months, then its own).
LENDER_SUMMARIES = {**SUMMARIES, **{m.name: m for m in _LENDER_ONLY}}


def unit_of(name: str) -> str | None:
    """Unit of a monthly or summary metric (``model.metrics.UNITS``), None for other names."""
    if name in LENDER_SUMMARIES:
        return LENDER_SUMMARIES[name].unit
    return metric_unit(name)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def summarise_timeseries(ts: pd.DataFrame) -> dict[str, float | int]:
    """Summary metrics of one run from its monthly metrics.

    Args:
        ts: The model's monthly table (``CreditEconomy.run`` output).

    Returns:
        One value per name in :data:`SUMMARY_METRICS`; ratios with a zero
        denominator are NaN.
    """
    overdue = ts["overdue_rate"].to_numpy(dtype=float)
    cum_loss = float(ts["cum_net_loss"].iloc[-1])
    originations = float(ts["originations"].sum())
    return {
        "mean_overdue_rate": float(overdue.mean()),
        "peak_overdue_rate": float(overdue.max()),
        "peak_overdue_month": int(ts["month"].iloc[int(np.argmax(overdue))]),
        "peak_npl_rate": float(ts["npl_rate"].max()),
        "bad_debt_loss": cum_loss,
        "bad_debt_loss_rate": _ratio(cum_loss, originations),
        "total_originations": originations,
        "approval_rate": _ratio(float(ts["approvals"].sum()), float(ts["applications"].sum())),
        "profit": float(ts["profit"].sum()),
        "annual_net_loss_rate": _ratio(
            cum_loss * 12 / len(ts), float(ts["balance"].mean()) if len(ts) else 0.0
        ),
        "approval_rate_subprime": _ratio(
            float(ts["approvals_subprime"].sum()), float(ts["applications_subprime"].sum())
        ),
        "failed_lenders": float(ts["failed_lenders"].iloc[-1]),
        "lowest_capital_ratio": float(ts["capital_ratio"].min()),
    }


def summarise_lender(ts: pd.DataFrame) -> dict[str, float | int]:
    """Summary metrics of one lender in one run, from its monthly rows.

    Args:
        ts: The lender's rows of ``lender_timeseries.parquet`` (``lender_history``), in
            month order.

    Returns:
        One value per name in :data:`LENDER_SUMMARIES` (``failed_lenders`` is 1 if the
        lender failed; ``failure_month`` NaN if it did not).
    """
    failed = ts["failed"].to_numpy(dtype=bool)
    first = float(ts["month"].iloc[int(np.argmax(failed))]) if failed.any() else np.nan
    return {
        **summarise_timeseries(ts),
        "failure_month": first,
        "final_balance_share": float(ts["balance_share"].iloc[-1]),
    }
