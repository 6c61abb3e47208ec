"""The name table: readable labels, with units, for every name a chart or table shows.

Every name is declared once, with its label, elsewhere; this module reads those
declarations. Monthly metrics take their short name and unit from the metric registry
(``Metric.label`` and ``Metric.unit`` of ``model.metrics.METRICS``; their own name,
spaced, when they have no label), per-run summaries their unit from
:data:`experiments.analysis.SUMMARIES` and their short name from :data:`SUMMARY_NAMES`.
Swept parameters (dotted lever names such as ``policy.max_dti``) take label and unit
from their lever's declaration (``RiskPolicy.describe()``, ``PopulationParams.describe()``,
``ScenarioParams.describe()``), gathered in :data:`PARAMETERS`. Scenario and policy
names are the config's, spaced and capitalised when they are plain identifiers
(``severe_recession`` -> ``Severe recession``).

Labels are plain text: charts draw them with mathtext switched off, and
:func:`latex_escape` makes them safe for a LaTeX table, so a ``$`` in a name is a
dollar sign everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import NamedTuple

from experiments.config import LEVER_CLASSES, lever_fields
from experiments.summaries import LENDER_SUMMARIES as SUMMARIES  # a run's and a lender's
from model.metrics import METRICS

#: How each unit is written after a label, e.g. ``Overdue rate (%)``; None: nothing.
UNIT_TEXT: dict[str, str | None] = {
    "share": "%",
    "currency": "currency units",
    "count": None,
    "month": "month",
    "months": "months",
    "days": "days past due",
    "points": "score points",
    "index": None,
    "bool": None,
}

#: Short names of the per-run summary metrics (``experiments.analysis.SUMMARIES``) whose
#: spaced name would be unclear.
SUMMARY_NAMES: dict[str, str] = {
    "mean_overdue_rate": "Mean overdue rate (1+ DPD)",
    "peak_overdue_rate": "Peak overdue rate (1+ DPD)",
    "peak_overdue_month": "Month of peak overdue rate",
    "peak_npl_rate": "Peak NPL rate (91+ DPD)",
    "bad_debt_loss": "Bad-debt loss",
    "bad_debt_loss_rate": "Bad-debt loss rate (of lending)",
    "total_originations": "Total lending",
    "failed_lenders": "Failed lenders",
    "failure_month": "Month of failure",
    "final_balance_share": "Market share at the end (balance)",
}


#: Words of an identifier written in capitals when it is spaced (``p2p_thin`` -> ``P2P thin``).
ACRONYMS = frozenset({"p2p", "apr", "us", "eu", "uk", "gdp", "cpi", "dti", "lti", "npl", "dpd"})


def _spaced(name: str) -> str:
    words = [w.upper() if w in ACRONYMS else w for w in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


#: Short names of metrics: the monthly registry's labels (or spaced names), then the
#: summaries' (a summary named as a monthly metric, ``profit``, keeps the monthly name).
METRIC_NAMES: dict[str, str] = {
    **{name: SUMMARY_NAMES.get(name, _spaced(name)) for name in SUMMARIES},
    **{name: metric.label or _spaced(name) for name, metric in METRICS.items()},
}


class ParameterName(NamedTuple):
    """How a swept lever is named: from its declaration (``lever(label=..., unit=...)``)."""

    #: Short name, without the unit (``Max. debt-to-income``).
    label: str
    #: How values are shown (``model.params.unit_kind``): ``share``, ``points``, ...
    kind: str | None
    #: The unit in words (``share of income``).
    unit: str


def _parameters() -> dict[str, ParameterName]:
    levers = lever_fields()
    return {
        f"{group}.{d['name']}": ParameterName(
            d["label"] or _spaced(d["name"]), d["kind"], d["unit"]
        )
        for group, cls in LEVER_CLASSES.items()
        for d in cls.describe()
        if d["name"] in levers[group]
    }


#: Every lever a sweep may vary (dotted name), with its short name and unit.
PARAMETERS: dict[str, ParameterName] = _parameters()

#: Identifier columns of the results tables.
IDENTIFIERS: dict[str, str] = {
    "scenario": "Scenario",
    "policy": "Policy",
    "lender": "Lender",
    "point": "Sweep point",
    "replication": "Replication",
    "metric": "Metric",
}

_PLAIN = re.compile(r"^[a-z][a-z0-9_]*$")


def with_unit(text: str, unit: str | None) -> str:
    """``text`` followed by the unit in brackets (nothing for counts and plain numbers)."""
    suffix = UNIT_TEXT.get(unit, unit) if unit is not None else None
    if not suffix:
        return text
    if text.endswith(")"):  # "Overdue rate (1+ DPD)" -> "Overdue rate (1+ DPD, %)"
        return f"{text[:-1]}, {suffix})"
    return f"{text} ({suffix})"


class NameTable:
    """Labels and units of metrics, derived metrics and swept parameters.

    Args:
        derived: Derived metrics of a config (``experiments.derived.DerivedMetric``),
            each with its unit and optional label.
    """

    def __init__(self, derived: Iterable[object] = ()) -> None:
        self.derived = {d.name: d for d in derived}

    def unit(self, name: str) -> str | None:
        """Unit of a metric or parameter (see :data:`UNIT_TEXT`), None when it has none."""
        if name in self.derived:
            return self.derived[name].unit
        if name in SUMMARIES:
            return SUMMARIES[name].unit
        if name in METRICS:
            return METRICS[name].unit
        if name in PARAMETERS:
            return PARAMETERS[name].kind
        return None

    def name(self, name: str) -> str:
        """Short readable name, without unit (``policy.max_dti`` -> ``Max. debt-to-income``)."""
        if name in self.derived:
            return self.derived[name].label or _spaced(name)
        if name in METRIC_NAMES:
            return METRIC_NAMES[name]
        if name in PARAMETERS:
            return PARAMETERS[name].label
        if name in IDENTIFIERS:
            return IDENTIFIERS[name]
        return _spaced(name.rpartition(".")[2])

    def label(self, name: str) -> str:
        """Axis label: the short name with its unit (``Score cut-off (score points)``).

        A lever's unit is written as declared (``Max. loan-to-income (months of
        income)``), but shares (``%``), switches and text (nothing).
        """
        unit = self.unit(name)
        if name in PARAMETERS and name not in self.derived and unit not in ("share", "bool"):
            return with_unit(self.name(name), PARAMETERS[name].unit if unit != "text" else None)
        return with_unit(self.name(name), unit if unit != "bool" else None)

    def value(self, name: str, value: object) -> str:
        """A parameter value as text (``on``/``off`` for switches, ``45%`` for shares)."""
        unit = self.unit(name)
        if isinstance(value, bool) or unit == "bool":
            return "on" if bool(value) else "off"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                return "n/a"
            if unit == "share":
                return f"{100 * value:.3g}%"
            return f"{value:.4g}"
        return str(value)

    def point(self, params: Iterable[str], values: Iterable[object]) -> str:
        """A sweep point as text: ``Score cut-off = 600, Max. debt-to-income = 45%``."""
        return ", ".join(
            f"{self.name(p)} = {self.value(p, v)}" for p, v in zip(params, values, strict=True)
        )


def display_names(names: Iterable[str]) -> dict[str, str]:
    """Readable forms of scenario or policy names, kept distinct.

    A plain identifier (lower-case letters, digits, ``_``) is spaced and capitalised
    (``severe_recession`` -> ``Severe recession``); any other name is kept as written.
    If two names would read the same, all keep their own spelling.
    """
    names = list(dict.fromkeys(names))
    shown = {n: _spaced(n) if _PLAIN.match(n) else n for n in names}
    if len(set(shown.values())) < len(shown):
        return {n: n for n in names}
    return shown


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (it typesets as written)."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def format_value(value: float, unit: str | None, diff: bool = False) -> str:
    """A number for a table: shares as % (differences in percentage points), money with commas.

    Args:
        value: The number (NaN gives ``n/a``).
        unit: Its unit (see :data:`UNIT_TEXT`).
        diff: Whether it is a difference (signed; shares in ``pp``).
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "+" if diff else ""
    if unit == "share":
        return f"{100 * value:{sign}.2f} pp" if diff else f"{100 * value:.2f}%"
    if unit in ("currency", "count"):
        return f"{value:{sign},.0f}" if abs(value) >= 100 else f"{value:{sign}.3g}"
    if unit in ("month", "months"):
        return f"{value:{sign}.1f}"
    return f"{value:{sign}.4g}"
