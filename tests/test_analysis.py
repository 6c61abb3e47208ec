"""Comparisons across policies, scenarios and sweep points, and their CSV/Markdown/LaTeX export."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from results_factory import config_text, write_results

from experiments.analysis import compare, compare_policies, group_t_intervals, t_interval
from experiments.cli import main
from experiments.export import render
from experiments.labels import NameTable


def _summary(rng: np.random.Generator, reps: int = 6) -> pd.DataFrame:
    """Two scenarios x two policies x two points; each replication has a large common shock."""
    rows = []
    for k in range(reps):
        shock = rng.normal(0, 1.0)  # shared by every run of replication k (same seed)
        for s, scenario in enumerate(("baseline", "severe_recession")):
            for p, policy in enumerate(("tight", "loose")):
                for dti in (0.3, 0.5):
                    value = shock + 0.5 * s + 0.2 * p + dti + rng.normal(0, 0.01)
                    rows.append(
                        {
                            "run_id": f"{k}{s}{p}{dti}",
                            "scenario": scenario,
                            "policy": policy,
                            "replication": k,
                            "policy.max_dti": dti,
                            "profit": value,
                            "approval_rate": 0.5 + 0.01 * value,
                        }
                    )
    return pd.DataFrame(rows)


def test_group_t_intervals_are_t_interval_per_group():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"g": rng.integers(0, 4, 60), "h": rng.integers(0, 2, 60), "v": rng.normal(size=60)}
    )
    frame.loc[3, "v"] = np.inf  # non-finite values are left out, as t_interval does
    frame = pd.concat([frame, pd.DataFrame({"g": [9], "h": [0], "v": [1.0]})])
    stats = group_t_intervals(frame, ["g", "h"], "v")
    for (g, h), row in stats.iterrows():
        mean, low, high = t_interval(frame[(frame.g == g) & (frame.h == h)]["v"])
        assert row["mean"] == pytest.approx(mean, rel=1e-12)
        if np.isnan(low):
            assert row["n"] == 1 and np.isnan(row["low"]) and np.isnan(row["high"])
        else:
            assert (row["low"], row["high"]) == pytest.approx((low, high), rel=1e-12)


@pytest.mark.parametrize("by", ["policy", "scenario", "point"])
def test_differences_are_paired_by_replication(by):
    summary = _summary(np.random.default_rng(2))
    table = compare(summary, by, ["policy.max_dti"], metrics=["profit"])
    item = {"policy": "loose", "scenario": "severe_recession", "point": "policy.max_dti=0.5"}[by]
    base = {"policy": "tight", "scenario": "baseline", "point": "policy.max_dti=0.3"}[by]
    row = table[table[by] == item].iloc[0]
    assert row["baseline"] == base
    cell = summary
    for key in {
        "policy": ["scenario", "policy.max_dti"],
        "scenario": ["policy", "policy.max_dti"],
        "point": ["scenario", "policy"],
    }[by]:
        cell = cell[cell[key] == row[key]]
    labels = cell["policy.max_dti"].map(lambda v: f"policy.max_dti={v:g}")
    column = labels if by == "point" else cell[by]
    a = cell[column == item].set_index("replication")["profit"]
    b = cell[column == base].set_index("replication")["profit"]
    diff, low, high = t_interval((a - b).to_numpy())
    assert (row["diff"], row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
        (diff, low, high)
    )
    # the common shock cancels: the paired interval is far narrower than the means'
    assert high - low < 0.1 * (row["ci_high"] - row["ci_low"])
    assert row["n_pairs"] == 6


def test_missing_replications_are_left_out_of_the_pairs():
    summary = _summary(np.random.default_rng(3))
    summary = summary.drop(summary[(summary.policy == "loose") & (summary.replication == 0)].index)
    table = compare(summary, "policy", ["policy.max_dti"], metrics=["profit"])
    loose = table[table.policy == "loose"]
    assert (loose["n"] == 5).all() and (loose["n_pairs"] == 5).all()


def test_policy_comparison_keeps_its_columns():
    summary = _summary(np.random.default_rng(4))
    table = compare_policies(summary, ["policy.max_dti"], metrics=["profit"])
    assert list(table.columns[:4]) == ["scenario", "policy.max_dti", "metric", "policy"]
    assert list(table.columns[4:]) == [
        "n", "mean", "ci_low", "ci_high", "baseline", "diff", "diff_ci_low", "diff_ci_high",
        "n_pairs",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown baseline policy 'nope'; allowed: tight, loose"):
        compare(_summary(np.random.default_rng(4)), "policy", baseline="nope")
    with pytest.raises(ValueError, match="sweeps nothing"):
        compare(_summary(np.random.default_rng(4)), "point")


def _table():
    summary = _summary(np.random.default_rng(5))
    return compare(summary, "scenario", ["policy.max_dti"], metrics=["profit", "approval_rate"])


def test_markdown_has_one_table_per_group_with_labels_and_units():
    text = render(_table(), "md", "scenario", ["policy.max_dti"])
    assert text.startswith("diff = scenario - baseline (baseline: Baseline), paired by replication")
    blocks = re.findall(r"\*\*(.+?)\*\*\n\n((?:\|.*\|\n)+)", text)
    assert [b[0] for b in blocks] == [
        "Policy: Tight; Max. debt-to-income: 30%",
        "Policy: Tight; Max. debt-to-income: 50%",
        "Policy: Loose; Max. debt-to-income: 30%",
        "Policy: Loose; Max. debt-to-income: 50%",
    ]
    lines = blocks[0][1].strip().splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == [
        "Metric", "Scenario", "n", "Mean [95% CI]", "Difference vs Baseline [95% CI]"
    ]  # fmt: skip
    assert all(len(row) == 5 for row in cells)
    assert cells[2][:3] == ["Profit (currency units)", "Baseline", "6"]
    assert cells[2][4] == "(baseline)"
    assert cells[3][1] == "Severe recession" and cells[3][0] == ""
    assert re.fullmatch(r"Approval rate", cells[4][0])
    assert re.fullmatch(r"[\d.]+% \[[\d.]+%, [\d.]+%\]", cells[4][3])
    assert re.fullmatch(r"\+[\d.]+ pp \[[-+][\d.]+ pp, [-+][\d.]+ pp\]", cells[5][4])


def test_latex_is_a_booktabs_tabular_that_parses_back():
    table = _table()
    table["policy"] = table["policy"].replace({"tight": "tight_50% & $x$"})
    text = render(table, "latex", "scenario", ["policy.max_dti"], NameTable())
    body = text[text.index("\\begin{tabular}{llrll}") :]
    assert body.rstrip().endswith("\\end{tabular}")
    assert body.count("\\toprule") == 1 and body.count("\\bottomrule") == 1
    rows = [r.strip() for r in body.split("\n") if r.strip().endswith("\\\\")]
    header, *rest = rows
    for row in rows:
        if row.startswith("\\multicolumn"):
            continue
        cells = re.split(r"(?<!\\)&", row.removesuffix("\\\\"))
        assert len(cells) == 5, row
    groups = [r for r in rest if r.startswith("\\multicolumn{5}{l}")]
    assert len(groups) == 4
    assert "Policy: tight\\_50\\% \\& \\$x\\$; Max. debt-to-income: 30\\%" in groups[0]
    first = re.split(r"(?<!\\)&", rest[1].removesuffix("\\\\"))
    assert first[0].strip() == "Profit (currency units)" and first[4].strip() == "(baseline)"


def test_csv_is_the_long_table_unrounded():
    table = _table()
    back = pd.read_csv(io.StringIO(render(table, "csv", "scenario")))
    assert list(back.columns) == list(table.columns)
    np.testing.assert_allclose(back["diff"].to_numpy(), table["diff"].to_numpy(), rtol=1e-15)


# ------------------------------------------------------------------ the command line
SWEEP = """
[[scenario]]
preset = "baseline"
[[scenario]]
preset = "severe_recession"
[[policy]]
preset = "conservative"
[[policy]]
name = "loose"
preset = "balanced"
[sweep]
"policy.max_dti" = [0.3, 0.5]
[metrics]
loss_per_approval = "bad_debt_loss / approvals"
"""


@pytest.fixture
def folder(tmp_path):
    write_results(tmp_path / "out", config_text(SWEEP))
    return tmp_path / "out"


def test_compare_by_scenario_and_point_with_formats_and_out(folder, tmp_path, capsys):
    assert main(["compare", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "diff = policy - conservative" in out and "Loss per approval" in out
    policy_csv = (folder / "comparison.csv").read_bytes()
    assert b"loss_per_approval" in policy_csv
    target = tmp_path / "table.tex"
    args = ["compare", str(folder), "--by", "scenario", "--format", "latex", "--out", str(target)]
    assert main(args) == 0
    assert capsys.readouterr().out == ""
    assert target.read_text().count("\\multicolumn{5}") == 4  # 2 policies x 2 points
    assert (folder / "comparison.csv").read_bytes() == policy_csv  # only --by policy writes it
    args = ["compare", str(folder), "--by", "point", "--baseline", "policy.max_dti=0.50"]
    assert main([*args, "--format", "csv", "--metrics", "profit,loss_per_approval"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(table["baseline"]) == {"policy.max_dti=0.5"}
    assert set(table["metric"]) == {"profit", "loss_per_approval"}
    assert set(table["point"]) == {"policy.max_dti=0.3", "policy.max_dti=0.5"}


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--by", "month"], "argument --by must be one of policy, scenario, point, lender"),
        (["--format", "xlsx"], "argument --format must be one of csv, md, latex"),
        (["--metrics", "profit,nope"], "argument --metrics: unknown metric 'nope'; allowed:"),
        (["--baseline", "nope"], "argument --baseline: unknown policy 'nope'"),
        (["--by", "scenario", "--baseline", "x"], "unknown scenario 'x'; allowed: baseline,"),
        (["--by", "point", "--baseline", "policy.max_dti=0.4"], "no sweep point"),
        (["--by", "point", "--baseline", "max_dti=0.3"], "give policy.max_dti=VALUE"),
        (["--out", "."], "argument --out: '.' is a folder"),
    ],
)
def test_bad_compare_arguments_are_one_line(folder, extra, fragment, capsys):
    before = (folder / "comparison.csv").exists()
    assert main(["compare", str(folder), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err
    assert (folder / "comparison.csv").exists() == before


def test_compare_by_point_needs_a_sweep_and_a_damaged_folder_is_one_line(tmp_path, capsys):
    write_results(tmp_path / "plain", config_text('[[policy]]\npreset = "balanced"\n'))
    assert main(["compare", str(tmp_path / "plain"), "--by", "point"]) == 2
    assert "needs a sweep" in capsys.readouterr().err
    summary = tmp_path / "plain" / "summary.parquet"
    summary.write_bytes(summary.read_bytes()[:100])
    assert main(["compare", str(tmp_path / "plain")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "summary.parquet" in err and "rebuild" in err
