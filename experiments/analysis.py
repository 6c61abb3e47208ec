"""Analysis: per-run summary metrics and the paired policy comparison with t-intervals."""

from __future__ import annotations

from collections.abc import Sequence
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
)
#: Per-run summary metrics by name (contract columns of ``summary.parquet``, in order).
SUMMARIES = {m.name: m for m in _SUMMARIES}
#: Their names, in order.
SUMMARY_METRICS = tuple(SUMMARIES)


def unit_of(name: str) -> str | None:
    """Unit of a monthly or summary metric (``model.metrics.UNITS``), None for other names."""
    if name in SUMMARIES:
        return SUMMARIES[name].unit
    return metric_unit(name)


#: Metrics compared across policies by :func:`compare_policies`.
COMPARED_METRICS = (
    "bad_debt_loss_rate",
    "peak_overdue_rate",
    "mean_overdue_rate",
    "approval_rate",
    "total_originations",
    "profit",
)


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
    }


def t_interval(
    values: Sequence[float] | np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and two-sided t-interval of ``values`` (NaN bounds for fewer than two values).

    Returns:
        ``(mean, low, high)``.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    from scipy import stats  # imported here: workers never need it

    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def compare_policies(
    summary: pd.DataFrame,
    params: Sequence[str] = (),
    baseline: str | None = None,
    policies: Sequence[str] | None = None,
    metrics: Sequence[str] = COMPARED_METRICS,
) -> pd.DataFrame:
    """Compare policies within each scenario and sweep point, pairing by replication.

    Args:
        summary: One row per run (``summary.parquet``).
        params: Swept parameter columns; each point is compared separately.
        baseline: Policy the others are compared against (default: the first of ``policies``).
        policies: Policy order (default: order of first appearance in ``summary``).
        metrics: Summary metrics to compare.

    Returns:
        Long table: scenario, the swept parameters, metric, policy, ``n``, ``mean``,
        ``ci_low``, ``ci_high``, then the paired difference against the baseline
        (``diff``, ``diff_ci_low``, ``diff_ci_high``, ``n_pairs``). Intervals are 95%
        t-intervals across replications; with one replication they are NaN.

    Raises:
        ValueError: If ``baseline`` is not one of the policies.
    """
    order = list(policies) if policies is not None else list(dict.fromkeys(summary["policy"]))
    baseline = order[0] if baseline is None else baseline
    if baseline not in order:
        raise ValueError(f"unknown baseline policy '{baseline}'; allowed: {', '.join(order)}")
    keys = ["scenario", *params]
    rows = []
    for group_key, group in summary.groupby(keys, sort=False, dropna=False):
        group_key = group_key if isinstance(group_key, tuple) else (group_key,)
        base = group[group["policy"] == baseline].set_index("replication")
        for metric in metrics:
            for policy in order:
                runs = group[group["policy"] == policy].set_index("replication")
                if runs.empty:
                    continue
                mean, low, high = t_interval(runs[metric].to_numpy())
                paired = (
                    runs[metric].sub(base[metric]).dropna()
                    if not base.empty
                    else pd.Series(dtype=float)
                )
                diff, d_low, d_high = t_interval(paired.to_numpy())
                rows.append(
                    {
                        **dict(zip(keys, group_key, strict=True)),
                        "metric": metric,
                        "policy": policy,
                        "n": int(runs[metric].notna().sum()),
                        "mean": mean,
                        "ci_low": low,
                        "ci_high": high,
                        "baseline": baseline,
                        "diff": diff,
                        "diff_ci_low": d_low,
                        "diff_ci_high": d_high,
                        "n_pairs": len(paired),
                    }
                )
    return pd.DataFrame(rows)


def format_comparison(table: pd.DataFrame, params: Sequence[str] = ()) -> str:
    """Render a comparison table as text, one block per scenario and sweep point."""
    if table.empty:
        return "no finished runs to compare"
    blocks = []
    keys = ["scenario", *params]
    shown = [
        "metric",
        "policy",
        "n",
        "mean",
        "ci_low",
        "ci_high",
        "diff",
        "diff_ci_low",
        "diff_ci_high",
    ]
    for group_key, group in table.groupby(keys, sort=False, dropna=False):
        group_key = group_key if isinstance(group_key, tuple) else (group_key,)
        head = ", ".join(f"{k}={v}" for k, v in zip(keys, group_key, strict=True))
        base = group["baseline"].iloc[0]
        text = group[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="NaN")
        blocks.append(
            f"== {head} (diff = policy - {base}, paired by replication; 95% t-CI)\n{text}"
        )
    return "\n\n".join(blocks)
