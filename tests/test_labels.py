"""The name table: every metric and lever has a readable label with its unit."""

from __future__ import annotations

import re

import pytest

from experiments.config import LEVER_CLASSES, lever_fields, lever_kind
from experiments.labels import (
    METRIC_NAMES,
    PARAMETERS,
    SUMMARY_NAMES,
    NameTable,
    display_names,
    format_value,
    latex_escape,
    with_unit,
)
from experiments.summaries import LENDER_SUMMARIES, SUMMARIES
from model.metrics import METRICS

NAMES = NameTable()


def _levers() -> list[str]:
    """The levers a sweep may vary (numbers and switches)."""
    return [
        f"{group}.{name}"
        for group, names in lever_fields().items()
        for name in names
        if lever_kind(f"{group}.{name}") in ("int", "float", "bool", "float | None")
    ]


def _all_levers() -> list[str]:
    return [f"{group}.{name}" for group, names in lever_fields().items() for name in names]


def test_every_metric_and_lever_has_a_readable_label_with_its_unit():
    for name in [*METRICS, *SUMMARIES, *_levers()]:
        label = NAMES.label(name)
        assert not re.search(r"[a-z]_[a-z]|^(policy|scenario|population)\.", label), label
        assert label[0].isupper(), label
        if NAMES.unit(name) == "share":
            assert label.endswith("%)"), label
        if NAMES.unit(name) == "currency":  # metrics in currency units, levers per what
            assert re.search(r"[(,] ?currency (units|per|a)[^)]*\)$", label), label
    levers = [NAMES.name(lever) for lever in _all_levers()]
    assert len(set(levers)) == len(levers)  # no two levers read the same


def test_the_parameter_table_is_the_levers_declarations():
    assert list(PARAMETERS) == _all_levers()  # every lever, and nothing that is not one
    for group, cls in LEVER_CLASSES.items():
        for d in cls.describe():
            name = f"{group}.{d['name']}"
            if name in PARAMETERS:
                assert PARAMETERS[name] == (d["label"], d["kind"], d["unit"]), name
    assert NAMES.label("policy.max_dti") == "Max. debt-to-income (%)"
    assert NAMES.label("policy.score_cutoff") == "Score cut-off (score points)"
    assert NAMES.label("policy.max_loan_to_income") == "Max. loan-to-income (months of income)"
    assert NAMES.label("policy.writeoff_dpd") == "Write-off at (days past due)"
    assert NAMES.label("policy.relief_enabled") == "Repayment relief"
    assert NAMES.label("scenario.severity") == "Shock severity (multiple of the shock)"
    assert NAMES.label("overdue_rate") == "Overdue rate (1+ DPD, %)"


def test_metric_names_come_from_the_registries():
    assert set(METRIC_NAMES) == set(METRICS) | set(SUMMARIES) | set(LENDER_SUMMARIES)
    assert set(SUMMARY_NAMES) <= set(LENDER_SUMMARIES)  # only summaries (a run's, a lender's)
    for name, metric in METRICS.items():
        assert NAMES.name(name) == (metric.label or name.replace("_", " ").capitalize())
    assert NAMES.name("npl_rate") == METRICS["npl_rate"].label == "NPL rate (91+ DPD)"
    assert NAMES.name("bad_debt_loss_rate") == "Bad-debt loss rate (of lending)"


def test_values_and_points_are_written_for_readers():
    assert NAMES.value("policy.max_dti", 0.45) == "45%"
    assert NAMES.value("population.borrow_to_repay", True) == "on"
    assert NAMES.value("policy.score_cutoff", 600.0) == "600"
    assert (
        NAMES.point(["policy.score_cutoff", "policy.max_dti"], [600, 0.3])
        == "Score cut-off = 600, Max. debt-to-income = 30%"
    )


def test_display_names_space_identifiers_and_keep_other_names():
    assert display_names(["severe_recession", "p2p_thin", "A $x$ b", "no_relief", "us_2007"]) == {
        "severe_recession": "Severe recession",
        "p2p_thin": "P2P thin",  # acronyms in capitals
        "us_2007": "US 2007",
        "A $x$ b": "A $x$ b",
        "no_relief": "No relief",
    }
    # two names that would read the same keep their own spelling
    assert display_names(["a_b", "A b"]) == {"a_b": "a_b", "A b": "A b"}


def test_latex_escape_makes_any_name_typeset_as_written():
    assert latex_escape(r"50% & $x_1$ #2 {a} ~ ^ \z") == (
        r"50\% \& \$x\_1\$ \#2 \{a\} \textasciitilde{} \textasciicircum{} \textbackslash{}z"
    )


@pytest.mark.parametrize(
    ("value", "unit", "diff", "text"),
    [
        (0.0566, "share", False, "5.66%"),
        (0.0123, "share", True, "+1.23 pp"),
        (-1234567.8, "currency", False, "-1,234,568"),
        (2500.0, "currency", True, "+2,500"),
        (12.25, "month", False, "12.2"),
        (float("nan"), "share", False, "n/a"),
        (0.5, None, False, "0.5"),
    ],
)
def test_format_value(value, unit, diff, text):
    assert format_value(value, unit, diff) == text


def test_with_unit_folds_into_a_bracket():
    assert with_unit("Overdue rate (1+ DPD)", "share") == "Overdue rate (1+ DPD, %)"
    assert with_unit("Approvals", "count") == "Approvals"
