"""``docs/configs.md``: the config reference, generated from the declarations in the code.

``python -m experiments docs`` writes it; ``tests/test_docs.py`` fails when the committed
file differs from what :func:`configs_markdown` makes. Every table of a config is there,
each key with its type, allowed values, default and meaning, and a small example config
that is parsed (as ``python -m experiments run`` would) before it is written.

Where each part comes from:

- the tables and their keys: :mod:`experiments.config` (``[experiment]``, ``[[scenario]]``,
  ``[[policy]]``, ``[population]``, ``[sweep]``, ``[sample]``, ``[[chart]]``), with the
  sampling methods of :mod:`experiments.designs`, the chart kinds of
  :mod:`experiments.charts`, ``[metrics]`` of :mod:`experiments.derived`, ``[style]`` of
  :mod:`experiments.style` and ``[calibration]`` of :mod:`experiments.calibrate`;
- the levers: ``RiskPolicy.describe()``, ``PopulationParams.describe()`` and
  ``ScenarioParams.describe()`` (calibrated defaults marked);
- the macro series: ``model.macro.SERIES``;
- the metrics: ``model.metrics.METRICS`` and :data:`experiments.analysis.SUMMARIES`.

The meanings of the keys that are not levers (``months``, ``n``, ``kind``...) are
written here, in :func:`key_docs`; :func:`configs_markdown` refuses to run if a table
has a key this module does not describe, or describes a key the table does not have.
"""

from __future__ import annotations

import dataclasses
import inspect
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: Where the generated reference lives, relative to the repository root.
CONFIGS_MD = Path("docs") / "configs.md"
#: The command that writes it.
COMMAND = "python -m experiments docs"


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of a config table, as the reference shows it."""

    name: str
    type: str
    allowed: str
    default: str
    meaning: str


class StaleSchemaError(RuntimeError):
    """The documented keys of a table differ from the keys its parser accepts."""


# ---------------------------------------------------------------- non-lever keys
def key_docs() -> dict[str, dict[str, tuple[str, str, str, str]]]:
    """(type, allowed, default, meaning) of every key that is not a lever, by table."""
    return {
        "experiment": _experiment_keys(),
        "scenario": _scenario_keys(),
        "policy": _policy_keys(),
        "market": _market_keys(),
        "sample": _sample_keys(),
        "chart": _chart_keys(),
        "metrics": _metrics_keys(),
        "calibration": _CALIBRATION_KEYS,
        "calibration.target": _CALIBRATION_TARGET_KEYS,
        "calibration.parameter": _CALIBRATION_PARAMETER_KEYS,
        "reverse_stress": _reverse_stress_keys(),
    }


def _experiment_keys() -> dict[str, tuple[str, str, str, str]]:
    """(type, allowed, default, meaning) of the ``[experiment]`` keys."""
    from experiments import config, style
    from model.economy import DEFAULT_BURN_IN

    styles = ", ".join(style.PRESETS)
    return {
        "name": (
            "string",
            f"letters, digits, `_`, `-`, `.` (a folder name, at most "
            f"{config.MAX_NAME_LENGTH} characters)",
            "required",
            "Name of the experiment; results go to `results/<name>/`.",
        ),
        "months": ("integer", "in [1, 1200]", "", "Months recorded in each run."),
        "borrowers": ("integer", "in [1, 50000000]", "", "Borrowers in each run."),
        "replications": (
            "integer",
            "in [1, 100000]",
            "",
            "Runs of each scenario, policy and sweep point, each on its own seed; "
            "replication k runs on the same seed for every scenario and policy, so "
            "comparisons are paired.",
        ),
        "seed": (
            "integer",
            "in [0, 2^63 - 1]",
            "required",
            "Experiment seed: the run seeds are spawned from it and the replication index.",
        ),
        "burn_in": (
            "integer",
            "in [0, 600]",
            f"the policies' own ({DEFAULT_BURN_IN} for the presets)",
            "Months simulated before month 0 (not recorded), so the loan book starts "
            "seasoned; by default long enough for the credit record, recoveries and "
            "write-offs to fill.",
        ),
        "style": (
            "string",
            f"one of {styles}, or a matplotlib style sheet",
            "default",
            "Figure style; a `[style]` table sets matplotlib rcParams over it.",
        ),
        "save_loan_tape": (
            "boolean",
            "true or false",
            "false",
            "Store each run's loan tape (one row per loan: amount, rate, term, balance, "
            "arrears, DPD, bucket, status, write-off, recoveries) as "
            "`runs/<run_id>.loan_tape.parquet`; read it with "
            "`experiments.store.read_loan_tape`. Turning it on and resuming reruns only "
            "the runs without a tape.",
        ),
    }


def _scenario_keys() -> dict[str, tuple[str, str, str, str]]:
    """(type, allowed, default, meaning) of the ``[[scenario]]`` keys."""
    from experiments import config

    return {
        "name": (
            "string",
            f"printable text, at most {config.MAX_NAME_LENGTH} characters, unique",
            "the preset's name",
            "Name in results (required for a custom scenario).",
        ),
        "preset": (
            "string",
            "a scenario preset (below)",
            "none: a custom path from knots",
            "The preset path; give either `preset` or knot series.",
        ),
        "stochastic": (
            "table",
            "`paths` (in [1, 100000]) or `path_seed`, `seed`, the generator's keys (below)",
            "none",
            "Stochastic paths instead of a preset or knots: `paths` draws from the "
            "regime-switching US model (docs/model.md 6.1), each path a scenario "
            "`<name>/p0001`, ... (name default `stochastic`) with its own seed, spawned "
            "from `seed` (default: the experiment's) and the path index; the same paths "
            "for every policy (paired). `path_seed` gives the one path of that seed.",
        ),
    }


def _policy_keys() -> dict[str, tuple[str, str, str, str]]:
    """(type, allowed, default, meaning) of the ``[[policy]]`` keys (not levers)."""
    from experiments import config

    return {
        "name": (
            "string",
            f"printable text, at most {config.MAX_NAME_LENGTH} characters, unique",
            "the preset's name",
            "Name in results.",
        ),
        "preset": (
            "string",
            "a policy preset (below)",
            '"balanced"',
            "The preset the levers of this table override.",
        ),
        "lenders": (
            "integer",
            f"in [1, {config.MAX_LENDERS}]",
            "1",
            "Competing lenders with this policy (a market), named `name`, `name-2`, ...: "
            "borrowers may hold a loan at each; profit and capital are market totals.",
        ),
    }


def _market_keys() -> dict[str, tuple[str, str, str, str]]:
    """(type, allowed, default, meaning) of the ``[[market]]`` keys."""
    from experiments import config

    return {
        "name": (
            "string",
            f"printable text, at most {config.MAX_NAME_LENGTH} characters, unique "
            "among policies and markets",
            "required",
            "Name in results (the `policy` column).",
        ),
        "lenders": (
            "array of tables",
            f"1 to {config.MAX_LENDERS} tables of `name` (letters, digits, `_`, `-`; "
            "unique), `preset` and policy levers",
            "required",
            "The market's lenders, each with its own policy: `preset` (default "
            '`"balanced"`) with levers overridden.',
        ),
    }


def _sample_keys() -> dict[str, tuple[str, str, str, str]]:
    """(type, allowed, default, meaning) of the ``[sample]`` keys."""
    from experiments import config

    return {
        "method": (
            "string",
            "one of " + ", ".join(config.SAMPLE_METHODS),
            "required",
            "The design (below).",
        ),
        "n": (
            "integer",
            "in [1, 1000000] (a power of 2 for sobol, sobol_indices)",
            "required",
            "The method's size: points (lhs, sobol), trajectories (morris) or base "
            "points (sobol_indices).",
        ),
        "seed": (
            "integer",
            "in [0, 2^63 - 1]",
            "the experiment seed",
            "Seed of the design's draws.",
        ),
        "ranges": (
            "table",
            '"lever" = [low, high], low < high',
            "required",
            "The levers sampled and their ranges (`[sample.ranges]`): numeric levers, "
            "dotted as in `[sweep]`; integer levers take values on their grid.",
        ),
    }


def _chart_keys() -> dict[str, tuple[str, str, str, str]]:
    """(type, allowed, default, meaning) of the ``[[chart]]`` keys."""
    from experiments import config

    return {
        "kind": (
            "string",
            "one of " + ", ".join(config.CHART_KINDS),
            "required",
            "What the chart draws (below).",
        ),
        "metric": (
            "string",
            "timeseries: a monthly metric; sweep, summary: a summary or derived metric",
            "none",
            "The metric drawn (timeseries, sweep and summary only).",
        ),
        "x": (
            "string",
            "a swept parameter",
            "required for sweep",
            "The swept parameter on the x axis (sweep only).",
        ),
        "y": (
            "string",
            "a swept parameter",
            "none",
            "A second swept parameter: a heatmap (sweep only).",
        ),
        "band": (
            "string",
            "one of " + ", ".join(config.CHART_BANDS),
            '"ci"',
            "Band around the lines (timeseries only): 95% t-interval over "
            "replications, or median and 5-95% of runs (needs at least "
            f"{config.PERCENTILE_MIN_REPLICATIONS} replications), or none.",
        ),
    }


def _metrics_keys() -> dict[str, tuple[str, str, str, str]]:
    """(type, allowed, default, meaning) of a ``[metrics]`` entry's keys."""
    return {
        "expr": (
            "string",
            "an expression (below)",
            "required",
            "The arithmetic over metrics.",
        ),
        "unit": (
            "string",
            "one of " + ", ".join(_metric_units()),
            "inferred from the expression",
            "Unit of the result (shares are shown as %).",
        ),
        "label": ("string", "non-empty", "the name, spaced", "Name in charts and tables."),
    }


#: (type, allowed, default, meaning) of the ``[calibration]`` keys.
_CALIBRATION_KEYS: dict[str, tuple[str, str, str, str]] = {
    "max_evaluations": (
        "integer",
        ">= 1",
        "40",
        "Most evaluations of the objective (each runs every run of the config), the "
        "finite-difference ones and the final one included: the fit takes at most "
        "(max_evaluations - 1) // (parameters + 1) steps. At least parameters + 2.",
    ),
    "target": (
        "array of tables",
        "at least as many as parameters",
        "required",
        "The numbers to reproduce: `[[calibration.target]]` (below).",
    ),
    "parameter": (
        "array of tables",
        "at least one",
        "required",
        "The levers the fit moves: `[[calibration.parameter]]` (below).",
    ),
}


#: (type, allowed, default, meaning) of the ``[[calibration.target]]`` keys.
_CALIBRATION_TARGET_KEYS: dict[str, tuple[str, str, str, str]] = {
    "name": ("string", "non-empty", "required", "Name of the target in the report."),
    "scenario": (
        "string",
        "a scenario of the config",
        "the first",
        "The runs that measure the target.",
    ),
    "policy": ("string", "a policy of the config", "the first", "As `scenario`."),
    "metric": ("string", "a summary metric", "required", "What is measured."),
    "value": ("number", "inside `band`", "required", "The target value."),
    "band": (
        "[low, high]",
        "low < high",
        "required",
        "The accepted range; its half-width is taken as two standard deviations.",
    ),
    "source": ("string", "non-empty", "required", "Where the number comes from."),
}


#: (type, allowed, default, meaning) of the ``[[calibration.parameter]]`` keys.
_CALIBRATION_PARAMETER_KEYS: dict[str, tuple[str, str, str, str]] = {
    "lever": (
        "string",
        "a numeric `policy.<lever>` or `population.<lever>`",
        "required",
        "The lever the fit moves.",
    ),
    "bounds": ("[low, high]", "low < high", "required", "Its range."),
    "start": (
        "number",
        "inside `bounds`",
        "the config's value",
        "Where the fit starts.",
    ),
}


def _reverse_stress_keys() -> dict[str, tuple[str, str, str, str]]:
    """(type, allowed, default, meaning) of the ``[reverse_stress]`` keys."""
    from experiments import reverse_stress as rs

    return {
        "family": (
            "string",
            ", ".join(rs.FAMILIES),
            '"severity"',
            "The scenarios searched: a config scenario scaled by severity, or an unemployment "
            "peak held for each of `durations`.",
        ),
        "condition": (
            "string",
            ", ".join(rs.CONDITIONS),
            '"capital_breach"',
            "What breaks: a lender's capital ratio below its min_capital_ratio in some month, "
            "a lender's failure, or the cumulative net loss over the month-0 book above "
            "`loss_limit`.",
        ),
        "loss_limit": ("number", "in (0, 10]", "required by loss_above", "The loss limit."),
        "share": (
            "number",
            "in (0, 1]",
            "0.5",
            "A scenario breaks when at least this share of the (paired) replications break.",
        ),
        "tolerance": (
            "number",
            "in (0, 1]",
            "0.005",
            "The bisection stops when the bracket is this narrow (severity or unemployment).",
        ),
        "scenario": (
            "string",
            "a scenario of the config",
            "the first",
            "The scenario scaled (family `severity`).",
        ),
        "severity": ("[low, high]", "in [0, 5], low < high", "[0, 5]", "Severities searched."),
        "peak": (
            "[low, high]",
            "in [0.042, 0.6], low < high",
            "[0.05, 0.35]",
            "Peak unemployment searched (family `peak_duration`).",
        ),
        "durations": (
            "array of integers",
            "each in [1, 600]",
            "[12]",
            "Months the peak is held: one search per duration and policy.",
        ),
        "ramp": ("integer", "in [1, 120]", "6", "Months from month 3 to the peak."),
        "recovery": ("integer", "in [1, 600]", "24", "Months from the peak's end back to 4.2%."),
    }


def _metric_units() -> tuple[str, ...]:
    from model.metrics import UNITS

    return UNITS


# -------------------------------------------------------------------- examples
#: One small example per table, each parsed before it is written.
EXAMPLES: dict[str, str] = {
    "experiment": """\
[experiment]
name = "my_study"
seed = 42
months = 36
borrowers = 5000
replications = 3
""",
    "scenario": """\
[[scenario]]
preset = "severe_recession"
severity = 1.5

[[scenario]]
name = "v_shock"
unemployment = [[0, 0.042], [3, 0.12], [15, 0.06]]
policy_rate = [[0, 0.035], [4, 0.01]]

[[scenario]]
name = "random"
stochastic = { paths = 100, recession_probability = 0.02 }
""",
    "policy": """\
[[policy]]
preset = "conservative"

[[policy]]
name = "tight"
preset = "balanced"
score_cutoff = 660
max_dti = 0.35
relief_enabled = false

[[policy]]
name = "p2p_market"
preset = "aggressive"
lenders = 3
sees_other_loans = false
""",
    "market": """\
[[market]]
name = "two_platforms"
lenders = [
    { name = "bank_like", preset = "conservative", capital_ratio = 0.15 },
    { name = "p2p", preset = "aggressive", funding = "investors" },
]
sees_other_loans = false
price_sensitivity = 10.0
apr_cap = 0.36
""",
    "population": """\
[population]
savings_months = 1.0
overspender_share = [0.1, 0.15, 0.35]
""",
    "sweep": """\
[sweep]
"policy.max_dti" = [0.3, 0.45, 0.6]
"scenario.severity" = [0.5, 1.0, 2.0]
"market.apr_cap" = [0.24, 0.36]
""",
    "sample": """\
[sample]
method = "morris"
n = 20
levels = 4

[sample.ranges]
"policy.score_cutoff" = [560, 680]
"policy.writeoff_dpd" = [90, 360]
"population.savings_months" = [0.5, 4.0]
""",
    "chart": """\
[sweep]
"policy.max_dti" = [0.3, 0.45, 0.6]

[[chart]]
kind = "timeseries"
metric = "overdue_rate"
band = "ci"

[[chart]]
kind = "sweep"
metric = "bad_debt_loss_rate"
x = "policy.max_dti"
""",
    "metrics": """\
[metrics]
loss_per_loan = "bad_debt_loss / approvals"
net_margin = { expr = "profit / total_originations", unit = "share", label = "Net margin" }
""",
    "style": """\
[experiment]
name = "paper_figures"
seed = 1
style = "paper"

[style]
"font.family" = "serif"
"lines.linewidth" = 1.2
""",
    "calibration": """\
[calibration]
max_evaluations = 150

[[calibration.target]]
name = "baseline overdue rate"
metric = "mean_overdue_rate"
value = 0.04
band = [0.03, 0.05]
source = "platform reports: 3-5% of loans 1+ days past due"

[[calibration.parameter]]
lever = "population.oversight_rate"
bounds = [0.001, 0.05]
""",
    "reverse_stress": """\
[[policy]]
preset = "balanced"

[[policy]]
preset = "aggressive"

[reverse_stress]
family = "peak_duration"
condition = "capital_breach"
peak = [0.05, 0.35]
durations = [6, 12, 24]
""",
}

_HEADER = '[experiment]\nname = "example"\nseed = 1\n\n'


def check_examples() -> None:
    """Parse every example as its command would.

    Raises:
        experiments.config.ConfigError: If an example is not a valid config.
    """
    from experiments.calibrate import parse_calibration
    from experiments.config import parse_config
    from experiments.reverse_stress import parse_reverse_stress

    for table, text in EXAMPLES.items():
        full = text if text.startswith("[experiment]") else _HEADER + text
        raw = tomllib.loads(full)
        config = parse_config(raw)
        if table == "calibration":
            parse_calibration(raw["calibration"], config)
        if table == "reverse_stress":
            parse_reverse_stress(raw["reverse_stress"], config)


# ---------------------------------------------------------------------- markdown
_KEY_HEADER = ("Key", "Type", "Allowed", "Default", "Meaning")
_LEVER_HEADER = ("Key", "Label", "Type", "Allowed", "Default", "Unit", "Meaning")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _literal(value: Any) -> str:
    """A value as a config writes it (``0.45``, ``true``, ``"fees_first"``, ``[1, 2]``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return repr(value)


_WORDS = {"bool": "boolean", "str": "string", "int": "integer", "float": "number"}


def _type_words(type_text: str, length: int | None = None) -> str:
    """A field's declared type in TOML words (``tuple[float, float]`` -> array of 2 numbers)."""
    text = type_text.removesuffix(" | None")
    if text in _WORDS:
        return _WORDS[text]
    inner = text.removeprefix("tuple[").removesuffix("]")
    if inner.startswith("tuple["):  # pairs
        pair = inner.removesuffix(", ...").removeprefix("tuple[").removesuffix("]")
        return "array of [" + ", ".join(_WORDS[t] for t in pair.split(", ")) + "] pairs"
    items = [t for t in inner.split(", ") if t != "..."]
    count = length or len(items)
    return f"array of {count} {_WORDS[items[0]]}s"


def _lever_rows(described: Sequence[Mapping[str, Any]], prefix: str = "") -> list[list[str]]:
    rows = []
    for d in described:
        default = _literal(d["default"]) + (" (fitted)" if d["calibrated"] else "")
        unit = d["unit"] if d["unit"] not in ("on/off", "text") else ""
        rows.append(
            [
                f"`{prefix}{d['name']}`",
                d["label"],
                _type_words(d["type"], d["length"]),
                d["allowed"],
                default,
                unit,
                d["description"],
            ]
        )
    return rows


def _levers_by_group(cls: type, prefix: str = "", skip: Sequence[str] = ()) -> list[str]:
    described = [d for d in cls.describe() if d["name"] not in skip]
    groups = list(dict.fromkeys(d["group"] for d in described))
    lines: list[str] = []
    for group in groups:
        lines += [f"**{group[:1].upper() + group[1:]}**", ""]
        rows = _lever_rows([d for d in described if d["group"] == group], prefix)
        lines += _table(_LEVER_HEADER, rows)
    return lines


def _key_rows(
    docs: Mapping[str, tuple[str, str, str, str]], defaults: Mapping[str, Any]
) -> list[list[str]]:
    rows = []
    for name, (type_, allowed, default, meaning) in docs.items():
        shown = default or _literal(defaults[name])
        rows.append([f"`{name}`", type_, allowed, shown, meaning])
    return rows


def _example(table: str) -> list[str]:
    return ["Example:", "", "```toml", EXAMPLES[table].rstrip("\n"), "```", ""]


def _check_same(table: str, documented: Iterable[str], accepted: Iterable[str]) -> None:
    documented, accepted = list(documented), list(accepted)
    if set(documented) != set(accepted):
        missing = sorted(set(accepted) - set(documented))
        extra = sorted(set(documented) - set(accepted))
        raise StaleSchemaError(
            f"experiments/docs.py documents the keys of {table} wrongly: undocumented "
            f"{missing or 'none'}, not accepted {extra or 'none'}; update key_docs() "
            "in experiments/docs.py"
        )


def _first_line(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


#: The tables of a config, in the reference's order: (key, heading, what it holds).
TABLES: tuple[tuple[str, str, str], ...] = (
    ("experiment", "[experiment]", "What to simulate: name, seed, horizon, size."),
    ("scenario", "[[scenario]]", "Macro scenarios: presets or paths from knots."),
    ("policy", "[[policy]]", "Lenders' risk policies: a preset and lever overrides."),
    ("market", "[[market]]", "Markets of named lenders with their own policies, and rules."),
    ("population", "[population]", "The borrower population's parameters."),
    ("sweep", "[sweep]", "A grid of lever values (every combination)."),
    ("sample", "[sample]", "A sampled design over lever ranges (or `[sweep]`)."),
    ("chart", "[[chart]]", "The figures drawn (default: a standard set)."),
    ("metrics", "[metrics]", "Derived per-run metrics: arithmetic over metrics."),
    ("style", "[style]", "Figure style: matplotlib rcParams."),
    ("calibration", "[calibration]", "Targets and free levers (`calibrate` only)."),
    ("reverse_stress", "[reverse_stress]", "The reverse stress search (`reverse-stress` only)."),
)


def _check_schema(docs: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse to document keys the parsers do not take, or to leave out keys they take."""
    from experiments import calibrate, charts, config, reverse_stress

    _check_same("the config", [t for t, _, _ in TABLES], config._TOP_KEYS)
    _check_same("[experiment]", docs["experiment"], config._EXPERIMENT_KEYS)
    _check_same("[[chart]]", docs["chart"], [f.name for f in dataclasses.fields(config.ChartSpec)])
    _check_same("chart kinds", charts.DRAWERS, config.CHART_KINDS)
    _check_same("[calibration]", docs["calibration"], calibrate._KEYS)
    _check_same("[reverse_stress]", docs["reverse_stress"], reverse_stress._KEYS)
    _check_same("[[calibration.target]]", docs["calibration.target"], calibrate._TARGET_KEYS)
    _check_same(
        "[[calibration.parameter]]", docs["calibration.parameter"], calibrate._PARAMETER_KEYS
    )


def _heading(table: str) -> list[str]:
    heading = next(h for t, h, _ in TABLES if t == table)
    return [f'<a id="{table}"></a>', "", f"## {heading}", ""]


def _intro() -> list[str]:
    out = [
        "# Config reference",
        "",
        f"<!-- Generated by `{COMMAND}` from the declarations in the code (experiments/"
        "docs.py says where each part comes from). Do not edit: tests/test_docs.py fails "
        "when this file is out of date. -->",
        "",
        "An experiment config is a TOML file: `python -m experiments run FILE` runs it. "
        "These are its tables. Every value is checked when the config is read: an unknown "
        "key or a value out of range stops the command with one line naming the key. "
        "The levers, macro series and metrics below are declared once in the code "
        "(`lever(...)` fields of `RiskPolicy` and `PopulationParams`, `model.macro.SERIES`, "
        "`model.metrics.METRICS`); this page is generated from those declarations.",
        "",
    ]
    out += _table(("Table", "What it holds"), [(f"[`{h}`](#{t})", w) for t, h, w in TABLES])
    return out + [
        "Further down: [monthly metrics](#monthly-metrics), [per-run summary metrics]"
        "(#per-run-summary-metrics), [macro series](#macro-series).",
        "",
        "Units: a *share* is a fraction (0.45 = 45%, shown as % in charts), an *annual rate* "
        "likewise (0.10 = 10% a year); money is in currency units a month at month-0 prices.",
        "",
    ]


def _experiment(docs: Mapping[str, Any]) -> list[str]:
    from experiments.config import ExperimentConfig

    defaults = {f.name: f.default for f in dataclasses.fields(ExperimentConfig)}
    out = _heading("experiment") + ["Required. What to simulate.", ""]
    out += _table(_KEY_HEADER, _key_rows(docs["experiment"], defaults))
    return out + _example("experiment")


def _scenario(docs: Mapping[str, Any]) -> list[str]:
    from model import MacroScenario
    from model.macro import PATH, SERIES, ScenarioParams, StochasticParams

    out = _heading("scenario") + [
        "One table per scenario; none = the baseline. A scenario is a preset (scaled by "
        "`severity`) or a custom path: one key per macro series, a list of `[month, value]` "
        "knots interpolated linearly (flat before the first knot and after the last); "
        "series not given keep the baseline.",
        "",
    ]
    (severity,) = ScenarioParams.describe()
    rows = _key_rows(docs["scenario"], {})
    rows.append(
        [
            "`severity`",
            "number",
            severity["allowed"],
            _literal(severity["default"]),
            f"{severity['label']} ({severity['unit']}): {severity['description']}",
        ]
    )
    rows += [
        [
            f"`{s.name}`",
            "array of [month, value] pairs",
            f"months >= 0, increasing; values in [{s.low:g}, {s.high:g}]",
            f"[[0, {s.baseline:g}]] (baseline)",
            f"{s.label} ({s.unit}): {s.description}",
        ]
        for s in SERIES
        if s.kind == PATH
    ]
    out += _table(_KEY_HEADER, rows)
    out += ["Keys of `stochastic` for the generator (`model.macro.StochasticParams`):", ""]
    out += _table(_LEVER_HEADER, _lever_rows(StochasticParams.describe()))
    out += ["Scenario presets:", ""]
    out += _table(
        ("Preset", "Path"),
        [(f"`{n}`", MacroScenario.DESCRIPTIONS.get(n, "")) for n in MacroScenario.names()],
    )
    return out + _example("scenario")


def _policy(docs: Mapping[str, Any]) -> list[str]:
    from model import RiskPolicy

    out = _heading("policy") + [
        "One table per policy; none = one `balanced` lender. A preset, with any lever "
        "overridden; `lenders` makes a market of competing lenders with this policy. "
        "A market rule (see [`[[market]]`](#market)) may be set here too.",
        "",
    ]
    out += _table(_KEY_HEADER, _key_rows(docs["policy"], {}))
    out += ["Presets (levers they set; the others keep the defaults below):", ""]
    out += _table(
        ("Preset", "In short", "Levers"),
        [
            (
                f"`{name}`",
                RiskPolicy.DESCRIPTIONS.get(name, ""),
                ", ".join(f"`{k}` = {_literal(v)}" for k, v in RiskPolicy.PRESETS[name].items())
                or "the defaults",
            )
            for name in RiskPolicy.names()
        ],
    )
    out += ["Levers, by group (`RiskPolicy.describe()`):", ""]
    out += _levers_by_group(RiskPolicy, skip=("name",)) + _fitted_note(RiskPolicy)
    return out + _example("policy")


def _market(docs: Mapping[str, Any]) -> list[str]:
    from model.market import MarketRules

    out = _heading("market") + [
        "One table per market of named lenders, each with its own policy (runs of a market "
        "are named by the market in the `policy` column; every run also writes each "
        "lender's monthly metrics to `lender_timeseries.parquet`). Besides `name` and "
        "`lenders`, a market table may set any policy lever (see [`[[policy]]`](#policy)) "
        "for all its lenders (a lender's own value wins) and any market rule below. "
        "Paired comparisons across markets need the same number of lenders.",
        "",
    ]
    out += _table(_KEY_HEADER, _key_rows(docs["market"], {}))
    out += ["Market rules, by group (`MarketRules.describe()`):", ""]
    out += _levers_by_group(MarketRules) + _fitted_note(MarketRules)
    return out + _example("market")


def _population(docs: Mapping[str, Any]) -> list[str]:
    from model import PopulationParams

    out = _heading("population") + [
        "The borrower population, shared by every run. Per-segment parameters are arrays "
        "in the order salaried, self-employed, young.",
        "",
        "Parameters, by group (`PopulationParams.describe()`):",
        "",
    ]
    out += _levers_by_group(PopulationParams) + _fitted_note(PopulationParams)
    return out + _example("population")


def _sweep(docs: Mapping[str, Any]) -> list[str]:
    from model.macro import ScenarioParams

    out = _heading("sweep") + [
        'A grid: `"<group>.<lever>" = [values]`, quoted, one key per swept lever; every '
        "combination runs (with every scenario, policy and replication). The levers are "
        "those of `[[policy]]` (`policy.<lever>`, applied to every lender of every policy "
        "and market), the market rules (`market.<rule>`), one named lender's policy lever "
        "(`market.<lender>.<lever>`: every policy and market must have that lender), of "
        "`[population]` (`population.<lever>`) and of the scenario (`scenario.<lever>`, "
        "below); numbers and "
        "switches, not arrays. Values are distinct and checked as the lever's own. "
        "`[sweep]` and `[sample]` cannot be combined.",
        "",
        "Scenario levers (`ScenarioParams.describe()`):",
        "",
    ]
    out += _table(_LEVER_HEADER, _lever_rows(ScenarioParams.describe(), "scenario."))
    return out + _example("sweep")


def _sample(docs: Mapping[str, Any]) -> list[str]:
    from experiments import designs

    out = _heading("sample") + ["A sampled design over lever ranges (instead of `[sweep]`).", ""]
    rows = _key_rows(docs["sample"], {})
    for name, module in designs.METHODS.items():
        for option, spec in module.OPTIONS.items():
            help_ = spec.help[:1].upper() + spec.help[1:]
            rows.append(
                [
                    f"`{option}`",
                    "integer",
                    f"in [{spec.low}, {spec.high}]",
                    str(spec.default),
                    f"{help_} ({name} only).",
                ]
            )
    out += _table(_KEY_HEADER, rows)
    out += ["Methods (`experiments.designs`):", ""]
    out += _table(
        ("Method", "Design", "Sensitivity indices"),
        [
            (f"`{name}`", module.DESCRIPTION, "yes" if module.analyse is not None else "no")
            for name, module in designs.METHODS.items()
        ],
    )
    return out + _example("sample")


def _chart(docs: Mapping[str, Any]) -> list[str]:
    from experiments import charts, config

    out = _heading("chart") + [
        "One table per figure; none = the standard set (overdue and NPL rates and "
        "cumulative loss over time, the loss-approval frontier, DPD composition, vintages, "
        "roll rates, the loss rate against each swept parameter, and with markets of "
        "several lenders each lender's overdue rate, capital and funding line and the "
        "market shares).",
        "",
    ]
    out += _table(_KEY_HEADER, _key_rows(docs["chart"], {}))
    out += ["Kinds:", ""]
    out += _table(
        ("Kind", "Draws"),
        [(f"`{k}`", _first_line(inspect.getdoc(charts.DRAWERS[k]))) for k in config.CHART_KINDS],
    )
    return out + _example("chart")


def _metrics(docs: Mapping[str, Any]) -> list[str]:
    from experiments import derived

    functions = ", ".join(f"`{f}()`" for f in derived.FUNCTIONS)
    out = _heading("metrics") + [
        'Derived per-run metrics: `name = "expression"`, or `name = { expr = "...", unit = '
        '"...", label = "..." }`. An expression uses numbers, metric names, `+ - * /`, '
        f"parentheses and {functions}; a division by zero gives NaN. Its names are the "
        "per-run summary metrics, every monthly metric (aggregated over the run's months as "
        "the registry says: flows summed, stocks at the last month, rates averaged) and "
        "derived metrics declared above it. A name must be new: lower-case letters, digits "
        "and `_`.",
        "",
    ]
    out += _table(_KEY_HEADER, _key_rows(docs["metrics"], {}))
    return out + _example("metrics")


def _style(docs: Mapping[str, Any]) -> list[str]:
    from experiments import style

    out = _heading("style") + [
        '`"rcParam" = value` for any matplotlib rcParam (quoted), applied over the '
        "`[experiment] style` preset. Figures start from matplotlib's defaults, not the "
        "user's matplotlibrc. Presets: " + ", ".join(f"`{p}`" for p in style.PRESETS) + ".",
        "",
        "Set by the charts themselves (a config may not change them):",
        "",
    ]
    out += _table(("rcParam", "Why"), [(f"`{k}`", v) for k, v in style.REFUSED.items()])
    return out + _example("style")


def _calibration(docs: Mapping[str, Any]) -> list[str]:
    out = _heading("calibration") + [
        "Read by `python -m experiments calibrate CONFIG` only (other commands ignore it): "
        "targets, and the levers fitted to them by the method of simulated moments over the "
        "config's runs (docs/calibration.md).",
        "",
    ]
    for name in ("calibration", "calibration.target", "calibration.parameter"):
        title = f"`[{name}]`" if name == "calibration" else f"`[[{name}]]`"
        out += [f"{title}:", ""] + _table(_KEY_HEADER, _key_rows(docs[name], {}))
    return out + _example("calibration")


def _reverse_stress(docs: Mapping[str, Any]) -> list[str]:
    out = _heading("reverse_stress") + [
        "Read by `python -m experiments reverse-stress CONFIG` only (other commands ignore "
        "it): for each policy (and duration), the mildest scenario of a family that breaks a "
        "condition, found by bisection over paired replications (experiments/"
        "reverse_stress.py). Results: reverse_stress.csv, .md and a chart in "
        "results/<name>/.",
        "",
    ]
    out += _table(_KEY_HEADER, _key_rows(docs["reverse_stress"], {}))
    return out + _example("reverse_stress")


def _metric_tables() -> list[str]:
    from experiments.labels import METRIC_NAMES
    from experiments.summaries import SUMMARIES
    from model.metrics import METRICS

    out = [
        "## Monthly metrics",
        "",
        "One row per month of each run in `timeseries.parquet` (`model.metrics.METRICS`), "
        "in column order. *Lenders*: how a market's value comes from its lenders' (summed, "
        "averaged, a ratio of sums, or the economy's own); *months*: how a run's months "
        "aggregate (flows summed, stocks at the last month, rates averaged). Contract "
        "columns (DESIGN.md) are marked ✓.",
        "",
    ]
    out += _table(
        ("Metric", "Label", "Unit", "Lenders", "Months", "Contract", "Meaning"),
        [
            (
                f"`{m.name}`",
                METRIC_NAMES[m.name],
                m.unit,
                m.lenders,
                m.months,
                "✓" if m.contract else "",
                m.description,
            )
            for m in METRICS.values()
        ],
    )
    out += [
        "## Per-run summary metrics",
        "",
        "One row per run in `summary.parquet` (`experiments.analysis.SUMMARIES`); "
        "compared, charted and calibrated against.",
        "",
    ]
    out += _table(
        ("Metric", "Label", "Unit", "Meaning"),
        [(f"`{m.name}`", METRIC_NAMES[m.name], m.unit, m.description) for m in SUMMARIES.values()],
    )
    return out


def _series_table() -> list[str]:
    from model.macro import INDEX, PATH, SERIES

    out = [
        "## Macro series",
        "",
        "The series of a scenario (`model.macro.SERIES`). Paths are given month by month "
        "(knots in `[[scenario]]`); indices are compounded from a path, 1.0 at month 0. "
        "*Recorded as*: the monthly metric holding the month's value.",
        "",
    ]
    return out + _table(
        ("Series", "Label", "Kind", "Unit", "Range", "Baseline", "Recorded as", "Meaning"),
        [
            (
                f"`{s.name}`",
                s.label,
                s.kind if s.kind == PATH else f"{INDEX} of `{s.source}`",
                s.unit,
                f"[{s.low:g}, {s.high:g}]" if s.kind == PATH else "",
                f"{s.baseline:g}" if s.baseline is not None else "",
                f"`{s.column}`" if s.column else "",
                s.description,
            )
            for s in SERIES
        ],
    )


#: The sections of each table, in :data:`TABLES` order.
_SECTIONS = (
    _experiment,
    _scenario,
    _policy,
    _market,
    _population,
    _sweep,
    _sample,
    _chart,
    _metrics,
    _style,
    _calibration,
    _reverse_stress,
)


def configs_markdown() -> str:
    """The text of ``docs/configs.md``, made from the declarations in the code.

    Raises:
        StaleSchemaError: If a table's documented keys differ from those its parser accepts.
        experiments.config.ConfigError: If an example config does not parse.
    """
    docs = key_docs()
    _check_schema(docs)
    check_examples()
    out = _intro()
    for section in _SECTIONS:
        out += section(docs)
    out += _metric_tables() + _series_table()
    return "\n".join(out).rstrip("\n") + "\n"


def _fitted_note(cls: type) -> list[str]:
    if not cls.FITTED:
        return []
    names = ", ".join(f"`{n}`" for n in cls.FITTED)
    return [
        f"(fitted): the default was fitted by `python -m experiments calibrate` "
        f"({names}; model/calibrated.py, record in docs/calibration.md).",
        "",
    ]


def write_configs_md(path: str | Path) -> Path:
    """Write the reference to ``path`` (``docs/configs.md``); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(configs_markdown(), encoding="utf-8")
    return path


def is_current(path: str | Path) -> bool:
    """Whether the file at ``path`` is what :func:`configs_markdown` makes now."""
    path = Path(path)
    return path.is_file() and path.read_text(encoding="utf-8") == configs_markdown()
