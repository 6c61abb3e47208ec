"""Reverse stress test: the mildest scenario of a family that breaks a condition, per policy.

A reverse stress config is an experiment config (its policies, replications, seed, size,
horizon and burn-in say which runs are made) with a ``[reverse_stress]`` table::

    [reverse_stress]
    family = "peak_duration"     # or "severity"
    condition = "capital_breach" # or "failure", or "loss_above" with loss_limit
    peak = [0.05, 0.35]          # the bracket searched (peak unemployment)
    durations = [3, 12, 24]      # months the peak is held: one search each
    share = 0.5                  # a scenario breaks when this share of replications do
    tolerance = 0.005            # stop when the bracket is this narrow

Families:

- ``severity``: a scenario of the config (``scenario``, default the first) scaled by
  ``severity`` within the bracket ``severity = [low, high]``.
- ``peak_duration``: unemployment flat at month 0's 4.2% for 3 months, rising linearly to
  the peak over ``ramp`` months, held ``duration`` months, back to 4.2% over
  ``recovery`` months; the other series at the baseline.

For each policy (and duration) the search is a bisection on the scalar (severity or
peak): a scenario breaks when at least ``share`` of the replications break the
condition. Every evaluation runs the same replications (the config's seeds) for every
policy and every scenario (paired, common random numbers, so the share breaking moves
with the severity only); all the scenarios of a family start at the baseline's month-0
conditions, so each policy and replication has one burn-in, forked per evaluation. The
confidence statement is the share of replications breaking at the boundary (the mildest
breaking value found) and at the strongest value that did not break, with
Clopper-Pearson 95% intervals.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import store
from experiments.config import (
    ConfigError,
    ExperimentConfig,
    check_keys,
    parse_config,
    read_config_with_table,
)
from experiments.design import build_design, build_economy, model_inputs
from experiments.labels import display_names
from experiments.risk import binomial_interval
from model import CreditEconomy, MacroScenario
from model.macro import SERIES_BOUNDS

#: Families of scenarios the search walks through.
FAMILIES = ("severity", "peak_duration")
#: Conditions that break a lender (or the market).
CONDITIONS = ("capital_breach", "failure", "loss_above")
#: Keys of the ``[reverse_stress]`` table.
_KEYS = (
    "family",
    "condition",
    "loss_limit",
    "share",
    "tolerance",
    "scenario",
    "severity",
    "peak",
    "durations",
    "ramp",
    "recovery",
)
#: Months of the baseline before a ``peak_duration`` shock starts.
SHOCK_START = 3
#: Files written into the results folder.
CSV = "reverse_stress.csv"
MARKDOWN = "reverse_stress.md"


@dataclass(frozen=True)
class ReverseStressSpec:
    """The ``[reverse_stress]`` table of a config."""

    family: str
    condition: str
    low: float
    high: float
    share: float = 0.5
    tolerance: float = 0.005
    loss_limit: float | None = None
    scenario: str | None = None
    durations: tuple[int, ...] = ()
    ramp: int = 6
    recovery: int = 24

    @property
    def axis(self) -> str:
        """What the bisection moves: ``severity`` or ``peak`` (peak unemployment)."""
        return "severity" if self.family == "severity" else "peak"


def load(path: str | Path) -> tuple[ExperimentConfig, ReverseStressSpec]:
    """Read a reverse stress config: the experiment and its ``[reverse_stress]`` table.

    Raises:
        ConfigError: One line naming the key and what is allowed.
    """
    config, table = read_config_with_table(path, "reverse_stress", "family, condition, bracket")
    return config, parse_reverse_stress(table, config)


def parse_reverse_stress(table: dict[str, Any], config: ExperimentConfig) -> ReverseStressSpec:
    """Validate a ``[reverse_stress]`` table against its experiment.

    Raises:
        ConfigError: One line naming the key and what is allowed.
    """
    where = "config [reverse_stress]"
    check_keys(where, table, _KEYS)
    family = _choice(where, "family", table.get("family", "severity"), FAMILIES)
    condition = _choice(where, "condition", table.get("condition", "capital_breach"), CONDITIONS)
    if config.sweep or config.sample:
        raise ConfigError(f"{where}: the search takes no [sweep] or [sample]; remove it")
    loss_limit = None
    if condition == "loss_above":
        if "loss_limit" not in table:
            raise ConfigError(f"{where}: condition 'loss_above' needs loss_limit (in (0, 10])")
        loss_limit = _number(where, "loss_limit", table["loss_limit"], 0, 10, low_open=True)
    elif "loss_limit" in table:
        raise ConfigError(f"{where}: loss_limit goes with condition 'loss_above' only")
    share = _number(where, "share", table.get("share", 0.5), 0, 1, low_open=True)
    family_keys = _family(where, family, table, config)
    tolerance = _number(where, "tolerance", table.get("tolerance", 0.005), 0, 1, low_open=True)
    return ReverseStressSpec(
        family, condition, share=share, tolerance=tolerance, loss_limit=loss_limit, **family_keys
    )


def _family(
    where: str, family: str, table: dict[str, Any], config: ExperimentConfig
) -> dict[str, Any]:
    """The family's own keys: the bracket, and the scenario or the durations."""
    other = ("peak", "durations", "ramp", "recovery") if family == "severity" else ("scenario",)
    other += ("severity",) if family == "peak_duration" else ()
    for key in other:
        if key in table:
            raise ConfigError(f"{where}: '{key}' does not go with family '{family}'")
    if family == "severity":
        names = [s.name for s in config.scenarios]
        scenario = table.get("scenario", names[0])
        if scenario not in names:
            raise ConfigError(
                f"{where} scenario must be a scenario of the config ({', '.join(names)}), "
                f"got {scenario!r}"
            )
        low, high = _bracket(where, "severity", table.get("severity", [0.0, 5.0]), 0, 5)
        return {"low": low, "high": high, "scenario": scenario}
    low, high = _bracket(where, "peak", table.get("peak", [0.05, 0.35]), 0.042, 0.6)
    durations = table.get("durations", [12])
    if not isinstance(durations, list) or not durations:
        raise ConfigError(f"{where} durations must be a non-empty array of months, e.g. [6, 12]")
    return {
        "low": low,
        "high": high,
        "durations": tuple(_int(where, "durations", d, 1, 600) for d in durations),
        "ramp": _int(where, "ramp", table.get("ramp", 6), 1, 120),
        "recovery": _int(where, "recovery", table.get("recovery", 24), 1, 600),
    }


def _choice(where: str, key: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"{where} {key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _number(
    where: str, key: str, value: Any, low: float, high: float, low_open: bool = False
) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (low_open and value == low):
        bound = "(" if low_open else "["
        raise ConfigError(
            f"{where} {key} must be a number in {bound}{low:g}, {high:g}], got {value!r}"
        )
    return float(value)


def _int(where: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where} {key} must be integers in [{low}, {high}], got {value!r}")
    return value


def _bracket(where: str, key: str, value: Any, low: float, high: float) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f"{where} {key} must be [low, high], got {value!r}")
    a = _number(where, f"{key} low", value[0], low, high)
    b = _number(where, f"{key} high", value[1], low, high)
    if not a < b:
        raise ConfigError(f"{where} {key} needs low < high, got {value}")
    return a, b


# ------------------------------------------------------------------ the search
def family_scenario(
    config: ExperimentConfig, spec: ReverseStressSpec, value: float, duration: int | None = None
) -> MacroScenario:
    """The family's scenario at ``value`` (a severity, or a peak held ``duration`` months)."""
    if spec.family == "severity":
        scenario = next(s for s in config.scenarios if s.name == spec.scenario)
        return scenario.build(config.months, severity=value)
    assert duration is not None
    u0 = float(MacroScenario.preset("baseline", months=1).unemployment[0])
    top = SHOCK_START + spec.ramp
    knots = [
        (0, u0),
        (SHOCK_START, u0),
        (top, value),
        (top + duration, value),
        (top + duration + spec.recovery, u0),
    ]
    name = f"peak {value:.4f} for {duration} months"
    return MacroScenario.from_knots(name, config.months, unemployment=knots)


def breaks(eco: CreditEconomy, spec: ReverseStressSpec) -> bool:
    """Whether a run (its economy after the horizon) breaks the spec's condition."""
    if spec.condition == "failure":
        return any(lender.failed for lender in eco.lenders)
    if spec.condition == "capital_breach":
        history = eco.lender_history()
        floor = history["lender"].map({x.index: x.policy.min_capital_ratio for x in eco.lenders})
        return bool((history["capital_ratio"] < floor).any())
    monthly = eco.metrics()
    book = float(monthly["balance"].iloc[0])
    assert spec.loss_limit is not None
    return book > 0 and float(monthly["cum_net_loss"].iloc[-1]) / book > spec.loss_limit


def _month0(scenario: MacroScenario) -> tuple[float, ...]:
    return tuple(float(getattr(scenario, s)[0]) for s in SERIES_BOUNDS)


class _Evaluator:
    """Runs the replications of one policy on a scenario, from one burn-in per replication."""

    def __init__(self, config: ExperimentConfig, spec: ReverseStressSpec, policy: str) -> None:
        self.config, self.spec = config, spec
        first = config.scenarios[0].name
        self.runs = [r for r in build_design(config) if r.policy == policy and r.scenario == first]
        self.bases: dict[int, CreditEconomy] = {}

    def share(self, scenario: MacroScenario) -> tuple[int, int]:
        """Replications breaking the condition under ``scenario``, and their number."""
        hits = 0
        for run in self.runs:
            eco = self._economy(run, scenario)
            eco.run(self.config.months)
            hits += breaks(eco, self.spec)
        return hits, len(self.runs)

    def _economy(self, run: Any, scenario: MacroScenario) -> CreditEconomy:
        base = self.bases.get(run.replication)
        if base is None:
            base = self.bases[run.replication] = build_economy(self.config, run)
        if _month0(base.scenario) != _month0(scenario):  # another burn-in: build it anew
            inputs = model_inputs(self.config, run)
            return CreditEconomy(
                self.config.borrowers,
                scenario,
                inputs.policy,
                run.seed,
                population=inputs.population,
                burn_in=self.config.burn_in,
                market=inputs.market,
            )
        return base.fork(scenario)


def bisect(
    evaluate: Callable[[float], tuple[int, int]],
    low: float,
    high: float,
    share: float,
    tolerance: float,
) -> dict[str, Any]:
    """The mildest value in ``[low, high]`` whose breaking share reaches ``share``, by bisection.

    Args:
        evaluate: Value -> (replications breaking, replications).
        low: Mildest value of the bracket.
        high: Harshest value of the bracket.
        share: Breaking share at which a value breaks.
        tolerance: Width of the bracket at which to stop.

    Returns:
        ``boundary`` (the mildest breaking value found; NaN if ``high`` does not break),
        ``safe`` (the harshest value that did not break; NaN if ``low`` breaks), their
        counts ``(hits, n)`` and ``status``, and every evaluation as (value, hits, n).
    """
    trail: list[tuple[float, int, int]] = []

    def check(value: float) -> tuple[bool, tuple[int, int]]:
        hits, n = evaluate(value)
        trail.append((value, hits, n))
        return hits >= share * n, (hits, n)

    broke, top = check(high)
    if not broke:
        return _outcome("holds over the bracket", math.nan, None, high, top, trail)
    held, bottom = check(low)
    if held:
        return _outcome("breaks at the mildest", low, bottom, math.nan, None, trail)
    while high - low > tolerance:
        middle = (low + high) / 2
        broke, counts = check(middle)
        if broke:
            high, top = middle, counts
        else:
            low, bottom = middle, counts
    return _outcome("found", high, top, low, bottom, trail)


def _outcome(
    status: str,
    boundary: float,
    at_boundary: tuple[int, int] | None,
    safe: float,
    at_safe: tuple[int, int] | None,
    trail: list[tuple[float, int, int]],
) -> dict[str, Any]:
    return {
        "status": status,
        "boundary": boundary,
        "at_boundary": at_boundary,
        "safe": safe,
        "at_safe": at_safe,
        "trail": trail,
    }


def _search_one(
    config_dict: dict[str, Any], spec: ReverseStressSpec, policy: str, duration: int | None
) -> dict[str, Any]:
    """One bisection: a policy (and a duration), as a picklable task."""
    config = parse_config(config_dict)
    evaluator = _Evaluator(config, spec, policy)
    outcome = bisect(
        lambda value: evaluator.share(family_scenario(config, spec, value, duration)),
        spec.low,
        spec.high,
        spec.share,
        spec.tolerance,
    )
    return {"policy": policy, "duration": duration, **outcome}


@dataclass
class ReverseStressResult:
    """The breaking boundary of each policy (and duration), with the config and spec."""

    config: ExperimentConfig
    spec: ReverseStressSpec
    table: pd.DataFrame
    trails: pd.DataFrame


def search(
    config: ExperimentConfig,
    spec: ReverseStressSpec,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> ReverseStressResult:
    """Find the mildest breaking scenario of the family for every policy (and duration).

    The searches run in parallel on ``workers`` spawn processes (serially with 1);
    results do not depend on ``workers``.
    """
    durations: Sequence[int | None] = spec.durations or (None,)
    tasks = [(p.name, d) for p in config.policies for d in durations]
    args = [(config.to_dict(), spec, policy, duration) for policy, duration in tasks]
    if workers <= 1 or len(tasks) == 1:
        outcomes = [_search_one(*a) for a in args]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
            outcomes = list(pool.map(_search_one, *zip(*args, strict=True)))
    if progress is not None:
        for outcome in outcomes:
            progress(_progress_line(spec, outcome))
    return ReverseStressResult(config, spec, *_tables(spec, outcomes))


def _progress_line(spec: ReverseStressSpec, outcome: dict[str, Any]) -> str:
    where = outcome["policy"] + (f", {outcome['duration']} months" if outcome["duration"] else "")
    return f"{where}: {outcome['status']}, {spec.axis} {outcome['boundary']:.4g}"


def _tables(
    spec: ReverseStressSpec, outcomes: list[dict[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The boundary table (one row per search) and every evaluation (one row each)."""
    rows, trail_rows = [], []
    for o in outcomes:
        row = {"policy": o["policy"], "duration": o["duration"], "status": o["status"]}
        for name, counts in (("boundary", o["at_boundary"]), ("safe", o["at_safe"])):
            hits, n = counts if counts is not None else (0, 0)
            low, high = binomial_interval(hits, n) if n else (math.nan, math.nan)
            share = hits / n if n else math.nan
            row.update({name: o[name], f"{name}_share": share})
            row.update({f"{name}_share_low": low, f"{name}_share_high": high})
        rows.append({**row, "evaluations": len(o["trail"])})
        for value, hits, n in o["trail"]:
            trail_rows.append(
                {
                    "policy": o["policy"],
                    "duration": o["duration"],
                    spec.axis: value,
                    "breaking": hits,
                    "replications": n,
                }
            )
    return pd.DataFrame(rows), pd.DataFrame(trail_rows)


# ------------------------------------------------------------------ report
_CONDITION_TEXT = {
    "capital_breach": "a lender's capital ratio falls below its min_capital_ratio in some month",
    "failure": "a lender fails (its equity reaches zero)",
    "loss_above": "the cumulative net loss exceeds {limit:.1%} of the month-0 book",
}


def _family_text(spec: ReverseStressSpec) -> str:
    if spec.family == "severity":
        return (
            f"scenario '{spec.scenario}' scaled by severity in [{spec.low:g}, {spec.high:g}] "
            "(0 = the baseline, 1 = as published)"
        )
    return (
        f"unemployment from 4.2% rising over {spec.ramp} months (from month {SHOCK_START}) "
        f"to a peak in [{spec.low:.1%}, {spec.high:.1%}], held for the duration, back to "
        f"4.2% over {spec.recovery} months; other series at the baseline"
    )


def _value(spec: ReverseStressSpec, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.3g}" if spec.family == "severity" else f"{value:.2%}"


def _share(row: pd.Series, name: str) -> str:
    if not math.isfinite(row[f"{name}_share"]):
        return "-"
    low, high = row[f"{name}_share_low"], row[f"{name}_share_high"]
    return f"{row[f'{name}_share']:.0%} [{low:.0%}, {high:.0%}]"


def format_markdown(result: ReverseStressResult) -> str:
    """The report ``reverse_stress.md``: the family, the condition and the boundary table."""
    config, spec = result.config, result.spec
    condition = _CONDITION_TEXT[spec.condition].format(limit=spec.loss_limit or 0)
    head = "| policy | duration (months) |" if spec.durations else "| policy |"
    lines = [
        f"# Reverse stress test: {config.name}",
        "",
        f"Family: {_family_text(spec)}. Breaks when, in at least {spec.share:.0%} of "
        f"{config.replications} paired replications, {condition}. Bisection on the {spec.axis} "
        f"to a bracket of {spec.tolerance:g}; {config.borrowers:,} borrowers, {config.months} "
        "months. Shares breaking with Clopper-Pearson 95% intervals.",
        "",
        f"{head} mildest breaking {spec.axis} | share breaking there | harshest holding "
        f"{spec.axis} | share breaking there | status |",
        "|---|" + ("---:|" if spec.durations else "") + "---:|---:|---:|---:|---|",
    ]
    for _, row in result.table.iterrows():
        duration = f" {int(row['duration'])} |" if spec.durations else ""
        lines.append(
            f"| {row['policy']} |{duration} {_value(spec, row['boundary'])} | "
            f"{_share(row, 'boundary')} | {_value(spec, row['safe'])} | {_share(row, 'safe')} "
            f"| {row['status']} |"
        )
    return "\n".join(lines) + "\n"


#: How the chart's title names each condition.
_CONDITION_TITLE = {
    "capital_breach": "a capital breach",
    "failure": "a lender's failure",
    "loss_above": "a loss above {limit:.1%} of the book",
}


def draw(result: ReverseStressResult, folder: Path | str) -> list[Path]:
    """The breaking boundary: policies as lines on duration x peak (or points on severity).

    Policies and the scenario are named by :func:`~experiments.labels.display_names`;
    the legend sits below the axes, clear of the data. PNG (300 dpi) and PDF.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.charts import figure_legend, figure_title, save_figure
    from experiments.style import style_context

    out = Path(folder) / store.FIGURES_DIR
    out.mkdir(parents=True, exist_ok=True)
    spec = result.spec
    with style_context(result.config.style, result.config.rcparams):
        fig, ax = plt.subplots(figsize=(6.7, 3.4), layout="constrained")
        _boundary(ax, result)
        condition = _CONDITION_TITLE[spec.condition].format(limit=spec.loss_limit or 0)
        figure_title(fig, f"Reverse stress: the mildest scenario with {condition}", 1, 1)
        if spec.durations:
            figure_legend(fig, [ax], "Policy")
        return save_figure(fig, out, "reverse_stress")


def _boundary(ax: Any, result: ReverseStressResult) -> None:
    """Draw each policy's breaking boundary on ``ax``, with the axes' labels."""
    spec, table = result.spec, result.table
    shown = display_names(p.name for p in result.config.policies)
    for policy, frame in table.groupby("policy", sort=False):
        name = shown.get(policy, policy)
        if spec.durations:
            ax.plot(frame["duration"], frame["boundary"] * 100, marker="o", label=name)
        else:
            ax.plot([name], frame["boundary"], marker="o", linestyle="none")
    if spec.durations:
        ax.set_xticks(list(spec.durations))
        ax.set_xlabel("Months the peak is held")
        ax.set_ylabel("Peak unemployment that breaks (%)")
    else:
        scenarios = display_names(s.name for s in result.config.scenarios)
        ax.set_ylabel(f"Severity that breaks ({scenarios[spec.scenario]})")


def write(result: ReverseStressResult, folder: Path | str) -> list[Path]:
    """Write ``reverse_stress.csv``, ``reverse_stress.md`` and the chart; return their paths.

    ``reverse_stress_trail.csv`` beside them lists every evaluation of the searches.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    store.atomic_write_text(folder / CSV, result.table.to_csv(index=False))
    store.atomic_write_text(folder / MARKDOWN, format_markdown(result))
    trail = folder / "reverse_stress_trail.csv"
    store.atomic_write_text(trail, result.trails.to_csv(index=False))
    return [folder / CSV, folder / MARKDOWN, trail, *draw(result, folder)]
