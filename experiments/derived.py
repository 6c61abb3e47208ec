"""Derived metrics: per-run metrics declared in a config as arithmetic over other metrics.

A config's ``[metrics]`` table names them::

    [metrics]
    loss_per_approval = "bad_debt_loss / approvals"
    net_margin = { expr = "profit / total_originations", unit = "share", label = "Net margin" }

An expression is read with Python's :mod:`ast` and only these nodes are accepted:
numbers, names, ``+ - * /``, unary ``-`` and ``+``, parentheses, and the calls
``min(a, b, ...)``, ``max(a, b, ...)`` and ``abs(a)``. Nothing is evaluated by Python;
the tree is walked over numpy arrays. A division by zero gives NaN.

Names an expression may use, each one value per run:

- the summary metrics of ``summary.parquet`` (:data:`experiments.analysis.SUMMARIES`);
- every monthly metric of ``model.metrics.METRICS`` (but ``month``), aggregated over
  the run's months as the registry declares: flows summed (``approvals``, ``writeoffs``,
  ``collection_cost``: totals over the run), stocks and running totals at the last month
  (``balance``, ``capital``, ``cum_net_loss``), rates averaged (``overdue_rate``). Where
  a summary metric has the same name (``approval_rate``, ``profit``) the summary wins;
- derived metrics declared earlier in the same table.

Derived metrics are computed when charts and comparisons are made, from the stored
tables, so they never change the simulation or the stored results.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from experiments.errors import ConfigError
from experiments.summaries import SUMMARIES
from model.metrics import METRICS, UNITS

#: Functions an expression may call, with their least and most arguments.
FUNCTIONS = {"min": (2, None), "max": (2, None), "abs": (1, 1)}
#: Longest expression accepted (characters).
MAX_LENGTH = 500
#: Names a derived metric may not take (identifier columns of the tables).
RESERVED = ("run_id", "scenario", "policy", "replication", "seed", "month", "point")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_ALLOWED = "numbers, metric names, + - * /, parentheses, min(), max(), abs()"


def monthly_names() -> dict[str, str]:
    """Monthly metrics an expression may use, with how each aggregates over a run."""
    return {n: m.months for n, m in METRICS.items() if n != "month" and n not in SUMMARIES}


def base_names() -> list[str]:
    """Every name an expression may use, but earlier derived metrics."""
    return [*SUMMARIES, *monthly_names()]


def _base_unit(name: str) -> str | None:
    if name in SUMMARIES:
        return SUMMARIES[name].unit
    return METRICS[name].unit


@dataclass(frozen=True)
class DerivedMetric:
    """One derived metric of a ``[metrics]`` table.

    Attributes:
        name: Its name (a lower-case identifier).
        expr: The expression, as written.
        unit: Its unit (one of ``model.metrics.UNITS``), given or inferred (None: a ratio
            of different units, shown without unit).
        label: Readable name for charts and tables (None: the spaced name).
        names: Metric names the expression reads, in order of first use.
    """

    name: str
    expr: str
    unit: str | None = None
    label: str | None = None
    names: tuple[str, ...] = ()
    tree: ast.Expression | None = field(default=None, compare=False, repr=False)
    unit_given: bool = field(default=False, compare=False, repr=False)

    def to_config(self) -> str | dict[str, str]:
        """The entry of a ``[metrics]`` table that declares this metric."""
        if self.label is None and not self.unit_given:
            return self.expr
        out = {"expr": self.expr}
        if self.unit_given and self.unit is not None:
            out["unit"] = self.unit
        if self.label is not None:
            out["label"] = self.label
        return out


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


def _check_tree(node: ast.AST, where: str, known: Sequence[str], used: list[str]) -> None:
    """Raise ConfigError unless ``node`` is made of allowed nodes and known names."""
    if isinstance(node, ast.Expression):
        _check_tree(node.body, where, known, used)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _fail(where, f"{node.value!r} is not allowed; use {_ALLOWED}")
    elif isinstance(node, ast.Name):
        if node.id not in known:
            close = difflib.get_close_matches(node.id, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _fail(where, f"unknown name '{node.id}'{hint}; allowed: {', '.join(known)}")
        if node.id not in used:
            used.append(node.id)
    elif isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        _check_tree(node.left, where, known, used)
        _check_tree(node.right, where, known, used)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check_tree(node.operand, where, known, used)
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS or node.keywords:
            shown = ast.unparse(node.func)
            raise _fail(where, f"'{shown}(...)' is not allowed; use {_ALLOWED}")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise _fail(where, f"'*' arguments are not allowed; use {_ALLOWED}")
        low, high = FUNCTIONS[name]
        if len(node.args) < low or (high is not None and len(node.args) > high):
            wanted = f"{low} argument{'s' if low > 1 else ''}"
            wanted = wanted if low == high else f"at least {wanted}"
            raise _fail(where, f"{name}() takes {wanted}, got {len(node.args)}")
        for arg in node.args:
            _check_tree(arg, where, known, used)
    else:
        text = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
        raise _fail(where, f"'{text}' is not allowed; use {_ALLOWED}")


def _infer_unit(node: ast.AST, units: Mapping[str, str | None]) -> str | None:
    """The unit of an expression when it is clear, else None.

    Sums and differences of one unit keep it, and so does scaling by a number (or a
    min/max of one unit); anything else (a product or quotient of two metrics) has no
    unit unless the config gives one (``unit = "share"`` for a ratio of amounts).
    """
    if isinstance(node, ast.Expression):
        return _infer_unit(node.body, units)
    if isinstance(node, ast.Name):
        return units[node.id]
    if isinstance(node, ast.Constant):
        return "number"
    if isinstance(node, ast.UnaryOp):
        return _infer_unit(node.operand, units)
    if isinstance(node, ast.Call):
        found = {_infer_unit(a, units) for a in node.args} - {"number"}
        return found.pop() if len(found) == 1 else (None if found else "number")
    if isinstance(node, ast.BinOp):
        left, right = _infer_unit(node.left, units), _infer_unit(node.right, units)
        if isinstance(node.op, ast.Add | ast.Sub):
            if left == right or "number" in (left, right):
                return right if left == "number" else left
            return None
        if isinstance(node.op, ast.Mult):
            if "number" in (left, right):
                return right if left == "number" else left
            return None
        if right == "number":
            return left
        return None
    return None


def parse_metrics(
    table: Mapping[str, Any], where: str = "config [metrics]"
) -> tuple[DerivedMetric, ...]:
    """Validate a ``[metrics]`` table into derived metrics, in declaration order.

    Raises:
        ConfigError: One line naming the metric and what is wrong (unknown name with
            the allowed names, an operation that is not allowed, a bad name or unit).
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f'{where} must be a table of name = "expression"')
    taken = set(base_names()) | set(RESERVED)
    known = base_names()
    units: dict[str, str | None] = {n: _base_unit(n) for n in known}
    out = []
    for name, entry in table.items():
        here = f"{where} '{name}'"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(
                f"{here}: a derived metric's name must be lower-case letters, digits and '_', "
                "starting with a letter"
            )
        if name in taken:
            raise ConfigError(f"{here}: the name is already a metric or column; choose another")
        expr, label, unit, unit_given = _entry_fields(here, entry)
        tree = _parse_expression(here, expr)
        used: list[str] = []
        try:
            _check_tree(tree, here, known, used)
            inferred = _infer_unit(tree, units)
        except RecursionError:
            raise ConfigError(f"{here}: expression nested too deeply") from None
        if not unit_given:
            unit = inferred if inferred in UNITS else None
        metric = DerivedMetric(name, expr, unit, label, tuple(used), tree, unit_given)
        out.append(metric)
        known = [*known, name]
        units[name] = unit
        taken.add(name)
    return tuple(out)


def _entry_fields(here: str, entry: Any) -> tuple[Any, str | None, str | None, bool]:
    """The fields of one ``[metrics]`` entry: a table of expr, unit, label, or an expression.

    Returns:
        ``(expr, label, unit, unit_given)``; ``expr`` is not checked yet.
    """
    if not isinstance(entry, Mapping):
        return entry, None, None, False
    extra = [k for k in entry if k not in ("expr", "unit", "label")]
    if extra:
        raise ConfigError(f"{here}: unknown key '{extra[0]}'; allowed: expr, unit, label")
    if "expr" not in entry:
        raise ConfigError(f'{here} needs expr = "..." (an expression over metrics)')
    expr, label = entry["expr"], entry.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise ConfigError(f"{here} label must be a non-empty string, got {label!r}")
    if "unit" not in entry:
        return expr, label, None, False
    unit = entry["unit"]
    if unit not in UNITS:
        raise ConfigError(f"{here} unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return expr, label, unit, True


def _parse_expression(here: str, expr: Any) -> ast.Expression:
    """Parse a derived metric's expression (its operations are checked by the caller)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"{here} must be an expression in a string, got {expr!r}")
    if len(expr) > MAX_LENGTH:
        raise ConfigError(f"{here}: expression longer than {MAX_LENGTH} characters")
    try:
        return ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ConfigError(f"{here}: not a valid expression: {expr!r}") from None


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    out = np.full(a.shape, np.nan)
    ok = b != 0
    np.divide(a, b, out=out, where=ok)
    return out


def _evaluate(node: ast.AST, values: Mapping[str, np.ndarray]) -> np.ndarray:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, values)
    if isinstance(node, ast.Constant):
        return np.asarray(float(node.value))
    if isinstance(node, ast.Name):
        return np.asarray(values[node.id], dtype=float)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return _div(left, right)
    if isinstance(node, ast.Call):
        args = [_evaluate(a, values) for a in node.args]
        if node.func.id == "abs":
            return np.abs(args[0])
        reduce = np.minimum if node.func.id == "min" else np.maximum
        out = args[0]
        for arg in args[1:]:
            out = reduce(out, arg)
        return out
    raise TypeError(f"unexpected node {type(node).__name__}")  # parse_metrics rejects it


def evaluate(metric: DerivedMetric, values: Mapping[str, Any]) -> np.ndarray:
    """Value of ``metric`` given arrays (or scalars) for each name it uses."""
    tree = metric.tree or ast.parse(metric.expr.strip(), mode="eval")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _evaluate(tree, values)


def monthly_needed(metrics: Iterable[DerivedMetric]) -> list[str]:
    """Monthly columns the derived metrics read (to load only those from timeseries)."""
    monthly = monthly_names()
    return list(dict.fromkeys(n for m in metrics for n in m.names if n in monthly))


def run_aggregates(timeseries: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Monthly metrics aggregated per run as the registry says (sum, last or mean).

    Args:
        timeseries: Rows of ``timeseries.parquet`` with ``run_id``, ``month`` and ``names``.
        names: Monthly metric names.

    Returns:
        One row per run (index ``run_id``), one column per name.
    """
    how = monthly_names()
    if not names:
        return pd.DataFrame(index=pd.Index(timeseries["run_id"].unique(), name="run_id"))
    grouped = timeseries.sort_values(["run_id", "month"], kind="stable").groupby(
        "run_id", sort=False
    )[list(names)]
    parts = {"sum": grouped.sum(), "last": grouped.last(), "mean": grouped.mean()}
    return pd.DataFrame({n: parts[how[n]][n] for n in names})


def add_derived(
    summary: pd.DataFrame,
    metrics: Sequence[DerivedMetric],
    timeseries: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``summary`` with one more column per derived metric.

    Args:
        summary: One row per run (``summary.parquet``).
        metrics: The config's derived metrics.
        timeseries: Monthly rows holding at least :func:`monthly_needed` columns (with
            ``run_id`` and ``month``); needed only if a metric reads a monthly metric.

    Returns:
        A copy of ``summary`` with the derived columns (NaN where a denominator is 0).
    """
    out = summary.copy()
    if not metrics:
        return out
    needed = monthly_needed(metrics)
    if needed:
        if timeseries is None:
            raise ValueError(f"derived metrics need the monthly columns {', '.join(needed)}")
        totals = run_aggregates(timeseries, needed)
        for name in needed:
            out[name] = out["run_id"].map(totals[name]).to_numpy(dtype=float)
    values = {c: out[c].to_numpy() for c in out.columns if c in SUMMARIES or c in needed}
    for metric in metrics:
        values[metric.name] = evaluate(metric, values) * np.ones(len(out))
        out[metric.name] = values[metric.name]
    return out.drop(columns=[n for n in needed if n not in summary.columns])
