"""Experiment configs: parse a TOML file into a fully validated :class:`ExperimentConfig`.

Every problem raises :class:`ConfigError` with one line naming the key and what
is allowed. Validation builds every scenario, policy and population through
the model, so a config that loads is a config that runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import stat
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from experiments import designs
from experiments.errors import ConfigError
from experiments.summaries import SUMMARY_METRICS
from model import EXTRA_COLUMNS, METRIC_COLUMNS, MacroScenario, PopulationParams, RiskPolicy
from model.macro import SERIES_BOUNDS, ScenarioParams, StochasticParams
from model.market import MarketRules
from model.metrics import LENDER_COLUMNS

#: Most lenders a market (``[[policy]]`` with ``lenders``, or ``[[market]]``) may have.
MAX_LENDERS = 20
#: Chart kinds a ``[[chart]]`` table may ask for.
CHART_KINDS = (
    "timeseries",
    "sweep",
    "frontier",
    "summary",
    "composition",
    "vintage",
    "rollrate",
    "lenders",
    "market_share",
)
#: Bands a timeseries ``[[chart]]`` may draw around its lines (``band = ...``).
CHART_BANDS = ("ci", "percentile", "none")
#: Fewest replications for percentile bands: below 20 runs the 5% and 95% quantiles
#: are interpolated between the lowest (highest) two runs, not estimated.
PERCENTILE_MIN_REPLICATIONS = 20
#: Sampling methods of ``[sample]`` (modules of :mod:`experiments.designs`).
SAMPLE_METHODS = tuple(designs.METHODS)
#: The parameter class behind each group of dotted lever names (``policy.max_dti``,
#: ``scenario.severity``, ``market.apr_cap``, ...): its fields' declarations say what a
#: sweep may set. ``market.<lender>.<lever>`` names a policy lever of one named lender.
LEVER_CLASSES = {
    "policy": RiskPolicy,
    "scenario": ScenarioParams,
    "population": PopulationParams,
    "market": MarketRules,
}
#: Longest experiment, scenario or policy name (characters).
MAX_NAME_LENGTH = 100
#: Largest config file read (bytes): far above any real config, far below a runaway file.
MAX_CONFIG_BYTES = 10_000_000
#: Most runs a design may have (scenarios x policies x sweep points x replications).
MAX_RUNS = 1_000_000
#: Memory the bookkeeping of one run takes at its peak (spec, manifest entry and its JSON).
BYTES_PER_RUN = 3_000

#: Most paths a ``stochastic`` scenario table may draw.
MAX_PATHS = 100_000
#: Keys of a ``[[scenario]]`` table's ``stochastic`` table besides the generator's
#: parameters (``model.macro.StochasticParams``).
STOCHASTIC_KEYS = ("paths", "seed", "path_seed")
#: Spawn key under which the paths' seeds are drawn from the seed (apart from the
#: replication seeds, which are spawned from the bare experiment seed).
STOCHASTIC_KEY = 0x5354_4F43

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
#: A lender's name in a ``[[market]]``: no dots, as it is part of a dotted lever name.
_LENDER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_EXPERIMENT_KEYS = (
    "name",
    "months",
    "borrowers",
    "replications",
    "seed",
    "burn_in",
    "style",
    "save_loan_tape",
)
_TOP_KEYS = (
    "experiment",
    "scenario",
    "policy",
    "market",
    "population",
    "sweep",
    "sample",
    "chart",
    "metrics",
    "style",
    "calibration",  # read by `python -m experiments calibrate` (experiments.calibrate)
    "reverse_stress",  # read by `python -m experiments reverse-stress` (experiments.reverse_stress)
)


@dataclass(frozen=True)
class ScenarioSpec:
    """One scenario: a preset (scaled by ``severity``), a custom path, or a stochastic path.

    A ``[[scenario]]`` table with ``stochastic = { paths = N, ... }`` becomes N specs,
    one per path (:func:`stochastic_specs`): ``stochastic`` holds the generator's
    parameters and ``path_seed`` the path's seed.
    """

    name: str
    preset: str | None = None
    severity: float = 1.0
    knots: dict[str, list[list[float]]] = field(default_factory=dict)
    stochastic: dict[str, float] | None = None
    path_seed: int | None = None

    def build(self, months: int, severity: float | None = None) -> MacroScenario:
        """Return the macro path over ``months`` months.

        Args:
            months: Length of the path.
            severity: Scale on the shock replacing the spec's own ``severity``
                (a ``scenario.severity`` sweep value); custom and stochastic paths are
                scaled around the baseline the same way presets are.
        """
        scale = self.severity if severity is None else severity
        scale = ScenarioParams(severity=scale).severity  # the declared range, custom paths too
        if self.preset is not None:
            path = MacroScenario.preset(self.preset, months=months, severity=scale)
            return dataclasses.replace(path, name=self.name)
        if self.stochastic is not None:
            params = StochasticParams(**self.stochastic)
            custom = MacroScenario.stochastic(months, self.path_seed, name=self.name, params=params)
        else:
            custom = MacroScenario.from_knots(self.name, months, **self.knots)
        if scale == 1.0:
            return custom
        base = MacroScenario.preset("baseline", months=months)
        series = {
            s: np.clip(getattr(base, s) + scale * (getattr(custom, s) - getattr(base, s)), lo, hi)
            for s, (lo, hi) in SERIES_BOUNDS.items()
        }
        return MacroScenario(name=self.name, **series)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a ``[[scenario]]`` table (one path: its ``path_seed``)."""
        out: dict[str, Any] = {"name": self.name, "severity": self.severity}
        if self.preset is not None:
            out["preset"] = self.preset
        if self.stochastic is not None:
            out["stochastic"] = {**self.stochastic, "path_seed": self.path_seed}
        return {**out, **self.knots}


def path_seeds(seed: int, paths: int) -> list[int]:
    """Seed of each path of a stochastic family, the same for every policy (paired).

    The children of ``SeedSequence(seed, spawn_key=(STOCHASTIC_KEY,))``, as integers
    below 2**63.
    """
    root = np.random.SeedSequence(seed, spawn_key=(STOCHASTIC_KEY,))
    return [int(c.generate_state(1, np.uint64)[0] >> 1) for c in root.spawn(paths)]


def stochastic_specs(
    name: str, severity: float, params: dict[str, float], seed: int, paths: int
) -> tuple[ScenarioSpec, ...]:
    """The specs of a stochastic scenario family: ``<name>/p0001``, ``<name>/p0002``, ..."""
    width = max(4, len(str(paths)))
    return tuple(
        ScenarioSpec(f"{name}/p{p:0{width}d}", None, severity, {}, dict(params), path_seed)
        for p, path_seed in enumerate(path_seeds(seed, paths), start=1)
    )


class LeverChanges(NamedTuple):
    """One design point's lever values, by what they set (:func:`split_levers`)."""

    #: ``policy.<lever>``: every lender of every policy and market.
    policy: dict[str, Any]
    #: ``scenario.severity``, or None.
    severity: float | None
    #: ``population.<lever>``.
    population: dict[str, Any]
    #: ``market.<rule>``: the market rules of every policy and market.
    market: dict[str, Any]
    #: ``market.<lender>.<lever>``: the named lender's policy, by lender name.
    lenders: dict[str, dict[str, Any]]


def split_levers(params: dict[str, Any]) -> LeverChanges:
    """Split a design point's values by what they set (see :class:`LeverChanges`)."""
    changes = LeverChanges({}, None, {}, {}, {})
    severity = None
    for lever, value in params.items():
        group, _, name = lever.partition(".")
        if group == "scenario":
            severity = value
        elif group == "market" and "." in name:
            lender, field_name = name.split(".", 1)
            changes.lenders.setdefault(lender, {})[field_name] = value
        else:
            getattr(changes, group)[name] = value
    return changes._replace(severity=severity)


@dataclass(frozen=True)
class PolicySpec:
    """One ``[[policy]]``: a preset with some levers overridden, for ``lenders`` lenders.

    With ``lenders`` > 1 the market has that many competing lenders, all with this
    policy (sweep values apply to each), named ``name``, ``name-2``, ...; borrowers may
    hold a loan at each. ``rules`` holds market rules (``MarketRules`` fields, e.g.
    ``apr_cap``) set in the table.
    """

    name: str
    preset: str = "balanced"
    overrides: dict[str, Any] = field(default_factory=dict)
    lenders: int = 1
    rules: dict[str, Any] = field(default_factory=dict)

    @property
    def lender_names(self) -> list[str]:
        """The lenders' names: ``name``, ``name-2``, ..."""
        return [self.name, *(f"{self.name}-{k}" for k in range(2, self.lenders + 1))]

    def build(self, changes: dict[str, Any] | None = None) -> RiskPolicy:
        """Return the policy, with sweep values ``changes`` applied over the overrides."""
        policy = RiskPolicy.preset(self.preset, **{**self.overrides, **(changes or {})})
        return policy.replace(name=self.name)

    def build_market(
        self,
        changes: dict[str, Any] | None = None,
        lender_changes: dict[str, dict[str, Any]] | None = None,
    ) -> list[RiskPolicy]:
        """Return the market's lenders' policies (named as :attr:`lender_names`).

        Args:
            changes: Values for every lender (``policy.<lever>`` sweeps).
            lender_changes: Values for one lender, by its name (``market.<lender>.<lever>``).
        """
        lender_changes = lender_changes or {}
        return [
            self.build({**(changes or {}), **lender_changes.get(name, {})}).replace(name=name)
            for name in self.lender_names
        ]

    def build_rules(self, changes: dict[str, Any] | None = None) -> MarketRules:
        """Return the market rules, with sweep values ``changes`` over the table's."""
        return MarketRules.of({**self.rules, **(changes or {})})

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a ``[[policy]]`` table."""
        lenders = {"lenders": self.lenders} if self.lenders != 1 else {}
        head = {"name": self.name, "preset": self.preset, **lenders}
        return {**head, **self.overrides, **self.rules}


@dataclass(frozen=True)
class LenderSpec:
    """One lender of a ``[[market]]``: a name, a policy preset and lever overrides."""

    name: str
    preset: str = "balanced"
    overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as an inline table of ``lenders``."""
        return {"name": self.name, "preset": self.preset, **self.overrides}


@dataclass(frozen=True)
class MarketSpec:
    """One ``[[market]]``: named lenders, each with its own policy, and the market's rules.

    ``shared`` holds policy levers set on the market table, for every lender (a lender's
    own value wins); ``rules`` holds the market rules (``MarketRules`` fields).
    """

    name: str
    lenders: tuple[LenderSpec, ...]
    shared: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)

    @property
    def lender_names(self) -> list[str]:
        """The lenders' names, in the market's order."""
        return [lender.name for lender in self.lenders]

    def build_market(
        self,
        changes: dict[str, Any] | None = None,
        lender_changes: dict[str, dict[str, Any]] | None = None,
    ) -> list[RiskPolicy]:
        """Return the lenders' policies: preset, market levers, the lender's own, sweeps.

        Args:
            changes: Values for every lender (``policy.<lever>`` sweeps).
            lender_changes: Values for one lender, by its name (``market.<lender>.<lever>``).
        """
        lender_changes = lender_changes or {}
        policies = []
        for lender in self.lenders:
            levers = {
                **self.shared,
                **lender.overrides,
                **(changes or {}),
                **lender_changes.get(lender.name, {}),
            }
            policies.append(RiskPolicy.preset(lender.preset, **levers).replace(name=lender.name))
        return policies

    def build_rules(self, changes: dict[str, Any] | None = None) -> MarketRules:
        """Return the market rules, with sweep values ``changes`` over the table's."""
        return MarketRules.of({**self.rules, **(changes or {})})

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a ``[[market]]`` table."""
        lenders = [lender.to_dict() for lender in self.lenders]
        return {"name": self.name, "lenders": lenders, **self.shared, **self.rules}


@dataclass(frozen=True)
class SampleSpec:
    """A sampled design (``[sample]``): a method of :mod:`experiments.designs` over ranges.

    ``n`` is the method's size parameter: the number of points for ``lhs`` and ``sobol``,
    of trajectories for ``morris``, of base points for ``sobol_indices``; ``options``
    holds the method's extra keys (``levels`` for ``morris``), defaults filled in.
    """

    method: str
    n: int
    seed: int
    ranges: dict[str, tuple[float, float]]
    options: dict[str, int] = field(default_factory=dict)

    def problem(self) -> designs.Problem:
        """The levers, ranges, kinds (int or float) and integer steps the design samples."""
        return designs.Problem(
            names=tuple(self.ranges),
            bounds=tuple(self.ranges.values()),
            kinds=tuple("int" if lever_kind(k) == "int" else "float" for k in self.ranges),
            steps={k: lever_step(k) for k in self.ranges if lever_step(k)},
        )

    @property
    def size(self) -> int:
        """Number of design points."""
        return designs.method(self.method).size(self.n, len(self.ranges), **self.options)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a ``[sample]`` table."""
        ranges = {k: list(v) for k, v in self.ranges.items()}
        head = {"method": self.method, "n": self.n, "seed": self.seed}
        return {**head, **self.options, "ranges": ranges}


@dataclass(frozen=True)
class ChartSpec:
    """One ``[[chart]]``: a chart kind and what it shows.

    ``band`` (timeseries only): ``"ci"`` (default: mean and 95% t-interval over
    replications), ``"percentile"`` (median and 5-95% of runs; needs at least
    :data:`PERCENTILE_MIN_REPLICATIONS` replications) or ``"none"``.
    """

    kind: str
    metric: str | None = None
    x: str | None = None
    y: str | None = None
    band: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a ``[[chart]]`` table (unset keys left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment: what to simulate, how often, and what to draw."""

    name: str
    seed: int
    months: int = 60
    borrowers: int = 10_000
    replications: int = 1
    burn_in: int | None = None  # None: the model's default for the policies
    scenarios: tuple[ScenarioSpec, ...] = ()
    policies: tuple[PolicySpec | MarketSpec, ...] = ()  # [[policy]] then [[market]] tables
    population: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    sample: SampleSpec | None = None
    charts: tuple[ChartSpec, ...] = ()
    style: str | None = None  # [experiment] style: a preset or matplotlib style sheet
    rcparams: dict[str, Any] = field(default_factory=dict)  # the [style] table
    metrics: tuple[Any, ...] = ()  # derived metrics ([metrics], experiments.derived)
    save_loan_tape: bool = False  # store each run's loan tape (runs/<run_id>.loan_tape.parquet)

    @property
    def params(self) -> list[str]:
        """Dotted names of the swept parameters, in config order."""
        return list(self.sample.ranges) if self.sample else list(self.sweep)

    def to_dict(self) -> dict[str, Any]:
        """Return the normalised config (defaults filled in), parseable by :func:`parse_config`."""
        out: dict[str, Any] = {
            "experiment": {
                k: getattr(self, k)
                for k in _EXPERIMENT_KEYS
                if getattr(self, k) is not None
                and (k != "save_loan_tape" or self.save_loan_tape)  # only when on: old hashes
            },
            "scenario": [s.to_dict() for s in self.scenarios],
            "policy": [p.to_dict() for p in self.policies if isinstance(p, PolicySpec)],
        }
        markets = [m.to_dict() for m in self.policies if isinstance(m, MarketSpec)]
        if markets:
            out["market"] = markets
        if self.population:
            out["population"] = dict(self.population)
        if self.sweep:
            out["sweep"] = {k: list(v) for k, v in self.sweep.items()}
        if self.sample:
            out["sample"] = self.sample.to_dict()
        if self.charts:
            out["chart"] = [c.to_dict() for c in self.charts]
        if self.metrics:
            out["metrics"] = {m.name: m.to_config() for m in self.metrics}
        if self.rcparams:
            out["style"] = dict(self.rcparams)
        return out

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON form of :meth:`to_dict`."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------ loading
def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a TOML config file.

    Raises:
        ConfigError: If the file is missing, is not valid TOML, or any value is invalid.
    """
    return read_config(path)[0]


def read_config(path: str | Path) -> tuple[ExperimentConfig, str]:
    """Read and validate a TOML config file; return the config and the file's text.

    Raises:
        ConfigError: If the file cannot be read as TOML (:func:`read_toml`) or any value
            is invalid.
    """
    raw, text = read_toml(path)
    return parse_config(raw), text


def read_config_with_table(
    path: str | Path, name: str, needs: str
) -> tuple[ExperimentConfig, dict[str, Any]]:
    """Read a config whose command has a table of its own (``[calibration]``, ...).

    Args:
        path: The TOML file.
        name: The command's table.
        needs: What the table holds, for the error when it is missing.

    Returns:
        The validated experiment and the command's table, not yet validated.

    Raises:
        ConfigError: As :func:`read_config`, or when the table is missing.
    """
    raw, _ = read_toml(path)
    config = parse_config(raw)
    table = raw.get(name)
    if not isinstance(table, dict):
        raise ConfigError(f"config needs a [{name}] table ({needs})")
    return config, table


def read_toml(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a TOML config file once; return its tables and its text, not yet validated.

    The file must be a regular file of UTF-8 text (a leading byte-order mark is
    ignored), at most :data:`MAX_CONFIG_BYTES` long. Commands with tables of their own
    (``[calibration]``, ``[reverse_stress]``) read their configs with it too.

    Raises:
        ConfigError: If the file is missing, not a regular file, too large or not valid
            TOML.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found") from None
    except OSError as exc:
        raise ConfigError(f"config file '{path}' cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"config '{path}' is a directory; give a TOML file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            f"config '{path}' is not a regular file (a device, FIFO or socket); give a TOML file"
        )
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config '{path}' is {info.st_size:,} bytes; a config may have at most "
            f"{MAX_CONFIG_BYTES:,}"
        )
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config file '{path}' cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config '{path}' is larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")  # a leading UTF-8 byte-order mark is dropped
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config '{path}' is not valid TOML: not UTF-8 text (byte {exc.start})"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config '{path}' is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"config '{path}' is not valid TOML for an experiment: arrays or tables are nested "
            "too deeply"
        ) from None
    return raw, text


def parse_config(raw: dict[str, Any]) -> ExperimentConfig:
    """Validate a config given as nested dicts (parsed TOML or :meth:`ExperimentConfig.to_dict`).

    Raises:
        ConfigError: Naming the offending key and what is allowed.
    """
    check_keys("config", raw, _TOP_KEYS)
    exp = _table(raw, "experiment", required=True)
    check_keys("config [experiment]", exp, _EXPERIMENT_KEYS)
    if "name" not in exp:
        raise ConfigError("config [experiment] needs 'name' (the output folder name)")
    name = exp["name"]
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"config [experiment] name must be a folder name of letters, digits, '_', '-', '.' "
            f"(at most {MAX_NAME_LENGTH} characters, starting with a letter or digit); "
            f"got {_shown(name)}"
        )
    if "seed" not in exp:
        raise ConfigError("config [experiment] needs 'seed' (an integer >= 0)")
    where = "config [experiment]"
    months = _int(where, "months", exp.get("months", 60), 1, 1200)
    config = ExperimentConfig(
        name=name,
        seed=_int(where, "seed", exp["seed"], 0, 2**63 - 1),
        months=months,
        borrowers=_int(where, "borrowers", exp.get("borrowers", 10_000), 1, 50_000_000),
        replications=_int(where, "replications", exp.get("replications", 1), 1, 100_000),
        burn_in=_int(where, "burn_in", exp["burn_in"], 0, 600) if "burn_in" in exp else None,
        save_loan_tape=_flag(where, "save_loan_tape", exp.get("save_loan_tape", False)),
        scenarios=_scenarios(_array(raw, "scenario"), months, exp["seed"]),
        policies=_policies(_array(raw, "policy"), _array(raw, "market")),
        population=_population(_table(raw, "population")),
        sweep=_sweep(_table(raw, "sweep")),
        sample=_sample(_table(raw, "sample"), exp["seed"], present="sample" in raw),
        charts=(),
    )
    if config.sweep and config.sample:
        raise ConfigError("config: [sweep] and [sample] cannot be combined; use one of them")
    _check_lender_levers(config)
    _check_size(config)
    config = dataclasses.replace(config, **_presentation(raw, exp))
    return dataclasses.replace(config, charts=_charts(_array(raw, "chart"), config))


def _presentation(raw: dict[str, Any], exp: dict[str, Any]) -> dict[str, Any]:
    """The style and derived metrics of a config (keys absent: nothing imported)."""
    out: dict[str, Any] = {}
    if "metrics" in raw:
        from experiments.derived import parse_metrics

        out["metrics"] = parse_metrics(_table(raw, "metrics"))
    if "style" in exp or "style" in raw:
        from experiments.style import check_style

        out["style"] = exp.get("style")
        out["rcparams"] = check_style(exp.get("style"), _table(raw, "style"))
    return out


def design_size(config: ExperimentConfig) -> tuple[int, int]:
    """Sweep points and runs of a config's design (computed, not expanded)."""
    if config.sample:
        points = config.sample.n
    else:
        points = math.prod(len(values) for values in config.sweep.values())
    runs = len(config.scenarios) * len(config.policies) * points * config.replications
    return points, runs


def _check_size(config: ExperimentConfig) -> None:
    """Refuse a design of more than :data:`MAX_RUNS` runs, with what it would cost."""
    points, runs = design_size(config)
    if runs <= MAX_RUNS:
        return
    raise ConfigError(
        f"config: the design has {runs:,} runs ({len(config.scenarios)} scenario(s) x "
        f"{len(config.policies)} policy(ies) x {points:,} sweep point(s) x "
        f"{config.replications:,} replications); at most {MAX_RUNS:,} are allowed (its "
        f"bookkeeping alone would need about {runs * BYTES_PER_RUN / 1e9:,.1f} GB of memory); "
        "lower [experiment] replications or the sweep"
    )


def _shown(value: Any, limit: int = 40) -> str:
    """``repr`` of a value for an error line, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(value)} characters)"


def _check_name(where: str, name: Any) -> str:
    """A scenario or policy name: a non-empty printable string of at most 100 characters."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} name must be a non-empty string, got {_shown(name)}")
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"{where} name must have at most {MAX_NAME_LENGTH} characters, got {len(name)}"
        )
    if not name.isprintable():
        raise ConfigError(
            f"{where} name must be printable text (no control characters such as tabs or "
            f"newlines), got {_shown(name)}"
        )
    return name


def _table(raw: dict[str, Any], key: str, required: bool = False) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"config needs an [{key}] table")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"config [{key}] must be a table, got {type(value).__name__}")
    return value


def _array(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"config [[{key}]] must be an array of tables ([[{key}]] blocks)")
    return value


def check_keys(where: str, table: dict[str, Any], allowed: Sequence[str]) -> None:
    """Refuse a key of ``table`` not in ``allowed``, naming ``where`` and what is allowed."""
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key '{key}'; allowed: {', '.join(allowed)}")


def _int(where: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} {key} must be an integer, got {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{where} {key} must be in [{low}, {high}], got {value}")
    return value


def _flag(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} {key} must be true or false, got {value!r}")
    return value


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} {key} must be a finite number, got {value!r}")
    return float(value)


def _unique(kind: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(
                f"config [[{kind}]]: name '{name}' is used twice; names must be unique"
            )
        seen.add(name)


def _scenarios(tables: list[dict[str, Any]], months: int, seed: int) -> tuple[ScenarioSpec, ...]:
    """The ``[[scenario]]`` tables (none: the baseline), stochastic families expanded."""
    if not tables:
        return (ScenarioSpec(name="baseline", preset="baseline"),)
    allowed = ("name", "preset", "severity", "stochastic", *SERIES_BOUNDS)
    specs: list[ScenarioSpec] = []
    for i, table in enumerate(tables, start=1):
        where = f"config [[scenario]] #{i}"
        check_keys(where, table, allowed)
        if "stochastic" in table:
            specs += _stochastic_scenario(where, table, months, seed)
            continue
        knots = {k: v for k, v in table.items() if k in SERIES_BOUNDS}
        preset = table.get("preset")
        if preset is not None and knots:
            raise ConfigError(
                f"{where}: give either 'preset' or knot series ({', '.join(knots)}), not both"
            )
        if preset is None and not knots:
            raise ConfigError(
                f"{where}: needs 'preset' (one of {', '.join(MacroScenario.names())}), "
                f"knot series ({', '.join(SERIES_BOUNDS)}) or 'stochastic'"
            )
        if preset is not None and (
            not isinstance(preset, str) or preset not in MacroScenario.names()
        ):
            raise ConfigError(
                f"{where}: unknown scenario preset {preset!r}; "
                f"allowed: {', '.join(MacroScenario.names())}"
            )
        name = table.get("name", preset)
        if name is None:
            raise ConfigError(f"{where}: a custom scenario needs a 'name'")
        _check_name(where, name)
        severity = _number(where, "severity", table.get("severity", 1.0))
        spec = ScenarioSpec(name=name, preset=preset, severity=severity, knots=knots)
        _build(where, lambda spec=spec: spec.build(months))
        specs.append(spec)
    _unique("scenario", [s.name for s in specs])
    return tuple(specs)


def _stochastic_scenario(
    where: str, table: dict[str, Any], months: int, seed: int
) -> tuple[ScenarioSpec, ...]:
    """The specs of a table with ``stochastic = { paths = N, ... }``: one per path.

    ``path_seed`` instead of ``paths`` gives the single path of that seed (as the
    normalised config lists each path of a family).
    """
    other = [k for k in table if k not in ("name", "severity", "stochastic")]
    if other:
        raise ConfigError(
            f"{where}: 'stochastic' draws its own paths; remove '{other[0]}' "
            "(allowed with it: name, severity)"
        )
    raw, where = table["stochastic"], f"{where} stochastic"
    params_allowed = StochasticParams.field_names()
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where} must be a table, e.g. {{ paths = 1000 }}; keys: "
            f"{', '.join((*STOCHASTIC_KEYS, *params_allowed))}"
        )
    check_keys(where, raw, (*STOCHASTIC_KEYS, *params_allowed))
    if ("paths" in raw) == ("path_seed" in raw):
        raise ConfigError(
            f"{where} needs 'paths' (the number of paths to draw, in [1, {MAX_PATHS}])"
            + (", not 'path_seed' with it" if "paths" in raw else "")
        )
    name = _check_name(where, table.get("name", "stochastic"))
    severity = _number(where, "severity", table.get("severity", 1.0))
    params = {k: v for k, v in raw.items() if k in params_allowed}
    _build(where, lambda: StochasticParams(**params))
    if "path_seed" in raw:
        path_seed = _int(where, "path_seed", raw["path_seed"], 0, 2**63 - 1)
        specs: tuple[ScenarioSpec, ...] = (
            ScenarioSpec(name, None, severity, {}, params, path_seed),
        )
    else:
        paths = _int(where, "paths", raw["paths"], 1, MAX_PATHS)
        family_seed = _int(where, "seed", raw.get("seed", seed), 0, 2**63 - 1)
        specs = stochastic_specs(name, severity, params, family_seed, paths)
    _build(where, lambda: specs[0].build(months))
    return specs


def _policies(
    policy_tables: list[dict[str, Any]], market_tables: list[dict[str, Any]]
) -> tuple[PolicySpec | MarketSpec, ...]:
    """The ``[[policy]]`` then the ``[[market]]`` tables (none: one ``balanced`` lender)."""
    if not policy_tables and not market_tables:
        return (PolicySpec(name="balanced"),)
    specs: list[PolicySpec | MarketSpec] = [
        _policy(f"config [[policy]] #{i}", table) for i, table in enumerate(policy_tables, 1)
    ]
    specs += [_market(f"config [[market]] #{i}", table) for i, table in enumerate(market_tables, 1)]
    names = [p.name for p in specs]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(
                f"config [[policy]]/[[market]]: name '{name}' is used twice; names must be "
                "unique across policies and markets"
            )
    return tuple(specs)


def _policy_levers() -> list[str]:
    return [f for f in RiskPolicy.field_names() if f != "name"]


def _preset(where: str, table: dict[str, Any]) -> str:
    preset = table.get("preset", "balanced")
    if not isinstance(preset, str) or preset not in RiskPolicy.names():
        raise ConfigError(
            f"{where}: unknown policy preset {preset!r}; allowed: {', '.join(RiskPolicy.names())}"
        )
    return preset


def _policy(where: str, table: dict[str, Any]) -> PolicySpec:
    levers, rules = _policy_levers(), MarketRules.field_names()
    for key in table:
        if key not in ("name", "preset", "lenders", *levers, *rules):
            raise ConfigError(
                f"{where}: unknown policy field '{key}'; allowed: name, preset, lenders, "
                f"{', '.join(levers)}, or a market rule ({', '.join(rules)})"
            )
    preset = _preset(where, table)
    name = _check_name(where, table.get("name", preset))
    lenders = _int(where, "lenders", table.get("lenders", 1), 1, MAX_LENDERS)
    overrides = {k: v for k, v in table.items() if k in levers}
    market = {k: v for k, v in table.items() if k in rules}
    spec = PolicySpec(name, preset, overrides, lenders, market)
    _build(where, spec.build)
    _build(where, spec.build_rules)
    return spec


def _market(where: str, table: dict[str, Any]) -> MarketSpec:
    levers, rules = _policy_levers(), MarketRules.field_names()
    for key in table:
        if key not in ("name", "lenders", *levers, *rules):
            raise ConfigError(
                f"{where}: unknown key '{key}'; allowed: name, lenders, a policy lever for "
                f"every lender ({', '.join(levers)}) or a market rule ({', '.join(rules)})"
            )
    if "name" not in table:
        raise ConfigError(f"{where} needs 'name'")
    name = _check_name(where, table["name"])
    raw = table.get("lenders")
    if not isinstance(raw, list) or not raw or not all(isinstance(x, dict) for x in raw):
        raise ConfigError(
            f"{where} lenders must be a non-empty array of tables, e.g. "
            '[{ name = "bank", preset = "conservative" }, { name = "p2p", preset = "aggressive" }]'
        )
    if len(raw) > MAX_LENDERS:
        raise ConfigError(f"{where} lenders: at most {MAX_LENDERS} lenders, got {len(raw)}")
    lenders = tuple(_lender(f"{where} lender #{k}", x, levers) for k, x in enumerate(raw, 1))
    names = [lender.name for lender in lenders]
    for lender_name in names:
        if names.count(lender_name) > 1:
            raise ConfigError(f"{where} lenders: name '{lender_name}' is used twice")
    shared = {k: v for k, v in table.items() if k in levers}
    spec = MarketSpec(name, lenders, shared, {k: v for k, v in table.items() if k in rules})
    _build(where, spec.build_market)
    _build(where, spec.build_rules)
    return spec


def _lender(where: str, table: dict[str, Any], levers: list[str]) -> LenderSpec:
    for key in table:
        if key not in ("name", "preset", *levers):
            raise ConfigError(
                f"{where}: unknown key '{key}'; allowed: name, preset, {', '.join(levers)}"
            )
    name = table.get("name")
    if not isinstance(name, str) or not _LENDER_NAME_RE.fullmatch(name) or len(name) > 40:
        raise ConfigError(
            f"{where} needs a 'name' of letters, digits, '_' and '-' (no dots; at most 40 "
            f"characters), got {_shown(name)}"
        )
    overrides = {k: v for k, v in table.items() if k not in ("name", "preset")}
    return LenderSpec(name, _preset(where, table), overrides)


def _population(table: dict[str, Any]) -> dict[str, Any]:
    _build("config [population]", lambda: PopulationParams().replace(**table))
    return dict(table)


def _build(where: str, make: Any) -> Any:
    """Call ``make`` and turn the model's ValueError/TypeError into a ConfigError."""
    try:
        return make()
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def lever_fields() -> dict[str, list[str]]:
    """Return the levers a sweep may vary, by group (``policy``, ``scenario``, ``population``).

    Every field of the group's class (:data:`LEVER_CLASSES`) but a policy's ``name``.
    """
    return {
        group: [f for f in cls.field_names() if f != "name"] for group, cls in LEVER_CLASSES.items()
    }


def lever_field(lever: str) -> tuple[type, str]:
    """The parameter class and field a dotted lever name sets.

    ``market.<lender>.<lever>`` sets a ``RiskPolicy`` field of one named lender.
    """
    group, name = lever.split(".", 1)
    if group == "market" and "." in name:
        return RiskPolicy, name.split(".", 1)[1]
    return LEVER_CLASSES[group], name


def lever_kind(lever: str) -> str:
    """Return the declared type of a lever's field (``'int'``, ``'float'``, ``'bool'``, ...)."""
    cls, name = lever_field(lever)
    return next(str(f.type) for f in dataclasses.fields(cls) if f.name == name)


def lever_step(lever: str) -> int | None:
    """The grid a lever's values lie on, coarser than the integers (``writeoff_dpd``: 30)."""
    cls, name = lever_field(lever)
    return next((d["multiple"] for d in cls.describe() if d["name"] == name), None) or None


def _check_lever(where: str, lever: str) -> None:
    group, _, name = lever.partition(".")
    fields = lever_fields()
    if group not in fields:
        raise ConfigError(
            f"{where}: unknown lever '{lever}'; names are dotted: "
            f"{', '.join(g + '.<field>' for g in fields)} or market.<lender>.<field>"
        )
    if group == "market" and "." in name:
        lender, _, name = name.partition(".")
        group = "policy"
        if not _LENDER_NAME_RE.fullmatch(lender):
            raise ConfigError(f"{where}: '{lender}' in '{lever}' is not a lender name")
    if name not in fields[group]:
        raise ConfigError(
            f"{where}: unknown lever '{lever}'; allowed {group}.*: {', '.join(fields[group])}"
        )


def _check_lender_levers(config: ExperimentConfig) -> None:
    """Every ``market.<lender>.<lever>`` names a lender of every policy and market."""
    for lever in config.params:
        group, _, name = lever.partition(".")
        if group != "market" or "." not in name:
            continue
        lender = name.split(".", 1)[0]
        for spec in config.policies:
            if lender not in spec.lender_names:
                raise ConfigError(
                    f"config: lever '{lever}' sets lender '{lender}', which "
                    f"'{spec.name}' does not have (its lenders: {', '.join(spec.lender_names)})"
                )


def _unquoted(where: str, key: str, value: Any) -> None:
    """Refuse ``policy.max_dti = [...]`` written unquoted (TOML reads a nested table)."""
    if isinstance(value, dict):
        inner = next(iter(value), "<field>")
        raise ConfigError(
            f"{where}: '{key}' is a table, not a lever: quote dotted lever names, "
            f'e.g. "{key}.{inner}" = [...]'
        )


def _sweep(table: dict[str, Any]) -> dict[str, list[Any]]:
    out = {}
    for lever, values in table.items():
        where = f"config [sweep] '{lever}'"
        _unquoted("config [sweep]", lever, values)
        _check_lever("config [sweep]", lever)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where} must be a non-empty array of values")
        kind = lever_kind(lever)
        if kind.startswith("tuple"):
            raise ConfigError(f"{where} is a tuple of numbers ({kind}) and cannot be swept")
        for v in values:
            if kind == "bool" and not isinstance(v, bool):
                raise ConfigError(f"{where}: values must be true or false, got {json.dumps(v)}")
            if kind != "bool" and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise ConfigError(f"{where}: values must be numbers ({kind}), got {json.dumps(v)}")
        if len(set(values)) != len(values):
            raise ConfigError(f"{where}: values must be distinct, got {values}")
        out[lever] = values
    return out


def _sample(
    table: dict[str, Any], experiment_seed: int, present: bool = False
) -> SampleSpec | None:
    where = "config [sample]"
    if not table:
        if present:  # an empty [sample] table is a mistake, not "no sample"
            raise ConfigError(
                f"{where} is empty; it needs method ({', '.join(SAMPLE_METHODS)}), n and "
                "[sample.ranges], or remove it"
            )
        return None
    method = table.get("method")
    if method not in SAMPLE_METHODS:
        raise ConfigError(
            f"{where} method must be one of {', '.join(SAMPLE_METHODS)}, got {method!r}"
        )
    module = designs.method(method)
    _check_sample_keys(where, table, method, module)
    if "n" not in table:
        raise ConfigError(f"{where} needs 'n' (the number of design points)")
    n = _int(where, "n", table["n"], 1, 1_000_000)
    options = {
        key: _int(where, key, table.get(key, opt.default), opt.low, opt.high)
        for key, opt in module.OPTIONS.items()
    }
    seed = _int(where, "seed", table.get("seed", experiment_seed), 0, 2**63 - 1)
    ranges = _sample_ranges(where, table.get("ranges"))
    spec = SampleSpec(method=method, n=n, seed=seed, ranges=ranges, options=options)
    _check_design(where, spec, module)
    return spec


def _check_sample_keys(where: str, table: dict[str, Any], method: str, module: ModuleType) -> None:
    """Refuse keys of ``[sample]`` that ``method`` does not take, naming their method."""
    allowed = ("method", "n", "seed", "ranges", *module.OPTIONS)
    for key in table:
        owners = [m for m, mod in designs.METHODS.items() if key in mod.OPTIONS]
        if key not in allowed and owners:
            raise ConfigError(
                f"{where}: key '{key}' belongs to method {' or '.join(owners)}, "
                f"not to '{method}'; allowed: {', '.join(allowed)}"
            )
    check_keys(where, table, allowed)


def _sample_ranges(where: str, ranges_raw: Any) -> dict[str, tuple[float, float]]:
    """The ``[sample.ranges]`` table: numeric levers and their ``(low, high)``."""
    if not isinstance(ranges_raw, dict) or not ranges_raw:
        raise ConfigError(f'{where} needs a [sample.ranges] table of "lever" = [low, high]')
    ranges = {}
    for lever, bounds in ranges_raw.items():
        _unquoted("config [sample.ranges]", lever, bounds)
        _check_lever("config [sample.ranges]", lever)
        if lever_kind(lever) not in ("int", "float", "float | None"):
            raise ConfigError(
                f"config [sample.ranges] '{lever}' is not numeric and cannot be sampled"
            )
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise ConfigError(
                f"config [sample.ranges] '{lever}' must be [low, high], got {bounds!r}"
            )
        low = _number("config [sample.ranges]", f"'{lever}' low", bounds[0])
        high = _number("config [sample.ranges]", f"'{lever}' high", bounds[1])
        if not low < high:
            raise ConfigError(f"config [sample.ranges] '{lever}' needs low < high, got {bounds}")
        ranges[lever] = (low, high)
    return ranges


def _check_design(where: str, spec: SampleSpec, module: ModuleType) -> None:
    """Refuse a design its method cannot make: an integer lever off its grid, a bad size."""
    problem = spec.problem()
    for lever, kind in zip(problem.names, problem.kinds, strict=True):
        if kind == "int":
            try:
                problem.integer_grid(lever)
            except ValueError as exc:
                raise ConfigError(f"config [sample.ranges] {exc}") from None
    problem_text = module.check(spec.n, problem, **spec.options)
    if problem_text is not None:
        raise ConfigError(f"{where} {problem_text}")


def _charts(tables: list[dict[str, Any]], config: ExperimentConfig) -> tuple[ChartSpec, ...]:
    params = config.params
    series = [c for c in (*METRIC_COLUMNS, *EXTRA_COLUMNS) if c != "month"]
    summaries = [*SUMMARY_METRICS, *(m.name for m in config.metrics)]
    specs = []
    for i, table in enumerate(tables, start=1):
        where = f"config [[chart]] #{i}"
        check_keys(where, table, ("kind", "metric", "x", "y", "band"))
        kind = table.get("kind")
        if kind not in CHART_KINDS:
            raise ConfigError(f"{where} kind must be one of {', '.join(CHART_KINDS)}, got {kind!r}")
        metric, x, y = table.get("metric"), table.get("x"), table.get("y")
        _chart_metric(where, kind, metric, series, summaries)
        if kind == "sweep":
            for key, value in (("x", x), ("y", y)):
                if (key == "x" or value is not None) and value not in params:
                    allowed = ", ".join(params) or "none: the config sweeps nothing"
                    raise ConfigError(
                        f"{where} {key} must be a swept parameter ({allowed}), got {value!r}"
                    )
        if kind != "sweep" and (x is not None or y is not None):
            raise ConfigError(f"{where}: only kind 'sweep' takes 'x' and 'y'")
        band = _band(where, kind, table.get("band"), config.replications)
        specs.append(ChartSpec(kind=kind, metric=metric, x=x, y=y, band=band))
    return tuple(specs)


#: Monthly columns a ``lenders`` chart may draw: a lender's own metrics and shares.
LENDER_CHART_METRICS = (*LENDER_COLUMNS, "balance_share", "origination_share")


def _chart_metric(
    where: str, kind: str, metric: Any, series: list[str], summaries: list[str]
) -> None:
    """Check a ``[[chart]]``'s metric against what its kind draws."""
    allowed = {
        "timeseries": ("a monthly column", series),
        "lenders": ("a lender's monthly column", list(LENDER_CHART_METRICS)),
        "sweep": ("a summary or derived metric", summaries),
        "summary": ("a summary or derived metric", summaries),
    }
    if kind not in allowed:
        if metric is not None:
            raise ConfigError(f"{where}: kind '{kind}' takes no 'metric'")
        return
    what, names = allowed[kind]
    if metric not in names:
        raise ConfigError(f"{where} metric must be {what} ({', '.join(names)}), got {metric!r}")


def _band(where: str, kind: str, band: Any, replications: int) -> str | None:
    if band is None:
        return None
    if kind != "timeseries":
        raise ConfigError(f"{where}: only kind 'timeseries' takes 'band'")
    if band not in CHART_BANDS:
        raise ConfigError(f"{where} band must be one of {', '.join(CHART_BANDS)}, got {band!r}")
    if band == "percentile" and replications < PERCENTILE_MIN_REPLICATIONS:
        raise ConfigError(
            f"{where} band 'percentile' needs replications >= {PERCENTILE_MIN_REPLICATIONS} "
            f"(5-95% of fewer runs are interpolated between the extreme runs), got "
            f"{replications}; use band = 'ci'"
        )
    return band
