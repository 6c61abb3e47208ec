"""Charts: every figure of a results folder, drawn from its files alone (PNG at 300 dpi and PDF).

What the figures show:

- Lines over months are the mean over replications with a 95% t-interval band
  (:func:`experiments.analysis.t_interval`); a timeseries ``[[chart]]`` may ask for
  ``band = "percentile"`` (median and 5-95% of runs, only with at least 20 replications)
  or ``band = "none"``.
- Labels come from the name table (:mod:`experiments.labels`): metrics and swept
  parameters by readable name and unit, scenario and policy names spaced. Labels are
  plain text (mathtext off), so a ``$`` in a name is shown as written.
- Sizes are bounded: at most :data:`MAX_COLS` panels across and :data:`MAX_ROWS` down
  (:data:`MAX_WIDTH` inches wide, 2,010 px at 300 dpi). A chart with more panels is split
  into pages, ``NN_kind_..._p1``, ``_p2``, ... Legends sit below the panels; a title wider
  than its figure wraps (:func:`fit_width`).
- At most :data:`MAX_SERIES` lines share a panel; beyond that sweep points are pooled
  (the legend says so). Sampled designs (``[sample]``) draw one dot per run.

How they are written: the inputs are read and checked first (a damaged results folder
gives one :class:`ChartsError` line and changes nothing), every figure is drawn into a
temporary file in ``figures/``, then all are renamed into place. ``figures/`` holds
:data:`MANIFEST`, the names and SHA-256 of the files the tool wrote: only those are
ever replaced or deleted, a file of the same name that the tool did not write stops the
command before anything changes, and symbolic links are never followed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter  # noqa: E402

from experiments import store  # noqa: E402
from experiments.analysis import SUMMARY_METRICS, group_t_intervals, t_interval  # noqa: E402
from experiments.config import ChartSpec, ConfigError, ExperimentConfig  # noqa: E402
from experiments.derived import add_derived, monthly_needed  # noqa: E402
from experiments.inputs import IDS, damaged, read_checked, read_config  # noqa: E402
from experiments.labels import NameTable, display_names, format_value  # noqa: E402
from experiments.style import style_context  # noqa: E402
from model.observers import ROLL_STATES  # noqa: E402

#: Resolution of the PNG files.
DPI = 300
#: Widest figure, inches (2,010 px at 300 dpi: a full text width of a paper).
MAX_WIDTH = 6.7
#: Width of a one-panel figure, inches.
SINGLE_WIDTH = 4.5
#: Height of one row of panels, inches.
PANEL_HEIGHT = 2.4
#: Panels across and down a figure; more panels go onto further pages (files).
MAX_COLS, MAX_ROWS = 2, 3
#: Most lines (or marker series) in one panel.
MAX_SERIES = 8
#: Most lines in a panel that still get their confidence bands (more would overlap).
MAX_BANDS = 4
#: Heatmap cells are written in only up to this many cells per panel.
MAX_ANNOTATED_CELLS = 48
#: Rows of a summary (dot-and-interval) chart per page.
MAX_SUMMARY_ROWS = 24
#: File formats written for every figure.
FORMATS = ("png", "pdf")
#: The record of the files this tool wrote in ``figures/``.
MANIFEST = "charts-manifest.json"

_BUCKET_SHARES = ("share_1_30", "share_31_60", "share_61_90", "share_90_plus")
_BUCKET_NAMES = ("1-30 DPD", "31-60 DPD", "61-90 DPD", "91+ DPD")
_LINESTYLES = ("-", "--", ":", "-.")


class ChartsError(ConfigError):
    """``figures/`` cannot be written safely (a file there the tool did not write, a link)."""


# ----------------------------------------------------------------------- inputs
@dataclass
class Results:
    """A results folder's inputs to the charts, read and checked before anything is drawn."""

    out_dir: Path
    config: ExperimentConfig
    summary: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    scenarios: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)
    names: NameTable = field(default_factory=NameTable)

    @property
    def params(self) -> list[str]:
        """Swept parameter columns."""
        return self.config.params

    @property
    def sampled(self) -> bool:
        """Whether the design is sampled (every point its own values)."""
        return self.config.sample is not None

    @property
    def replications(self) -> int:
        """Replications per scenario, policy and point."""
        return self.config.replications

    @property
    def shown_scenario(self) -> dict[str, str]:
        """Display names of the scenarios."""
        return display_names(self.scenarios)

    @property
    def shown_policy(self) -> dict[str, str]:
        """Display names of the policies."""
        return display_names(self.policies)

    def points(self) -> pd.DataFrame:
        """The sweep points (swept values) in design order, with a ``_point`` label."""
        if not self.params:
            return pd.DataFrame({"_point": [""]})
        points = self.summary[self.params].drop_duplicates().reset_index(drop=True)
        labels = [self.names.point(self.params, row) for row in points.itertuples(index=False)]
        return points.assign(_point=labels)


def _needed_tables(specs: Sequence[ChartSpec], config: ExperimentConfig) -> dict[str, list[str]]:
    """Columns of each table the charts read (beyond the identifiers and parameters)."""
    needed: dict[str, list[str]] = {}
    for spec in specs:
        if spec.kind == "timeseries":
            needed.setdefault("timeseries", ["month"]).append(spec.metric)
        elif spec.kind == "composition":
            needed.setdefault("timeseries", ["month"]).extend(_BUCKET_SHARES)
        elif spec.kind == "vintage":
            needed["vintages"] = ["vintage", "months_on_book", "cum_writeoff_rate"]
        elif spec.kind == "rollrate":
            needed["rollrates"] = ["from_bucket", *ROLL_STATES]
        elif spec.kind in ("lenders", "market_share"):
            metric = spec.metric if spec.kind == "lenders" else "balance_share"
            lender = ["lender", "lender_name", "month", "failed", metric]
            needed.setdefault("lender_timeseries", []).extend(lender)
    monthly = monthly_needed(config.metrics)
    if monthly:
        needed.setdefault("timeseries", ["month"]).extend(monthly)
    return {k: list(dict.fromkeys(v)) for k, v in needed.items()}


def load_results(out_dir: Path | str) -> Results | None:
    """Read and check everything the charts of a results folder need.

    Returns:
        The inputs, or None when the folder has no finished run.

    Raises:
        DamagedResults: One line naming the damaged or missing file.
    """
    out_dir = Path(out_dir)
    config = read_config(out_dir)
    ids = [*IDS, *config.params]
    summary = read_checked(out_dir, "summary", [*ids, *SUMMARY_METRICS])
    if summary.empty:
        return None
    specs = config.charts or default_charts(config)
    tables = {}
    for name, columns in _needed_tables(specs, config).items():
        tables[name] = read_checked(out_dir, name, [*ids, *columns])
        if tables[name].empty:
            raise damaged(out_dir, f"{name}.parquet", "no rows, though summary.parquet has runs")
    try:
        summary = add_derived(summary, config.metrics, tables.get("timeseries"))
    except (ValueError, KeyError) as exc:
        raise damaged(out_dir, "timeseries.parquet", exc) from None
    present_s, present_p = set(summary["scenario"]), set(summary["policy"])
    return Results(
        out_dir=out_dir,
        config=config,
        summary=summary,
        tables=tables,
        scenarios=[s.name for s in config.scenarios if s.name in present_s],
        policies=[p.name for p in config.policies if p.name in present_p],
        names=NameTable(config.metrics),
    )


# ----------------------------------------------------------------------- layout
def _money(value: float, _pos: int | None = None) -> str:
    for size, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def format_axis(axis: object, unit: str | None) -> None:
    """Tick labels in the unit: shares as %, currency as 5k, 2m or 1bn, others as they come."""
    if unit == "share":
        axis.set_major_formatter(PercentFormatter(1.0))
    elif unit == "currency":
        axis.set_major_formatter(FuncFormatter(_money))


def paged(items: Sequence, most: int = MAX_COLS * MAX_ROWS) -> list[list]:
    """``items`` in pages of at most ``most``, as even as can be (8 panels: 4 + 4, not 6 + 2)."""
    items = list(items)
    per_page = math.ceil(len(items) / max(1, math.ceil(len(items) / most))) if items else 1
    return [items[i : i + per_page] for i in range(0, len(items), per_page)] or [[]]


def _figure(
    panels: int, height: float = PANEL_HEIGHT, share: bool = False, legend_rows: int = 1
) -> tuple[Figure, list[Axes]]:
    """A figure of ``panels`` panels, at most :data:`MAX_COLS` across, width bounded."""
    cols = 1 if panels <= 1 else MAX_COLS
    rows = max(1, math.ceil(panels / cols))
    width = SINGLE_WIDTH if cols == 1 else MAX_WIDTH
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(width, rows * height + 0.55 + 0.22 * legend_rows),
        squeeze=False,
        sharex=share,
        sharey=share,
        layout="constrained",
    )
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.set_visible(False)
    if share:  # hidden panels take no tick labels from the visible ones
        for ax in flat[:panels]:
            ax.xaxis.set_tick_params(labelbottom=True)
    return fig, flat[:panels]


def figure_title(fig: Figure, text: str, page: int, pages: int) -> None:
    """The figure's title (``(page of pages)`` on a split chart), wrapped to its width."""
    title = fig.suptitle(text if pages == 1 else f"{text} ({page} of {pages})")
    fit_width(title)


def fit_width(text: Text, share: float = 0.96) -> None:
    """Wrap a text at spaces until each line fits in ``share`` of its figure's width.

    A figure title wider than its figure would be cut off at both sides; the text is
    measured as drawn (font and size of the figure's style), and its own line breaks
    are kept.
    """
    fig = text.get_figure()
    renderer = fig.canvas.get_renderer()
    room = share * fig.bbox.width
    lines = text.get_text().split("\n")
    longest = max(len(line) for line in lines)
    width = text.get_window_extent(renderer).width
    chars = longest
    while width > room and chars > 12:
        chars = min(chars - 1, int(chars * room / width))
        wrap = textwrap.TextWrapper(max(chars, 12), break_long_words=False, break_on_hyphens=False)
        text.set_text("\n".join(wrap.fill(line) for line in lines))
        width = text.get_window_extent(renderer).width


def figure_legend(fig: Figure, axes: Sequence[Axes], title: str | None = None) -> None:
    """One legend below the figure for the labelled lines of all ``axes`` (each label once)."""
    handles, labels = _unique_handles(axes)
    if not handles:
        return
    ncols = min(len(labels), _legend_cols(labels))
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=ncols,
        title=title,
        frameon=False,
    )


def _legend_cols(labels: Sequence[str]) -> int:
    longest = max((len(t) for t in labels), default=0)
    return 4 if longest <= 16 else 3 if longest <= 28 else 2


def _legend_rows(labels: Sequence[str]) -> int:
    return math.ceil(len(labels) / _legend_cols(labels)) if labels else 0


def _colors(n: int) -> list:
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color") or ["C0"]
    return [cycle[i % len(cycle)] for i in range(n)]


@dataclass
class _Series:
    """How the runs of a chart are split into lines (or rows).

    ``mode`` is ``"policy"`` (a line per policy), ``"policy_point"`` (per policy and
    sweep point) or ``"point"`` (per sweep point; the policies get panels of their own).
    """

    column: pd.Series
    order: list[str]
    styles: dict[str, str]
    mode: str
    pooled: int  # sweep points pooled into each line (1: none)


def _series_mode(res: Results, points_alone: bool = False) -> str:
    """The split of :class:`_Series`: policy and point if that makes at most MAX_SERIES lines.

    With ``points_alone``, too many for that but at most MAX_SERIES points gives a line
    per point (the caller then draws a panel per policy).
    """
    n_points = len(res.points())
    if not res.params or res.sampled or n_points == 1:
        return "policy"
    if n_points * len(res.policies) <= MAX_SERIES:
        return "policy_point"
    if points_alone and n_points <= MAX_SERIES:
        return "point"
    return "policy"


def _series(res: Results, frame: pd.DataFrame, mode: str) -> _Series:
    shown = res.shown_policy
    policy_text = frame["policy"].map(shown)
    style = {shown[p]: _LINESTYLES[i % len(_LINESTYLES)] for i, p in enumerate(res.policies)}
    points = res.points()
    if mode == "policy":
        order = [shown[p] for p in res.policies]
        return _Series(policy_text, order, style, mode, len(points))
    point_text = frame[res.params].merge(points, on=res.params, how="left")["_point"]
    point_text = pd.Series(point_text.to_numpy(), index=frame.index)
    if mode == "point" or len(res.policies) == 1:
        order = list(points["_point"])
        return _Series(point_text, order, dict.fromkeys(order, "-"), mode, 1)
    order = [f"{shown[p]}, {pt}" for p in res.policies for pt in points["_point"]]
    styles = {f"{shown[p]}, {pt}": style[shown[p]] for p in res.policies for pt in points["_point"]}
    return _Series(policy_text + ", " + point_text, order, styles, mode, 1)


def _over(res: Results, series: _Series) -> str:
    """What a line is computed over, for a legend title."""
    reps = res.replications
    if series.pooled > 1:
        kind = "sampled" if res.sampled else "sweep"
        return f"all runs of {series.pooled} {kind} points pooled"
    return f"{reps} replication{'s' if reps != 1 else ''}"


# ----------------------------------------------------------------------- charts
def timeseries_chart(res: Results, spec: ChartSpec) -> list[Figure]:
    """A monthly metric per scenario (panels), one line per policy (or policy and point).

    Lines are the mean over replications with a 95% t-interval band (``band = "ci"``),
    or the median with the 5-95% range of runs (``band = "percentile"``), or bare. With
    too many policies and sweep points for one panel, each policy gets its own panels
    (a line per point); with too many points as well, the points are pooled (no band).
    """
    metric = spec.metric
    ts = res.tables["timeseries"]
    series = _series(res, ts, _series_mode(res, points_alone=True))
    frame = ts.assign(_s=series.column.to_numpy())
    band, note = _timeseries_band(spec.band or "ci", series)
    colors = dict(zip(series.order, _colors(len(series.order)), strict=True))
    what = {
        "ci": "mean and 95% CI over",
        "percentile": "median and 5-95% of runs over",
        "none": "mean of",
    }[band]
    if series.mode == "point":
        panels = [(s, p) for s in res.scenarios for p in res.policies]
        kind = "Sweep point"
    else:
        panels = [(s, None) for s in res.scenarios]
        kind = "Policy" if series.mode == "policy" else "Policy and sweep point"
    figures = []
    pages = paged(panels)
    for page, chunk in enumerate(pages, start=1):
        fig, axes = _figure(len(chunk), share=True, legend_rows=_legend_rows(series.order))
        for ax, (scenario, policy) in zip(axes, chunk, strict=True):
            part = frame[frame["scenario"] == scenario]
            if policy is not None:
                part = part[part["policy"] == policy]
            stats = _monthly_stats(part, metric, band)
            _draw_lines(ax, stats, series, colors, band)
            title = res.shown_scenario[scenario]
            _label_panel(
                ax,
                title if policy is None else f"{title} / {res.shown_policy[policy]}",
                "Month",
                res.names.label(metric),
            )
            format_axis(ax.yaxis, res.names.unit(metric))
        figure_title(fig, f"{res.names.name(metric)} by scenario", page, len(pages))
        figure_legend(fig, axes, f"{kind} ({what} {_over(res, series)}{note})")
        figures.append(fig)
    return figures


def _timeseries_band(band: str, series: _Series) -> tuple[str, str]:
    """The band a timeseries chart can draw, and a note for the legend if one was dropped.

    Pooled sweep points have no band (their runs are not replications of one mean), and
    more than :data:`MAX_BANDS` lines get none either.
    """
    if series.pooled > 1:
        return "none", ""
    if band != "none" and len(series.order) > MAX_BANDS:
        return "none", f"; bands left out with more than {MAX_BANDS} lines"
    return band, ""


def _monthly_stats(part: pd.DataFrame, metric: str, band: str) -> pd.DataFrame:
    """Per line (``_s``) and month: ``mean``, ``low`` and ``high``.

    The median and 5-95% of runs for ``band = "percentile"``, else the mean and its 95%
    t-interval.
    """
    if band == "percentile":
        grouped = part.groupby(["_s", "month"], sort=False)[metric]
        stats = grouped.quantile([0.05, 0.5, 0.95]).unstack()
        return stats.rename(columns={0.05: "low", 0.5: "mean", 0.95: "high"})
    return group_t_intervals(part, ["_s", "month"], metric)


def _draw_lines(
    ax: Axes, stats: pd.DataFrame, series: _Series, colors: dict[str, object], band: str
) -> None:
    """One line per series present in ``stats``, in the series' order, with its band."""
    present = set(stats.index.get_level_values(0))
    for name in series.order:
        if name not in present:
            continue
        line = stats.loc[name].sort_index()
        if band != "none":
            ax.fill_between(
                line.index,
                line["low"],
                line["high"],
                color=colors[name],
                alpha=0.2,
                linewidth=0,
            )
        ax.plot(
            line.index,
            line["mean"],
            color=colors[name],
            linestyle=series.styles[name],
            label=name,
        )


def _unique_handles(axes: Sequence[Axes]) -> tuple[list, list[str]]:
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen)


def _mean_ci(values: pd.Series) -> pd.Series:
    mean, low, high = t_interval(values.to_numpy())
    return pd.Series({"mean": mean, "half": (high - low) / 2})


def _tick_values(ax: Axes, res: Results, name: str, axis: str, values: Sequence) -> None:
    """Ticks at a heatmap's values (thinned to at most 10), written as the name table says."""
    step = max(1, math.ceil(len(values) / 10))
    at = list(range(0, len(values), step))
    labels = [res.names.value(name, values[i]) for i in at]
    if axis == "x":
        ax.set_xticks(at, labels, rotation=30 if len(at) > 5 else 0)
    else:
        ax.set_yticks(at, labels)


def sweep_chart(res: Results, spec: ChartSpec) -> list[Figure]:
    """A summary metric against one swept parameter (panels: scenarios), or two (heatmaps).

    One parameter: a line per policy (and value of the other swept parameters when
    that makes at most :data:`MAX_SERIES` lines), mean and 95% CI at each value; sampled
    designs draw one dot per run. Two: a heatmap of the mean per scenario and policy
    (a coloured scatter for sampled or incomplete designs).
    """
    if spec.y is not None:
        return _sweep_heatmaps(res, spec)
    metric, x = spec.metric, spec.x
    summary, names = res.summary, res.names
    lines = _sweep_lines(res, x)
    figures = []
    pages = paged(res.scenarios)
    legend_rows = _legend_rows(list(lines.labels.values()))
    for page, scenarios in enumerate(pages, start=1):
        fig, axes = _figure(len(scenarios), share=True, legend_rows=legend_rows)
        for ax, scenario in zip(axes, scenarios, strict=True):
            part = summary[summary["scenario"] == scenario]
            for key, runs in part.groupby(lines.keys, sort=False):
                key = key if isinstance(key, tuple) else (key,)
                _sweep_marks(ax, res, lines, key, runs, x, metric)
            if lines.categorical:
                ax.set_xticks([0, 1], [names.value(x, False), names.value(x, True)])
                ax.set_xlim(-0.6, 1.6)
            ax.set_title(res.shown_scenario[scenario])
            ax.set_xlabel(names.label(x))
            ax.set_ylabel(names.label(metric))
            format_axis(ax.xaxis, names.unit(x))
            format_axis(ax.yaxis, names.unit(metric))
        figure_title(fig, f"{names.name(metric)} against {names.name(x).lower()}", page, len(pages))
        figure_legend(fig, axes, _sweep_what(res, lines))
        figures.append(fig)
    return figures


@dataclass
class _SweepLines:
    """The marker series of a one-parameter sweep chart.

    Attributes:
        keys: Columns naming a series: ``policy``, then the other swept parameters when
            each of their combinations gets its own series.
        series: The series' keys, in order of first appearance.
        labels: Legend label of each series.
        colors: Colour of each series.
        pooled: Whether the other swept parameters are pooled into each series.
        others: The other swept parameters.
        categorical: Whether the x parameter is true/false.
        dodge: Offset between the markers of neighbouring series at one value.
    """

    keys: list[str]
    series: list[tuple]
    labels: dict[tuple, str]
    colors: dict[tuple, object]
    pooled: bool
    others: list[str]
    categorical: bool
    dodge: float


def _sweep_lines(res: Results, x: str) -> _SweepLines:
    """One series per policy, or per policy and point while that makes few enough."""
    summary, names, shown = res.summary, res.names, res.shown_policy
    others = [p for p in res.params if p != x]
    keys = ["policy"]
    if not res.sampled and others and summary.groupby(["policy", *others]).ngroups <= MAX_SERIES:
        keys = ["policy", *others]
    series = list(summary[keys].drop_duplicates().itertuples(index=False, name=None))
    pooled = not res.sampled and bool(others) and keys == ["policy"]

    def series_name(key: tuple) -> str:
        parts = [shown[key[0]]] if len(res.policies) > 1 or len(keys) == 1 else []
        pairs = zip(keys[1:], key[1:], strict=True)
        parts += [f"{names.name(k)} = {names.value(k, v)}" for k, v in pairs]
        return ", ".join(parts)

    categorical = summary[x].dtype == bool
    # Markers of different lines at one value are set side by side, not on top of each other.
    steps = np.diff(np.unique(summary[x].to_numpy(dtype=float)))
    gap = 1.0 if categorical else (float(steps.min()) if steps.size else 1.0)
    dodge = (0.08 if categorical else 0.25 / max(1, len(series))) * gap
    return _SweepLines(
        keys=keys,
        series=series,
        labels={key: series_name(key) for key in series},
        colors=dict(zip(series, _colors(len(series)), strict=True)),
        pooled=pooled,
        others=others,
        categorical=categorical,
        dodge=dodge,
    )


def _sweep_marks(
    ax: Axes, res: Results, lines: _SweepLines, key: tuple, runs: pd.DataFrame, x: str, metric: str
) -> None:
    """Draw one series of a sweep chart: a dot per sampled point, or means with 95% CIs."""
    label, color = lines.labels[key], lines.colors[key]
    if res.sampled:  # one dot per sampled point: the mean of its replications
        means = runs.groupby(res.params)[[x, metric]].mean()
        ax.scatter(
            means[x].astype(float),
            means[metric],
            s=7,
            alpha=0.7,
            color=color,
            linewidths=0,
            label=label,
        )
        return
    style = _LINESTYLES[res.policies.index(key[0]) % len(_LINESTYLES)]
    stats = runs.groupby(x)[metric].apply(_mean_ci).unstack()
    at = stats.index.to_numpy(dtype=float) + lines.dodge * (
        lines.series.index(key) - (len(lines.series) - 1) / 2
    )
    ax.errorbar(
        at,
        stats["mean"],
        yerr=None if lines.pooled else stats["half"],
        marker="o",
        markersize=3.5,
        linestyle="none" if lines.categorical else style,
        capsize=2.5,
        color=color,
        label=label,
    )


def _sweep_what(res: Results, lines: _SweepLines) -> str:
    """Legend title of a sweep chart: what a marker is."""
    names = res.names
    if res.sampled:
        return f"one dot per sampled point, mean of {res.replications} replication(s)"
    if lines.pooled:
        return f"mean over runs, pooled over {', '.join(names.name(o) for o in lines.others)}"
    return f"mean and 95% CI over {res.replications} replications"


def _sweep_heatmaps(res: Results, spec: ChartSpec) -> list[Figure]:
    metric, x, y = spec.metric, spec.x, spec.y
    names = res.names
    scale = 100.0 if names.unit(metric) == "share" else 1.0
    summary = res.summary
    cells_all = summary.groupby(["scenario", "policy", x, y])[metric].mean() * scale
    finite = cells_all[np.isfinite(cells_all)]
    limits = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    panels = [(s, p) for s in res.scenarios for p in res.policies]
    others = [p for p in res.params if p not in (x, y)]
    figures = []
    pages = paged(panels)
    for page, chunk in enumerate(pages, start=1):
        fig, axes = _figure(len(chunk), height=2.6, legend_rows=0)
        art = None
        for ax, (scenario, policy) in zip(axes, chunk, strict=True):
            runs = summary[(summary["scenario"] == scenario) & (summary["policy"] == policy)]
            art = _heatmap_panel(ax, res, runs, (metric, x, y), scale, limits)
            ax.set_title(f"{res.shown_scenario[scenario]} / {res.shown_policy[policy]}")
            ax.set_xlabel(names.label(x))
            ax.set_ylabel(names.label(y))
        if art is not None:
            fig.colorbar(art, ax=axes, label=names.label(metric), shrink=0.9)
        title = f"Mean {names.name(metric).lower()} by {names.name(x).lower()} and "
        title += names.name(y).lower()
        if others:
            title += f"\n(pooled over {', '.join(names.name(o).lower() for o in others)})"
        figure_title(fig, title, page, len(pages))
        figures.append(fig)
    return figures


def _heatmap_panel(
    ax: Axes,
    res: Results,
    runs: pd.DataFrame,
    columns: tuple[str, str, str],
    scale: float,
    limits: tuple[float, float],
) -> object:
    """One scenario and policy of a two-parameter sweep chart; return the coloured artist.

    A heatmap of the mean per cell when the design fills a grid of at most 400 cells
    (values written in when there are few), else a coloured scatter of the means.

    Args:
        ax: The panel.
        res: The results.
        runs: The runs of the panel's scenario and policy.
        columns: ``(metric, x, y)``.
        scale: 100 for shares (shown in %), else 1.
        limits: The colour scale's ``(vmin, vmax)``, shared by all panels.
    """
    metric, x, y = columns
    names = res.names
    vmin, vmax = limits
    cells = runs[x].nunique() * runs[y].nunique()
    if res.sampled or cells > 400 or len(runs[[x, y]].drop_duplicates()) < cells:
        runs = runs.groupby([x, y], as_index=False)[metric].mean()
        art = ax.scatter(
            runs[x].astype(float),
            runs[y].astype(float),
            c=runs[metric] * scale,
            s=14,
            cmap="viridis",
            vmin=vmin,
            vmax=vmax,
            linewidths=0,
        )
        format_axis(ax.xaxis, names.unit(x))
        format_axis(ax.yaxis, names.unit(y))
        return art
    grid = runs.pivot_table(index=y, columns=x, values=metric, aggfunc="mean") * scale
    art = ax.imshow(
        grid.to_numpy(),
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=vmin,
        vmax=vmax,
    )
    ax.grid(False)
    _tick_values(ax, res, x, "x", list(grid.columns))
    _tick_values(ax, res, y, "y", list(grid.index))
    if grid.size <= MAX_ANNOTATED_CELLS:
        _write_cells(ax, grid, names.unit(metric), scale, limits)
    return art


def _write_cells(
    ax: Axes, grid: pd.DataFrame, unit: str | None, scale: float, limits: tuple[float, float]
) -> None:
    """Write each heatmap cell's value in it, light on dark cells and dark on light ones."""
    middle = sum(limits) / 2
    for (r, c), value in np.ndenumerate(grid.to_numpy()):
        ax.text(
            c,
            r,
            format_value(value / scale, unit),
            ha="center",
            va="center",
            fontsize=6,
            color="white" if value < middle else "black",
        )


def frontier_chart(res: Results, spec: ChartSpec | None = None) -> list[Figure]:
    """Loss rate against approval rate per scenario: one marker per sweep point and policy.

    Each marker is the mean over replications with 95% CIs on both axes. Without sweep
    points the runs are shown as faint dots; with one swept parameter (up to 12 values)
    a policy's markers are joined in the parameter's order and its ends are labelled.
    """
    names = res.names
    summary = res.summary
    n_points = len(res.points())
    joined = len(res.params) == 1 and not res.sampled and 1 < n_points <= 12
    bars = not res.sampled and n_points <= 4 and res.replications >= 2
    how = (joined, bars, n_points == 1)
    colors = dict(zip(res.policies, _colors(len(res.policies)), strict=True))
    figures = []
    pages = paged(res.scenarios)
    for page, scenarios in enumerate(pages, start=1):
        fig, axes = _figure(len(scenarios), share=True)
        for ax, scenario in zip(axes, scenarios, strict=True):
            part = summary[summary["scenario"] == scenario]
            for policy in res.policies:
                runs = part[part["policy"] == policy]
                if not runs.empty:
                    _frontier_policy(ax, res, runs, policy, colors[policy], how)
            ax.set_title(res.shown_scenario[scenario])
            ax.set_xlabel(names.label(_FRONTIER[0]))
            ax.set_ylabel(names.label(_FRONTIER[1]))
            format_axis(ax.xaxis, "share")
            format_axis(ax.yaxis, "share")
        figure_title(fig, "Risk-volume frontier: loss rate against approval rate", page, len(pages))
        if n_points == 1:
            what = f"mean and 95% CI over {res.replications} replications; dots = runs"
        elif res.sampled:
            what = "one marker per sampled point (its mean over replications)"
        else:
            what = "one marker per sweep point"
            what += ", mean and 95% CI" if bars else " (mean over replications)"
            if joined:
                what += f"; joined by {names.name(res.params[0]).lower()}"
        figure_legend(fig, axes, what)
        figures.append(fig)
    return figures


#: The frontier chart's axes: approval rate across, bad-debt loss rate up.
_FRONTIER = ("approval_rate", "bad_debt_loss_rate")


def _frontier_policy(
    ax: Axes,
    res: Results,
    runs: pd.DataFrame,
    policy: str,
    color: object,
    how: tuple[bool, bool, bool],
) -> None:
    """A policy's markers on the frontier, one per point.

    ``how`` says whether the markers are joined, have CI bars, and stand for a single
    point (the runs are then drawn as dots too).
    """
    xs, ys = _FRONTIER
    joined, bars, single = how
    if single:
        ax.scatter(runs[xs], runs[ys], s=6, alpha=0.35, color=color)
    grouped = runs.groupby(res.params or ["policy"], sort=True)
    mx = grouped[xs].apply(_mean_ci).unstack()
    my = grouped[ys].apply(_mean_ci).unstack()
    ax.errorbar(
        mx["mean"],
        my["mean"],
        xerr=mx["half"] if bars else None,
        yerr=my["half"] if bars else None,
        marker="D" if single else "o",
        markersize=5 if single else 3.5,
        linestyle="-" if joined else "none",
        linewidth=0.8,
        elinewidth=0.8,
        capsize=2,
        color=color,
        label=res.shown_policy[policy],
    )
    if joined:
        for end in (0, len(mx) - 1):
            ax.annotate(
                res.names.value(res.params[0], mx.index[end]),
                (mx["mean"].iloc[end], my["mean"].iloc[end]),
                textcoords="offset points",
                xytext=(4, 3),
                fontsize=6,
                color=color,
            )


def summary_chart(res: Results, spec: ChartSpec) -> list[Figure]:
    """A summary or derived metric: mean and 95% CI per policy (and point), dots per scenario."""
    metric = spec.metric
    names = res.names
    summary = res.summary
    n_rows = len(res.points()) * len(res.policies)
    mode = "policy_point" if res.params and not res.sampled and n_rows <= 48 else "policy"
    series = _series(res, summary, mode)
    frame = summary.assign(_s=series.column.to_numpy())
    stats = group_t_intervals(frame, ["_s", "scenario"], metric)
    rows = [s for s in series.order if s in set(frame["_s"])]
    colors = dict(zip(res.scenarios, _colors(len(res.scenarios)), strict=True))
    figures = []
    pages = paged(rows, MAX_SUMMARY_ROWS)
    for page, chunk in enumerate(pages, start=1):
        height = 0.28 * len(chunk) * max(1, len(res.scenarios) / 2) + 1.2
        fig, ax = plt.subplots(figsize=(MAX_WIDTH, min(height, 9.0)), layout="constrained")
        k = len(res.scenarios)
        for j, scenario in enumerate(res.scenarios):
            offset = 0.0 if k == 1 else 0.3 * (j - (k - 1) / 2) / max(1, (k - 1) / 2)
            at, mean, half = [], [], []
            for i, row in enumerate(chunk):
                if (row, scenario) in stats.index:
                    cell = stats.loc[(row, scenario)]
                    at.append(i + offset)
                    mean.append(cell["mean"])
                    half.append((cell["high"] - cell["low"]) / 2)
            ax.errorbar(
                mean,
                at,
                xerr=None if series.pooled > 1 else half,  # pooled points: no CI
                marker="o",
                markersize=4,
                linestyle="none",
                capsize=2,
                color=colors[scenario],
                label=res.shown_scenario[scenario],
            )
        ax.set_yticks(range(len(chunk)), chunk)
        ax.invert_yaxis()
        ax.set_xlabel(names.label(metric))
        format_axis(ax.xaxis, names.unit(metric))
        ax.xaxis.set_major_locator(MaxNLocator(6))
        figure_title(fig, names.name(metric), page, len(pages))
        what = f"mean and 95% CI over {_over(res, series)}"
        if series.pooled > 1:
            what = f"mean of {_over(res, series)}"
        figure_legend(fig, [ax], f"Scenario ({what})")
        figures.append(fig)
    return figures


def _cell_panels(res: Results) -> list[tuple[str, str]]:
    return [(s, p) for s in res.scenarios for p in res.policies]


def _label_panel(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """A panel's title and axis labels; the x axis counts whole months."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)


def _cell_title(res: Results, scenario: str, policy: str) -> str:
    return f"{res.shown_scenario[scenario]} / {res.shown_policy[policy]}"


def _pooled_note(res: Results) -> str:
    n = len(res.points())
    return f", pooled over {n} sweep points" if n > 1 else ""


def composition_chart(res: Results, spec: ChartSpec | None = None) -> list[Figure]:
    """Overdue loans by DPD bucket over time (stacked, mean of runs), per scenario and policy."""
    ts = res.tables["timeseries"]
    palette = plt.get_cmap("YlOrRd")(np.linspace(0.35, 0.95, len(_BUCKET_SHARES)))
    figures = []
    pages = paged(_cell_panels(res))
    for page, chunk in enumerate(pages, start=1):
        fig, axes = _figure(len(chunk), share=True)
        for ax, (scenario, policy) in zip(axes, chunk, strict=True):
            runs = ts[(ts["scenario"] == scenario) & (ts["policy"] == policy)]
            mean = runs.groupby("month")[list(_BUCKET_SHARES)].mean()
            ax.stackplot(mean.index, mean.to_numpy().T, labels=_BUCKET_NAMES, colors=palette)
            _label_panel(ax, _cell_title(res, scenario, policy), "Month", "Share of open loans (%)")
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        figure_title(fig, "Overdue loans by days past due (the rest are current)", page, len(pages))
        figure_legend(fig, axes, f"Bucket (mean of runs{_pooled_note(res)})")
        figures.append(fig)
    return figures


def vintage_chart(res: Results, spec: ChartSpec | None = None) -> list[Figure]:
    """Cumulative write-off rate by months on book of some vintages, per scenario and policy."""
    vintages = res.tables["vintages"]
    last = int(vintages["vintage"].max())
    step = max(1, math.ceil((last + 1) / 6))
    chosen = list(range(0, last + 1, step))
    cmap = plt.get_cmap("viridis")
    figures = []
    pages = paged(_cell_panels(res))
    for page, chunk in enumerate(pages, start=1):
        fig, axes = _figure(len(chunk), share=True)
        for ax, (scenario, policy) in zip(axes, chunk, strict=True):
            runs = vintages[(vintages["scenario"] == scenario) & (vintages["policy"] == policy)]
            curves = runs.groupby(["vintage", "months_on_book"])["cum_writeoff_rate"].mean()
            present = set(curves.index.get_level_values(0))
            for k, vintage in enumerate(chosen):
                if vintage in present:
                    curve = curves.loc[vintage]
                    ax.plot(
                        curve.index,
                        curve.to_numpy(),
                        color=cmap(k / max(1, len(chosen) - 1)),
                        label=f"Month {vintage}",
                    )
            _label_panel(
                ax,
                _cell_title(res, scenario, policy),
                "Months on book",
                "Cum. write-offs (% of vintage)",
            )
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        figure_title(fig, "Vintage loss curves", page, len(pages))
        figure_legend(fig, axes, f"Vintage: month lent (mean of runs{_pooled_note(res)})")
        figures.append(fig)
    return figures


def rollrate_chart(res: Results, spec: ChartSpec | None = None) -> list[Figure]:
    """Mean roll-rate matrix (share of bucket balance by end state) per scenario and policy."""
    rollrates = res.tables["rollrates"]
    states = list(ROLL_STATES)
    figures = []
    pages = paged(_cell_panels(res))
    for page, chunk in enumerate(pages, start=1):
        fig, axes = _figure(len(chunk), height=2.5, legend_rows=0)
        art = None
        for ax, (scenario, policy) in zip(axes, chunk, strict=True):
            runs = rollrates[(rollrates["scenario"] == scenario) & (rollrates["policy"] == policy)]
            matrix = runs.groupby("from_bucket", sort=False)[states].mean() * 100
            art = ax.imshow(matrix.to_numpy(), cmap="Blues", vmin=0, vmax=100, aspect="auto")
            ax.grid(False)
            ax.set_xticks(
                range(len(states)),
                [s.replace("_", " ") for s in states],
                rotation=35,
                ha="right",
            )
            ax.set_yticks(range(len(matrix.index)), list(matrix.index))
            for (r, c), value in np.ndenumerate(matrix.to_numpy()):
                ax.text(
                    c,
                    r,
                    f"{value:.0f}",
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="white" if value > 60 else "black",
                )
            ax.set_title(_cell_title(res, scenario, policy))
            ax.set_xlabel("End state")
            ax.set_ylabel("From DPD bucket")
        if art is not None:
            fig.colorbar(art, ax=axes, label="% of the bucket's balance", shrink=0.9)
        title = f"Monthly roll rates between DPD buckets (mean of runs{_pooled_note(res)})"
        figure_title(fig, title, page, len(pages))
        figures.append(fig)
    return figures


def _lender_names(res: Results, policy: str) -> list[str]:
    """The lenders of a policy or market of the config, in its order."""
    return next(p.lender_names for p in res.config.policies if p.name == policy)


def _failure_ticks(ax: Axes, runs: pd.DataFrame, lender: str, color: object) -> int:
    """Tick the month each run's ``lender`` failed along the panel's foot; return how many."""
    failed = runs[(runs["lender_name"] == lender) & runs["failed"]]
    months = failed.groupby("run_id")["month"].min().to_numpy()
    if months.size:
        ax.plot(
            months,
            np.full(months.size, 0.03),
            transform=ax.get_xaxis_transform(),
            marker="|",
            markersize=9,
            markeredgewidth=1.5,
            linestyle="none",
            color=color,
        )
    return int(months.size)


def lenders_chart(res: Results, spec: ChartSpec) -> list[Figure]:
    """A lender's monthly metric, one line per lender, per scenario and policy or market.

    Lines are the mean over the runs with a 95% t-interval band (up to
    :data:`MAX_BANDS` lenders); a tick at the panel's foot marks the month a run's lender
    failed, in the lender's colour.
    """
    metric, lenders = spec.metric, res.tables["lender_timeseries"]
    figures = []
    pages = paged(_cell_panels(res))
    for page, chunk in enumerate(pages, start=1):
        fig, axes = _figure(len(chunk), share=True, legend_rows=2)
        failures = 0
        for ax, (scenario, policy) in zip(axes, chunk, strict=True):
            runs = lenders[(lenders["scenario"] == scenario) & (lenders["policy"] == policy)]
            names = _lender_names(res, policy)
            stats = group_t_intervals(runs, ["lender_name", "month"], metric)
            band = "ci" if len(names) <= MAX_BANDS else "none"
            colors = dict(zip(names, _colors(len(names)), strict=True))
            series = _Series(runs["lender_name"], names, dict.fromkeys(names, "-"), "lender", 1)
            _draw_lines(ax, stats, series, colors, band)
            failures += sum(_failure_ticks(ax, runs, name, colors[name]) for name in names)
            _label_panel(ax, _cell_title(res, scenario, policy), "Month", res.names.label(metric))
            format_axis(ax.yaxis, res.names.unit(metric))
        figure_title(fig, f"{res.names.name(metric)} by lender", page, len(pages))
        what = f"mean and 95% CI over {res.replications} replications{_pooled_note(res)}"
        ticks = f"; | a run's failure month ({failures} failures)" if failures else ""
        figure_legend(fig, axes, f"Lender ({what}{ticks})")
        figures.append(fig)
    return figures


def market_share_chart(res: Results, spec: ChartSpec | None = None) -> list[Figure]:
    """Each lender's share of the market's balance over time (stacked, mean of runs)."""
    lenders = res.tables["lender_timeseries"]
    figures = []
    pages = paged(_cell_panels(res))
    for page, chunk in enumerate(pages, start=1):
        fig, axes = _figure(len(chunk), share=True, legend_rows=2)
        for ax, (scenario, policy) in zip(axes, chunk, strict=True):
            runs = lenders[(lenders["scenario"] == scenario) & (lenders["policy"] == policy)]
            names = _lender_names(res, policy)
            share = runs.pivot_table("balance_share", "month", "lender_name", aggfunc="mean")
            share = share.reindex(columns=names).fillna(0.0)
            ax.stackplot(share.index, share.to_numpy().T, labels=names, colors=_colors(len(names)))
            _label_panel(
                ax, _cell_title(res, scenario, policy), "Month", "Share of the balance (%)"
            )
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(0, 1)
        figure_title(fig, "Market share by lender (balance)", page, len(pages))
        figure_legend(fig, axes, f"Lender (mean of runs{_pooled_note(res)})")
        figures.append(fig)
    return figures


#: The drawing function of each chart kind.
DRAWERS: dict[str, Callable[[Results, ChartSpec], list[Figure]]] = {
    "timeseries": timeseries_chart,
    "sweep": sweep_chart,
    "frontier": frontier_chart,
    "summary": summary_chart,
    "composition": composition_chart,
    "vintage": vintage_chart,
    "rollrate": rollrate_chart,
    "lenders": lenders_chart,
    "market_share": market_share_chart,
}


def default_charts(config: ExperimentConfig) -> list[ChartSpec]:
    """Charts drawn when a config has no ``[[chart]]``: the standard set, plus sweep plots.

    Every derived metric of ``[metrics]`` gets a summary chart (a sweep chart per swept
    parameter when the config sweeps). Markets of several lenders add each lender's
    overdue rate, capital and funding line, and the market shares.
    """
    specs = [
        ChartSpec("timeseries", metric=m) for m in ("overdue_rate", "npl_rate", "cum_net_loss")
    ]
    specs += [ChartSpec(kind) for kind in ("frontier", "composition", "vintage", "rollrate")]
    for param in config.params:
        specs.append(ChartSpec("sweep", metric="bad_debt_loss_rate", x=param))
    if len(config.params) >= 2:
        x, y = config.params[:2]
        specs.append(ChartSpec("sweep", metric="bad_debt_loss_rate", x=x, y=y))
    for metric in config.metrics:
        specs.append(ChartSpec("summary", metric=metric.name))
        specs += [ChartSpec("sweep", metric=metric.name, x=p) for p in config.params]
    if any(len(p.lender_names) > 1 for p in config.policies):  # markets: each lender's lines
        lender_metrics = ("overdue_rate", "capital", "funding_line")
        specs += [ChartSpec("lenders", metric=m) for m in lender_metrics]
        specs.append(ChartSpec("market_share"))
    return specs


def _stem(spec: ChartSpec, n: int) -> str:
    parts = [f"{n:02d}", spec.kind, spec.metric, spec.x, spec.y]
    return "_".join(p for p in parts if p).replace(".", "-")


# ----------------------------------------------------------------------- files
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _figures_dir(out_dir: Path, create: bool) -> Path:
    """``out_dir/figures``, refused if it is a symbolic link or not a folder."""
    folder = out_dir / store.FIGURES_DIR
    if folder.is_symlink():
        raise ChartsError(
            f"'{folder}' is a symbolic link; charts write only into a real folder "
            "(replace the link by a folder)"
        )
    if folder.exists() and not folder.is_dir():
        raise ChartsError(f"'{folder}' is not a folder; move it away to draw the figures")
    if create:
        folder.mkdir(exist_ok=True)
    return folder


def read_record(folder: Path) -> dict[str, list[str]]:
    """The files this tool wrote in ``folder`` (name -> accepted SHA-256s); {} if none.

    Raises:
        ChartsError: If the record is a link, not a file, or unreadable.
    """
    path = folder / MANIFEST
    if not path.exists() and not path.is_symlink():
        return {}
    if path.is_symlink() or not path.is_file():
        raise ChartsError(f"'{path}' is not a regular file; move it away to draw the figures")
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        return {str(k): [str(h) for h in v] for k, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ChartsError(
            f"'{path}' is damaged ({exc}); move it away to draw the figures"
        ) from None


def _write_record(folder: Path, files: dict[str, list[str]]) -> None:
    record = {
        "written_by": "python -m experiments charts",
        "note": "charts replaces or deletes only the files listed here, when unchanged",
        "files": dict(sorted(files.items())),
    }
    store.atomic_write_text(folder / MANIFEST, json.dumps(record, indent=1) + "\n")


def _ours(folder: Path, name: str, record: dict[str, list[str]]) -> bool:
    """Whether ``folder/name`` is a regular file this tool wrote and nobody changed since."""
    path = folder / name
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    return stat.S_ISREG(mode) and name in record and _sha256(path) in record[name]


def _check_free(folder: Path, names: Sequence[str], record: dict[str, list[str]]) -> None:
    for name in names:
        path = folder / name
        if (path.exists() or path.is_symlink()) and not _ours(folder, name, record):
            why = "was changed since" if name in record else "is not in its record"
            hint = "" if record else f" ({MANIFEST} is missing: figures of an older version?)"
            raise ChartsError(
                f"'{path}' was not written by charts ({why}){hint}; "
                "move it away to draw the figures"
            )


def _tmp(folder: Path, name: str) -> Path:
    return folder / f".{name}.{os.getpid()}.tmp"


def remove_figures(out_dir: Path | str) -> int:
    """Delete the figures this tool wrote in ``out_dir/figures`` (and its record).

    Files it did not write, or that were changed since, and symbolic links are left; so
    is the folder when anything else is in it.

    Returns:
        How many files were deleted.
    """
    folder = _figures_dir(Path(out_dir), create=False)
    if not folder.is_dir():
        return 0
    record = read_record(folder)
    removed = 0
    for name in record:
        if _ours(folder, name, record):
            (folder / name).unlink()
            removed += 1
    (folder / MANIFEST).unlink(missing_ok=True)
    if not any(folder.iterdir()):
        folder.rmdir()
    return removed


def _save(fig: Figure, path: Path, fmt: str) -> None:
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
    fig.savefig(path, format=fmt, dpi=DPI, metadata=metadata)


def save_figure(fig: Figure, folder: Path, name: str) -> list[Path]:
    """Save ``fig`` as ``name`` in each of :data:`FORMATS` in ``folder``, then close it.

    As the experiment charts are saved: at :data:`DPI`, laid out once for every format,
    without timestamps (the same figure gives the same files).

    Returns:
        The paths written.
    """
    paths = []
    try:
        for fmt in FORMATS:
            path = folder / f"{name}.{fmt}"
            _save(fig, path, fmt)
            fig.set_layout_engine("none")
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def draw_all(out_dir: Path | str) -> list[Path]:
    """Draw every chart of a results folder from its files (no simulation).

    The charts are those of the config stored in ``manifest.json`` (or the defaults),
    in its style. Inputs are checked first; figures are drawn into temporary files and
    renamed into place only when all are drawn; figures of an earlier call that are no
    longer drawn are deleted, and no other file is ever touched.

    Returns:
        Paths of the PNG and PDF files written.

    Raises:
            DamagedResults: A damaged results folder (nothing is changed then).
        ChartsError: A file in ``figures/`` the tool did not write where a figure goes,
            or ``figures`` is a link (nothing is changed then).
    """
    out_dir = Path(out_dir)
    res = load_results(out_dir)
    if res is None:
        return []
    folder = _figures_dir(out_dir, create=False)
    record = read_record(folder) if folder.is_dir() else {}
    specs = list(res.config.charts or default_charts(res.config))
    created = not folder.exists()
    folder = _figures_dir(out_dir, create=True)
    drawn: dict[str, Path] = {}  # final name -> temporary file
    try:
        with style_context(res.config.style, res.config.rcparams):
            for n, spec in enumerate(specs, start=1):
                figures = DRAWERS[spec.kind](res, spec)
                stem = _stem(spec, n)
                for page, fig in enumerate(figures, start=1):
                    name = stem if len(figures) == 1 else f"{stem}_p{page}"
                    try:
                        for fmt in FORMATS:
                            tmp = _tmp(folder, f"{name}.{fmt}")
                            drawn[f"{name}.{fmt}"] = tmp
                            _save(fig, tmp, fmt)
                            fig.set_layout_engine("none")  # laid out once, for every format
                    finally:
                        plt.close(fig)
        _check_free(folder, list(drawn), record)
        new = {name: [_sha256(tmp)] for name, tmp in drawn.items()}
        # Record old and new contents before swapping: an interrupted swap leaves files
        # the next call still recognises as its own.
        interim = {k: sorted(set(record.get(k, [])) | set(new.get(k, []))) for k in {*record, *new}}
        _write_record(folder, interim)
        for name, tmp in drawn.items():
            os.replace(tmp, folder / name)
    except BaseException:
        for tmp in drawn.values():
            tmp.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    for name in record:
        if name not in new and _ours(folder, name, record):
            (folder / name).unlink()
    _write_record(folder, new)
    return [folder / name for name in drawn]
