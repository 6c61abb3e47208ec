"""Reverse stress test: bisection, the family's scenarios, and the boundary's monotonicity."""

import json
import math

import pytest

from experiments import reverse_stress as rs
from experiments.cli import main
from experiments.config import ConfigError, parse_config


def _step(threshold, n=10):
    """A breaking share that jumps from 0 to all replications at ``threshold``."""
    calls = []

    def evaluate(value):
        calls.append(value)
        return (n if value >= threshold else 0), n

    return evaluate, calls


def test_bisection_brackets_the_threshold_within_the_tolerance():
    evaluate, calls = _step(0.237)
    out = rs.bisect(evaluate, 0.05, 0.5, share=0.5, tolerance=0.001)
    assert out["status"] == "found"
    assert out["safe"] < 0.237 <= out["boundary"] <= out["safe"] + 0.001
    assert out["at_boundary"] == (10, 10) and out["at_safe"] == (0, 10)
    assert len(calls) == 2 + math.ceil(math.log2(0.45 / 0.001))  # bisection, not a grid


def test_bisection_says_when_the_bracket_holds_or_breaks_throughout():
    holds = rs.bisect(_step(0.9)[0], 0.05, 0.5, 0.5, 0.01)
    assert holds["status"] == "holds over the bracket" and math.isnan(holds["boundary"])
    breaks = rs.bisect(_step(0.01)[0], 0.05, 0.5, 0.5, 0.01)
    assert breaks["status"] == "breaks at the mildest" and breaks["boundary"] == 0.05


def test_the_share_sets_how_many_replications_must_break():
    def evaluate(value):  # one more replication of ten breaks per 0.1
        return min(10, int(value * 100) // 10), 10

    half = rs.bisect(evaluate, 0.0, 1.0, share=0.5, tolerance=0.001)
    most = rs.bisect(evaluate, 0.0, 1.0, share=0.9, tolerance=0.001)
    assert half["boundary"] == pytest.approx(0.5, abs=0.002)
    assert most["boundary"] == pytest.approx(0.9, abs=0.002)


def _raw(**table):
    return {
        "experiment": {
            "name": "rs",
            "seed": 3,
            "months": 24,
            "borrowers": 800,
            "burn_in": 12,
            "replications": 2,
        },
        "scenario": [{"preset": "severe_recession"}],
        "policy": [
            {"name": f"capital_{c}", "preset": "balanced", "capital_ratio": c}
            for c in (0.10, 0.13, 0.17)  # 4 points over the 6% floor: robust to seeds 1-6
        ],
        "reverse_stress": {"family": "severity", "severity": [0, 5], "tolerance": 0.1, **table},
    }


def test_the_breaking_severity_rises_with_the_starting_capital_ratio():
    raw = _raw()
    config = parse_config({k: v for k, v in raw.items() if k != "reverse_stress"})
    spec = rs.parse_reverse_stress(raw["reverse_stress"], config)
    result = rs.search(config, spec, workers=1)
    table = result.table.set_index("policy")
    assert (table["status"] == "found").all(), table
    boundary = table["boundary"].tolist()
    assert boundary[0] < boundary[1] < boundary[2], boundary
    # the confidence statement: shares at the boundary reach the share, below it they do not
    assert (table["boundary_share"] >= 0.5).all() and (table["safe_share"] < 0.5).all()
    assert (table["boundary_share_low"] <= table["boundary_share"]).all()


def test_the_peak_family_rises_to_its_peak_and_holds_it():
    config = parse_config({k: v for k, v in _raw().items() if k != "reverse_stress"})
    spec = rs.parse_reverse_stress(
        {"family": "peak_duration", "peak": [0.05, 0.3], "durations": [4], "ramp": 5}, config
    )
    path = rs.family_scenario(config, spec, 0.2, duration=4)
    u = path.unemployment
    assert u[0] == u[3] == pytest.approx(0.042)
    assert u[8] == u[12] == pytest.approx(0.2) and u[7] < 0.2 and u[13] < 0.2


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"family": "shape"}, "family must be one of severity, peak_duration"),
        ({"condition": "loss_above"}, "condition 'loss_above' needs loss_limit"),
        ({"loss_limit": 0.1}, "loss_limit goes with condition 'loss_above' only"),
        ({"severity": [3, 1]}, "severity needs low < high"),
        ({"durations": [6]}, "'durations' does not go with family 'severity'"),
        ({"scenario": "nope"}, "scenario must be a scenario of the config"),
        ({"shar": 0.5}, "unknown key 'shar'"),
    ],
)
def test_bad_tables_exit_2_with_one_line(tmp_path, capsys, table, fragment):
    config = {"family": "severity", **table}
    lines = [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    path = tmp_path / "c.toml"
    path.write_text(CONFIG + "\n[reverse_stress]\n" + "\n".join(lines) + "\n")
    assert main(["reverse-stress", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err
    with pytest.raises(ConfigError):
        rs.load(path)
    assert not (tmp_path / "out").exists()


CONFIG = """
[experiment]
name = "rs"
seed = 3

[[scenario]]
preset = "severe_recession"
"""


def _drawn(monkeypatch, tmp_path, raw_table, rows):
    """Draw the chart of a boundary table (no search); return the figure, laid out."""
    import pandas as pd

    from experiments import charts

    config = parse_config(
        {
            **{k: v for k, v in _raw().items() if k not in ("reverse_stress", "policy")},
            "scenario": [{"name": "deep_us_slump", "preset": "severe_recession"}],
            "policy": [{"name": n, "preset": "balanced"} for n in ("capital_10", "loose_p2p")],
        }
    )
    spec = rs.parse_reverse_stress(raw_table, config)
    drawn, save = [], charts.save_figure

    def keep(fig, out, name):
        fig.canvas.draw()
        drawn.append(fig)
        return save(fig, out, name)

    monkeypatch.setattr(charts, "save_figure", keep)
    result = rs.ReverseStressResult(config, spec, pd.DataFrame(rows), pd.DataFrame())
    paths = rs.draw(result, tmp_path)
    assert sorted(p.name for p in paths) == ["reverse_stress.pdf", "reverse_stress.png"]
    return drawn[0]


def _texts(fig):
    from matplotlib.text import Text

    return {t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()}


def test_the_chart_names_policies_readably_with_its_legend_clear_of_the_data(monkeypatch, tmp_path):
    import re

    table = {"family": "peak_duration", "peak": [0.05, 0.4], "durations": [3, 12, 24]}
    boundary = {"capital_10": [0.38, 0.3, 0.39], "loose_p2p": [0.2, 0.12, 0.4]}  # high at 24
    rows = [
        {"policy": p, "duration": d, "status": "found", "boundary": b}
        for p, values in boundary.items()
        for d, b in zip((3, 12, 24), values, strict=True)
    ]
    fig = _drawn(monkeypatch, tmp_path, table, rows)
    texts = _texts(fig)
    assert {"Capital 10", "Loose P2P", "Policy"} <= texts
    assert not [t for t in texts if re.search(r"[a-z]_[a-z]", t)]
    (ax,) = fig.axes
    assert ax.get_legend() is None and len(fig.legends) == 1
    box = fig.legends[0].get_window_extent()
    assert box.y1 <= ax.get_window_extent().y0  # below the axes
    for line in ax.get_lines():
        for x, y in ax.transData.transform(line.get_xydata()):
            assert not box.contains(x, y)


def test_the_severity_chart_names_policies_and_the_scenario_readably(monkeypatch, tmp_path):
    rows = [
        {"policy": p, "duration": None, "status": "found", "boundary": b}
        for p, b in (("capital_10", 1.5), ("loose_p2p", 0.8))
    ]
    fig = _drawn(monkeypatch, tmp_path, {"family": "severity"}, rows)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Capital 10", "Loose P2P"]
    assert ax.get_ylabel() == "Severity that breaks (Deep US slump)"
