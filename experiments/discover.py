"""Scenario discovery: PRIM boxes describing which parameter ranges produce the bad outcomes.

Patient Rule Induction Method, peeling as the EMA workbench does it (Friedman and
Fisher 1999; Bryant and Lempert 2010): starting from the box holding every run, each
step removes the ``alpha`` share of runs at one end of one input (or one category of a
categorical input) that raises the share of bad runs in the box most per run removed
(EMA's "lenient1" objective), until the box would hold less than ``mass_min`` of the
runs or no peel helps. Each box on the way is described by

- coverage: the share of all bad runs that lie in the box,
- density: the share of the box's runs that are bad,
- mass: the share of all runs that lie in the box.

The chosen box is the one with the highest coverage whose density reaches a threshold
(default 0.8). There is no pasting phase and only the first box is found.

Cases are the runs of a results folder (each replication a case); inputs are the swept
parameters, and the scenario and policy names when there are several.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import store
from experiments.config import ConfigError, ExperimentConfig, parse_config
from experiments.summaries import SUMMARY_METRICS

#: Share of the box's runs removed by one peel.
PEEL_ALPHA = 0.05
#: Smallest share of all runs a box may hold.
MASS_MIN = 0.05
#: Density a box must reach to be chosen (by default).
MIN_DENSITY = 0.8
#: Files written into the results folder.
CSV = "discover.csv"
MARKDOWN = "discover.md"

Limit = tuple[float, float] | frozenset


@dataclass(frozen=True)
class Box:
    """One box of a peeling trajectory.

    Attributes:
        limits: Per input, ``(low, high)`` (the smallest and largest value of the box's
            runs) or the set of categories in the box.
        restricted: Inputs whose limits are narrower than the data's.
        runs: Runs in the box.
        bad: Bad runs in the box.
        coverage: Share of all bad runs in the box.
        density: Share of the box's runs that are bad.
        mass: Share of all runs in the box.
    """

    limits: dict[str, Limit]
    restricted: tuple[str, ...]
    runs: int
    bad: int
    coverage: float
    density: float
    mass: float


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _box(
    x: pd.DataFrame, y: np.ndarray, inside: np.ndarray, limits: dict[str, Limit], full: dict
) -> Box:
    runs, bad = int(inside.sum()), int(y[inside].sum())
    restricted = tuple(name for name in x.columns if limits[name] != full[name])
    return Box(
        limits=dict(limits),
        restricted=restricted,
        runs=runs,
        bad=bad,
        coverage=bad / int(y.sum()),
        density=bad / runs if runs else float("nan"),
        mass=runs / len(y),
    )


def _candidates(
    x: pd.DataFrame, inside: np.ndarray, limits: dict[str, Limit], alpha: float
) -> list[tuple[str, Limit, np.ndarray]]:
    """Every peel of the box: the input, its new limit and the new membership."""
    out = []
    for name in x.columns:
        column = x[name].to_numpy()
        values = column[inside]
        if isinstance(limits[name], frozenset):
            categories = limits[name]
            if len(categories) < 2:
                continue
            for category in sorted(categories, key=str):
                out.append((name, categories - {category}, inside & (column != category)))
            continue
        values = values.astype(float)
        low, high = values.min(), values.max()
        if low == high:
            continue
        # The end not peeled keeps its limit (the data's, unless peeled before).
        limit_low, limit_high = limits[name]
        # Lower end: remove the alpha share of the smallest values (all the smallest value
        # when it alone holds more, as for a grid of levels); upper end alike.
        cut = np.quantile(values, alpha)
        keep = column > cut if cut <= low else column >= cut
        new = inside & keep
        out.append((name, (float(column[new].min()), limit_high), new))
        cut = np.quantile(values, 1 - alpha)
        keep = column < cut if cut >= high else column <= cut
        new = inside & keep
        out.append((name, (limit_low, float(column[new].max())), new))
    return out


def peel(
    x: pd.DataFrame,
    y: np.ndarray | Sequence[bool],
    alpha: float = PEEL_ALPHA,
    mass_min: float = MASS_MIN,
) -> list[Box]:
    """The PRIM peeling trajectory of bad cases ``y`` over inputs ``x``.

    Args:
        x: One row per case; numeric columns are peeled at their ends, other columns
            (strings, booleans) one category at a time.
        y: Whether each case is bad.
        alpha: Share of the box's cases removed by one peel.
        mass_min: Smallest share of all cases a box may hold.

    Returns:
        The boxes from the one holding every case to the last peel, in order.

    Raises:
        ValueError: If there are no cases, no bad case, or no input.
    """
    y = np.asarray(y, dtype=bool)
    if len(x) != len(y) or not len(y):
        raise ValueError("peel needs one outcome per case and at least one case")
    if not y.any():
        raise ValueError("no case is bad")
    if x.shape[1] == 0:
        raise ValueError("no input varies")
    x = x.reset_index(drop=True)
    full: dict[str, Limit] = {}
    for name in x.columns:
        column = x[name]
        if _is_numeric(column):
            full[name] = (float(column.min()), float(column.max()))
        else:
            full[name] = frozenset(column.unique().tolist())
    limits = dict(full)
    inside = np.ones(len(y), dtype=bool)
    trajectory = [_box(x, y, inside, limits, full)]
    while True:
        box = trajectory[-1]
        best = None
        for name, limit, new in _candidates(x, inside, limits, alpha):
            runs = int(new.sum())
            if runs == 0 or runs == box.runs:
                continue
            gain = (y[new].mean() - box.density) / (box.runs - runs)
            trial = {**limits, name: limit}
            free = sum(trial[k] == full[k] for k in x.columns)
            score = (gain, free)
            if best is None or score > best[0]:
                best = (score, name, limit, new)
        if best is None:
            break
        (gain, _), name, limit, new = best
        if gain <= 0 or new.sum() / len(y) < mass_min:
            break
        inside, limits[name] = new, limit
        trajectory.append(_box(x, y, inside, limits, full))
    return trajectory


def choose(trajectory: Sequence[Box], min_density: float = MIN_DENSITY) -> tuple[int, bool]:
    """The box with the highest coverage whose density reaches ``min_density``.

    Returns:
        Its index in the trajectory, and whether the threshold is met (if no box meets
        it, the densest box is returned).
    """
    meeting = [i for i, b in enumerate(trajectory) if b.density >= min_density]
    if meeting:
        return max(meeting, key=lambda i: (trajectory[i].coverage, trajectory[i].density)), True
    densest = max(range(len(trajectory)), key=lambda i: (trajectory[i].density, -i))
    return densest, False


@dataclass(frozen=True)
class Threshold:
    """Which runs are bad: ``metric`` above (or below) a value, given as such or as a quantile."""

    metric: str
    above: bool
    value: float | None = None
    quantile: float | None = None

    def describe(self) -> str:
        """E.g. ``bad_debt_loss_rate above its 0.9 quantile``."""
        side = "above" if self.above else "below"
        if self.quantile is not None:
            return f"{self.metric} {side} its {self.quantile:g} quantile over runs"
        return f"{self.metric} {side} {self.value:g}"


def check_threshold(threshold: Threshold) -> None:
    """Raise a one-line :class:`ConfigError` naming the bad argument, if any."""
    side = "above" if threshold.above else "below"
    if threshold.metric not in SUMMARY_METRICS:
        raise ConfigError(
            f"argument --metric: unknown metric '{threshold.metric}'; "
            f"allowed: {', '.join(SUMMARY_METRICS)}"
        )
    if threshold.quantile is not None and not 0 < threshold.quantile < 1:
        raise ConfigError(
            f"argument --{side}-quantile must be a quantile strictly between 0 and 1, "
            f"got {threshold.quantile:g}"
        )
    if threshold.value is not None and not math.isfinite(threshold.value):
        raise ConfigError(f"argument --{side}-value must be a finite number, got {threshold.value}")


@dataclass
class DiscoverResult:
    """A peeling trajectory over the runs of a results folder, and the chosen box."""

    config: ExperimentConfig
    threshold: Threshold
    cut: float
    inputs: pd.DataFrame
    bad: np.ndarray
    trajectory: list[Box]
    chosen: int
    met: bool
    min_density: float
    notes: list[str] = field(default_factory=list)


def discover_results(
    folder: Path | str, threshold: Threshold, min_density: float = MIN_DENSITY
) -> DiscoverResult:
    """Peel the runs of a results folder for the bad outcomes ``threshold`` defines.

    Raises:
        ConfigError: One line, for a bad argument or a folder with nothing to peel.
    """
    check_threshold(threshold)
    if not 0 < min_density <= 1:
        raise ConfigError(f"argument --min-density must be in (0, 1], got {min_density:g}")
    folder = Path(folder)
    config = parse_config(store.read_manifest(folder)["config"])
    summary = store.read_table(folder, "summary")
    notes = []
    metric = summary[threshold.metric].to_numpy(dtype=float)
    finite = np.isfinite(metric)
    if not finite.all():
        notes.append(f"{int((~finite).sum())} runs with no value of {threshold.metric} left out")
    summary, metric = summary[finite].reset_index(drop=True), metric[finite]
    if len(summary) < 2:
        raise ConfigError(
            f"argument dir: '{folder}' has {len(summary)} finished runs with a value of "
            f"{threshold.metric}; discovery needs several"
        )
    columns = [*config.params]
    columns += [c for c in ("scenario", "policy") if summary[c].nunique() > 1]
    inputs = summary[columns]
    inputs = inputs.loc[:, [c for c in columns if inputs[c].nunique() > 1]]
    if inputs.shape[1] == 0:
        raise ConfigError(
            f"argument dir: nothing varies across the runs of '{folder}' (no swept parameter, "
            "one scenario and one policy); discovery needs a [sweep] or [sample] design"
        )
    if threshold.quantile is not None:
        cut = float(np.quantile(metric, threshold.quantile))
    else:
        cut = float(threshold.value)  # type: ignore[arg-type]
    bad = metric > cut if threshold.above else metric < cut
    side = "above" if threshold.above else "below"
    if not bad.any() or bad.all():
        which = "no run" if not bad.any() else "every run"
        raise ConfigError(
            f"argument --{side}-{'quantile' if threshold.quantile is not None else 'value'}: "
            f"{which} has {threshold.metric} {side} {cut:.6g} (range {metric.min():.6g} to "
            f"{metric.max():.6g}); choose a threshold inside the range"
        )
    trajectory = peel(inputs, bad)
    chosen, met = choose(trajectory, min_density)
    return DiscoverResult(
        config, threshold, cut, inputs, bad, trajectory, chosen, met, min_density, notes
    )


def _limit_text(limit: Limit) -> str:
    if isinstance(limit, frozenset):
        return "{" + ", ".join(sorted(map(str, limit))) + "}"
    return f"[{limit[0]:.6g}, {limit[1]:.6g}]"


def trajectory_table(result: DiscoverResult) -> pd.DataFrame:
    """The trajectory as a table (``discover.csv``): one row per box, limits per input."""
    rows = []
    for step, box in enumerate(result.trajectory):
        row: dict[str, Any] = {
            "step": step,
            "chosen": step == result.chosen,
            "coverage": box.coverage,
            "density": box.density,
            "mass": box.mass,
            "runs": box.runs,
            "bad_runs": box.bad,
            "restricted": " ".join(box.restricted),
        }
        for name, limit in box.limits.items():
            if isinstance(limit, frozenset):
                row[name] = "|".join(sorted(map(str, limit)))
            else:
                row[f"{name}_low"], row[f"{name}_high"] = limit
        rows.append(row)
    return pd.DataFrame(rows)


def format_markdown(result: DiscoverResult) -> str:
    """The report ``discover.md``: the question, the chosen box, the trajectory."""
    box, first = result.trajectory[result.chosen], result.trajectory[0]
    n, n_bad = first.runs, first.bad
    side = "above" if result.threshold.above else "below"
    how = (
        f"the {result.threshold.quantile:g} quantile over runs"
        if result.threshold.quantile is not None
        else "the value given"
    )
    chosen_how = (
        f"the box with the highest coverage whose density is at least {result.min_density:g}"
        if result.met
        else f"no box reaches density {result.min_density:g}: the densest box is shown"
    )
    lines = [
        f"# Scenario discovery: {result.config.name}",
        "",
        f"Question: which parameter ranges produce runs with {result.threshold.metric} "
        f"{side} {result.cut:.6g} ({how})? {n_bad} of {n} runs ({n_bad / n:.1%}) are bad.",
        "",
        f"Method: PRIM peeling as in the EMA workbench (peel alpha {PEEL_ALPHA:g}, minimum "
        f"mass {MASS_MIN:g}, lenient objective, no pasting) over the runs (each replication "
        f"a case); chosen: {chosen_how} (step {result.chosen} of {len(result.trajectory) - 1}).",
        "",
    ]
    lines += [f"Note: {note}" for note in result.notes]
    lines += [
        f"Chosen box: coverage {box.coverage:.3f} ({box.bad} of {n_bad} bad runs inside), "
        f"density {box.density:.3f} ({box.bad} of {box.runs} runs inside are bad), "
        f"mass {box.mass:.3f} ({box.runs} of {n} runs).",
        "",
        "| input | box | all runs |",
        "|---|---|---|",
    ]
    for name in box.restricted or ():
        lines.append(
            f"| {name} | {_limit_text(box.limits[name])} | {_limit_text(first.limits[name])} |"
        )
    if not box.restricted:
        lines.append("| (none: the box holds every run) | | |")
    lines += [
        "",
        "Limits are the smallest and largest values of the runs inside the box.",
        "",
        "## Trajectory",
        "",
        "| step | coverage | density | mass | restricted |",
        "|---:|---:|---:|---:|---|",
    ]
    for step, b in enumerate(result.trajectory):
        mark = " (chosen)" if step == result.chosen else ""
        lines.append(
            f"| {step}{mark} | {b.coverage:.3f} | {b.density:.3f} | {b.mass:.3f} | "
            f"{', '.join(b.restricted)} |"
        )
    return "\n".join(lines)


def write(result: DiscoverResult, folder: Path | str) -> list[Path]:
    """Write ``discover.csv`` and ``discover.md``; return their paths."""
    folder = Path(folder)
    store.atomic_write_text(folder / CSV, trajectory_table(result).to_csv(index=False))
    store.atomic_write_text(folder / MARKDOWN, format_markdown(result) + "\n")
    return [folder / CSV, folder / MARKDOWN]
