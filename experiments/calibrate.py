"""Calibration: fit free parameters to stated targets by the method of simulated moments.

A calibration config is an experiment config (its scenarios, policies, replications and
seed say which runs measure the targets) with a ``[calibration]`` table::

    [calibration]
    max_evaluations = 150   # of the objective, finite differences included

    [[calibration.target]]
    name = "baseline overdue"
    scenario = "baseline"          # default: the first scenario
    policy = "balanced"            # default: the first policy
    metric = "mean_overdue_rate"   # a per-run summary metric
    value = 0.04
    band = [0.03, 0.05]            # the accepted range; its half-width is taken as 2 s.d.
    source = "where the number comes from"

    [[calibration.parameter]]
    lever = "population.oversight_rate"
    bounds = [0.002, 0.05]

Every evaluation runs the same runs (the same seeds: common random numbers, so the
objective is smooth in the parameters up to the discreteness of a finite population)
with the parameters set, and takes each target's mean over replications. The fit
minimises the sum of squared residuals ``(mean - value) / sd`` with
``scipy.optimize.least_squares`` (trust-region reflective, within the bounds, finite
differences): a well-kept optimiser that gives the Jacobian needed for the uncertainty.
The standard errors of the fitted parameters are the sandwich estimate of the method of
simulated moments, from the target bands (``sd``) and the simulation noise (the spread
over replications), propagated through the Jacobian at the optimum.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.config import (
    ConfigError,
    ExperimentConfig,
    check_keys,
    lever_fields,
    parse_config,
    read_config_with_table,
)
from experiments.design import RunSpec, build_design
from experiments.summaries import SUMMARIES

#: Keys of the ``[calibration]`` table and of its arrays.
_KEYS = ("max_evaluations", "target", "parameter")
_TARGET_KEYS = ("name", "scenario", "policy", "metric", "value", "band", "source")
_PARAMETER_KEYS = ("lever", "bounds", "start")
#: Relative step of the finite differences, as a share of each parameter's range.
DIFF_STEP = 0.05


@dataclass(frozen=True)
class Target:
    """A number the model should reproduce, with its accepted band and its source."""

    name: str
    scenario: str
    policy: str
    metric: str
    value: float
    low: float
    high: float
    source: str

    @property
    def sd(self) -> float:
        """The band's half-width taken as two standard deviations."""
        return (self.high - self.low) / 4


@dataclass(frozen=True)
class FreeParameter:
    """A lever the fit may move, within bounds, from a start."""

    lever: str
    low: float
    high: float
    start: float


@dataclass(frozen=True)
class CalibrationSpec:
    """The ``[calibration]`` table of a config."""

    targets: tuple[Target, ...]
    parameters: tuple[FreeParameter, ...]
    max_evaluations: int = 40


def load_calibration(path: str | Path) -> tuple[ExperimentConfig, CalibrationSpec]:
    """Read a calibration config: the experiment and its ``[calibration]`` table.

    Raises:
        ConfigError: One line naming the key and what is allowed.
    """
    config, table = read_config_with_table(path, "calibration", "targets and free parameters")
    return config, parse_calibration(table, config)


def parse_calibration(table: dict[str, Any], config: ExperimentConfig) -> CalibrationSpec:
    """Validate a ``[calibration]`` table against its experiment.

    Raises:
        ConfigError: One line naming the key and what is allowed.
    """
    where = "config [calibration]"
    check_keys(where, table, _KEYS)
    evaluations = table.get("max_evaluations", 40)
    if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
        raise ConfigError(f"{where} max_evaluations must be an integer >= 1, got {evaluations!r}")
    targets = tuple(_target(i, t, config) for i, t in enumerate(_tables(table, "target"), 1))
    params = tuple(_parameter(i, p, config) for i, p in enumerate(_tables(table, "parameter"), 1))
    if not targets or not params:
        raise ConfigError(f"{where} needs [[calibration.target]] and [[calibration.parameter]]")
    if len(params) > len(targets):
        raise ConfigError(
            f"{where}: {len(params)} free parameters but only {len(targets)} targets; "
            "give at least as many targets as parameters"
        )
    if len({p.lever for p in params}) != len(params):
        raise ConfigError(f"{where}: a lever is freed twice")
    if evaluations < len(params) + 2:
        raise ConfigError(
            f"{where} max_evaluations must be at least {len(params) + 2} with {len(params)} free "
            f"parameter(s) (one step, its finite differences and the final evaluation), "
            f"got {evaluations}"
        )
    return CalibrationSpec(targets, params, evaluations)


def _tables(table: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"config [[calibration.{key}]] must be an array of tables")
    return value


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} {key} must be a finite number, got {value!r}")
    return float(value)


def _pair(where: str, key: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f"{where} {key} must be [low, high], got {value!r}")
    low, high = (_number(where, key, v) for v in value)
    if not low < high:
        raise ConfigError(f"{where} {key} needs low < high, got {value!r}")
    return low, high


def _target(i: int, table: dict[str, Any], config: ExperimentConfig) -> Target:
    where = f"config [[calibration.target]] #{i}"
    check_keys(where, table, _TARGET_KEYS)
    for key in ("name", "metric", "value", "band", "source"):
        if key not in table:
            raise ConfigError(f"{where} needs '{key}'")
    scenarios = [s.name for s in config.scenarios]
    policies = [p.name for p in config.policies]
    scenario = table.get("scenario", scenarios[0])
    policy = table.get("policy", policies[0])
    if scenario not in scenarios:
        raise ConfigError(
            f"{where} scenario must be one of {', '.join(scenarios)}, got {scenario!r}"
        )
    if policy not in policies:
        raise ConfigError(f"{where} policy must be one of {', '.join(policies)}, got {policy!r}")
    if table["metric"] not in SUMMARIES:
        raise ConfigError(
            f"{where} metric must be a summary metric ({', '.join(SUMMARIES)}), "
            f"got {table['metric']!r}"
        )
    value = _number(where, "value", table["value"])
    low, high = _pair(where, "band", table["band"])
    if not low <= value <= high:
        raise ConfigError(f"{where} value {value} is outside its band [{low}, {high}]")
    for key in ("name", "source"):
        if not isinstance(table[key], str) or not table[key].strip():
            raise ConfigError(f"{where} {key} must be a non-empty string")
    return Target(
        table["name"], scenario, policy, table["metric"], value, low, high, table["source"]
    )


def _parameter(i: int, table: dict[str, Any], config: ExperimentConfig) -> FreeParameter:
    where = f"config [[calibration.parameter]] #{i}"
    check_keys(where, table, _PARAMETER_KEYS)
    lever = table.get("lever")
    group, _, name = str(lever).partition(".")
    fields = lever_fields()
    if group not in ("policy", "population") or name not in fields.get(group, []):
        raise ConfigError(
            f"{where} lever must be a dotted numeric lever (policy.<field> or "
            f"population.<field>), got {lever!r}"
        )
    low, high = _pair(where, "bounds", table.get("bounds"))
    if "start" in table:
        start = _number(where, "start", table["start"])
    else:
        start = _current_value(config, group, name)
    if not low <= start <= high:
        raise ConfigError(f"{where} start {start} is outside bounds [{low}, {high}]")
    return FreeParameter(lever, low, high, start)


def _current_value(config: ExperimentConfig, group: str, name: str) -> float:
    """The lever's value in the config (or the model's default), as the fit's start."""
    from model import PopulationParams

    if group == "population":
        value = config.population.get(name, getattr(PopulationParams(), name))
    else:
        value = getattr(config.policies[0].build_market()[0], name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"config [[calibration.parameter]] {group}.{name} is not numeric")
    return float(value)


# ------------------------------------------------------------------ evaluation
def _summary(config: ExperimentConfig, spec: RunSpec) -> dict[str, float]:
    from experiments.execute import simulate

    row = simulate(config, spec).summary.iloc[0]
    return {name: float(row[name]) for name in SUMMARIES}


_WORKER: dict[str, ExperimentConfig] = {}


def _init_worker(config_dict: dict[str, Any]) -> None:
    _WORKER["config"] = parse_config(config_dict)


def _run(spec: RunSpec) -> dict[str, float]:
    return _summary(_WORKER["config"], spec)


class Evaluator:
    """Runs the calibration's runs at given parameter values; keeps every evaluation.

    Args:
        config: The experiment (scenarios, policies, replications, seed, size).
        spec: The calibration.
        workers: Processes to run in (1: in this process).
    """

    def __init__(self, config: ExperimentConfig, spec: CalibrationSpec, workers: int = 1) -> None:
        self.config, self.spec = config, spec
        self.base = [
            s
            for s in build_design(config)
            if any(t.scenario == s.scenario and t.policy == s.policy for t in spec.targets)
        ]
        self.history: list[dict[str, Any]] = []
        self._pool = None
        if workers > 1:
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(config.to_dict(),),
            )

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown()

    def moments(self, theta: Sequence[float]) -> np.ndarray:
        """Each target's metric per replication at ``theta``: shape (targets, replications)."""
        values = {p.lever: float(v) for p, v in zip(self.spec.parameters, theta, strict=True)}
        values = {k: _as_lever_type(k, v) for k, v in values.items()}
        specs = [dataclasses.replace(s, params={**s.params, **values}) for s in self.base]
        if self._pool is None:
            rows = [_summary(self.config, s) for s in specs]
        else:
            rows = list(self._pool.map(_run, specs))
        out = np.full((len(self.spec.targets), self.config.replications), np.nan)
        for s, row in zip(specs, rows, strict=True):
            for k, t in enumerate(self.spec.targets):
                if t.scenario == s.scenario and t.policy == s.policy:
                    out[k, s.replication] = row[t.metric]
        self.history.append({"theta": values, "means": np.nanmean(out, axis=1).tolist()})
        return out

    def residuals(self, theta: Sequence[float]) -> np.ndarray:
        """``(mean - value) / sd`` per target."""
        means = np.nanmean(self.moments(theta), axis=1)
        return np.array(
            [(m - t.value) / t.sd for m, t in zip(means, self.spec.targets, strict=True)]
        )


def _as_lever_type(lever: str, value: float) -> float | int:
    from experiments.config import lever_kind

    return int(round(value)) if lever_kind(lever) == "int" else value


# ------------------------------------------------------------------ the fit
@dataclass
class CalibrationResult:
    """The fitted parameters, their uncertainty and the fit to each target."""

    parameters: list[dict[str, Any]]
    targets: list[dict[str, Any]]
    cost: float
    evaluations: int  # of the objective, finite-difference ones and the final one included
    seconds: float
    status: str
    history: list[dict[str, Any]]
    steps: int = 0

    def fitted(self) -> dict[str, float]:
        """Fitted value of each free lever."""
        return {p["lever"]: p["value"] for p in self.parameters}


def calibrate(
    config: ExperimentConfig,
    spec: CalibrationSpec,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> CalibrationResult:
    """Fit the free parameters to the targets (see the module docstring)."""
    from scipy.optimize import least_squares

    start = time.perf_counter()
    evaluator = Evaluator(config, spec, workers)
    lows = np.array([p.low for p in spec.parameters])
    span = np.array([p.high for p in spec.parameters]) - lows

    def residuals(unit: np.ndarray) -> np.ndarray:
        theta = lows + unit * span
        r = evaluator.residuals(theta)
        if progress is not None:
            shown = ", ".join(
                f"{p.lever}={v:.4g}" for p, v in zip(spec.parameters, theta, strict=True)
            )
            progress(f"evaluation {len(evaluator.history)}: {shown}; cost {0.5 * r @ r:.4g}")
        return r

    # Each step of the fit costs one evaluation and, when accepted, one per parameter for
    # the finite-difference Jacobian (scipy's max_nfev counts steps only); one more is the
    # final evaluation at the optimum. So the steps are capped to keep every evaluation
    # within the budget.
    if spec.max_evaluations < len(spec.parameters) + 2:
        raise ValueError(
            f"max_evaluations must be at least {len(spec.parameters) + 2} with "
            f"{len(spec.parameters)} free parameter(s), got {spec.max_evaluations}"
        )
    steps = (spec.max_evaluations - 1) // (len(spec.parameters) + 1)
    try:
        # The fit moves each parameter on its range scaled to [0, 1], so a finite-difference
        # step of DIFF_STEP is that share of the range whatever the parameter's units.
        fit = least_squares(
            residuals,
            (np.array([p.start for p in spec.parameters]) - lows) / span,
            bounds=(0.0, 1.0),
            diff_step=DIFF_STEP,
            max_nfev=steps,
            method="trf",
        )
        theta = lows + fit.x * span
        final = evaluator.moments(theta)
    finally:
        evaluator.close()
    jac = fit.jac / span[None, :]  # d(residual)/d(theta)
    return _result(spec, theta, fit, jac, final, evaluator.history, time.perf_counter() - start)


def _result(spec, theta, fit, jac, final, history, seconds) -> CalibrationResult:
    sd = np.array([t.sd for t in spec.targets])
    reps = final.shape[1]
    jac = jac * sd[:, None]  # d(mean)/d(theta)
    sim_cov = np.cov(final) / reps if reps > 1 else np.zeros((len(sd), len(sd)))
    weight = np.diag(1 / sd**2)
    bread = np.linalg.pinv(jac.T @ weight @ jac)
    meat = jac.T @ weight @ (np.diag(sd**2) + np.atleast_2d(sim_cov)) @ weight @ jac
    cov = bread @ meat @ bread
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    parameters = [
        {
            "lever": p.lever,
            "value": float(v),
            "se": float(s),
            "start": p.start,
            "bounds": [p.low, p.high],
            "at_bound": bool(np.isclose(v, p.low) or np.isclose(v, p.high)),
        }
        for p, v, s in zip(spec.parameters, theta, se, strict=True)
    ]
    means = final.mean(axis=1)
    half = 1.96 * final.std(axis=1, ddof=1) / math.sqrt(reps) if reps > 1 else np.zeros(len(sd))
    targets = [
        {
            "name": t.name,
            "scenario": t.scenario,
            "policy": t.policy,
            "metric": t.metric,
            "target": t.value,
            "band": [t.low, t.high],
            "source": t.source,
            "fitted": float(m),
            "ci": [float(m - h), float(m + h)],
            "in_band": bool(t.low <= m <= t.high),
        }
        for t, m, h in zip(spec.targets, means, half, strict=True)
    ]
    return CalibrationResult(
        parameters,
        targets,
        float(fit.cost),
        len(history),
        seconds,
        fit.message,
        history,
        int(fit.nfev),
    )


# ------------------------------------------------------------------ outputs
def write(result: CalibrationResult, config: ExperimentConfig, out_dir: Path) -> list[Path]:
    """Write ``calibration.json`` and ``calibration.md`` into the results folder."""
    from experiments.store import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"experiment": config.to_dict(), **dataclasses.asdict(result)}
    paths = [out_dir / "calibration.json", out_dir / "calibration.md"]
    atomic_write_text(paths[0], json.dumps(record, indent=1, default=float) + "\n")
    atomic_write_text(paths[1], report(result, config))
    return paths


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def report(result: CalibrationResult, config: ExperimentConfig) -> str:
    """The fit as Markdown: parameters with standard errors, targets fitted against bands."""
    lines = [
        f"# Calibration: {config.name}",
        "",
        f"{config.borrowers:,} borrowers, {config.months} months, {config.replications} "
        f"paired replications (seed {config.seed}); scipy.optimize.least_squares, "
        f"{result.evaluations} evaluations of the objective in {result.steps} steps (each "
        f"accepted step also evaluates every parameter's finite difference), "
        f"{result.seconds:.0f} s ({result.status}).",
        "",
        "## Fitted parameters",
        "",
        "| lever | value | s.e. | start | bounds |",
        "|---|---:|---:|---:|---|",
    ]
    for p in result.parameters:
        bound = " (at a bound)" if p["at_bound"] else ""
        lines.append(
            f"| {p['lever']} | {_fmt(p['value'])}{bound} | {_fmt(p['se'])} | "
            f"{_fmt(p['start'])} | [{_fmt(p['bounds'][0])}, {_fmt(p['bounds'][1])}] |"
        )
    lines += [
        "",
        "Standard errors: the method of simulated moments' sandwich estimate, from the target "
        "bands (half-width = 2 s.d.) and the simulation noise over replications.",
        "",
        "## Targets: fitted, not passed",
        "",
        "| target | runs | metric | target (band) | fitted (95% CI) | in band | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in result.targets:
        lines.append(
            f"| {t['name']} | {t['scenario']} x {t['policy']} | {t['metric']} | "
            f"{_fmt(t['target'])} ({_fmt(t['band'][0])}-{_fmt(t['band'][1])}) | "
            f"{_fmt(t['fitted'])} ({_fmt(t['ci'][0])}-{_fmt(t['ci'][1])}) | "
            f"{'yes' if t['in_band'] else 'no'} | {t['source']} |"
        )
    return "\n".join(lines) + "\n"


def _literal(values: dict[str, float]) -> str:
    """A dict literal as ruff formats it (one key a line, trailing commas)."""
    if not values:
        return "{}"
    return "{\n" + "".join(f'    "{k}": {v!r},\n' for k, v in values.items()) + "}"


def write_defaults(result: CalibrationResult, config_path: Path, target: Path) -> Path:
    """Write the fitted values as the model's calibrated defaults (``model/calibrated.py``)."""
    from experiments.store import atomic_write_text

    groups: dict[str, dict[str, float]] = {"population": {}, "policy": {}}
    for p in result.parameters:
        group, name = p["lever"].split(".", 1)
        value = _as_lever_type(p["lever"], p["value"])
        groups[group][name] = value if isinstance(value, int) else float(f"{value:.6g}")
    head = "Calibrated defaults, written by ``python -m experiments calibrate --write-defaults``."
    text = f'''"""{head}

Made from {config_path}. Do not edit by hand: rerun the
calibration (its record is in docs/calibration.md). The parameter classes take these
values as their defaults.
"""

#: Fitted population parameters.
POPULATION = {_literal(groups["population"])}
#: Fitted policy levers (every preset's default).
POLICY = {_literal(groups["policy"])}
'''
    atomic_write_text(target, text)
    return target
