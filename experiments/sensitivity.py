"""Sensitivity analysis of a sampled design: Morris mu*/sigma or Sobol' S1/ST per output metric.

The pipeline is SALib's: problem -> sample (:mod:`experiments.designs`, from the
config's ``[sample]``) -> evaluate (the runs of the sweep) -> analyse (here). The core,
:func:`analyse`, takes the design's unit-cube rows and a table of outputs, so any
function can be evaluated through it (the tests feed it the Ishigami function);
:func:`analyse_results` reads a results folder and :func:`write` leaves
``sensitivity.csv``, ``sensitivity.md`` and one bar chart per metric in it.

Replications: the indices are computed on the mean over replications of each design
point (every point has the same replication seeds, so the noise is common to all
points as far as the model lets it be); runs without a value (NaN) are left out of the
mean. ``noise_share`` is the within-point variance over the replications, divided by the
variance of the point means: the share of the indices that replication noise would
explain if it were independent from point to point.
"""

from __future__ import annotations

import importlib.metadata
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import designs, store
from experiments.config import ConfigError, ExperimentConfig, SampleSpec, parse_config
from experiments.design import build_design, point_indices, sample_design
from experiments.labels import NameTable, display_names, with_unit
from experiments.summaries import SUMMARY_METRICS

#: Metrics analysed by default (summary metrics of each run).
SENSITIVITY_METRICS = (
    "bad_debt_loss_rate",
    "peak_overdue_rate",
    "mean_overdue_rate",
    "peak_npl_rate",
    "approval_rate",
    "profit",
)
#: Files written into the results folder.
CSV = "sensitivity.csv"
MARKDOWN = "sensitivity.md"

_EXPLAIN = {
    "morris": (
        "mu*: mean absolute elementary effect (the lever's importance), in the metric's unit "
        "per change of the lever over its whole range; mu: mean signed effect; sigma: spread "
        "of the effects (non-linearity or interactions); ±: half-width of the 95% bootstrap "
        "confidence interval of mu*."
    ),
    "sobol_indices": (
        "S1: share of the metric's variance explained by the lever alone; ST: share explained "
        "by the lever alone and through its interactions; ±: half-widths of the 95% "
        "bootstrap confidence intervals."
    ),
}
_SHOWN = {
    "morris": [("mu*", "mu_star"), ("±", "mu_star_conf"), ("mu", "mu"), ("sigma", "sigma")],
    "sobol_indices": [("S1", "S1"), ("±", "S1_conf"), ("ST", "ST"), ("± ", "ST_conf")],
}
_RANK_BY = {"morris": "mu_star", "sobol_indices": "ST"}


def analyse(
    method: str,
    problem: designs.Problem,
    unit: np.ndarray,
    outputs: pd.DataFrame,
    metrics: Sequence[str],
    seed: int,
    options: dict[str, Any] | None = None,
    groups: Sequence[str] = (),
) -> pd.DataFrame:
    """Sensitivity indices of each metric, from a design and the outputs evaluated on it.

    Args:
        method: A method of :mod:`experiments.designs` with an analysis (``morris``,
            ``sobol_indices``).
        problem: The design's problem.
        unit: The design's unit-cube rows (``designs.sample_points(...)[0]``).
        outputs: One row per evaluation: ``point`` (row of ``unit``), the ``groups``
            columns and one column per metric; several rows of a point (replications)
            are averaged.
        metrics: Output columns to analyse.
        seed: Seed of the bootstrap confidence intervals.
        options: The method's options (e.g. ``levels`` of ``morris``).
        groups: Columns analysed separately (e.g. ``scenario``, ``policy``).

    Returns:
        Long table: the group columns, ``metric``, ``lever``, ``rank`` (1 = most
        influential), the method's indices, ``points``, ``replications`` (mean per
        point) and ``noise_share``. A metric that is not finite at every point has
        NaN indices.

    Raises:
        ValueError: If the method has no analysis, or a design point has no output.
    """
    module = designs.method(method)
    if module.analyse is None:
        raise ValueError(
            f"method '{method}' has no sensitivity analysis; "
            f"methods with one: {', '.join(designs.ANALYSED)}"
        )
    count = len(unit)
    grouped = outputs.groupby(list(groups), sort=False) if groups else [((), outputs)]
    rows = []
    for key, frame in grouped:
        key = key if isinstance(key, tuple) else (key,)
        where = dict(zip(groups, key, strict=True))
        means, variances, reps = _point_stats(frame, metrics, count, where)
        for metric in metrics:
            y = means[metric].to_numpy(dtype=float)
            indices = _indices(module, method, problem, unit, y, seed, options)
            noise = _noise_share(y, variances[metric].to_numpy(dtype=float), reps.to_numpy())
            tail = {"points": count, "replications": float(reps.mean()), "noise_share": noise}
            for lever, values in indices.iterrows():
                head = {**where, "metric": metric, "lever": lever, "rank": values["rank"]}
                rows.append({**head, **{c: values[c] for c in module.COLUMNS}, **tail})
    table = pd.DataFrame(rows)
    table["rank"] = table["rank"].astype("Int64")
    return table


def _point_stats(
    frame: pd.DataFrame, metrics: Sequence[str], count: int, where: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Per design point: the metrics' means and variances over replications, and their count.

    Raises:
        ValueError: If a design point has no output.
    """
    by_point = frame.groupby("point")[list(metrics)]
    means = by_point.mean().reindex(range(count))
    reps = frame.groupby("point").size().reindex(range(count), fill_value=0)
    missing = int((reps == 0).sum())
    if missing:
        head = ", ".join(f"{k} '{v}'" for k, v in where.items()) or "the design"
        raise ValueError(f"{missing} of {count} design points of {head} have no output")
    return means, by_point.var(ddof=1).reindex(range(count)), reps


def _indices(
    module: Any,
    method: str,
    problem: designs.Problem,
    unit: np.ndarray,
    y: np.ndarray,
    seed: int,
    options: dict[str, Any] | None,
) -> pd.DataFrame:
    """The method's indices of one output per lever, ranked (NaN if an output is not finite)."""
    if np.isfinite(y).all():
        indices = module.analyse(problem, unit, y, seed, **(options or {}))
    else:
        indices = pd.DataFrame(np.nan, index=list(problem.names), columns=module.COLUMNS)
    return indices.assign(rank=indices[_RANK_BY[method]].rank(ascending=False, method="min"))


def _noise_share(means: np.ndarray, variances: np.ndarray, reps: np.ndarray) -> float:
    """Share of the variance of the point means that is replication noise (NaN if unknown)."""
    ok = np.isfinite(means) & np.isfinite(variances) & (reps >= 2)
    if ok.sum() < 2:
        return float("nan")
    spread = float(np.var(means[ok], ddof=1))
    noise = float(np.mean(variances[ok] / reps[ok]))
    if spread == 0:
        return float("nan") if noise == 0 else 1.0
    return min(noise / spread, 1.0)


@dataclass
class SensitivityResult:
    """Indices of a results folder, with what is needed to report them."""

    config: ExperimentConfig
    table: pd.DataFrame
    runs: int
    notes: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        """The design's method."""
        assert self.config.sample is not None
        return self.config.sample.method


def _check_metrics(metrics: Sequence[str]) -> list[str]:
    for metric in metrics:
        if metric not in SUMMARY_METRICS:
            raise ConfigError(
                f"argument --metric: unknown metric '{metric}'; "
                f"allowed: {', '.join(SUMMARY_METRICS)}"
            )
    return list(dict.fromkeys(metrics))


def analyse_results(
    folder: Path | str, metrics: Sequence[str] = SENSITIVITY_METRICS
) -> SensitivityResult:
    """Sensitivity indices of a results folder run with a ``morris`` or ``sobol_indices`` design.

    The design is sampled again from the config in ``manifest.json`` and checked against
    the runs stored there; each finished run is matched to its design point.

    Raises:
        ConfigError: One line, if the folder was not run with a sensitivity design, a
            metric is unknown, the design cannot be rebuilt, or runs are missing.
    """
    folder = Path(folder)
    metrics = _check_metrics(metrics)
    manifest = store.read_manifest(folder)
    config = parse_config(manifest["config"])
    sample = _sensitivity_sample(folder, config)
    point_of = _design_points(folder, config, manifest)
    summary = store.read_table(folder, "summary")
    unknown = sorted(set(summary["run_id"]) - set(point_of))
    if unknown:
        raise ConfigError(
            f"argument dir: '{folder}' holds {len(unknown)} runs not in its design "
            f"(e.g. {unknown[0]}); rerun it with run --force"
        )
    absent = [m for m in metrics if m not in summary.columns]
    if absent:
        raise ConfigError(
            f"argument --metric: '{absent[0]}' is not a column of '{folder}/summary.parquet'"
        )
    outputs = summary.assign(point=summary["run_id"].map(point_of))
    problem, unit, _ = sample_design(config)
    try:
        table = analyse(
            sample.method,
            problem,
            unit,
            outputs,
            metrics,
            seed=sample.seed,
            options=sample.options,
            groups=("scenario", "policy"),
        )
    except ValueError as exc:
        raise ConfigError(
            f"argument dir: '{folder}': {exc}; finish the sweep with run --resume"
        ) from None
    return SensitivityResult(config, table, runs=len(summary), notes=_nan_notes(summary, metrics))


def _sensitivity_sample(folder: Path, config: ExperimentConfig) -> SampleSpec:
    """The config's ``[sample]``, which must be a design with a sensitivity analysis.

    Raises:
        ConfigError: Naming what the folder was run with instead.
    """
    sample = config.sample
    if sample is None or sample.method not in designs.ANALYSED:
        made = f"[sample] method '{sample.method}'" if sample else "a [sweep] grid"
        if sample is None and not config.sweep:
            made = "no swept levers"
        hint = (
            " ('sobol' is a space-filling sequence; Sobol' indices need 'sobol_indices')"
            if sample is not None and sample.method == "sobol"
            else ""
        )
        raise ConfigError(
            f"argument dir: '{folder}' was run with {made}; sensitivity needs a config "
            f"with [sample] method = {' or '.join(repr(m) for m in designs.ANALYSED)}{hint}"
        )
    return sample


def _design_points(
    folder: Path, config: ExperimentConfig, manifest: dict[str, Any]
) -> dict[str, int]:
    """The design point of each run id, the design rebuilt as the manifest lists it.

    Raises:
        ConfigError: If this code builds other run ids than the folder's.
    """
    specs = build_design(config)
    stored = [run["run_id"] for run in manifest.get("runs", [])]
    if stored and stored != [s.run_id for s in specs]:
        raise ConfigError(
            f"argument dir: the design of '{folder}' cannot be rebuilt by this code (its run "
            "ids differ; another SALib or scipy version?); rerun it with run --force"
        )
    return dict(zip((s.run_id for s in specs), point_indices(config, specs), strict=True))


def _nan_notes(summary: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    """A note per metric some runs give no value for."""
    notes = []
    for metric in metrics:
        bad = int((~np.isfinite(summary[metric].to_numpy(dtype=float))).sum())
        if bad:
            notes.append(
                f"{metric}: {bad} runs give no value (NaN); a point's mean is over its other "
                "replications, and the indices are NaN if a point has none"
            )
    return notes


def _fmt(value: float) -> str:
    return "NaN" if not np.isfinite(value) else f"{value:.4g}"


def _design_line(result: SensitivityResult) -> str:
    sample = result.config.sample
    assert sample is not None
    dims, reps = len(sample.ranges), result.config.replications
    if sample.method == "morris":
        shape = (
            f"Morris, {sample.n} trajectories x {dims + 1} points = {sample.size} design "
            f"points on a {sample.options['levels']}-level grid"
        )
    else:
        shape = (
            f"Sobol' indices, Saltelli's scheme: {sample.n} base points x ({dims} + 2) = "
            f"{sample.size} design points"
        )
    try:
        salib = importlib.metadata.version("salib")
    except importlib.metadata.PackageNotFoundError:
        salib = "?"
    return (
        f"Design: {shape} (SALib {salib}, seed {sample.seed}); {reps} replications per point, "
        f"{result.runs} finished runs. The indices are computed on the mean over "
        "replications of each design point."
    )


def format_markdown(result: SensitivityResult) -> str:
    """The report ``sensitivity.md``: the design, then one table per group and metric."""
    sample = result.config.sample
    assert sample is not None
    ranges = ", ".join(f"{k} [{lo:g}, {hi:g}]" for k, (lo, hi) in sample.ranges.items())
    lines = [
        f"# Sensitivity: {result.config.name}",
        "",
        _design_line(result),
        "",
        f"Levers and ranges: {ranges}.",
        "",
        _EXPLAIN[sample.method],
        "noise: within-point variance over replications, divided by the variance of the "
        "point means: the share replication noise would have if it were independent from "
        "point to point (the common seeds of each replication make it smaller); with "
        "independent noise, S1 and ST below it cannot be told from noise.",
        "",
    ]
    lines += [f"Note: {note}" for note in result.notes]
    shown = _SHOWN[sample.method]
    for (scenario, policy), group in result.table.groupby(["scenario", "policy"], sort=False):
        lines += [f"## {scenario} x {policy}", ""]
        for metric, frame in group.groupby("metric", sort=False):
            noise = frame["noise_share"].iloc[0]
            noise_text = f"noise {noise:.1%}" if np.isfinite(noise) else "noise unknown"
            lines += [f"### {metric} ({noise_text})", ""]
            lines.append("| lever | " + " | ".join(h for h, _ in shown) + " |")
            lines.append("|---|" + "---:|" * len(shown))
            for _, row in frame.sort_values("rank", na_position="last").iterrows():
                cells = " | ".join(_fmt(row[c]) for _, c in shown)
                lines.append(f"| {row['lever']} | {cells} |")
            lines.append("")
    return "\n".join(lines)


def draw(result: SensitivityResult, folder: Path | str) -> list[Path]:
    """One bar chart per metric (``figures/sensitivity_<metric>.png`` and ``.pdf``).

    A panel per scenario and policy. Morris: bars of mu* with their confidence
    intervals, sigma as dots. Sobol' indices: bars of S1 and ST with their confidence
    intervals. Drawn as the experiment charts are (:mod:`experiments.charts`): in the
    config's style, at most :data:`~experiments.charts.MAX_WIDTH` inches wide, PNG at
    300 dpi and PDF, levers and metrics named by the name table
    (:class:`~experiments.labels.NameTable`), scenarios and policies by
    :func:`~experiments.labels.display_names`. More panels than fit a page go onto
    pages, ``sensitivity_<metric>_p1``, ``_p2``, ...
    """
    from experiments.charts import MAX_COLS, MAX_ROWS, paged, save_figure
    from experiments.style import style_context

    out = Path(folder) / store.FIGURES_DIR
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with style_context(result.config.style, result.config.rcparams):
        for metric, table in result.table.groupby("metric", sort=False):
            groups = list(table.groupby(["scenario", "policy"], sort=False))
            rows = max(1, min(MAX_ROWS, int(9 / _panel_height(table["lever"].nunique()))))
            pages = paged(groups, most=MAX_COLS * rows)
            for page, chunk in enumerate(pages, start=1):
                fig = _bar_chart(result, str(metric), chunk, (page, len(pages)))
                name = f"sensitivity_{metric}" + (f"_p{page}" if len(pages) > 1 else "")
                paths += save_figure(fig, out, name)
    return paths


def _panel_height(levers: int) -> float:
    """Height of a row of bar panels, inches: room for each lever's bars and the axes."""
    return 0.9 + 0.3 * levers


def _bar_chart(result: SensitivityResult, metric: str, groups: list, page: tuple[int, int]) -> Any:
    """The figure of one metric and page: a panel per ``((scenario, policy), frame)``."""
    import matplotlib.pyplot as plt

    from experiments.charts import MAX_COLS, MAX_WIDTH, SINGLE_WIDTH, figure_legend, figure_title

    names, config = NameTable(), result.config
    scenarios = display_names(s.name for s in config.scenarios)
    policies = display_names(p.name for p in config.policies)
    cols = 1 if len(groups) == 1 else MAX_COLS
    rows = -(-len(groups) // cols)
    height = rows * _panel_height(groups[0][1]["lever"].nunique()) + 0.8
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(SINGLE_WIDTH if cols == 1 else MAX_WIDTH, height),
        squeeze=False,
        layout="constrained",
    )
    shown = list(axes.flat)[: len(groups)]
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    for ax, ((scenario, policy), frame) in zip(shown, groups, strict=True):
        xlabel = _bars(ax, result.method, frame, names, names.unit(metric))
        ax.set_xlabel(xlabel if cols == 1 else textwrap.fill(xlabel, 32))
        ax.set_title(f"{scenarios.get(scenario, scenario)} / {policies.get(policy, policy)}")
    what = "Morris sensitivity" if result.method == "morris" else "Sobol' indices"
    figure_title(fig, f"{what}: {names.name(metric)}", *page)
    figure_legend(fig, shown)
    return fig


def _bars(ax: Any, method: str, frame: pd.DataFrame, names: NameTable, unit: str | None) -> str:
    """One panel: a lever per row, the most influential at the top; return the x label."""
    from experiments.charts import format_axis

    frame = frame.sort_values(_RANK_BY[method], ascending=True, na_position="first")
    y = np.arange(len(frame))
    if method == "morris":
        ax.barh(
            y,
            frame["mu_star"],
            xerr=frame["mu_star_conf"],
            color="tab:blue",
            capsize=3,
            label="mu* (95% CI)",
        )
        ax.plot(frame["sigma"], y, "o", color="tab:orange", label="sigma")
        xlabel = with_unit("Effect of a change over the lever's range", unit)
        format_axis(ax.xaxis, unit)
    else:
        ax.barh(y - 0.2, frame["S1"], 0.4, xerr=frame["S1_conf"], capsize=3, label="S1")
        ax.barh(y + 0.2, frame["ST"], 0.4, xerr=frame["ST_conf"], capsize=3, label="ST")
        ax.axvline(0, color="grey", linewidth=0.8)
        xlabel = "Share of the variance (95% CI)"
    ax.set_yticks(y, [names.name(lever) for lever in frame["lever"]])
    if frame[_RANK_BY[method]].isna().all():
        note = "no indices:\na design point has no value"
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", size="small")
    return xlabel


def write(result: SensitivityResult, folder: Path | str) -> list[Path]:
    """Write ``sensitivity.csv``, ``sensitivity.md`` and the charts; return their paths."""
    folder = Path(folder)
    store.atomic_write_text(folder / CSV, result.table.to_csv(index=False))
    store.atomic_write_text(folder / MARKDOWN, format_markdown(result) + "\n")
    return [folder / CSV, folder / MARKDOWN, *draw(result, folder)]
