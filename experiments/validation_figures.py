"""The validation report's figures (PNG), drawn from the frames of ``experiments.facts``."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from experiments import facts  # noqa: E402
from experiments import fed_reference as fed  # noqa: E402
from model.validation import vasicek_cdf  # noqa: E402

#: Figure width (inches) and resolution: at most 2,000 pixels wide.
WIDTH, DPI = 10.0, 150


def _band(ax, frame: pd.DataFrame, column: str, label: str, by: str = "month") -> None:
    """Mean over replications with a 95% t-interval band."""
    grouped = frame.groupby(by)[column]
    mean = grouped.mean()
    half = 1.96 * grouped.std(ddof=1) / np.sqrt(grouped.count())
    ax.fill_between(mean.index, mean - half, mean + half, alpha=0.2)
    ax.plot(mean.index, mean, label=label)


def _save(fig, path: Path) -> str:
    """Save ``fig`` as PNG through a temporary file renamed into place; return its name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path.name


def _percent_axes(axes) -> None:
    for ax in np.atleast_1d(axes):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)


def recession(ts: pd.DataFrame, out: Path) -> str:
    """Unemployment, overdue and charge-off rates of the balanced lender by scenario."""
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 3.2))
    for scenario in ("baseline", "mild_recession", "severe_recession"):
        runs = ts[(ts.scenario == scenario) & (ts.policy == "balanced")].copy()
        runs["chargeoff"] = facts.chargeoff_rate(runs)
        for ax, column in zip(
            axes, ("unemployment_rate", "overdue_rate", "chargeoff"), strict=True
        ):
            _band(ax, runs, column, scenario.replace("_", " "))
    titles = ("Unemployment rate", "Overdue rate (1+ DPD)", "Charge-off rate (annualised)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("month")
    _percent_axes(axes)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out / "recession.png")


def replay(frame: pd.DataFrame, out: Path) -> str:
    """The US 2007-12 replay against the Fed's card delinquency and charge-off rates."""
    q = facts.quarterly(frame)
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.4))
    for ax, column, points, title in (
        (axes[0], "overdue_rate_30", fed.DELINQUENCY, "Delinquency: model 31+ DPD, Fed 30+"),
        (axes[1], "chargeoff_rate", fed.CHARGE_OFFS, "Charge-off rate (annualised)"),
    ):
        ax.plot(q.index, q[column], "-o", ms=3, label="model (card-like lender)")
        ax.plot([p.quarter for p in points], [p.rate for p in points], "s", ms=4, label="Fed cards")
        twin = ax.twinx()
        twin.plot(q.index, q["scenario_unemployment"], ":", color="grey", label="unemployment")
        twin.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(title, fontsize=10)
        ticks = list(range(0, 24, 4))
        ax.set_xticks(ticks, [str(2007 + t // 4) for t in ticks])
    _percent_axes(axes)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, out / "us_2007_replay.png")


def policies(front: pd.DataFrame, out: Path) -> str:
    """Loss against approval along the cut-off frontier (clear and noisy scores), and profit."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.4))
    for noise, label in ((facts.CLEAR_NOISE, "clear scores"), (facts.NOISY_NOISE, "noisy scores")):
        mean = front[front.noise == noise].groupby("cutoff").mean()
        axes[0].plot(mean.approval_rate, mean.loss_rate, "-o", ms=3, label=label)
        if noise == facts.CLEAR_NOISE:
            axes[1].plot(mean.index, mean.profit / 1e6, "-o", ms=3)
    axes[0].set_xlabel("approval rate")
    axes[0].set_ylabel("loss rate (of amount lent)")
    axes[0].xaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("score cut-off")
    axes[1].set_ylabel("profit over 36 months (M)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out / "policies.png")


def lenders(ts: pd.DataFrame, multi: pd.DataFrame, out: Path) -> str:
    """Collection and relief in the baseline; borrowing to repay between two lenders."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.2))
    for policy in ("weak_collection", "balanced", "full_collection"):
        runs = ts[(ts.scenario == "baseline") & (ts.policy == policy)]
        _band(axes[0], runs, "overdue_rate", policy.replace("_", " "))
    axes[0].set_title("Collection and relief, baseline", fontsize=10)
    for market in ("no borrowing to repay", "borrowing to repay"):
        _band(axes[1], multi[multi.market == market], "overdue_rate", market)
    axes[1].set_title("Two lenders, severe recession", fontsize=10)
    for ax in axes:
        ax.set_xlabel("month")
        ax.set_ylabel("overdue rate (1+ DPD)")
        ax.legend(fontsize=7)
    _percent_axes(axes)
    fig.tight_layout()
    return _save(fig, out / "collection_and_lenders.png")


def vasicek(samples: dict, out: Path) -> str:
    """Simulated default fractions against the Vasicek distribution."""
    fig, axes = plt.subplots(1, len(samples), figsize=(WIDTH, 3.0))
    for ax, ((rho, pd_), f) in zip(np.atleast_1d(axes), samples.items(), strict=True):
        x = np.sort(f)
        ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", label="simulated")
        grid = np.linspace(1e-4, x.max(), 300)
        ax.plot(grid, vasicek_cdf(grid, rho, pd_), "--", label="Vasicek")
        ax.set_title(f"rho={rho}, pd={pd_}", fontsize=10)
        ax.set_xlabel("share missing the first payment")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("cumulative probability")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out / "vasicek.png")
