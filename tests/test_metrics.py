"""The metric registry and its functions alone, on hand-made rows (model/metrics.py)."""

import math

import mesa
import numpy as np
import pytest

from model import metrics
from model.lender import Lender
from model.loans import BookSummary, LoanBook
from model.metrics import (
    EXTRA_COLUMNS,
    FLOW_FIELDS,
    LENDER_COLUMNS,
    METRIC_COLUMNS,
    METRICS,
    SOURCES,
    UNITS,
    book_measures,
    combine,
    derive,
    unit_of,
)
from model.policy import RiskPolicy

#: The monthly columns of the published contract, in DESIGN.md's order.
CONTRACT = (
    "month",
    "unemployment_rate",
    "active_loans",
    "balance",
    "overdue_rate",
    "overdue_rate_30",
    "npl_rate",
    "overdue_balance_rate",
    "applications",
    "approvals",
    "approval_rate",
    "originations",
    "writeoffs",
    "recoveries",
    "net_loss",
    "cum_net_loss",
    "interest_income",
    "fee_income",
    "funding_cost",
    "collection_cost",
    "profit",
    "relief_granted",
)
RATIOS = [m for m in METRICS.values() if m.lenders == "ratio"]


def _row(**values):
    """A lender's row: every lender metric 0 but ``values``."""
    return {**dict.fromkeys(LENDER_COLUMNS, 0.0), **values}


# ------------------------------------------------------------------ registry
def test_the_contract_columns_are_designs_list_in_order():
    assert METRIC_COLUMNS == CONTRACT
    assert not set(EXTRA_COLUMNS) & set(CONTRACT)
    assert (*METRIC_COLUMNS, *EXTRA_COLUMNS) == tuple(METRICS)


def test_every_metric_is_declared_once_with_known_unit_source_and_aggregation():
    assert len(metrics._METRICS) == len(METRICS)
    for m in METRICS.values():
        assert m.unit in UNITS, m.name
        assert m.source in SOURCES, m.name
        assert m.lenders in ("sum", "mean", "ratio", "market"), m.name
        assert m.months in ("sum", "last", "mean"), m.name
        assert m.description.endswith(".") and "\n" not in m.description, m.name
        assert unit_of(m.name) == m.unit
    assert unit_of("no_such_metric") is None


def test_ratios_name_components_that_exist_and_add_up_across_lenders():
    assert RATIOS
    for m in METRICS.values():
        assert (m.ratio is not None) == (m.lenders == "ratio"), m.name
        assert not m.part_of_whole or m.lenders == "ratio", m.name
    for m in RATIOS:
        for part in m.ratio:
            assert part in METRICS, (m.name, part)
            assert METRICS[part].lenders == "sum", (m.name, part)  # so combine can add them
        assert m.months == "mean", m.name


def test_flows_add_up_over_months_and_lenders():
    assert tuple(m.name for m in METRICS.values() if m.source == "flow") == FLOW_FIELDS
    for name in FLOW_FIELDS:
        assert (METRICS[name].lenders, METRICS[name].months) == ("sum", "sum"), name
    assert "profit" not in FLOW_FIELDS and "interest_income" in FLOW_FIELDS


def test_lender_columns_leave_out_the_values_of_the_whole_economy():
    market = {m.name for m in METRICS.values() if m.lenders == "market"}
    assert {"month", "unemployment_rate", "policy_rate"} <= market
    assert not market & set(LENDER_COLUMNS)
    assert set(LENDER_COLUMNS) | market == set(METRICS)


def test_book_measures_are_the_book_metrics():
    book = {m.name for m in METRICS.values() if m.source == "book"}
    summary = BookSummary(np.zeros(5, int), np.zeros(5), np.zeros(5, int), np.zeros(5), np.zeros(5))
    assert set(book_measures(summary)) == book


def test_a_lenders_close_gives_every_lender_metric():
    model = mesa.Model(seed=0)
    model.month = 0
    lender = Lender(model, 0, RiskPolicy(), 4)
    row = lender.close_month(LoanBook(1, 4), record=False)
    assert set(LENDER_COLUMNS) <= set(row)


# -------------------------------------------------------------------- derive
def test_derive_computes_each_ratio_from_its_parts_and_the_net_loss():
    row = derive(
        _row(
            overdue_loans=3.0,
            overdue_loans_30=2.0,
            npl_loans=1.0,
            active_loans=10.0,
            overdue_balance=250.0,
            balance=1000.0,
            approvals=4.0,
            applications=16.0,
            capital=120.0,
            writeoffs=80.0,
            recoveries=30.0,
        )
    )
    assert (row["overdue_rate"], row["overdue_rate_30"], row["npl_rate"]) == (0.3, 0.2, 0.1)
    assert row["overdue_balance_rate"] == 0.25
    assert row["approval_rate"] == 0.25
    assert row["capital_ratio"] == pytest.approx(0.12)
    assert row["net_loss"] == 50.0
    for m in RATIOS:
        num, den = m.ratio
        expected = row[num] / row[den] if row[den] else 0.0
        assert row[m.name] == pytest.approx(min(expected, 1.0) if m.part_of_whole else expected)


def test_a_ratio_with_a_zero_denominator_is_zero_but_equity_over_no_book_is_undefined():
    row = derive(_row(overdue_loans=3.0, approvals=2.0, capital=5.0))
    for m in RATIOS:
        if m.name == "capital_ratio":
            assert math.isnan(row[m.name])  # not 0, which would read as a breach
        else:
            assert row[m.name] == 0.0, m.name


def test_a_part_of_a_whole_is_at_most_one_and_other_ratios_are_not_clipped():
    row = derive(_row(overdue_balance=100.0 + 1e-9, balance=100.0, capital=300.0))
    assert row["overdue_balance_rate"] == 1.0
    assert row["capital_ratio"] == 3.0


def test_net_loss_may_be_negative_when_recoveries_exceed_writeoffs():
    assert derive(_row(writeoffs=10.0, recoveries=25.0))["net_loss"] == -15.0


# ------------------------------------------------------------------- combine
def test_combine_sums_money_and_counts_and_averages_the_cutoff():
    a = derive(_row(originations=100.0, approvals=2.0, applications=4.0, cutoff=600.0))
    b = derive(_row(originations=50.0, approvals=1.0, applications=8.0, cutoff=650.0))
    out = combine([a, b])
    assert out["originations"] == 150.0 and out["approvals"] == 3.0
    assert out["cutoff"] == 625.0
    assert out["approval_rate"] == pytest.approx(3.0 / 12.0)  # not the mean of 0.5 and 0.125


def test_two_lenders_overdue_rates_combine_to_the_count_weighted_rate():
    a = derive(_row(overdue_loans=1.0, active_loans=2.0, overdue_balance=10.0, balance=20.0))
    b = derive(_row(overdue_loans=1.0, active_loans=98.0, overdue_balance=5.0, balance=980.0))
    assert (a["overdue_rate"], b["overdue_rate"]) == (0.5, pytest.approx(1 / 98))
    out = combine([a, b])
    assert out["overdue_rate"] == pytest.approx(2.0 / 100.0)
    assert out["overdue_balance_rate"] == pytest.approx(15.0 / 1000.0)
    assert out["overdue_rate"] != pytest.approx((a["overdue_rate"] + b["overdue_rate"]) / 2)


def test_combine_recomputes_the_capital_ratio_and_net_loss_from_the_sums():
    a = derive(_row(capital=100.0, balance=1000.0, writeoffs=30.0, recoveries=10.0))
    b = derive(_row(capital=-50.0, balance=500.0, writeoffs=0.0, recoveries=5.0))
    out = combine([a, b])
    assert out["capital"] == 50.0 and out["capital_ratio"] == pytest.approx(50.0 / 1500.0)
    assert out["net_loss"] == 15.0


def test_combine_of_one_lender_is_its_row_without_the_economys_values():
    row = derive(_row(overdue_loans=3.0, active_loans=7.0, balance=70.0, cutoff=610.0))
    out = combine([row])
    assert set(out) == set(LENDER_COLUMNS)
    assert out == pytest.approx(row)


# ------------------------------------------------------------- book measures
def test_book_measures_count_the_buckets_and_the_forborne():
    summary = BookSummary(
        counts=np.array([5, 3, 2, 1, 4]),
        balances=np.array([500.0, 300.0, 200.0, 100.0, 400.0]),
        forborne_counts=np.array([2, 1, 0, 0, 1]),
        forborne_balances=np.array([200.0, 100.0, 0.0, 0.0, 40.0]),
        redefaulted_balances=np.zeros(5),
    )
    m = book_measures(summary)
    assert m["active_loans"] == 15 and m["balance"] == 1500.0
    assert (m["loans_current"], m["loans_1_30"], m["loans_31_60"], m["loans_61_90"]) == (5, 3, 2, 1)
    assert (m["overdue_loans"], m["overdue_loans_30"], m["npl_loans"]) == (10, 7, 4)
    assert m["overdue_balance"] == 1000.0
    assert m["forborne_loans"] == 4
    assert m["underlying_overdue_loans"] == 10 + 2  # forborne current loans count too


def test_parts_of_a_whole_on_the_book_never_exceed_the_whole():
    rng = np.random.default_rng(0)
    for _ in range(20):
        counts = rng.integers(0, 50, 5)
        forborne = np.minimum(rng.integers(0, 10, 5), counts)
        balances = counts * rng.uniform(0, 1000, 5)
        part = balances * forborne / 50
        m = book_measures(BookSummary(counts, balances, forborne, part, part / 2))
        for ratio in RATIOS:
            num, den = ratio.ratio
            if ratio.part_of_whole and num in m and den in m:
                assert m[num] <= m[den] + 1e-9, ratio.name
