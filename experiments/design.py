"""Experimental design: expand a config into run specs (scenario x policy x point x replication)."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from experiments import designs
from experiments.config import (
    ConfigError,
    ExperimentConfig,
    ScenarioSpec,
    lever_kind,
    split_levers,
)
from model import CreditEconomy, MacroScenario, PopulationParams, RiskPolicy
from model.market import MarketRules


@dataclass(frozen=True)
class RunSpec:
    """Everything that identifies one simulation run.

    Attributes:
        index: Position in the design (results are sorted by it).
        run_id: Stable identifier: zero-padded index and a short hash of the spec.
        scenario: Scenario name from the config.
        policy: Policy name from the config.
        replication: Replication index ``k``.
        seed: Seed passed to the model; depends on the experiment seed and ``k`` only.
        params: Swept parameter values by dotted name.
    """

    index: int
    run_id: str
    scenario: str
    policy: str
    replication: int
    seed: int
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as plain JSON-able data."""
        return asdict(self)


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Seed of each replication: ``SeedSequence(seed).spawn(replications)[k]`` as an integer.

    The model gets this integer, so a run is reproduced with
    ``CreditEconomy(..., seed=spec.seed)``.
    """
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(child.generate_state(1, np.uint32)[0]) for child in children]


def param_types(config: ExperimentConfig) -> dict[str, str]:
    """Column type of each swept parameter: ``'bool'``, ``'int'`` or ``'float'``."""
    types = {}
    if config.sample:
        for lever in config.sample.ranges:
            types[lever] = "int" if lever_kind(lever) == "int" else "float"
    for lever, values in config.sweep.items():
        if all(isinstance(v, bool) for v in values):
            types[lever] = "bool"
        elif all(isinstance(v, int) for v in values):
            types[lever] = "int"
        else:
            types[lever] = "float"
    return types


def sweep_points(config: ExperimentConfig) -> list[dict[str, Any]]:
    """Parameter points of the design: the grid of ``[sweep]`` or the ``[sample]`` design.

    Returns ``[{}]`` when nothing is swept. Sampled integer levers are spread
    evenly over the integers (or the lever's step, e.g. 30 days) in their range.
    """
    if config.sample:
        return sample_design(config)[2]
    return designs.grid.points(config.sweep, param_types(config))


def sample_design(config: ExperimentConfig) -> tuple[designs.Problem, np.ndarray, list[dict]]:
    """The ``[sample]`` design: its problem, its unit-cube rows and their lever values.

    The unit rows are what a sensitivity analysis takes (:mod:`experiments.sensitivity`);
    the values are what the runs simulate.

    Raises:
        ConfigError: If the config has no ``[sample]`` or an integer range holds no value.
    """
    spec = config.sample
    if spec is None:
        raise ConfigError("config has no [sample] design")
    problem = spec.problem()
    try:
        unit, points = designs.sample_points(spec.method, problem, spec.n, spec.seed, spec.options)
    except ValueError as exc:
        raise ConfigError(f"config [sample.ranges] {exc}") from None
    return problem, unit, points


def point_indices(config: ExperimentConfig, specs: list[RunSpec]) -> list[int]:
    """Index into :func:`sweep_points` of each run of ``build_design(config)``.

    Runs are ordered scenario, policy, point, replication, so a run's point is its
    index divided by the replications, modulo the number of points.
    """
    count = len(sweep_points(config)) if config.sample is None else config.sample.size
    return [(spec.index // config.replications) % count for spec in specs]


class RunInputs(NamedTuple):
    """The model inputs of one run (:func:`model_inputs`)."""

    scenario: MacroScenario
    #: The policy, or the lenders' policies when the market has several lenders.
    policy: RiskPolicy | list[RiskPolicy]
    population: PopulationParams
    market: MarketRules


def model_inputs(config: ExperimentConfig, spec: RunSpec) -> RunInputs:
    """Build the scenario, policy (or policies), population and market rules of one run.

    Raises:
        ValueError: If a swept value is invalid for the model (message names the field).
        TypeError: Likewise, for a value of the wrong type.
    """
    changes = split_levers(spec.params)
    scenario = next(s for s in config.scenarios if s.name == spec.scenario)
    market = next(p for p in config.policies if p.name == spec.policy)
    population = PopulationParams().replace(**{**config.population, **changes.population})
    lenders = market.build_market(changes.policy, changes.lenders)
    return RunInputs(
        _scenario(scenario, config.months, changes.severity),
        lenders[0] if len(lenders) == 1 else lenders,
        population,
        market.build_rules(changes.market),
    )


def build_economy(config: ExperimentConfig, spec: RunSpec) -> CreditEconomy:
    """The economy of one run, at the start of month 0 (after its burn-in).

    The one place a run's economy is built: the sweep, the dashboard and the tests
    that recompute a run all call it.
    """
    inputs = model_inputs(config, spec)
    return CreditEconomy(
        n_borrowers=config.borrowers,
        scenario=inputs.scenario,
        policy=inputs.policy,
        seed=spec.seed,
        population=inputs.population,
        burn_in=config.burn_in,
        market=inputs.market,
    )


@cache
def _scenario_cached(spec_json: str, months: int, severity: float | None) -> MacroScenario:
    return ScenarioSpec(**json.loads(spec_json)).build(months, severity)


def _scenario(spec: ScenarioSpec, months: int, severity: float | None) -> MacroScenario:
    return _scenario_cached(json.dumps(asdict(spec), sort_keys=True), months, severity)


def build_design(config: ExperimentConfig) -> list[RunSpec]:
    """Expand a config into its runs, checking that every point builds a valid model input.

    Runs are ordered scenario, then policy, then sweep point, then replication.

    Raises:
        ConfigError: If a sweep point gives an invalid policy, scenario or population.
    """
    points = sweep_points(config)
    seeds = replication_seeds(config.seed, config.replications)
    combos = list(itertools.product(config.scenarios, config.policies, points))
    total = len(combos) * config.replications
    width = max(5, len(str(total - 1)))
    specs = []
    for scenario, policy, point in combos:
        for k, seed in enumerate(seeds):
            body = {
                "scenario": scenario.name,
                "policy": policy.name,
                "replication": k,
                "seed": seed,
                "params": point,
            }
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
            index = len(specs)
            specs.append(RunSpec(index=index, run_id=f"{index:0{width}d}-{digest}", **body))
        try:
            model_inputs(config, specs[-1])
        except (ValueError, TypeError) as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in point.items()) or "no sweep"
            raise ConfigError(
                f"config: scenario '{scenario.name}' x policy '{policy.name}' at {where}: {exc}"
            ) from None
    return specs
