"""End-to-end tests of ``python -m experiments``: results, determinism, resume, charts, compare."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import experiments.execute
import experiments.runner
from experiments.analysis import SUMMARY_METRICS
from experiments.cli import CONFIG_DIR, main
from experiments.config import load_config
from experiments.design import build_design, build_economy, model_inputs
from model import EXTRA_COLUMNS, METRIC_COLUMNS, CreditEconomy

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("summary", "timeseries", "lender_timeseries", "rollrates", "vintages")

CONFIG = """# Tiny test experiment.
[experiment]
name = "tiny"
months = 12
borrowers = {borrowers}
replications = 2
seed = 11
burn_in = 12

[[scenario]]
preset = "baseline"
[[scenario]]
preset = "severe_recession"

[[policy]]
preset = "conservative"
[[policy]]
name = "loose"
preset = "balanced"
score_cutoff = 560

[sweep]
"policy.max_dti" = [0.3, 0.5]
"""


def write_config(folder: Path, borrowers: int = 400, seed: int = 11) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tiny_{borrowers}_{seed}.toml"
    path.write_text(CONFIG.format(borrowers=borrowers).replace("seed = 11", f"seed = {seed}"))
    return path


def run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", str(config), "--out", str(out), "--quiet", *extra])


def digests(folder: Path) -> dict[str, str]:
    return {t: hashlib.sha256((folder / f"{t}.parquet").read_bytes()).hexdigest() for t in TABLES}


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """A finished results folder (serial run, figures drawn) and its config."""
    folder = tmp_path_factory.mktemp("ref")
    config = write_config(folder)
    assert run(config, folder / "out", "--workers", "1") == 0
    return config, folder / "out"


def test_results_files_and_columns(reference):
    config_path, out = reference
    config = load_config(config_path)
    n_runs = 2 * 2 * 2 * 2
    summary = pd.read_parquet(out / "summary.parquet")
    ids = ["run_id", "scenario", "policy", "replication"]
    assert list(summary.columns) == [*ids, "seed", "policy.max_dti", *SUMMARY_METRICS]
    assert len(summary) == n_runs
    assert list(summary["run_id"]) == sorted(summary["run_id"])
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert list(ts.columns) == [*ids, "policy.max_dti", *METRIC_COLUMNS, *EXTRA_COLUMNS]
    assert len(ts) == n_runs * 12
    assert set(pd.read_parquet(out / "rollrates.parquet")["from_bucket"]) == {
        "current",
        "1-30",
        "31-60",
        "61-90",
        "90+",
    }
    assert {"vintage", "months_on_book", "cum_writeoff_rate"} <= set(
        pd.read_parquet(out / "vintages.parquet").columns
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config_hash"] == config.config_hash()
    assert manifest["seed"] == 11 and len(manifest["runs"]) == n_runs
    assert {"mesa", "numpy", "pandas", "pyarrow"} <= set(manifest["versions"])
    assert manifest["code_version"]
    assert manifest["failures"] == [] and manifest["status"] == "complete"
    assert manifest["timings"]["wall_seconds"] > 0
    pngs = sorted((out / "figures").glob("*.png"))
    assert pngs and len(pngs) == len(list((out / "figures").glob("*.pdf")))


def test_pairing_and_reproducibility(reference):
    config_path, out = reference
    summary = pd.read_parquet(out / "summary.parquet")
    per_rep = summary.groupby("replication")["seed"].nunique()
    assert (per_rep == 1).all()  # same seed for every scenario, policy and point of replication k
    assert summary.groupby("replication")["seed"].first().nunique() == 2
    # A stored run is reproduced by the model alone from its recorded seed.
    config = load_config(config_path)
    spec = build_design(config)[5]
    expected = build_economy(config, spec).run(12)
    ts = pd.read_parquet(out / "timeseries.parquet")
    got = ts[ts["run_id"] == spec.run_id].reset_index(drop=True)
    pd.testing.assert_series_equal(got["profit"], expected["profit"], check_names=False)


def test_workers_do_not_change_results(reference, tmp_path):
    config, out = reference
    assert run(config, tmp_path / "par", "--workers", "2", "--no-charts") == 0
    assert digests(tmp_path / "par") == digests(out)


def test_workers_do_not_change_results_with_zero_seed_and_burn_in(tmp_path):
    """Workers rebuild the config from to_dict(): a 0 must not turn into the default."""
    path = tmp_path / "zero.toml"
    path.write_text(
        '[experiment]\nname = "zero"\nseed = 0\nburn_in = 0\nmonths = 4\nborrowers = 300\n'
        'replications = 2\n[[scenario]]\npreset = "baseline"\n[[policy]]\npreset = "balanced"\n'
    )
    assert run(path, tmp_path / "one", "--workers", "1", "--no-charts") == 0
    assert run(path, tmp_path / "two", "--workers", "2", "--no-charts") == 0
    assert digests(tmp_path / "two") == digests(tmp_path / "one")


def test_resume_after_lost_files(reference, tmp_path):
    config, out = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for table in TABLES:
        (copy / f"{table}.parquet").unlink()
    done = sorted((copy / "runs").glob("*.done.json"))
    for marker in done[3:9]:
        marker.unlink()
    (copy / "runs" / done[10].name.replace("done.json", "summary.parquet")).unlink()
    done[10].unlink()
    assert run(config, copy, "--resume", "--workers", "1", "--no-charts") == 0
    assert digests(copy) == digests(out)
    counts = json.loads((copy / "manifest.json").read_text())["counts"]
    assert counts["skipped"] == len(done) - 7 and counts["done_now"] == 7


def test_resume_after_kill(tmp_path):
    config = write_config(tmp_path, borrowers=3000)
    assert run(config, tmp_path / "whole", "--workers", "1", "--no-charts") == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "experiments",
            "run",
            str(config),
            "--out",
            str(killed),
            "--workers",
            "1",
            "--quiet",
            "--no-charts",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((killed / "runs").glob("*.done.json"))) >= 3:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.parquet").exists()
    assert run(config, killed, "--resume", "--workers", "1", "--no-charts") == 0
    assert digests(killed) == digests(tmp_path / "whole")


def test_existing_results_are_refused_and_untouched(reference, tmp_path, capsys):
    config, out = reference
    before = snapshot(out)
    other = write_config(tmp_path, seed=12)
    assert run(other, out) == 2  # another config's results
    err = capsys.readouterr().err
    assert "--resume" in err and "--force" in err and err.count("\n") == 1
    assert run(other, out, "--resume") == 2
    assert "config differs" in capsys.readouterr().err
    assert run(config, out, "--resume", "--force") == 2
    capsys.readouterr()
    assert snapshot(out) == before


def test_rerunning_a_config_on_its_own_folder_finishes_it(reference, tmp_path, monkeypatch):
    """The README's quickstart command run twice: the second run has nothing to do (the
    same config and code: it resumes, as with --resume), and a folder missing runs is
    finished to the very files of an uninterrupted run."""
    config, out = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    made_by = json.loads((copy / "manifest.json").read_text())["code_version"]
    monkeypatch.setattr(experiments.runner, "code_version", lambda: made_by.removesuffix("+dirty"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["code_version"] = made_by.removesuffix("+dirty")  # as made by a clean commit
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert run(config, copy, "--workers", "1", "--no-charts") == 0
    assert digests(copy) == digests(out)
    assert json.loads((copy / "manifest.json").read_text())["counts"]["done_now"] == 0
    done = sorted((copy / "runs").glob("*.done.json"))
    (copy / "runs" / done[2].name.replace("done.json", "summary.parquet")).unlink()
    done[2].unlink()
    assert run(config, copy, "--workers", "1", "--no-charts") == 0
    assert digests(copy) == digests(out)
    assert json.loads((copy / "manifest.json").read_text())["counts"]["done_now"] == 1


@pytest.mark.parametrize("version", ["a" * 40 + "+dirty", "unknown"])
def test_a_rerun_by_code_with_unseen_edits_is_refused(reference, tmp_path, monkeypatch, version):
    """Uncommitted edits, or a copy outside git, could differ from the code that made the
    folder without showing it: a plain rerun is refused, as another config's would be."""
    config, out = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["code_version"] = version
    (copy / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(experiments.runner, "code_version", lambda: version)
    assert run(config, copy, "--workers", "1", "--no-charts") == 2


def test_force_overwrites(reference, tmp_path):
    config, out = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "keep.txt").write_text("mine")
    assert (
        run(write_config(tmp_path, seed=12), copy, "--force", "--workers", "1", "--no-charts") == 0
    )
    assert digests(copy) != digests(out)
    assert (copy / "keep.txt").read_text() == "mine"
    assert not (copy / "figures").exists()


def test_charts_redrawn_from_files_without_simulating(reference, tmp_path, monkeypatch):
    _, out = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("figures", "runs"))

    def no_simulation(*args, **kwargs):
        raise AssertionError("charts must not simulate")

    monkeypatch.setattr(CreditEconomy, "__init__", no_simulation)
    assert main(["charts", str(copy)]) == 0
    assert sorted(p.name for p in (copy / "figures").iterdir()) == sorted(
        p.name for p in (out / "figures").iterdir()
    )


def test_compare_prints_and_writes_table(reference, tmp_path, capsys):
    _, out = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("figures", "runs"))
    assert main(["compare", str(copy)]) == 0
    text = capsys.readouterr().out
    assert "diff = policy - conservative" in text and "Bad-debt loss rate" in text
    table = pd.read_csv(copy / "comparison.csv")
    assert {
        "scenario",
        "policy.max_dti",
        "metric",
        "policy",
        "mean",
        "ci_low",
        "ci_high",
        "diff",
        "diff_ci_low",
        "diff_ci_high",
    } <= set(table.columns)
    assert len(table) == 2 * 2 * 6 * 2  # scenarios x points x metrics x policies
    assert (table.loc[table["policy"] == "conservative", "diff"] == 0).all()
    assert main(["compare", str(copy), "--baseline", "loose"]) == 0
    assert "diff = policy - loose" in capsys.readouterr().out
    assert main(["compare", str(copy), "--baseline", "nope"]) == 2
    assert "allowed: conservative, loose" in capsys.readouterr().err


def test_failed_run_is_recorded_and_resumable(reference, tmp_path, monkeypatch, capsys):
    config, out = reference
    real = experiments.execute.simulate

    def flaky(config, spec):
        if spec.index == 2:
            raise RuntimeError("boom")
        return real(config, spec)

    monkeypatch.setattr(experiments.execute, "simulate", flaky)
    folder = tmp_path / "flaky"
    assert run(config, folder, "--workers", "1", "--no-charts") == 1
    assert "1 failed" in capsys.readouterr().out
    manifest = json.loads((folder / "manifest.json").read_text())
    (failure,) = manifest["failures"]
    assert failure["spec"]["index"] == 2 and "RuntimeError: boom" in failure["traceback"]
    assert len(pd.read_parquet(folder / "summary.parquet")) == 15
    monkeypatch.setattr(experiments.execute, "simulate", real)
    assert run(config, folder, "--resume", "--workers", "1", "--no-charts") == 0
    assert digests(folder) == digests(out)


def test_list_shows_configs_and_presets(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in (
        "quickstart",
        "macro_scenarios",
        "policy_comparison",
        "severity_sweep",
        "collection_and_relief",
        "severe_recession",
        "pandemic",
        "aggressive",
    ):
        assert name in text


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    assert path.read_text().startswith("# ")
    config = load_config(path)
    assert build_design(config)
    if "[calibration]" in path.read_text():
        from experiments.calibrate import load_calibration

        assert load_calibration(path)[1].targets


def test_a_market_of_two_lenders_runs_as_the_model_does(tmp_path):
    """``lenders = 2`` in a [[policy]]: each run is the two-lender economy of its seed."""
    text = CONFIG.format(borrowers=600).replace(
        "score_cutoff = 560", "score_cutoff = 560\nlenders = 2\nsees_other_loans = false"
    )
    path = tmp_path / "market.toml"
    path.write_text(text + "\n[population]\nborrow_to_repay = true\n")
    assert run(path, tmp_path / "out", "--workers", "1", "--no-charts") == 0
    config = load_config(path)
    spec = next(s for s in build_design(config) if s.policy == "loose")
    policies = model_inputs(config, spec).policy
    assert len(policies) == 2 and not any(p.sees_other_loans for p in policies)
    expected = build_economy(config, spec).run(12)
    ts = pd.read_parquet(tmp_path / "out" / "timeseries.parquet")
    got = ts[ts["run_id"] == spec.run_id].reset_index(drop=True)
    for column in ("active_loans", "overdue_rate", "applications", "profit"):
        assert got[column].astype(float).tolist() == expected[column].astype(float).tolist()
