"""``save_loan_tape = true``: each run's loan tape stored as Parquet, hashed, resumable."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from experiments import store
from experiments.cli import main
from experiments.config import ConfigError, parse_config
from experiments.design import build_design, build_economy
from experiments.runner import run_experiment
from model.tape import COLUMNS

RAW = {
    "experiment": {"name": "tape", "seed": 5, "months": 12, "borrowers": 1500, "replications": 2},
    "scenario": [{"preset": "severe_recession"}],
    "policy": [{"preset": "balanced"}],
}


def _config(save: bool):
    return parse_config({**RAW, "experiment": {**RAW["experiment"], "save_loan_tape": save}})


def _run(config, out, **kw):
    return run_experiment(config, out, workers=1, progress=False, draw=False, **kw)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("tape")
    config = _config(True)
    _run(config, out)
    return config, out


def test_every_run_stores_its_tape_and_the_marker_hashes_it(saved):
    config, out = saved
    for spec in build_design(config):
        path = store.run_file(out, spec.run_id, "loan_tape")
        marker = json.loads(store.run_file(out, spec.run_id, "done").read_text())
        assert path.is_file()
        assert marker["rows"]["loan_tape"] == len(store.read_loan_tape(out, spec.run_id)) > 0
        assert len(marker["sha256"]["loan_tape"]) == 64


def test_the_stored_tape_is_the_runs_tape(saved):
    config, out = saved
    spec = build_design(config)[1]
    eco = build_economy(config, spec)
    eco.run(config.months)
    stored = store.read_loan_tape(out, spec.run_id)
    assert list(stored.columns[:4]) == ["run_id", "scenario", "policy", "replication"]
    assert list(stored.columns[4:]) == list(COLUMNS)
    assert set(stored.run_id) == {spec.run_id} and set(stored.replication) == {1}
    pd.testing.assert_frame_equal(stored[list(COLUMNS)], eco.loan_tape())


def test_the_stored_tapes_add_up_to_the_stored_monthly_write_offs(saved):
    config, out = saved
    monthly = store.read_table(out, "timeseries")
    for spec in build_design(config):
        tape = store.read_loan_tape(out, spec.run_id)
        written = tape.loc[tape.status == "written_off", "written_off"].sum()
        run = monthly[monthly.run_id == spec.run_id]
        assert written == pytest.approx(run.writeoffs.sum(), rel=1e-9)
        assert written > 0  # a recession writes loans off: the check is not vacuous


def test_without_the_key_no_tape_is_stored_and_reading_one_is_a_clear_error(tmp_path):
    config = _config(False)
    assert "save_loan_tape" not in config.to_dict()["experiment"]  # old configs' hash kept
    _run(config, tmp_path)
    run_id = build_design(config)[0].run_id
    assert not store.run_file(tmp_path, run_id, "loan_tape").exists()
    with pytest.raises(ConfigError, match="set save_loan_tape = true") as err:
        store.read_loan_tape(tmp_path, run_id)
    assert "\n" not in str(err.value)


def test_turning_the_tape_on_and_resuming_reruns_only_runs_without_one(tmp_path):
    first = _run(_config(False), tmp_path)
    summary = store.read_table(tmp_path, "summary")
    again = _run(_config(True), tmp_path, resume=True)
    assert (first.done, again.skipped, again.done) == (2, 0, 2)
    pd.testing.assert_frame_equal(store.read_table(tmp_path, "summary"), summary)
    config = _config(True)
    assert all(
        store.run_file(tmp_path, s.run_id, "loan_tape").is_file() for s in build_design(config)
    )
    # More replications, tape on: only the new one runs; the old tapes are carried over.
    more = dataclasses.replace(config, replications=3)
    report = _run(more, tmp_path, resume=True)
    assert (report.skipped, report.done) == (2, 1)


def test_a_damaged_tape_is_found_on_resume_and_its_run_done_again(tmp_path):
    config = _config(True)
    _run(config, tmp_path)
    spec = build_design(config)[0]
    path = store.run_file(tmp_path, spec.run_id, "loan_tape")
    good = path.read_bytes()
    path.write_bytes(good[:-10] + bytes(10))
    with pytest.raises(ConfigError, match="no intact loan tape"):
        store.read_loan_tape(tmp_path, spec.run_id)
    report = _run(config, tmp_path, resume=True)
    assert (report.skipped, report.done) == (1, 1)
    assert path.read_bytes() == good  # the same run, bit for bit


@pytest.mark.parametrize("value", ["yes", 1, 0.0])
def test_a_non_boolean_save_loan_tape_is_a_one_line_error(tmp_path, value, capsys):
    text = (
        '[experiment]\nname = "t"\nseed = 1\nsave_loan_tape = '
        + json.dumps(value)
        + '\n[[scenario]]\npreset = "baseline"\n[[policy]]\npreset = "balanced"\n'
    )
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "save_loan_tape must be true or false" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_tape_dpd_is_thirty_times_the_unpaid_instalments(saved):
    config, out = saved
    tape = store.read_loan_tape(out, build_design(config)[0].run_id)
    open_ = tape[tape.status.isin(["current", "delinquent"])]
    assert np.all(open_.dpd % 30 == 0)
    assert np.all((open_.dpd > 0) == (open_.arrears > 1e-9))


def _two_policies(save: bool, replications: int):
    raw = {
        **RAW,
        "experiment": {**RAW["experiment"], "save_loan_tape": save, "replications": replications},
        "policy": [{"preset": "balanced"}, {"preset": "aggressive"}],
    }
    return parse_config(raw)


def test_tape_on_with_more_replications_moves_the_old_runs_and_tapes_them(tmp_path):
    """Run ids shift when replications are added: finished runs move, then get a tape."""
    _run(_two_policies(False, 2), tmp_path)
    before = store.read_table(tmp_path, "summary").set_index(["policy", "replication"])
    report = _run(_two_policies(True, 3), tmp_path, resume=True)
    assert (report.skipped, report.done) == (0, 6)
    after = store.read_table(tmp_path, "summary").set_index(["policy", "replication"])
    metrics = [c for c in before.columns if c != "run_id"]
    pd.testing.assert_frame_equal(after.loc[before.index, metrics], before[metrics])
    for spec in build_design(_two_policies(True, 3)):
        assert len(store.read_loan_tape(tmp_path, spec.run_id)) > 0


def test_a_tape_deleted_with_the_tape_off_does_not_undo_the_run(tmp_path):
    _run(_config(True), tmp_path)
    for path in (tmp_path / "runs").glob("*.loan_tape.parquet"):
        path.unlink()  # to free disk
    report = _run(_config(False), tmp_path, resume=True)
    assert (report.skipped, report.done) == (2, 0)


def test_a_run_lacking_only_its_tape_keeps_its_files_until_rerun(tmp_path):
    config = _config(False)
    _run(config, tmp_path)
    specs = build_design(config)
    assert store.finished(tmp_path, specs, store.run_tables(True)) == {}
    for spec in specs:  # not finished, but nothing deleted
        assert store.run_file(tmp_path, spec.run_id, "summary").is_file()
        assert store.run_file(tmp_path, spec.run_id, "done").is_file()


def test_parallel_runs_count_the_libraries_pages_once(monkeypatch):
    """Each parallel process needs its own memory; the libraries' pages are shared."""
    import experiments.runner as runner
    from model.economy import BASE_BYTES, LIBRARY_BYTES, memory_estimate

    monkeypatch.setattr(runner, "available_memory", lambda: 1.0)  # refuse, to read the sum
    config = parse_config({**RAW, "experiment": {**RAW["experiment"], "borrowers": 1_000_000}})
    one = memory_estimate(1_000_000, 1)
    own = one - LIBRARY_BYTES + min(one - BASE_BYTES, runner.BURN_IN_CACHE_BYTES)
    for parallel in (1, 4):
        with pytest.raises(ConfigError, match=f"{(own * parallel + LIBRARY_BYTES) / 1e9:.1f} GB "):
            runner._check_memory(config, parallel, 1)


def test_the_memory_check_counts_the_tape(monkeypatch):
    """A sweep that saves tapes needs more memory; the refusal says so up front."""
    import experiments.runner as runner

    monkeypatch.setattr(runner, "available_memory", lambda: 1.5e9)
    raw = {**RAW, "experiment": {**RAW["experiment"], "borrowers": 1_000_000, "months": 60}}
    runner._check_memory(parse_config(raw), 1, 2)  # fits without the tape
    with_tape = {**raw, "experiment": {**raw["experiment"], "save_loan_tape": True}}
    with pytest.raises(ConfigError, match="needs about 2.2 GB"):
        runner._check_memory(parse_config(with_tape), 1, 2)
