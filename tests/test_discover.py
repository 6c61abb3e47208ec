"""Scenario discovery (experiments.discover): PRIM peeling recovers known boxes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.discover import choose, peel


def uniform(n: int = 1000, dims: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.uniform(size=(n, dims)), columns=[f"x{i + 1}" for i in range(dims)])


def test_peeling_recovers_a_known_box():
    x = uniform()
    y = ((x["x1"] > 0.7) & (x["x2"] < 0.3)).to_numpy()
    trajectory = peel(x, y)
    first = trajectory[0]
    assert (first.coverage, first.mass, first.restricted) == (1.0, 1.0, ())
    assert first.density == pytest.approx(y.mean())
    assert all(a.mass > b.mass for a, b in zip(trajectory, trajectory[1:], strict=False))
    assert trajectory[-1].mass >= 0.05
    box = trajectory[choose(trajectory, 0.8)[0]]
    assert set(box.restricted) == {"x1", "x2"}  # x3 does not matter
    assert box.limits["x1"][0] == pytest.approx(0.7, abs=0.03) and box.limits["x1"][1] > 0.99
    assert box.limits["x2"][1] == pytest.approx(0.3, abs=0.03) and box.limits["x2"][0] < 0.01
    assert box.coverage >= 0.95 and box.density >= 0.95
    assert box.mass == pytest.approx(0.3 * 0.3, abs=0.02)  # the true box holds 9% of runs


def test_coverage_density_and_mass_are_counts_of_runs():
    x = uniform(400, 2, seed=3)
    y = (x["x1"] > 0.5).to_numpy()
    for box in peel(x, y):
        inside = np.ones(len(y), dtype=bool)
        for name, (low, high) in box.limits.items():
            inside &= (x[name] >= low).to_numpy() & (x[name] <= high).to_numpy()
        assert inside.sum() == box.runs and y[inside].sum() == box.bad
        assert box.coverage == box.bad / y.sum() and box.mass == box.runs / len(y)
        assert box.density == box.bad / box.runs


def test_categorical_and_grid_inputs():
    rng = np.random.default_rng(1)
    x = uniform(800, 2, seed=1).assign(
        policy=rng.choice(["loose", "tight", "mid"], 800),
        level=rng.integers(0, 4, 800) * 40 + 560,  # a four-level grid, as Morris makes
        relief=rng.choice([True, False], 800),
    )
    y = ((x["policy"] == "loose") & (x["level"] <= 600)).to_numpy()
    box = (trajectory := peel(x, y))[choose(trajectory)[0]]
    assert set(box.restricted) == {"policy", "level"}
    assert box.limits["policy"] == frozenset({"loose"})
    assert box.limits["level"] == (560.0, 600.0)  # whole levels peeled at once
    assert box.density == 1.0 and box.coverage == 1.0


def test_choose_prefers_coverage_then_falls_back_to_the_densest():
    x = uniform(500, 2, seed=2)
    rng = np.random.default_rng(2)
    y = (x["x1"] > 0.8).to_numpy() & (rng.uniform(size=500) < 0.5)  # at most half bad anywhere
    trajectory = peel(x, y)
    index, met = choose(trajectory, 0.9)
    assert not met and trajectory[index].density == max(b.density for b in trajectory)
    index, met = choose(trajectory, 0.3)
    assert met and trajectory[index].density >= 0.3
    assert trajectory[index].coverage == max(b.coverage for b in trajectory if b.density >= 0.3)


def test_peel_refuses_what_it_cannot_peel():
    x = uniform(10, 1)
    with pytest.raises(ValueError, match="no case is bad"):
        peel(x, np.zeros(10, dtype=bool))
    with pytest.raises(ValueError, match="no input varies"):
        peel(x[[]], np.ones(10, dtype=bool))
    with pytest.raises(ValueError, match="one outcome per case"):
        peel(x, np.ones(9, dtype=bool))


# ------------------------------------------------------------------ the discover command
CONFIG = """[experiment]
name = "boxes"
seed = 5
replications = 2

[[scenario]]
preset = "severe_recession"

[[policy]]
preset = "balanced"
[[policy]]
preset = "aggressive"

[sample]
method = "lhs"
n = 300

[sample.ranges]
"scenario.severity" = [0.0, 2.0]
"policy.score_cutoff" = [560, 680]
"population.savings_months" = [0.5, 4.0]
"""


def fake_results(folder, text: str = CONFIG, constant: bool = False):
    """A folder whose losses are high when severity > 1.4, cut-off < 600 and the policy loose."""
    import json
    import tomllib

    from experiments.config import parse_config
    from experiments.design import build_design

    config = parse_config(tomllib.loads(text))
    specs = build_design(config)
    rows = []
    for spec in specs:
        p = spec.params
        worst = (
            p.get("scenario.severity", 0) > 1.4
            and p.get("policy.score_cutoff", 700) < 600
            and spec.policy == "aggressive"
        )
        loss = 0.01 + 0.001 * spec.replication + (0.05 if worst else 0.0)
        rows.append(
            {
                "run_id": spec.run_id,
                "scenario": spec.scenario,
                "policy": spec.policy,
                "replication": spec.replication,
                **p,
                "bad_debt_loss_rate": 0.02 if constant else loss,
                "profit": float("nan") if spec.index == 0 else -loss,
            }
        )
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "summary.parquet")
    runs = [{"run_id": row["run_id"]} for row in rows]
    (folder / "manifest.json").write_text(json.dumps({"config": config.to_dict(), "runs": runs}))
    return folder


def test_discover_command_finds_the_box_of_the_worst_losses(tmp_path, capsys):
    from experiments.cli import main

    folder = fake_results(tmp_path / "boxes")
    args = ["discover", str(folder), "--metric", "bad_debt_loss_rate", "--above-quantile", "0.9"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "above 0.0" in out and "(the 0.9 quantile over runs)" in out
    table = pd.read_csv(folder / "discover.csv")
    chosen = table[table["chosen"]].iloc[0]
    restricted = {"scenario.severity", "policy.score_cutoff", "policy"}
    assert set(chosen["restricted"].split()) == restricted
    assert chosen["policy"] == "aggressive"
    assert chosen["scenario.severity_low"] == pytest.approx(1.4, abs=0.05)
    assert chosen["policy.score_cutoff_high"] == pytest.approx(600, abs=3)
    assert chosen["coverage"] >= 0.9 and chosen["density"] >= 0.9
    report = (folder / "discover.md").read_text()
    assert "| policy | {aggressive} | {aggressive, balanced} |" in report
    # The same runs seen from the other side: low profit.
    args = ["discover", str(folder), "--metric", "profit", "--below-value", "-0.05"]
    assert main(args) == 0
    assert "Note: 1 runs with no value of profit left out" in (folder / "discover.md").read_text()


DISCOVER_BAD = {
    "ambiguous --above": (["--above", "0.9"], "ambiguous option: --above could match"),
    "two thresholds": (
        ["--above-quantile", "0.9", "--below-value", "1"],
        "argument --below-value: not allowed with argument --above-quantile",
    ),
    "no threshold": ([], "one of the arguments --above-quantile --above-value"),
    "quantile outside (0, 1)": (["--above-quantile", "1.5"], "strictly between 0 and 1"),
    "quantile not a number": (["--above-quantile", "high"], "invalid float value: 'high'"),
    "value not finite": (["--above-value", "nan"], "--above-value must be a finite number"),
    "value above every run": (["--above-value", "5"], "no run has bad_debt_loss_rate above 5"),
    "unknown metric": (["--metric", "loss", "--above-value", "0"], "unknown metric 'loss'"),
    "density outside (0, 1]": (
        ["--above-quantile", "0.9", "--min-density", "0"],
        "--min-density must be in (0, 1]",
    ),
}


@pytest.mark.parametrize("case", sorted(DISCOVER_BAD))
def test_discover_bad_arguments_exit_2_with_one_line(case, tmp_path, capsys):
    from experiments.cli import main

    args, fragment = DISCOVER_BAD[case]
    metric = [] if "--metric" in args else ["--metric", "bad_debt_loss_rate"]
    folder = fake_results(tmp_path / "boxes")
    assert main(["discover", str(folder), *metric, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
    assert not (folder / "discover.csv").exists()


def test_discover_needs_varying_inputs_and_outcomes(tmp_path, capsys):
    from experiments.cli import main

    text = CONFIG.split('[[policy]]\npreset = "aggressive"')[0].split("[sample]")[0]
    folder = fake_results(tmp_path / "flat", text)
    args = ["--metric", "bad_debt_loss_rate", "--above-quantile", "0.5"]
    assert main(["discover", str(folder), *args]) == 2
    assert "nothing varies across the runs" in capsys.readouterr().err
    folder = fake_results(tmp_path / "constant", constant=True)
    assert main(["discover", str(folder), *args]) == 2
    assert "no run has bad_debt_loss_rate above 0.02" in capsys.readouterr().err
