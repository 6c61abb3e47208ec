"""Derived metrics: a safe expression parser over per-run metrics (no eval)."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
from results_factory import config_text

from experiments.config import ConfigError, parse_config
from experiments.derived import add_derived, evaluate, parse_metrics, run_aggregates


def _metric(expr, name="m"):
    return parse_metrics({name: expr})[0]


def test_arithmetic_with_numbers_names_and_functions():
    values = {"profit": np.array([10.0, -4.0]), "approvals": np.array([2.0, 4.0])}
    m = _metric("-(profit + 2) * 3 / approvals - min(profit, 0) + max(1, 2, 3) + abs(profit)")
    expected = -(values["profit"] + 2) * 3 / values["approvals"]
    expected = expected - np.minimum(values["profit"], 0) + 3 + np.abs(values["profit"])
    assert evaluate(m, values) == pytest.approx(expected)
    assert m.names == ("profit", "approvals")


def test_division_by_zero_is_nan():
    m = _metric("bad_debt_loss / approvals")
    out = evaluate(m, {"bad_debt_loss": np.array([5.0, 0.0, 3.0]), "approvals": [0.0, 0, 2]})
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == 1.5


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("__import__('os').system('x')", "'__import__('os').system(...)' is not allowed"),
        ("eval('1')", "'eval(...)' is not allowed"),
        ("profit.real", "'profit.real' is not allowed"),
        ("profit ** 2", "'profit ** 2' is not allowed"),
        ("profit if approvals else 0", "is not allowed"),
        ("(lambda: 1)()", "is not allowed"),
        ("[profit][0]", "is not allowed"),
        ("'text'", "'text' is not allowed"),
        ("True + profit", "True is not allowed"),
        ("min(profit)", "min() takes at least 2 arguments, got 1"),
        ("abs(profit, approvals)", "abs() takes 1 argument, got 2"),
        ("max(*profit)", "'*' arguments are not allowed"),
        ("round(profit)", "'round(...)' is not allowed"),
        ("profit +", "not a valid expression"),
        ("profit; approvals", "not a valid expression"),
        ("profit + " * 100 + "profit", "longer than 500"),
    ],
)
def test_anything_but_arithmetic_is_refused(expr, fragment):
    with pytest.raises(ConfigError, match="config \\[metrics\\] 'm'") as info:
        _metric(expr)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_names_list_the_allowed_ones():
    with pytest.raises(ConfigError) as info:
        _metric("bad_debt_los / approvals", name="loss_per_approval")
    message = str(info.value)
    assert message.startswith("config [metrics] 'loss_per_approval': unknown name 'bad_debt_los'")
    assert "did you mean 'bad_debt_loss'?" in message
    assert "allowed: mean_overdue_rate, " in message and "collection_cost" in message


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"Bad": "profit"}, "lower-case letters"),
        ({"profit": "approvals"}, "already a metric"),
        ({"scenario": "approvals"}, "already a metric"),
        ({"m": 3}, "must be an expression in a string"),
        ({"m": {"expr": "profit", "unit": "euros"}}, "unit must be one of share, currency"),
        ({"m": {"expr": "profit", "colour": "red"}}, "unknown key 'colour'"),
        ({"m": {"unit": "share"}}, 'needs expr = "..."'),
        ({"m": {"expr": "profit", "label": ""}}, "label must be a non-empty string"),
    ],
)
def test_bad_declarations_are_one_line(table, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_metrics(table)


def test_units_are_inferred_or_given_and_later_metrics_use_earlier_ones():
    metrics = parse_metrics(
        {
            "loss_per_approval": "bad_debt_loss / approvals",
            "net": "profit - bad_debt_loss",
            "half_net": "net / 2",
            "margin": {"expr": "profit / total_originations", "unit": "share", "label": "Margin"},
        }
    )
    assert [m.unit for m in metrics] == [None, "currency", "currency", "share"]
    assert metrics[3].label == "Margin"
    assert metrics[2].names == ("net",)
    with pytest.raises(ConfigError, match="unknown name 'later'"):
        parse_metrics({"early": "later * 2", "later": "profit"})


def test_monthly_metrics_aggregate_per_run_as_the_registry_says():
    ts = pd.DataFrame(
        {
            "run_id": ["a"] * 3 + ["b"] * 3,
            "month": [2, 0, 1] * 2,
            "approvals": [1.0, 2, 3, 4, 5, 6],  # flow: summed
            "balance": [30.0, 10, 20, 60, 40, 50],  # stock: last month
            "overdue_rate": [0.1, 0.2, 0.3, 0.0, 0.0, 0.3],  # rate: mean
        }
    )
    out = run_aggregates(ts, ["approvals", "balance", "overdue_rate"])
    assert out.loc["a"].tolist() == pytest.approx([6, 30, 0.2])
    assert out.loc["b"].tolist() == pytest.approx([15, 60, 0.1])
    summary = pd.DataFrame({"run_id": ["a", "b"], "bad_debt_loss": [12.0, 0.0]})
    metrics = parse_metrics({"loss_per_approval": "bad_debt_loss / approvals"})
    frame = add_derived(summary, metrics, ts)
    assert list(frame.columns) == ["run_id", "bad_debt_loss", "loss_per_approval"]
    assert frame["loss_per_approval"].tolist() == [2.0, 0.0]


def test_the_config_table_round_trips_and_leaves_other_hashes_alone():
    plain = parse_config(tomllib.loads(config_text()))
    text = config_text(
        '[metrics]\nlpa = "bad_debt_loss / approvals"\n'
        'margin = { expr = "profit / total_originations", unit = "share" }\n'
    )
    config = parse_config(tomllib.loads(text))
    assert [m.name for m in config.metrics] == ["lpa", "margin"]
    assert config.to_dict()["metrics"] == {
        "lpa": "bad_debt_loss / approvals",
        "margin": {"expr": "profit / total_originations", "unit": "share"},
    }
    assert parse_config(config.to_dict()).config_hash() == config.config_hash()
    assert "metrics" not in plain.to_dict() and "style" not in plain.to_dict()
    assert config.config_hash() != plain.config_hash()
    chart = '[[chart]]\nkind = "sweep"\nmetric = "lpa"\nx = "policy.max_dti"\n'
    sweep = '[sweep]\n"policy.max_dti" = [0.3, 0.5]\n'
    assert parse_config(tomllib.loads(text + sweep + chart)).charts[0].metric == "lpa"
    with pytest.raises(ConfigError, match="summary or derived metric"):
        parse_config(tomllib.loads(config_text(sweep + chart)))
