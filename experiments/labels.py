"""The name table: readable labels, with units, for every name a chart or table shows.

Metrics take their unit from the registries (``model.metrics.METRICS`` for monthly
metrics, :data:`experiments.analysis.SUMMARIES` for per-run ones) and a short name from
:data:`METRIC_NAMES` (or their own name, spaced, when the table has none). Swept
parameters (dotted lever names such as ``policy.max_dti``) take theirs from
:data:`PARAMETERS`. Scenario and policy names are the config's, spaced and capitalised
when they are plain identifiers (``severe_recession`` -> ``Severe recession``).

Labels are plain text: charts draw them with mathtext switched off, and
:func:`latex_escape` makes them safe for a LaTeX table, so a ``$`` in a name is a
dollar sign everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from experiments.analysis import SUMMARIES
from model.metrics import METRICS

#: How each unit is written after a label, e.g. ``Overdue rate (%)``; None: nothing.
UNIT_TEXT: dict[str, str | None] = {
    "share": "%",
    "currency": "currency units",
    "count": None,
    "month": "month",
    "months": "months",
    "points": "score points",
    "index": None,
    "bool": None,
}

#: Short names of metrics whose spaced name would be unclear (abbreviations, DPD bands).
METRIC_NAMES: dict[str, str] = {
    "unemployment_rate": "Unemployment rate",
    "scenario_unemployment": "Scenario unemployment rate",
    "overdue_rate": "Overdue rate (1+ DPD)",
    "overdue_rate_30": "Overdue rate (31+ DPD)",
    "npl_rate": "NPL rate (91+ DPD)",
    "overdue_balance_rate": "Overdue balance share (1+ DPD)",
    "overdue_balance": "Overdue balance (1+ DPD)",
    "writeoffs": "Write-offs",
    "net_loss": "Net loss",
    "cum_net_loss": "Cumulative net loss",
    "relief_granted": "Loans granted relief",
    "cutoff": "Score cut-off in force",
    "provision_charge": "Provision charge",
    "applications_to_repay": "Applications to repay another lender",
    "approvals_to_repay": "Approvals to repay another lender",
    "share_current": "Share current",
    "share_1_30": "Share 1-30 DPD",
    "share_31_60": "Share 31-60 DPD",
    "share_61_90": "Share 61-90 DPD",
    "share_90_plus": "Share 91+ DPD",
    "loans_current": "Loans current",
    "loans_1_30": "Loans 1-30 DPD",
    "loans_31_60": "Loans 31-60 DPD",
    "loans_61_90": "Loans 61-90 DPD",
    "overdue_loans": "Overdue loans (1+ DPD)",
    "overdue_loans_30": "Overdue loans (31+ DPD)",
    "npl_loans": "Non-performing loans (91+ DPD)",
    # per-run summaries
    "mean_overdue_rate": "Mean overdue rate (1+ DPD)",
    "peak_overdue_rate": "Peak overdue rate (1+ DPD)",
    "peak_overdue_month": "Month of peak overdue rate",
    "peak_npl_rate": "Peak NPL rate (91+ DPD)",
    "bad_debt_loss": "Bad-debt loss",
    "bad_debt_loss_rate": "Bad-debt loss rate (of lending)",
    "total_originations": "Total lending",
    "approval_rate": "Approval rate",
    "profit": "Profit",
}

#: Swept parameters: (short name, unit) of every lever a sweep may vary.
PARAMETERS: dict[str, tuple[str, str | None]] = {
    "scenario.severity": ("Shock severity", None),
    "policy.score_cutoff": ("Score cut-off", "points"),
    "policy.score_noise": ("Score noise", None),
    "policy.max_dti": ("Max. debt-to-income", "share"),
    "policy.max_loan_to_income": ("Max. loan-to-income", "months"),
    "policy.term_months": ("Loan term", "months"),
    "policy.base_margin": ("Base margin (annual)", "share"),
    "policy.tier_spread": ("Tier spread (annual)", "share"),
    "policy.late_fee": ("Late fee (of instalment)", "share"),
    "policy.penalty_rate": ("Penalty interest (annual)", "share"),
    "policy.writeoff_dpd": ("Write-off at", "days past due"),
    "policy.collection_intensity": ("Collection intensity", None),
    "policy.relief_enabled": ("Repayment relief", "bool"),
    "policy.relief_extension_months": ("Relief term extension", "months"),
    "policy.relief_rate_cut": ("Relief rate cut", "share"),
    "policy.relief_waiver": ("Relief arrears waiver", "share"),
    "policy.dynamic_target": ("Tightening trigger (new-delinquency flow)", "share"),
    "policy.dynamic_step": ("Tightening step", "points"),
    "policy.dynamic_max_tightening": ("Max. tightening", "points"),
    "policy.funding_limit_per_borrower": ("Funding line per borrower", "currency"),
    "policy.funding_spread": ("Funding spread (annual)", "share"),
    "policy.capital_ratio": ("Initial capital ratio", "share"),
    "policy.sees_other_loans": ("Shared credit bureau", "bool"),
    "policy.acquisition_cost": ("Acquisition cost per loan", "currency"),
    "policy.servicing_cost": ("Servicing cost per loan-month", "currency"),
    "population.income_dispersion": ("Income dispersion (log s.d.)", None),
    "population.income_common_share": ("Common share of income shocks", "share"),
    "population.job_finding_rate": ("Job-finding rate (monthly)", "share"),
    "population.replacement_ratio": ("Benefit replacement ratio", "share"),
    "population.benefit_months": ("Benefit duration", "months"),
    "population.assistance_ratio": ("Assistance ratio", "share"),
    "population.illness_rate": ("Illness rate (monthly)", "share"),
    "population.illness_months": ("Illness duration", "months"),
    "population.illness_income_loss": ("Income lost while ill", "share"),
    "population.illness_cost": ("Medical cost (months of income)", "months"),
    "population.essentials_share": ("Essentials share of income", "share"),
    "population.essentials_spread": ("Essentials spread", "share"),
    "population.discretionary_share": ("Discretionary share of income", "share"),
    "population.income_smoothing": ("Income smoothing weight", None),
    "population.habit_adjustment": ("Habit adjustment speed", None),
    "population.habit_protected": ("Protected share of habit", "share"),
    "population.overspender_extra": ("Over-spenders' extra share", "share"),
    "population.savings_months": ("Savings buffer", "months"),
    "population.savings_spread": ("Savings buffer spread (log s.d.)", None),
    "population.savings_spend_down": ("Savings spend-down (monthly)", "share"),
    "population.low_willingness_share": ("Share unwilling to pay", "share"),
    "population.low_willingness": ("Payment probability if unwilling", "share"),
    "population.oversight_rate": ("Forgotten payments (monthly)", "share"),
    "population.misreport_share": ("Share misreporting income", "share"),
    "population.misreport_factor": ("Income overstatement", "share"),
    "population.apply_rate": ("Application rate (monthly)", "share"),
    "population.distress_apply_multiplier": ("Application multiplier in distress", None),
    "population.reborrow_probability": ("Re-borrowing probability", "share"),
    "population.loan_need_months": ("Loan wanted (months of income)", "months"),
    "population.loan_need_dispersion": ("Loan wanted dispersion (log s.d.)", None),
    "population.borrow_to_repay": ("Borrowing to repay", "bool"),
}

#: Identifier columns of the results tables.
IDENTIFIERS: dict[str, str] = {
    "scenario": "Scenario",
    "policy": "Policy",
    "point": "Sweep point",
    "replication": "Replication",
    "metric": "Metric",
}

_PLAIN = re.compile(r"^[a-z][a-z0-9_]*$")


def _spaced(name: str) -> str:
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


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
            return PARAMETERS[name][1]
        return None

    def name(self, name: str) -> str:
        """Short readable name, without unit (``policy.max_dti`` -> ``Max. debt-to-income``)."""
        if name in self.derived:
            return self.derived[name].label or _spaced(name)
        if name in METRIC_NAMES:
            return METRIC_NAMES[name]
        if name in PARAMETERS:
            return PARAMETERS[name][0]
        if name in IDENTIFIERS:
            return IDENTIFIERS[name]
        return _spaced(name.rpartition(".")[2])

    def label(self, name: str) -> str:
        """Axis label: the short name with its unit (``Score cut-off (score points)``)."""
        unit = self.unit(name)
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
