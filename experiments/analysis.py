"""Analysis: t-intervals and the paired comparison of policies, scenarios and sweep points.

The per-run summary metrics are declared in :mod:`experiments.summaries` (re-exported).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

# The summary vocabulary lives upstream (execute and store need it); re-exported here.
from experiments.summaries import SUMMARIES as SUMMARIES
from experiments.summaries import SUMMARY_METRICS as SUMMARY_METRICS
from experiments.summaries import SummaryMetric as SummaryMetric
from experiments.summaries import summarise_lender
from experiments.summaries import summarise_timeseries as summarise_timeseries
from experiments.summaries import unit_of as unit_of

#: Metrics compared across policies by :func:`compare_policies`.
COMPARED_METRICS = (
    "bad_debt_loss_rate",
    "peak_overdue_rate",
    "mean_overdue_rate",
    "approval_rate",
    "total_originations",
    "profit",
)


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


#: What :func:`compare` can compare: policies within a scenario and sweep point, scenarios
#: within a policy and point, sweep points within a scenario and policy, or the lenders
#: of a market within a scenario, market and point (on :func:`lender_summaries`).
COMPARE_BY = ("policy", "scenario", "point", "lender")
#: Identifier columns of a run in the results tables.
RUN_IDS = ("run_id", "scenario", "policy", "replication")


def lender_summaries(lender_ts: pd.DataFrame, params: Sequence[str] = ()) -> pd.DataFrame:
    """One row per run and lender: the lender's summary metrics in that run.

    Args:
        lender_ts: Rows of ``lender_timeseries.parquet`` (run identifiers, swept
            parameters, ``lender``, ``lender_name``, ``month`` and the lender's metrics).
        params: Swept parameter columns.

    Returns:
        The run identifiers and parameters, ``lender`` (the lender's name) and
        :data:`experiments.summaries.LENDER_SUMMARIES`, in run then market order.
    """
    keys = [*RUN_IDS, *params, "lender", "lender_name"]
    rows = []
    for key, months in lender_ts.sort_values("month").groupby(keys, sort=False, dropna=False):
        head = dict(zip(keys, key, strict=True))
        rows.append({**head, **summarise_lender(months)})
    frame = pd.DataFrame(rows).sort_values(["run_id", "lender"], kind="stable")
    return frame.drop(columns="lender").rename(columns={"lender_name": "lender"})


def group_t_intervals(
    frame: pd.DataFrame, keys: Sequence[str], column: str, level: float = 0.95
) -> pd.DataFrame:
    """:func:`t_interval` of ``column`` within each group of ``keys``, vectorised.

    Returns:
        One row per group (index: the keys) with ``n`` (finite values), ``mean``,
        ``low`` and ``high`` (NaN bounds for groups of fewer than two values).
    """
    from scipy import stats

    values = frame[column].astype(float).where(np.isfinite(frame[column].astype(float)))
    grouped = values.groupby([frame[k] for k in keys], sort=False)
    out = pd.DataFrame({"n": grouped.count(), "mean": grouped.mean(), "sd": grouped.std(ddof=1)})
    n = out["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(0.5 + level / 2, np.where(n >= 2, n - 1, np.nan))
        half = t * out["sd"].to_numpy() / np.sqrt(n)
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out.drop(columns="sd")


def point_label(params: Sequence[str], values: Sequence[object]) -> str:
    """A sweep point as ``name=value`` pairs (``policy.max_dti=0.3, scenario.severity=1``)."""
    parts = []
    for name, value in zip(params, values, strict=True):
        if isinstance(value, bool | np.bool_):
            text = "true" if value else "false"
        elif isinstance(value, int | float | np.integer | np.floating):
            text = f"{float(value):.12g}"
        else:
            text = str(value)
        parts.append(f"{name}={text}")
    return ", ".join(parts)


def _items(summary: pd.DataFrame, by: str, params: Sequence[str]) -> pd.Series:
    if by == "lender" and "lender" not in summary.columns:
        raise ValueError("comparing lenders needs their summaries (lender_summaries)")
    if by != "point":
        return summary[by]
    values = summary[list(params)].itertuples(index=False, name=None)
    return pd.Series([point_label(params, v) for v in values], index=summary.index)


def compare(
    summary: pd.DataFrame,
    by: str = "policy",
    params: Sequence[str] = (),
    baseline: str | None = None,
    order: Sequence[str] | None = None,
    metrics: Sequence[str] = COMPARED_METRICS,
) -> pd.DataFrame:
    """Compare policies, scenarios or sweep points against a baseline, pairing by replication.

    Every run of replication ``k`` has the same seed whatever its scenario, policy and
    sweep point (same borrowers and shocks), so the difference of two items is taken
    within each replication and its t-interval is over those paired differences
    (replications missing on either side, e.g. failed runs, are left out of the pairs).

    On lenders' summaries (:func:`lender_summaries`: a ``lender`` column), each lender is
    compared on its own: ``by="lender"`` sets the lenders of a market against one of
    them; the other comparisons are made within each lender (e.g. a lender named
    ``p2p`` in one market against ``p2p`` in another, which pairs when both markets
    have the same lenders).

    Args:
        summary: One row per run (``summary.parquet``, possibly with derived metrics),
            or per run and lender (:func:`lender_summaries`).
        by: ``"policy"`` (within each scenario and sweep point), ``"scenario"`` (within
            each policy and point), ``"point"`` (sweep points, within each scenario and
            policy; a point is named by :func:`point_label`) or ``"lender"`` (within each
            scenario, market and point).
        params: Swept parameter columns.
        baseline: The item the others are compared against (default: the first of ``order``).
        order: Item order (default: order of first appearance in ``summary``).
        metrics: Metric columns to compare.

    Returns:
        Long table: the group columns (``scenario`` and the swept parameters for
        ``by="policy"``; ``policy`` and the parameters for ``"scenario"``; ``scenario``,
        ``policy`` for ``"point"``), ``metric``, the item column (``policy``, ``scenario``
        or ``point``, then the parameters for points), ``n``, ``mean``, ``ci_low``,
        ``ci_high``, ``baseline``, ``diff``, ``diff_ci_low``, ``diff_ci_high``, ``n_pairs``.
        Intervals are 95% t-intervals across replications; NaN with one replication.

    Raises:
        ValueError: If ``by`` is unknown, ``by="point"`` without swept parameters, or the
            baseline is not one of the items.
    """
    if by not in COMPARE_BY:
        raise ValueError(f"unknown comparison '{by}'; allowed: {', '.join(COMPARE_BY)}")
    if by == "point" and not params:
        raise ValueError("there are no sweep points to compare: the experiment sweeps nothing")
    params = list(params)
    items = _items(summary, by, params)
    frame = summary.assign(_item=items.to_numpy())
    order = list(order) if order is not None else list(dict.fromkeys(items))
    baseline = _baseline_of(by, order, baseline)
    keys = group_keys(by, params, per_lender="lender" in summary.columns)
    extra = params if by == "point" else []
    return pd.DataFrame(_compared_rows(frame, keys, by, order, baseline, metrics, extra))


def group_keys(by: str, params: Sequence[str], per_lender: bool = False) -> list[str]:
    """The columns within which :func:`compare` sets items against the baseline.

    Args:
        by: What is compared (:data:`COMPARE_BY`).
        params: Swept parameter columns.
        per_lender: Whether the rows are lenders' (each lender compared on its own).
    """
    keys = {
        "policy": ["scenario", *params],
        "scenario": ["policy", *params],
        "point": ["scenario", "policy"],
        "lender": ["scenario", "policy", *params],
    }[by]
    return keys + ["lender"] if per_lender and by != "lender" else keys


def _baseline_of(by: str, order: list[str], baseline: str | None) -> str | None:
    """The baseline item: the one given (which must be among ``order``) or the first."""
    baseline = order[0] if baseline is None and order else baseline
    if baseline not in order:
        shown = ", ".join(order[:20]) + (", ..." if len(order) > 20 else "")
        raise ValueError(f"unknown baseline {by} '{baseline}'; allowed: {shown}")
    return baseline


def _compared_rows(
    frame: pd.DataFrame,
    keys: list[str],
    by: str,
    order: list[str],
    baseline: str | None,
    metrics: Sequence[str],
    extra: Sequence[str],
) -> list[dict[str, Any]]:
    """The rows of :func:`compare`: each group's items against the baseline, metric by metric.

    Args:
        frame: The runs, with their item in an ``_item`` column.
        keys: The group columns (:func:`group_keys`).
        by: The item column's name in the rows.
        order: Item order.
        baseline: The baseline item.
        metrics: Metric columns to compare.
        extra: Columns of the item's runs copied into its rows (the swept parameters of
            a point).
    """
    rows = []
    for group_key, group in frame.groupby(keys, sort=False, dropna=False):
        group_key = group_key if isinstance(group_key, tuple) else (group_key,)
        head = dict(zip(keys, group_key, strict=True))
        cells = {item: runs.set_index("replication") for item, runs in group.groupby("_item")}
        for metric in metrics:
            for item in order:
                if item in cells:
                    cell = _compared(cells[item], cells.get(baseline), baseline, metric, extra)
                    rows.append({**head, "metric": metric, by: item, **cell})
    return rows


def _compared(
    runs: pd.DataFrame,
    base: pd.DataFrame | None,
    baseline: str,
    metric: str,
    extra: Sequence[str],
) -> dict[str, Any]:
    """One item's cell of :func:`compare`: its mean and the difference paired with ``base``.

    Args:
        runs: The item's runs, indexed by replication.
        base: The baseline's runs of the same group (None if it has none there).
        baseline: The baseline's name.
        metric: The metric compared.
        extra: Parameter columns to copy (a sweep point's values).
    """
    mean, low, high = t_interval(runs[metric].to_numpy())
    paired = runs[metric].sub(base[metric]).dropna() if base is not None else pd.Series(dtype=float)
    diff, d_low, d_high = t_interval(paired.to_numpy())
    return {
        **{p: runs[p].iloc[0] for p in extra},
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


def compare_policies(
    summary: pd.DataFrame,
    params: Sequence[str] = (),
    baseline: str | None = None,
    policies: Sequence[str] | None = None,
    metrics: Sequence[str] = COMPARED_METRICS,
) -> pd.DataFrame:
    """Compare policies within each scenario and sweep point, pairing by replication.

    The policy comparison of :func:`compare` (``by="policy"``).

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
    return compare(summary, "policy", params, baseline, policies, metrics)


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
