"""The dashboard's settings as an experiment config, and the export of its runs.

The dashboard builds its economies the way ``python -m experiments run`` builds a
run: from an :class:`~experiments.config.ExperimentConfig` (one scenario, policy A
and perhaps policy B, or one ``[[market]]`` of several lenders; one replication),
through :func:`experiments.design.build_design` and
:func:`experiments.design.build_economy`. So the config it exports (a TOML file)
reproduces its runs exactly, and its ``seed`` means what a config's ``seed`` means:
the experiment seed, from which replication 0's run seed is derived.

Also here: the controls over the policy levers and market rules, made from their
declarations (:func:`lever_control`), the market's lenders and rules as the dashboard
sets them (:func:`market_lenders`, :func:`market_rules`, :func:`market_spec`), the text
form of a custom scenario's unemployment knots (``"0:4.2%, 6:8%, 18:10%"``), a small
TOML writer for configs, and the CSVs of the runs' monthly metrics and of the market's
lenders.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from experiments.config import (
    LEVER_CLASSES,
    ExperimentConfig,
    LenderSpec,
    MarketSpec,
    PolicySpec,
    ScenarioSpec,
    parse_config,
)
from experiments.labels import NameTable
from model import MacroScenario, RiskPolicy
from model.market import FUNDING_KINDS, MarketRules

if TYPE_CHECKING:
    import pandas as pd

    from experiments.dashboard import DashboardModel

#: The scenario choice that reads its unemployment path from knots.
CUSTOM = "custom"
#: Knots of a new custom scenario: a recession to 10% unemployment and a partial recovery.
DEFAULT_KNOTS: tuple[tuple[float, float], ...] = ((0, 0.042), (6, 0.08), (18, 0.10), (36, 0.06))
#: The policy levers the dashboard exposes (RiskPolicy field names); a dynamic target
#: of 0 stands for ``None`` (the rule switched off).
LEVERS = (
    "score_cutoff",
    "max_dti",
    "max_loan_to_income",
    "collection_intensity",
    "writeoff_dpd",
    "dynamic_target",
    "relief_enabled",
)
#: Config names of the dashboard's two policies (prefixes of their ``[[policy]]`` names).
SIDES = ("A", "B")
#: The market rules the dashboard exposes (MarketRules field names); an ``apr_cap`` of
#: None is no cap.
MARKET_RULES = (
    "price_sensitivity",
    "apr_cap",
    "investor_contagion",
    "collect_after_failure",
    "strategic_default",
)
#: Fewest and most lenders of the dashboard's market.
MARKET_SIZES = (2, 5)
#: Config name of the dashboard's market (its ``[[market]]`` table).
MARKET = "market"
#: A lender of the dashboard's market: its policy preset and its funding kind.
Lender = tuple[str, str]
#: The lenders a market starts with, in order (the first ones run; more join from here).
DEFAULT_LENDERS: tuple[Lender, ...] = (
    ("conservative", "stable"),
    ("balanced", "stable"),
    ("aggressive", "investors"),
    ("balanced", "investors"),
    ("aggressive", "stable"),
)
#: The APR cap a market starts with when the cap is switched on (it binds the dearest
#: risk tiers of the aggressive preset).
DEFAULT_APR_CAP = 0.3


# -------------------------------------------------------------------- controls
@dataclass(frozen=True)
class LeverControl:
    """A control over one lever, made from its declaration (``lever(...)`` metadata).

    Attributes:
        name: The lever's field name (``score_cutoff``).
        text: What the control says, before the value: the lever's label without a
            closing bracket (``tightening trigger``, for a narrow sidebar).
        switch: Whether it is a checkbox (a boolean lever) rather than a slider.
        low: The slider's smallest value: the lever's typical or allowed low (one step
            above it when the low itself is excluded).
        high: The slider's largest value: the lever's typical or allowed high.
        step: The slider's step (declared, or derived from the range).
        fmt: How the slider writes the value (percent for shares, the step's decimals,
            then ``months`` or ``days`` for levers in those units).
        off_at_zero: Whether 0 stands for none (a lever that may be switched off).
    """

    name: str
    text: str
    switch: bool = False
    low: float = 0.0
    high: float = 1.0
    step: float = 1.0
    fmt: str = "{}"
    off_at_zero: bool = False

    def shown(self, value: Any) -> str:
        """The value as the control writes it (``45%``, ``600``, ``off``)."""
        return "off" if self.off_at_zero and value == 0 else self.fmt.format(value)


def _decimals(step: float) -> int:
    """Decimal places of ``step`` as written (0.005 -> 3, 0.5 -> 1, 30 -> 0)."""
    return max(0, -Decimal(str(step)).normalize().as_tuple().exponent)


def lever_control(group: str, name: str) -> LeverControl:
    """The control over lever ``group.name`` (``"policy"``, ``"score_cutoff"``).

    Raises:
        ValueError: For a lever with no slider (tuples, text) or an unknown one.
    """
    described = {d["name"]: d for d in LEVER_CLASSES[group].describe()}
    if name not in described:
        raise ValueError(f"unknown {group} lever {name!r}")
    d = described[name]
    text = re.sub(r" \([^)]*\)$", "", NameTable().name(f"{group}.{name}"))
    if not text[:2].isupper():  # "Score cut-off" -> "score cut-off", "APR cap" kept
        text = text[:1].lower() + text[1:]
    if d["kind"] == "bool":
        return LeverControl(name, text, switch=True)
    if d["step"] is None:
        raise ValueError(f"{group} lever {name!r} has no slider (a {d['type']})")
    step = d["step"]
    low, high = d["typical"] or (d["low"], d["high"])
    if d["low_open"] and low == d["low"]:
        low += step
    decimals = _decimals(step)
    fmt = f"{{:.{max(0, decimals - 2)}%}}" if d["kind"] == "share" else f"{{:.{decimals}f}}"
    if d["kind"] in ("months", "days"):
        fmt += f" {d['kind']}"
    off = d["default"] is None or "None" in d["type"]
    return LeverControl(name, text, False, low, high, step, fmt, off)


#: The controls of the exposed policy levers, in :data:`LEVERS` order.
LEVER_CONTROLS: tuple[LeverControl, ...] = tuple(lever_control("policy", n) for n in LEVERS)
#: The controls of the exposed market rules, in :data:`MARKET_RULES` order.
MARKET_CONTROLS: tuple[LeverControl, ...] = tuple(lever_control("market", n) for n in MARKET_RULES)


# ----------------------------------------------------------------------- knots
def parse_knots(text: str) -> tuple[tuple[float, float], ...]:
    """Read unemployment knots written ``"month:rate, month:rate, ..."``.

    A rate is a share (``0.08``) or a percentage (``8%``). The knots are checked as
    the model checks them (months increasing, rates in range).

    Raises:
        ValueError: With a one-line message naming the first problem.
    """
    parts = [p.strip() for p in re.split(r"[,;\n]", text) if p.strip()]
    if not parts:
        raise ValueError("give at least one knot as month:rate, e.g. 0:4.2%, 12:8%")
    knots = []
    for part in parts:
        month_text, sep, rate_text = part.partition(":")
        if not sep:
            raise ValueError(f"'{part}' is not month:rate (e.g. 6:8% or 6:0.08)")
        try:
            month = float(month_text)
            percent = rate_text.strip().endswith("%")
            rate = float(rate_text.strip().removesuffix("%")) / (100 if percent else 1)
        except ValueError:
            raise ValueError(f"'{part}' is not month:rate (e.g. 6:8% or 6:0.08)") from None
        knots.append((int(month) if month.is_integer() else month, rate))
    MacroScenario.from_knots(CUSTOM, 1, unemployment=knots)  # the model's checks
    return tuple(knots)


def knots_text(knots: Sequence[tuple[float, float]]) -> str:
    """Write knots as :func:`parse_knots` reads them (rates in percent)."""
    return ", ".join(f"{month:g}:{rate * 100:.4g}%" for month, rate in knots)


# ------------------------------------------------------------------- settings
def preset_levers(name: str) -> dict[str, Any]:
    """The exposed levers of policy preset ``name``, as the dashboard shows them."""
    policy = RiskPolicy.preset(name)
    levers = {lever: getattr(policy, lever) for lever in LEVERS}
    levers["dynamic_target"] = levers["dynamic_target"] or 0.0
    return levers


def overrides(preset: str, levers: Mapping[str, Any]) -> dict[str, Any]:
    """The levers that differ from preset ``preset``, as RiskPolicy field values.

    A ``dynamic_target`` of 0 switches the dynamic rule off (``RiskPolicy`` reads 0 as
    none, so a config can say it).
    """
    base = preset_levers(preset)
    return {k: v for k, v in levers.items() if v != base[k]}


def market_lenders(lenders: Sequence[Sequence[str]]) -> tuple[Lender, ...]:
    """The market's lenders as ``(preset, funding)`` pairs, checked.

    Raises:
        ValueError: With a one-line message: too few or too many lenders, an unknown
            preset or funding kind.
    """
    low, high = MARKET_SIZES
    pairs = [tuple(pair) for pair in lenders]
    if not low <= len(pairs) <= high:
        raise ValueError(f"a market has {low} to {high} lenders, got {len(pairs)}")
    for k, pair in enumerate(pairs, 1):
        if len(pair) != 2:
            raise ValueError(f"lender {k} must be (preset, funding), got {pair!r}")
        preset, funding = pair
        if preset not in RiskPolicy.names():
            allowed = ", ".join(RiskPolicy.names())
            raise ValueError(f"lender {k}: unknown policy preset {preset!r}; allowed: {allowed}")
        if funding not in FUNDING_KINDS:
            allowed = ", ".join(FUNDING_KINDS)
            raise ValueError(f"lender {k}: funding must be one of {allowed}, got {funding!r}")
    return tuple((str(preset), str(funding)) for preset, funding in pairs)


def default_rules() -> dict[str, Any]:
    """The exposed market rules a market starts with: the declared defaults.

    But for the price sensitivity: 10 (the declaration's example, under which a lender
    7 points dearer draws half the applicants), so shares follow prices.
    """
    rules = MarketRules()
    return {name: getattr(rules, name) for name in MARKET_RULES} | {"price_sensitivity": 10.0}


def market_rules(rules: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every exposed market rule: :func:`default_rules`, overridden by ``rules``, checked.

    Switches are booleans, an ``apr_cap`` of None is no cap, other values floats.

    Raises:
        ValueError: For a rule the dashboard does not expose or a value out of range
            (one line, naming the rule).
        TypeError: For a value of the wrong type (one line).
    """
    given = dict(rules or {})
    unknown = set(given) - set(MARKET_RULES)
    if unknown:
        raise ValueError(
            f"unknown market rule(s) {', '.join(sorted(unknown))}; allowed: "
            f"{', '.join(MARKET_RULES)}"
        )
    checked = MarketRules.of({**default_rules(), **given})  # the model's checks
    values = {name: getattr(checked, name) for name in MARKET_RULES}
    return {k: v if v is None or isinstance(v, bool) else float(v) for k, v in values.items()}


def market_spec(lenders: Sequence[Lender], rules: Mapping[str, Any]) -> MarketSpec:
    """The ``[[market]]`` of the dashboard's lenders and rules.

    Lenders are named ``L1-<preset>``, ``L2-<preset>``, ... and state their funding;
    the rules that differ from the declared defaults are written out (no cap: none).
    """
    defaults = MarketRules()
    return MarketSpec(
        name=MARKET,
        lenders=tuple(
            LenderSpec(f"L{k}-{preset}", preset, {"funding": funding})
            for k, (preset, funding) in enumerate(lenders, 1)
        ),
        rules={k: v for k, v in rules.items() if v != getattr(defaults, k)},
    )


def settings_config(
    *,
    n_borrowers: int,
    scenario: str,
    severity: float,
    knots: Sequence[tuple[float, float]],
    seed: int,
    months: int,
    policies: Sequence[tuple[str, Mapping[str, Any]]] = (),
    market: MarketSpec | None = None,
    burn_in: int | None = None,
) -> ExperimentConfig:
    """The experiment of the dashboard's settings: one scenario, one replication.

    Args:
        n_borrowers: Borrowers per run.
        scenario: A scenario preset name, or :data:`CUSTOM` for ``knots``.
        severity: Scale of the scenario's shock around the baseline.
        knots: Unemployment knots ``(month, rate)`` of the custom scenario.
        seed: The experiment seed.
        months: Months of the runs.
        policies: ``(preset, levers)`` of policy A, then of policy B if it runs.
        market: The market to run instead (:func:`market_spec`).
        burn_in: Burn-in months; None leaves the model's default for each policy.

    Raises:
        experiments.config.ConfigError: If a setting is invalid (one line).
    """
    if scenario == CUSTOM:
        spec = ScenarioSpec(
            name=CUSTOM, severity=severity, knots={"unemployment": [list(k) for k in knots]}
        )
    else:
        spec = ScenarioSpec(name=scenario, preset=scenario, severity=severity)
    raw: dict[str, Any] = {
        "experiment": {
            "name": f"dashboard_{'market_' if market else ''}{scenario}_seed{seed}",
            "months": months,
            "borrowers": n_borrowers,
            "replications": 1,
            "seed": seed,
            **({"burn_in": burn_in} if burn_in is not None else {}),
        },
        "scenario": [spec.to_dict()],
        "policy": [
            PolicySpec(
                name=f"{side}-{preset}", preset=preset, overrides=overrides(preset, levers)
            ).to_dict()
            for side, (preset, levers) in zip(SIDES, policies, strict=False)
        ],
    }
    if market is not None:
        raw["market"] = [market.to_dict()]
    return parse_config(raw)  # checked as a config file is


# --------------------------------------------------------------------- export
def export_config(model: DashboardModel) -> ExperimentConfig:
    """The config that reproduces ``model``'s runs over the months simulated so far.

    The burn-in is written out when the runs share one (they differ only when the
    policies write off at different DPD; the config then leaves each run its default).

    Raises:
        ValueError: Before the first month (a config runs at least one month).
    """
    if model.month < 1:
        raise ValueError("no month simulated yet: step at least once before exporting")
    burn_ins = {eco.burn_in for eco in model.economies.values()}
    burn_in = burn_ins.pop() if len(burn_ins) == 1 else None
    return dataclasses.replace(model.config, months=model.month, burn_in=burn_in)


def config_toml(model: DashboardModel) -> str:
    """The TOML config that reproduces ``model``'s runs (``python -m experiments run FILE``)."""
    config = export_config(model)
    burn_in = (
        f"burn_in = {config.burn_in} months"
        if config.burn_in is not None
        else "burn_in left out: each policy's default ("
        + ", ".join(f"{eco.burn_in}" for eco in model.economies.values())
        + " months)"
    )
    header = [
        f"# The dashboard's runs, months 0 to {config.months - 1}, as an experiment config.",
        f"# Reproduce them with: python -m experiments run {config.name}.toml",
        f"# seed is the experiment seed: replication 0 runs on seed {model.run_seed}, as the",
        f"# dashboard's economies did; {burn_in}.",
    ]
    tables = {k: v for k, v in config.to_dict().items() if v != []}  # no [[policy]]: none
    return "\n".join(header) + "\n\n" + to_toml(tables)


def metrics_csv(model: DashboardModel) -> str:
    """The monthly metrics of ``model``'s runs, one row per policy and month.

    Columns: ``scenario``, ``policy`` (the config's ``[[policy]]`` names, ``A-...``
    and ``B-...``, or its ``[[market]]``'s, ``market``), then the model's monthly
    columns, as in an experiment's ``timeseries.parquet``. Floats are written in full
    (the shortest text that reads back as the same number).
    """
    import pandas as pd

    scenario = model.config.scenarios[0].name
    frames = [
        frame.assign(scenario=scenario, policy=model.policy_names[label])
        for label, frame in model.frames().items()
    ]
    return _csv(pd.concat(frames, ignore_index=True))


def lenders_csv(model: DashboardModel) -> str:
    """Each lender's monthly metrics in ``model``'s market, one row per lender and month.

    Columns: ``scenario``, ``policy`` (the ``[[market]]``'s name), then the columns of
    :meth:`model.CreditEconomy.lender_history` (``lender``, ``lender_name``, ``month``,
    the lender's metrics, ``failed``, ``balance_share``, ``origination_share``), as in
    an experiment's ``lender_timeseries.parquet``. Floats are written in full.
    """
    history = model.lender_history()
    scenario = model.config.scenarios[0].name
    return _csv(history.assign(scenario=scenario, policy=model.config.policies[0].name))


def _csv(table: pd.DataFrame) -> str:
    """A results table as CSV text, its ``scenario`` and ``policy`` columns first."""
    columns = ["scenario", "policy", *(c for c in table.columns if c not in ("scenario", "policy"))]
    return table[columns].to_csv(index=False, lineterminator="\n")


# ------------------------------------------------------------------------ TOML
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def to_toml(data: Mapping[str, Any]) -> str:
    """Write a config dict (as :meth:`ExperimentConfig.to_dict` gives) as TOML text.

    Handles what configs hold: tables, arrays of tables, and strings, booleans,
    numbers and (nested) arrays of them; a sub-table is written inline, an array of
    tables inside a table (a market's ``lenders``) one inline table a line.

    Raises:
        TypeError: For a value TOML cannot hold (``None``, an unknown type).
    """
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not _is_table(v) and not _is_table_array(v)}
    lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
    for key, value in data.items():
        if _is_table(value):
            lines += ["", f"[{_key(key)}]"] if lines else [f"[{_key(key)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in value.items()]
        elif _is_table_array(value):
            for table in value:
                lines += ["", f"[[{_key(key)}]]"] if lines else [f"[[{_key(key)}]]"]
                lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(map(_is_table, value))


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML's basic-string escapes
    if _is_table_array(value):  # a market's lenders: one inline table a line
        return "[\n" + "".join(f"  {_value(v)},\n" for v in value) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if hasattr(value, "item"):  # a numpy scalar
        return _value(value.item())
    raise TypeError(f"TOML cannot hold {value!r} ({type(value).__name__})")
