"""Config validation, design expansion and analysis of the experiments package (no simulation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import compare_policies, format_comparison, t_interval
from experiments.cli import main
from experiments.config import ConfigError, load_config, parse_config
from experiments.design import build_design, replication_seeds, sweep_points

ROOT = Path(__file__).resolve().parent.parent

BASE = """
[experiment]
name = "tiny"
months = 12
borrowers = 300
replications = 2
seed = 7
burn_in = 12

[[scenario]]
preset = "baseline"
[[scenario]]
preset = "severe_recession"
severity = 1.5
[[scenario]]
name = "v_shock"
unemployment = [[0, 0.05], [3, 0.12], [15, 0.06]]

[[policy]]
preset = "conservative"
[[policy]]
name = "loose"
preset = "balanced"
score_cutoff = 560

[sweep]
"policy.max_dti" = [0.3, 0.4]
"""


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_config_parses_and_expands(tmp_path):
    config = load_config(write(tmp_path, BASE))
    assert [s.name for s in config.scenarios] == ["baseline", "severe_recession", "v_shock"]
    assert [p.name for p in config.policies] == ["conservative", "loose"]
    specs = build_design(config)
    assert len(specs) == 3 * 2 * 2 * 2
    assert len({s.run_id for s in specs}) == len(specs)
    assert [s.index for s in specs] == list(range(len(specs)))
    first = specs[0]
    assert (first.scenario, first.policy, first.replication) == ("baseline", "conservative", 0)
    assert first.params == {"policy.max_dti": 0.3}
    # The hash is over the normalised config: round trip keeps it.
    assert parse_config(config.to_dict()).config_hash() == config.config_hash()


def test_seeds_depend_on_replication_only(tmp_path):
    specs = build_design(load_config(write(tmp_path, BASE)))
    seeds = replication_seeds(7, 2)
    assert seeds[0] != seeds[1]
    for spec in specs:
        assert spec.seed == seeds[spec.replication]
    expected = np.random.SeedSequence(7).spawn(2)[1].generate_state(1, np.uint32)[0]
    assert seeds[1] == int(expected)


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_sampled_design_rounds_integer_levers(tmp_path, method):
    text = (
        BASE.split("[sweep]")[0]
        + f"""
[sample]
method = "{method}"
n = 16
seed = 3
[sample.ranges]
"policy.score_cutoff" = [550, 680]
"policy.writeoff_dpd" = [90, 240]
"policy.term_months" = [6, 24]
"scenario.severity" = [0.0, 2.0]
"""
    )
    config = load_config(write(tmp_path, text))
    points = sweep_points(config)
    assert len(points) == 16
    assert points == sweep_points(config)  # deterministic
    for point in points:
        assert 550 <= point["policy.score_cutoff"] <= 680
        assert point["policy.writeoff_dpd"] % 30 == 0 and 90 <= point["policy.writeoff_dpd"] <= 240
        assert (
            isinstance(point["policy.term_months"], int) and 6 <= point["policy.term_months"] <= 24
        )
        assert 0.0 <= point["scenario.severity"] <= 2.0
    assert len(build_design(config)) == 3 * 2 * 16 * 2


def test_severity_scales_custom_and_preset_scenarios(tmp_path):
    config = load_config(write(tmp_path, BASE))
    preset, custom = config.scenarios[1], config.scenarios[2]
    assert preset.build(24, severity=0).unemployment.max() == pytest.approx(0.042)
    base = custom.build(24, severity=0).unemployment
    assert np.allclose(base, 0.042)
    assert custom.build(24, severity=2).unemployment.max() > custom.build(24).unemployment.max()


BAD = {
    "unknown top key": (BASE + "\n[extra]\na = 1\n", "unknown key 'extra'"),
    "unknown experiment key": (
        BASE.replace('name = "tiny"', 'name = "tiny"\nmonth = 3'),
        "unknown key 'month'",
    ),
    "unknown policy field": (
        BASE.replace("score_cutoff = 560", "scor_cutoff = 560"),
        "config [[policy]] #2: unknown policy field 'scor_cutoff'; allowed:",
    ),
    "wrong type": (BASE.replace("months = 12", 'months = "12"'), "months must be an integer"),
    "out of range": (BASE.replace("score_cutoff = 560", "score_cutoff = 900"), "score_cutoff"),
    "out of range replications": (
        BASE.replace("replications = 2", "replications = 0"),
        "replications",
    ),
    "unknown scenario preset": (
        BASE.replace('"baseline"', '"depression"'),
        "unknown scenario preset",
    ),
    "unknown policy preset": (
        BASE.replace('"conservative"', '"reckless"'),
        "unknown policy preset",
    ),
    "unknown lever": (BASE.replace('"policy.max_dti"', '"policy.max_dtx"'), "unknown lever"),
    "unknown lever group": (BASE.replace('"policy.max_dti"', '"lender.max_dti"'), "unknown lever"),
    "bad sweep value": (BASE.replace("[0.3, 0.4]", "[0.3, 4.0]"), "max_dti"),
    "duplicate names": (BASE.replace('name = "loose"', 'name = "conservative"'), "used twice"),
    "malformed toml": (BASE.replace("months = 12", "months = = 12"), "not valid TOML"),
    "bad chart": (BASE + '\n[[chart]]\nkind = "pie"\n', "kind must be one of"),
    "bad population": (BASE + "\n[population]\napply_rate = 2.0\n", "apply_rate"),
    "zero lenders": (
        BASE.replace("score_cutoff = 560", "score_cutoff = 560\nlenders = 0"),
        "config [[policy]] #2 lenders must be in [1, 20], got 0",
    ),
    "lenders not an integer": (
        BASE.replace("score_cutoff = 560", "score_cutoff = 560\nlenders = 1.5"),
        "config [[policy]] #2 lenders must be an integer, got float 1.5",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    text, expected = BAD[case]
    out = tmp_path / "out"
    status = main(["run", str(write(tmp_path, text)), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert expected in err
    assert not out.exists()


def test_missing_file_and_bad_arguments(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["run", str(write(tmp_path, BASE)), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert main(["compare", str(tmp_path)]) == 2
    assert "not a results folder" in capsys.readouterr().err


def test_cli_error_is_one_line_without_traceback(tmp_path):
    path = write(tmp_path, BASE.replace("score_cutoff = 560", "scor_cutoff = 560"))
    proc = subprocess.run(
        [sys.executable, "-m", "experiments", "run", str(path), "--out", str(tmp_path / "o")],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: config [[policy]] #2: unknown policy field 'scor_cutoff'")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_parse_errors_are_config_errors():
    with pytest.raises(ConfigError, match="needs an \\[experiment\\]"):
        parse_config({})
    with pytest.raises(ConfigError, match="cannot be combined"):
        parse_config(
            {
                "experiment": {"name": "x", "seed": 1},
                "sweep": {"policy.max_dti": [0.3]},
                "sample": {"method": "lhs", "n": 4, "ranges": {"policy.max_dti": [0.3, 0.5]}},
            }
        )


def _summary(replications: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    common = rng.normal(0.05, 0.01, replications)
    rows = []
    for policy, shift in (("a", 0.0), ("b", 0.01)):
        for k in range(replications):
            rows.append(
                {
                    "scenario": "s",
                    "policy": policy,
                    "replication": k,
                    "bad_debt_loss_rate": common[k] + shift,
                    "peak_overdue_rate": 0.1,
                    "mean_overdue_rate": 0.05,
                    "approval_rate": 0.5,
                    "total_originations": 1e6,
                    "profit": 1e5,
                }
            )
    return pd.DataFrame(rows)


def test_compare_policies_pairs_by_replication():
    table = compare_policies(_summary(5))
    row = table[(table["metric"] == "bad_debt_loss_rate") & (table["policy"] == "b")].iloc[0]
    assert row["diff"] == pytest.approx(0.01)
    # Paired differences are exact here: a zero-width paired interval, a wide unpaired one.
    assert row["diff_ci_high"] - row["diff_ci_low"] == pytest.approx(0.0, abs=1e-12)
    assert row["ci_high"] - row["ci_low"] > 0.001
    base = table[(table["metric"] == "bad_debt_loss_rate") & (table["policy"] == "a")].iloc[0]
    assert base["diff"] == 0.0
    with pytest.raises(ValueError, match="unknown baseline"):
        compare_policies(_summary(2), baseline="zzz")


def test_compare_with_one_replication_shows_nan():
    table = compare_policies(_summary(1), baseline="b")
    assert table["ci_low"].isna().all() and table["diff_ci_low"].isna().all()
    assert "NaN" in format_comparison(table)
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and low < 2.0 < high


MARKET = BASE.replace("score_cutoff = 560", "score_cutoff = 560\nlenders = 3")


def test_a_policy_market_has_several_lenders_each_swept(tmp_path):
    from experiments.design import model_inputs

    config = load_config(write(tmp_path, MARKET))
    assert [p.lenders for p in config.policies] == [1, 3]
    specs = build_design(config)
    spec = next(s for s in specs if s.policy == "loose" and s.params["policy.max_dti"] == 0.3)
    policies = model_inputs(config, spec).policy
    assert [p.name for p in policies] == ["loose", "loose-2", "loose-3"]
    assert {(p.score_cutoff, p.max_dti) for p in policies} == {(560, 0.3)}
    single = next(s for s in specs if s.policy == "conservative")
    assert model_inputs(config, single)[1].name == "conservative"  # one lender: a policy
    # The table round-trips, and a config without 'lenders' keeps its hash.
    assert parse_config(config.to_dict()).config_hash() == config.config_hash()
    plain = load_config(write(tmp_path, BASE, "plain.toml"))
    assert "lenders" not in plain.to_dict()["policy"][1]
    assert config.to_dict()["policy"][1]["lenders"] == 3


def test_knot_keys_and_lever_names_come_from_the_declarations():
    from experiments.config import LEVER_CLASSES, lever_fields, lever_step
    from model.macro import PATH, SERIES

    base = {"experiment": {"name": "k", "seed": 1, "months": 6}}
    for series in SERIES:
        knots = [[0, series.baseline if series.kind == PATH else 1.0]]
        raw = {**base, "scenario": [{"name": "c", series.name: knots}]}
        if series.kind == PATH:  # every path is a knot key of [[scenario]]
            assert parse_config(raw).scenarios[0].knots == {series.name: knots}
        else:  # an index is compounded from its path, not given
            with pytest.raises(ConfigError, match=f"unknown key '{series.name}'"):
                parse_config(raw)
    assert lever_fields()["scenario"] == ["severity"]
    assert all(lever_fields()[g] for g in LEVER_CLASSES)
    levers = [f"{g}.{n}" for g, names in lever_fields().items() for n in names]
    steps = {lever: lever_step(lever) for lever in levers}
    assert {k: v for k, v in steps.items() if v} == {"policy.writeoff_dpd": 30}  # declared
    assert lever_step("market.p2p.writeoff_dpd") == 30  # a named lender's lever too


def test_severity_of_a_custom_path_is_checked_as_declared():
    raw = {
        "experiment": {"name": "s", "seed": 1, "months": 6},
        "scenario": [{"name": "c", "unemployment": [[0, 0.05], [3, 0.1]], "severity": 10}],
    }
    with pytest.raises(ConfigError, match=r"severity must be in \[0, 5\], got 10"):
        parse_config(raw)
    raw["scenario"][0]["severity"] = 2.0
    raw["sweep"] = {"scenario.severity": [1.0, 6.0]}
    with pytest.raises(ConfigError, match=r"scenario.severity=6.0: severity must be in"):
        build_design(parse_config(raw))


@pytest.mark.parametrize("save_loan_tape", [False, True])
def test_zero_seed_and_burn_in_survive_the_round_trip(save_loan_tape):
    """0 is a value, not an absence: workers rebuild the config from to_dict()."""
    raw = {
        "experiment": {
            "name": "z",
            "seed": 0,
            "burn_in": 0,
            "save_loan_tape": save_loan_tape,
        },
        "scenario": [{"preset": "baseline"}],
        "policy": [{"preset": "balanced"}],
    }
    config = parse_config(raw)
    back = parse_config(config.to_dict())
    assert back == config
    assert (back.seed, back.burn_in, back.save_loan_tape) == (0, 0, save_loan_tape)
    assert ("save_loan_tape" in config.to_dict()["experiment"]) is save_loan_tape
