"""Charts: every figure of a results folder, drawn from its files alone (PNG and SVG)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from experiments import store  # noqa: E402
from experiments.analysis import t_interval, unit_of  # noqa: E402
from experiments.config import ChartSpec, ExperimentConfig, parse_config  # noqa: E402

_BUCKET_SHARES = {
    "share_1_30": "1-30 DPD",
    "share_31_60": "31-60 DPD",
    "share_61_90": "61-90 DPD",
    "share_90_plus": "90+ DPD",
}


#: How each unit of ``model.metrics.UNITS`` is written on an axis.
_UNIT_LABELS = {
    "share": "%",
    "currency": "currency units",
    "count": "count",
    "points": "score points",
    "month": "month",
    "index": "index",
}


def _unit(metric: str) -> str:
    """Axis unit of a metric; parameters (``policy.x``, ...) have none."""
    unit = unit_of(metric)
    return _UNIT_LABELS[unit] if unit is not None else ""


def label(metric: str) -> str:
    """Axis label of a metric or parameter, with its unit."""
    unit = _unit(metric)
    text = metric.replace("_", " ")
    return f"{text} ({unit})" if unit else text


def _money(value: float, _pos: int | None = None) -> str:
    for size, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _format_axis(axis: object, metric: str) -> None:
    unit = _unit(metric)
    if unit == "%":
        axis.set_major_formatter(PercentFormatter(1.0))
    elif unit == "currency units":
        axis.set_major_formatter(FuncFormatter(_money))


def _grid(
    rows: int, cols: int, width: float = 4.6, height: float = 3.4, share: bool = False
) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(width * cols + 1.6, height * rows + 0.6),
        squeeze=False,
        sharex=share,
        sharey=share,
        layout="constrained",
    )
    return fig, axes


def _facets(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def _finish(
    fig: Figure, axes: np.ndarray, used: int, title: str, legend: str | None = None
) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=13)
    if legend is not None:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="outside right center", title=legend, fontsize=8, title_fontsize=8
        )


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    folder = out_dir / store.FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=110)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def _colors(series: list) -> dict:
    cmap = plt.get_cmap("tab10")
    return {p: cmap(i % 10) for i, p in enumerate(series)}


def _panels(
    frame: pd.DataFrame, axes: np.ndarray, scenarios: list[str], policies: list[str]
) -> Iterator[tuple[Axes, pd.DataFrame]]:
    """Yield each (scenario row, policy column) panel with its rows of ``frame``, titled."""
    for i, scenario in enumerate(scenarios):
        for j, policy in enumerate(policies):
            ax = axes[i, j]
            ax.set_title(f"{scenario} / {policy}", fontsize=10)
            yield ax, frame[(frame["scenario"] == scenario) & (frame["policy"] == policy)]


def timeseries_chart(
    ts: pd.DataFrame, metric: str, scenarios: list[str], policies: list[str]
) -> Figure:
    """Median and 5-95% band of a monthly metric: a panel per scenario, a line per policy."""
    rows, cols = _facets(len(scenarios))
    fig, axes = _grid(rows, cols, share=True)
    colors = _colors(policies)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        part = ts[ts["scenario"] == scenario]
        for policy in policies:
            runs = part[part["policy"] == policy]
            if runs.empty:
                continue
            q = runs.groupby("month")[metric].quantile([0.05, 0.5, 0.95]).unstack()
            ax.fill_between(q.index, q[0.05], q[0.95], color=colors[policy], alpha=0.2, linewidth=0)
            ax.plot(q.index, q[0.5], color=colors[policy], label=policy, linewidth=1.8)
        ax.set_title(scenario)
        ax.set_xlabel("month")
        ax.set_ylabel(label(metric))
        _format_axis(ax.yaxis, metric)
        ax.grid(alpha=0.3)
    _finish(
        fig,
        axes,
        len(scenarios),
        f"{metric.replace('_', ' ')} by scenario",
        legend="policy\n(median, 5-95%\nof runs)",
    )
    return fig


def _mean_ci(values: pd.Series) -> pd.Series:
    mean, low, high = t_interval(values.to_numpy())
    return pd.Series({"mean": mean, "half": (high - low) / 2})


def sweep_chart(
    summary: pd.DataFrame,
    metric: str,
    x: str,
    y: str | None,
    scenarios: list[str],
    policies: list[str],
    params: list[str],
) -> Figure:
    """A summary metric over one swept parameter (lines) or two (heatmaps or a coloured scatter).

    Line plots draw one line per policy and value of the other swept parameters
    (when that makes at most 10 lines; otherwise they are averaged over).
    """
    if y is None:
        others = [c for c in params if c != x]
        keys = (
            ["policy", *others]
            if summary.groupby(["policy", *others]).ngroups <= 10
            else ["policy"]
        )
        series = list(summary[keys].drop_duplicates().itertuples(index=False, name=None))
        colors = _colors(series)
        # A true/false parameter is two categories: points side by side, not a line.
        categorical = summary[x].dtype == bool
        rows, cols = _facets(len(scenarios))
        fig, axes = _grid(rows, cols, share=True)
        for ax, scenario in zip(axes.flat, scenarios, strict=False):
            part = summary[summary["scenario"] == scenario]
            for key, runs in part.groupby(keys, sort=False):
                name = ", ".join(
                    f"{k}={v:g}" if k != "policy" else v for k, v in zip(keys, key, strict=True)
                )
                if runs[x].nunique() > 25:
                    ax.scatter(
                        runs[x], runs[metric], s=12, alpha=0.6, color=colors[key], label=name
                    )
                    continue
                stats = runs.groupby(x)[metric].apply(_mean_ci).unstack()
                at = stats.index.to_numpy(dtype=float)
                if categorical:
                    at = at + 0.08 * (series.index(key) - (len(series) - 1) / 2)
                ax.errorbar(
                    at,
                    stats["mean"],
                    yerr=stats["half"],
                    marker="o",
                    linestyle="none" if categorical else "-",
                    capsize=3,
                    color=colors[key],
                    label=name,
                )
            if categorical:
                ax.set_xticks([0, 1], ["false", "true"])
                ax.set_xlim(-0.6, 1.6)
            ax.set_title(scenario)
            ax.set_xlabel(label(x))
            ax.set_ylabel(label(metric))
            _format_axis(ax.yaxis, metric)
            ax.grid(alpha=0.3)
        _finish(
            fig,
            axes,
            len(scenarios),
            f"{metric.replace('_', ' ')} against {x}",
            legend="(mean, 95% CI)",
        )
        return fig
    fig, axes = _grid(len(scenarios), len(policies), width=5.6, height=3.8)
    for ax, runs in _panels(summary, axes, scenarios, policies):
        scale = 100.0 if _unit(metric) == "%" else 1.0
        cells = runs[x].nunique() * runs[y].nunique()
        if cells > 400 or len(runs[[x, y]].drop_duplicates()) < cells:
            art = ax.scatter(
                runs[x],
                runs[y],
                c=runs[metric] * scale,
                s=40,
                cmap="viridis",
                edgecolors="black",
                linewidths=0.3,
            )
        else:
            grid = runs.pivot_table(index=y, columns=x, values=metric, aggfunc="mean") * scale
            art = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns], fontsize=8)
            ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index], fontsize=8)
            for (r, c), value in np.ndenumerate(grid.to_numpy()):
                ax.text(c, r, f"{value:.3g}", ha="center", va="center", fontsize=7, color="white")
        fig.colorbar(art, ax=ax, label=label(metric))
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(y))
    _finish(fig, axes, axes.size, f"mean {metric.replace('_', ' ')}\nby {x} and {y}")
    return fig


def frontier_chart(summary: pd.DataFrame, scenarios: list[str], policies: list[str]) -> Figure:
    """Loss rate against approval rate per scenario: runs as dots, policy means with 95% CIs."""
    rows, cols = _facets(len(scenarios))
    fig, axes = _grid(rows, cols, share=True)
    colors = _colors(policies)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        part = summary[summary["scenario"] == scenario]
        for policy in policies:
            runs = part[part["policy"] == policy]
            if runs.empty:
                continue
            ax.scatter(
                runs["approval_rate"],
                runs["bad_debt_loss_rate"],
                s=10,
                alpha=0.35,
                color=colors[policy],
            )
            xs, ys = _mean_ci(runs["approval_rate"]), _mean_ci(runs["bad_debt_loss_rate"])
            ax.errorbar(
                xs["mean"],
                ys["mean"],
                xerr=xs["half"],
                yerr=ys["half"],
                marker="D",
                markersize=7,
                capsize=3,
                color=colors[policy],
                label=policy,
            )
        ax.set_title(scenario)
        ax.set_xlabel(label("approval_rate"))
        ax.set_ylabel("bad debt loss rate (% of originations)")
        _format_axis(ax.xaxis, "approval_rate")
        _format_axis(ax.yaxis, "bad_debt_loss_rate")
        ax.grid(alpha=0.3)
    _finish(
        fig,
        axes,
        len(scenarios),
        "risk-volume frontier: loss rate against approval rate",
        legend="policy\n(mean, 95% CI;\ndots = runs)",
    )
    return fig


def composition_chart(ts: pd.DataFrame, scenarios: list[str], policies: list[str]) -> Figure:
    """Overdue loans by DPD bucket over time (stacked, mean of runs), per scenario and policy."""
    fig, axes = _grid(len(scenarios), len(policies), width=4.2, height=3.0, share=True)
    palette = plt.get_cmap("YlOrRd")(np.linspace(0.35, 0.95, len(_BUCKET_SHARES)))
    for ax, runs in _panels(ts, axes, scenarios, policies):
        mean = runs.groupby("month")[list(_BUCKET_SHARES)].mean()
        ax.stackplot(
            mean.index, mean.to_numpy().T, labels=list(_BUCKET_SHARES.values()), colors=palette
        )
        ax.set_xlabel("month")
        ax.set_ylabel("share of active loans (%)")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    _finish(
        fig,
        axes,
        axes.size,
        "overdue loans by days-past-due bucket (rest are current)",
        legend="bucket",
    )
    return fig


def vintage_chart(vintages: pd.DataFrame, scenarios: list[str], policies: list[str]) -> Figure:
    """Cumulative write-off rate by months on book of some vintages, per scenario and policy."""
    fig, axes = _grid(len(scenarios), len(policies), width=4.2, height=3.0, share=True)
    last = int(vintages["vintage"].max()) if not vintages.empty else 0
    step = max(1, math.ceil((last + 1) / 6))
    chosen = list(range(0, last + 1, step))
    cmap = plt.get_cmap("viridis")
    for ax, runs in _panels(vintages, axes, scenarios, policies):
        curves = runs.groupby(["vintage", "months_on_book"])["cum_writeoff_rate"].mean()
        for k, vintage in enumerate(chosen):
            if vintage in curves.index.get_level_values(0):
                curve = curves.loc[vintage]
                ax.plot(
                    curve.index,
                    curve.to_numpy(),
                    color=cmap(k / max(1, len(chosen) - 1)),
                    label=f"month {vintage}",
                )
        ax.set_xlabel("months on book")
        ax.set_ylabel("cum. write-offs (% of vintage)")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    _finish(
        fig,
        axes,
        axes.size,
        "vintage loss curves (mean across runs)",
        legend="vintage\n(month originated)",
    )
    return fig


def rollrate_chart(rollrates: pd.DataFrame, scenarios: list[str], policies: list[str]) -> Figure:
    """Mean roll-rate matrix (share of bucket balance by end state) per scenario and policy."""
    states = [
        c
        for c in rollrates.columns
        if c not in ("run_id", "scenario", "policy", "replication", "from_bucket") and "." not in c
    ]
    fig, axes = _grid(len(scenarios), len(policies), width=5.2, height=3.6)
    for ax, runs in _panels(rollrates, axes, scenarios, policies):
        matrix = runs.groupby("from_bucket", sort=False)[states].mean()
        art = ax.imshow(matrix.to_numpy() * 100, cmap="Blues", vmin=0, vmax=100)
        ax.set_xticks(
            range(len(states)),
            [s.replace("_", " ") for s in states],
            rotation=35,
            ha="right",
            fontsize=8,
        )
        ax.set_yticks(range(len(matrix.index)), list(matrix.index), fontsize=8)
        for (r, c), value in np.ndenumerate(matrix.to_numpy() * 100):
            ax.text(
                c,
                r,
                f"{value:.0f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > 60 else "black",
            )
        ax.set_xlabel("end state")
        ax.set_ylabel("from DPD bucket")
        fig.colorbar(art, ax=ax, label="% of bucket balance")
    _finish(fig, axes, axes.size, "monthly roll rates between DPD buckets")
    return fig


def default_charts(config: ExperimentConfig) -> list[ChartSpec]:
    """Charts drawn when a config has no ``[[chart]]``: the standard set, plus sweep plots."""
    specs = [
        ChartSpec("timeseries", metric=m) for m in ("overdue_rate", "npl_rate", "cum_net_loss")
    ]
    specs += [ChartSpec(kind) for kind in ("frontier", "composition", "vintage", "rollrate")]
    for param in config.params:
        specs.append(ChartSpec("sweep", metric="bad_debt_loss_rate", x=param))
    if len(config.params) >= 2:
        x, y = config.params[:2]
        specs.append(ChartSpec("sweep", metric="bad_debt_loss_rate", x=x, y=y))
    return specs


def _stem(spec: ChartSpec, n: int) -> str:
    parts = [f"{n:02d}", spec.kind, spec.metric, spec.x, spec.y]
    return "_".join(p for p in parts if p).replace(".", "-")


def draw_all(out_dir: Path | str) -> list[Path]:
    """Draw every chart of a results folder from its files (no simulation).

    The charts are those of the config stored in ``manifest.json`` (or the
    defaults). Old figures are replaced.

    Returns:
        Paths of the PNG and SVG files written.
    """
    out_dir = Path(out_dir)
    config = parse_config(store.read_manifest(out_dir)["config"])
    scenarios = [s.name for s in config.scenarios]
    policies = [p.name for p in config.policies]
    summary = store.read_table(out_dir, "summary")
    if summary.empty:
        return []
    scenarios = [s for s in scenarios if s in set(summary["scenario"])]
    policies = [p for p in policies if p in set(summary["policy"])]
    cache: dict[str, pd.DataFrame] = {}

    def table(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = store.read_table(out_dir, name)
        return cache[name]

    drawers: dict[str, Callable[[ChartSpec], Figure]] = {
        "timeseries": lambda c: timeseries_chart(
            table("timeseries")[["scenario", "policy", "month", c.metric]],
            c.metric,
            scenarios,
            policies,
        ),
        "sweep": lambda c: sweep_chart(
            summary, c.metric, c.x, c.y, scenarios, policies, config.params
        ),
        "frontier": lambda c: frontier_chart(summary, scenarios, policies),
        "composition": lambda c: composition_chart(table("timeseries"), scenarios, policies),
        "vintage": lambda c: vintage_chart(table("vintages"), scenarios, policies),
        "rollrate": lambda c: rollrate_chart(table("rollrates"), scenarios, policies),
    }
    figures = out_dir / store.FIGURES_DIR
    for old in [*figures.glob("*.png"), *figures.glob("*.svg")]:
        old.unlink()
    paths = []
    for n, spec in enumerate(config.charts or default_charts(config), start=1):
        paths += _save(drawers[spec.kind](spec), out_dir, _stem(spec, n))
    return paths
