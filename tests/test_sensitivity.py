"""Sensitivity analysis (experiments.sensitivity): the Ishigami function through the pipeline."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import designs
from experiments.cli import main
from experiments.config import parse_config
from experiments.design import build_design, sample_design
from experiments.sensitivity import analyse

NAMES = ("x1", "x2", "x3", "dummy")
PROBLEM = designs.Problem(names=NAMES, bounds=((-np.pi, np.pi),) * 3 + ((0.0, 1.0),))
# Ishigami (a = 7, b = 0.1): analytic first-order and total indices; the dummy has none.
S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0, "dummy": 0.0}
ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437, "dummy": 0.0}


def ishigami(x1: np.ndarray, x2: np.ndarray, x3: np.ndarray) -> np.ndarray:
    return np.sin(x1) + 7 * np.sin(x2) ** 2 + 0.1 * x3**4 * np.sin(x1)


def evaluate(points: list[dict], noise: np.ndarray | None = None) -> pd.DataFrame:
    """Outputs of each point (one row per replication when ``noise`` has one column each)."""
    x = np.array([[p[n] for n in NAMES] for p in points])
    y = ishigami(x[:, 0], x[:, 1], x[:, 2])
    if noise is None:
        return pd.DataFrame({"point": np.arange(len(y)), "y": y})
    reps = noise.shape[1]
    return pd.DataFrame(
        {"point": np.repeat(np.arange(len(y)), reps), "y": (y[:, None] + noise).ravel()}
    )


def indices(method: str, n: int, noise=None, **options) -> pd.DataFrame:
    unit, points = designs.sample_points(method, PROBLEM, n, seed=5, options=options)
    outputs = evaluate(points, noise(len(points)) if noise else None)
    table = analyse(method, PROBLEM, unit, outputs, ["y"], seed=5, options=options)
    return table.set_index("lever")


def test_ishigami_sobol_indices_match_the_known_values():
    table = indices("sobol_indices", 1024)
    for lever in NAMES:
        row = table.loc[lever]
        assert abs(row["S1"] - S1[lever]) <= row["S1_conf"] + 0.02, (lever, row)
        assert abs(row["ST"] - ST[lever]) <= row["ST_conf"] + 0.02, (lever, row)
        assert 0 <= row["ST_conf"] < 0.15
    # A lever with no effect: ST within its confidence interval of 0.
    assert abs(table.loc["dummy", "ST"]) <= table.loc["dummy", "ST_conf"]
    assert table.loc["dummy", "rank"] == 4 and table.loc["x1", "rank"] == 1


def test_ishigami_morris_ranks_the_levers_and_finds_the_interaction():
    table = indices("morris", 100, levels=4)
    assert set(table.loc[["x1", "x2"], "rank"]) == {1, 2}
    assert table.loc["dummy", "mu_star"] == 0 and table.loc["dummy", "sigma"] == 0
    x3 = table.loc["x3"]
    # x3 acts only with x1 (0.1 x3^4 sin x1): effects of both signs, a large spread.
    assert x3["mu_star"] > 3 * x3["mu_star_conf"] > 0
    assert abs(x3["mu"]) < x3["mu_star"] / 2 and x3["sigma"] > x3["mu_star"]


def test_replications_are_averaged_and_common_noise_leaves_a_dummy_at_zero():
    # Noise drawn per replication and shared by every point, as the sweep's seeds are.
    rng = np.random.default_rng(1)
    table = indices("sobol_indices", 512, noise=lambda n: np.tile(rng.normal(0, 1, 4), (n, 1)))
    assert table.loc["dummy", "ST"] == 0 and table.loc["dummy", "ST_conf"] == 0
    assert (table["replications"] == 4).all()
    assert abs(table.loc["x1", "ST"] - ST["x1"]) <= table.loc["x1", "ST_conf"] + 0.02
    # Noise independent from point to point is not averaged away: it shows as a dummy ST of
    # about the reported noise share, outside the dummy's interval around 0.
    table = indices("sobol_indices", 512, noise=lambda n: rng.normal(0, 1, (n, 4)))
    dummy = table.loc["dummy"]
    assert dummy["ST"] > dummy["ST_conf"]
    assert abs(dummy["ST"] - dummy["noise_share"]) <= 2 * dummy["ST_conf"]


def test_a_missing_point_and_a_design_without_analysis_are_refused():
    unit, points = designs.sample_points("morris", PROBLEM, 4, seed=1, options={"levels": 4})
    outputs = evaluate(points).iloc[1:]
    with pytest.raises(ValueError, match="1 of 20 design points of the design have no output"):
        analyse("morris", PROBLEM, unit, outputs, ["y"], seed=1, options={"levels": 4})
    with pytest.raises(ValueError, match="method 'lhs' has no sensitivity analysis"):
        analyse("lhs", PROBLEM, unit, evaluate(points), ["y"], seed=1)


# ------------------------------------------------------------------ a results folder
LEVERS = {  # lever -> Ishigami input it stands for (ranges mapped onto [-pi, pi])
    "policy.max_dti": "x1",
    "population.savings_months": "x2",
    "scenario.severity": "x3",
    "policy.collection_intensity": "dummy",
}
CONFIG = """[experiment]
name = "ishigami"
seed = 3
replications = {replications}

[[scenario]]
preset = "severe_recession"

[[policy]]
preset = "balanced"

[sample]
method = "{method}"
n = {n}

[sample.ranges]
"policy.max_dti" = [0.2, 0.6]
"population.savings_months" = [0.5, 4.0]
"scenario.severity" = [0.0, 2.0]
"policy.collection_intensity" = [0.1, 1.0]
"""


def fake_results(folder: Path, text: str, drop: int = 0) -> Path:
    """A results folder whose runs' bad_debt_loss_rate is the Ishigami function of the levers."""
    config = parse_config(__import__("tomllib").loads(text))
    specs = build_design(config)
    rows = []
    for spec in specs[drop:]:
        u = {}
        for lever, name in LEVERS.items():
            if lever in spec.params:
                low, high = config.sample.ranges[lever] if config.sample else (0, 1)
                u[name] = -np.pi + 2 * np.pi * (spec.params[lever] - low) / (high - low)
        y = ishigami(u["x1"], u["x2"], u["x3"]) + 0.5 * (spec.replication - 1)
        rows.append(
            {
                "run_id": spec.run_id,
                "scenario": spec.scenario,
                "policy": spec.policy,
                "replication": spec.replication,
                "seed": spec.seed,
                **spec.params,
                "bad_debt_loss_rate": y,
                "profit": float("nan") if spec.index < config.replications else -y,
                "peak_overdue_rate": 0.1,
            }
        )
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "summary.parquet")
    manifest = {"config": config.to_dict(), "runs": [s.to_dict() for s in specs]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_sensitivity_command_on_a_results_folder(tmp_path, capsys):
    text = CONFIG.format(method="sobol_indices", n=256, replications=2)
    folder = fake_results(tmp_path / "ishigami", text)
    metrics = ["bad_debt_loss_rate", "profit", "peak_overdue_rate"]
    assert main(["sensitivity", str(folder), *(f"--metric={m}" for m in metrics)]) == 0
    out = capsys.readouterr().out
    assert "Sobol' indices, Saltelli's scheme: 256 base points x (4 + 2) = 1536" in out
    assert "mean over replications of each design point" in out
    table = pd.read_csv(folder / "sensitivity.csv")
    loss = table[table["metric"] == "bad_debt_loss_rate"].set_index("lever")
    for lever, name in LEVERS.items():
        assert abs(loss.loc[lever, "ST"] - ST[name]) <= loss.loc[lever, "ST_conf"] + 0.03
        assert abs(loss.loc[lever, "S1"] - S1[name]) <= loss.loc[lever, "S1_conf"] + 0.03
    dummy = loss.loc["policy.collection_intensity"]
    assert abs(dummy["ST"]) <= dummy["ST_conf"]
    assert table[table["metric"] == "profit"]["ST"].isna().all()  # a point has no profit
    assert (table[table["metric"] == "peak_overdue_rate"]["ST"] == 0).all()  # constant
    report = (folder / "sensitivity.md").read_text()
    assert "### bad_debt_loss_rate" in report and "Note: profit: 2 runs give no value" in report
    for metric in metrics:  # PNG and PDF, as the experiment charts (one panel: 4.5 in)
        width, height = png_size(folder / "figures" / f"sensitivity_{metric}.png")
        assert width == 4.5 * 300
        assert (folder / "figures" / f"sensitivity_{metric}.pdf").read_bytes().startswith(b"%PDF")


def _drawn_texts(monkeypatch, folder: Path, *args: str) -> dict[str, list[str]]:
    """Run the sensitivity command; return each saved figure's visible texts by name."""
    from matplotlib.text import Text

    from experiments import charts

    texts, save = {}, charts.save_figure

    def keep(fig, out, name):
        shown = [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
        texts[name] = [" ".join(t.split()) for t in shown]  # wrapped labels on one line
        return save(fig, out, name)

    monkeypatch.setattr(charts, "save_figure", keep)
    assert main(["sensitivity", str(folder), *args]) == 0
    return texts


def test_sensitivity_charts_name_levers_metrics_scenarios_and_policies_readably(
    tmp_path, monkeypatch, capsys
):
    text = CONFIG.format(method="morris", n=4, replications=1)
    text = text.replace('[[policy]]\npreset = "balanced"', POLICIES)
    folder = fake_results(tmp_path / "m", text)
    texts = _drawn_texts(monkeypatch, folder, "--metric=bad_debt_loss_rate", "--metric=profit")
    assert sorted(texts) == ["sensitivity_bad_debt_loss_rate", "sensitivity_profit"]
    loss = texts["sensitivity_bad_debt_loss_rate"]
    assert "Morris sensitivity: Bad-debt loss rate (of lending)" in loss
    assert {"Severe recession / Balanced", "Severe recession / Loose P2P"} <= set(loss)
    levers = {"Max. debt-to-income", "Savings buffer", "Shock severity", "Collection intensity"}
    assert levers <= set(loss)
    assert "Effect of a change over the lever's range (%)" in loss
    assert (
        "Effect of a change over the lever's range (currency units)" in texts["sensitivity_profit"]
    )
    raw = [t for ts in texts.values() for t in ts if re.search(r"[a-z]_[a-z]|[a-z]\.[a-z]", t)]
    assert raw == [] and not any(" x " in t for ts in texts.values() for t in ts)
    for name in texts:
        assert (folder / "figures" / f"{name}.pdf").is_file()
        assert png_size(folder / "figures" / f"{name}.png")[0] <= 6.7 * 300


POLICIES = '[[policy]]\npreset = "balanced"\n[[policy]]\nname = "loose_p2p"\npreset = "aggressive"'


def test_sensitivity_command_with_morris_matches_the_direct_analysis(tmp_path, capsys):
    text = CONFIG.format(method="morris", n=30, replications=1)
    folder = fake_results(tmp_path / "m", text)
    assert main(["sensitivity", str(folder), "--metric", "bad_debt_loss_rate"]) == 0
    table = pd.read_csv(folder / "sensitivity.csv").set_index("lever")
    config = parse_config(__import__("tomllib").loads(text))
    problem, unit, points = sample_design(config)
    y = pd.read_parquet(folder / "summary.parquet")["bad_debt_loss_rate"].to_numpy()
    direct = designs.morris.analyse(problem, unit, y, seed=3, levels=4)
    assert np.allclose(table.loc[list(direct.index), "mu_star"], direct["mu_star"])
    assert table.loc["policy.collection_intensity", "mu_star"] == 0
    assert "Morris, 30 trajectories x 5 points = 150 design points" in capsys.readouterr().out


def bad_folder(tmp_path: Path, kind: str) -> Path:
    if kind == "grid":
        text = CONFIG.format(method="", n=0, replications=1).split("[sample]")[0]
        text += '[sweep]\n"policy.max_dti" = [0.3, 0.4]\n'
        folder = tmp_path / "grid"
        folder.mkdir()
        config = parse_config(__import__("tomllib").loads(text))
        manifest = {"config": config.to_dict(), "runs": []}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        frame = pd.DataFrame({"run_id": [], "scenario": [], "policy": []}, dtype=str)
        frame.to_parquet(folder / "summary.parquet")
        return folder
    if kind in ("lhs", "sobol"):
        return fake_results(tmp_path / kind, CONFIG.format(method=kind, n=8, replications=1))
    if kind == "missing":
        text = CONFIG.format(method="morris", n=4, replications=1)
        return fake_results(tmp_path / "missing", text, drop=1)
    if kind == "other design":
        folder = fake_results(
            tmp_path / "other", CONFIG.format(method="morris", n=4, replications=1)
        )
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["runs"][0]["run_id"] = "00000-deadbeef"
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return folder
    return tmp_path / "nothing"


BAD = {
    "grid": ([], "was run with a [sweep] grid; sensitivity needs a config with [sample] method"),
    "lhs": ([], "was run with [sample] method 'lhs'; sensitivity needs"),
    "sobol": ([], "('sobol' is a space-filling sequence; Sobol' indices need 'sobol_indices')"),
    "missing": (
        ["--metric=profit"],
        "1 of 20 design points of scenario 'severe_recession', policy 'balanced'",
    ),
    "other design": ([], "manifest.json does not list"),
    "not a folder": ([], "is not a results folder"),
    "unknown metric": (["--metric", "losses"], "argument --metric: unknown metric 'losses'"),
    "metric not stored": (["--metric", "approval_rate"], "'approval_rate' is not a column of"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_sensitivity_bad_input_exits_2_with_one_line(case, tmp_path, capsys):
    args, fragment = BAD[case]
    kind = {"not a folder": "nothing"}.get(case, case)
    kind = "missing" if "metric" in case else kind
    assert main(["sensitivity", str(bad_folder(tmp_path, kind)), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err


def test_run_then_sensitivity_then_discover_on_the_simulator(tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(
        """[experiment]
name = "tiny"
months = 6
borrowers = 300
replications = 2
seed = 4
burn_in = 3

[[scenario]]
preset = "severe_recession"

[sample]
method = "morris"
n = 2
[sample.ranges]
"policy.score_cutoff" = [560, 680]
"scenario.severity" = [0.5, 1.5]
"""
    )
    out = tmp_path / "out"
    assert (
        main(["run", str(config), "--out", str(out), "--workers", "1", "--quiet", "--no-charts"])
        == 0
    )
    assert main(["sensitivity", str(out), "--metric", "approval_rate"]) == 0
    table = pd.read_csv(out / "sensitivity.csv")
    assert list(table["lever"]) == ["policy.score_cutoff", "scenario.severity"]
    assert (table["points"] == 6).all() and (table["replications"] == 2).all()
    assert (out / "figures" / "sensitivity_approval_rate.png").is_file()
    args = ["discover", str(out), "--metric", "approval_rate", "--below-quantile", "0.5"]
    assert main(args) == 0
    assert (out / "discover.md").read_text().startswith("# Scenario discovery: tiny")
