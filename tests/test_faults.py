"""Faults: kills at random moments, signals, concurrent runs, full disks, damaged folders.

Each test names the fault of issue 14 it covers and what happened before the fix.
"""

import contextlib
import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import experiments.execute
import experiments.store as store
from experiments.cli import main
from experiments.config import load_config
from experiments.design import build_design, param_types

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("summary", "timeseries", "rollrates", "vintages")
CONFIG = """[experiment]
name = "faults"
months = 12
borrowers = {borrowers}
replications = 3
seed = 5
burn_in = 12

[[scenario]]
preset = "baseline"
[[scenario]]
preset = "pandemic"

[[policy]]
preset = "conservative"
[[policy]]
preset = "aggressive"
"""


def digests(folder: Path) -> dict[str, str]:
    return {t: hashlib.sha256((folder / f"{t}.parquet").read_bytes()).hexdigest() for t in TABLES}


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


#: A sweep long enough to be caught mid-way: 16 runs of about 0.4 s, 2 workers.
SLOW_CONFIG = """[experiment]
name = "slow"
months = 12
borrowers = 40000
replications = 8
seed = 5
burn_in = 12

[[scenario]]
preset = "baseline"
[[scenario]]
preset = "pandemic"
"""


def run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", str(config), "--out", str(out), "--quiet", "--no-charts", *extra])


def done(folder: Path) -> set[str]:
    return {p.name.removesuffix(".done.json") for p in (folder / "runs").glob("*.done.json")}


def start(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``run CONFIG`` in a process of its own (its own session, so no signal reaches us)."""
    args = [sys.executable, "-m", "experiments", "run", str(config), "--out", str(out)]
    return subprocess.Popen(
        [*args, "--quiet", "--no-charts", *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Poll ``condition`` until true while ``proc`` runs (fail if it ends first)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the sweep ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def descendants(pid: int) -> list[int]:
    psutil = pytest.importorskip("psutil")
    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


def alive(pids: list[int]) -> list[int]:
    psutil = pytest.importorskip("psutil")
    living = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.append(pid)
        except psutil.NoSuchProcess:
            pass
    return living


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pids)


def stop_group(proc: subprocess.Popen) -> None:
    """Kill what is left of a sweep's process group (nothing, when workers die with it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


@pytest.fixture
def slow(tmp_path) -> Path:
    path = tmp_path / "slow.toml"
    path.write_text(SLOW_CONFIG)
    return path


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "faults.toml"
    path.write_text(CONFIG.format(borrowers=2000))
    return path


@pytest.fixture(scope="module")
def reference(config, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("ref") / "out"
    assert run(config, out, "--workers", "1") == 0
    return digests(out)


def test_damaged_run_files_are_detected_and_redone(config, reference, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(config, out, "--workers", "1") == 0
    runs = sorted((out / "runs").glob("*.timeseries.parquet"))
    data = runs[0].read_bytes()
    runs[0].write_bytes(data[: len(data) // 2])  # truncated
    runs[1].write_bytes(b"not parquet at all")  # corrupt
    marker = sorted((out / "runs").glob("*.done.json"))[2]
    marker.write_text("{")  # damaged marker
    assert run(config, out, "--workers", "1", "--resume") == 0
    assert "3 done now" in capsys.readouterr().out
    assert digests(out) == reference


@pytest.mark.parametrize(
    ("code", "message"),
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")],
)
def test_full_or_read_only_disk_stops_with_one_line_and_no_partial_files(
    config, reference, tmp_path, monkeypatch, capsys, code, message
):
    out = tmp_path / "out"
    real = store._atomic_write
    calls = {"n": 0}

    def failing(path, write):
        calls["n"] += 1
        if calls["n"] > 14 and path.parent.name == "runs":  # a few runs get through, then
            # the disk fails for run files (the manifest can still say why the sweep stopped)
            tmp = path.with_name(f".{path.name}.partial.tmp")
            tmp.write_bytes(b"half")  # what a real partial write leaves, before it fails
            tmp.unlink()
            raise OSError(code, message, str(path))
        real(path, write)

    monkeypatch.setattr(store, "_atomic_write", failing)
    assert run(config, out, "--workers", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert ".parquet'" in err or ".json'" in err  # names the file being written
    assert not leftovers(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "stopped" and message in manifest["error"]  # was "running"
    assert not (out / "summary.parquet").exists()  # nothing consolidated from a partial sweep
    finished = store.finished(out, [])  # no spec given: nothing to check, nothing removed
    assert finished == {}
    monkeypatch.setattr(store, "_atomic_write", real)
    assert run(config, out, "--workers", "1", "--resume") == 0
    assert digests(out) == reference


@pytest.mark.slow  # 12 s; test_resume_after_kill covers one kill by default (-m slow)
def test_killed_at_random_moments_then_resumed_ends_identical(config, reference, tmp_path):
    """SIGKILL of the main process (only) at random moments of the sweep, then --resume.

    Its pool workers die with it (before: they were left running as orphans).
    """
    bigger = tmp_path / "faults.toml"
    bigger.write_text(CONFIG.format(borrowers=20000))
    ref_out = tmp_path / "ref"
    assert run(bigger, ref_out, "--workers", "2") == 0
    expected = digests(ref_out)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(20261126)
    args = [sys.executable, "-m", "experiments", "run", str(bigger), "--out", str(out)]
    args += ["--workers", "2", "--quiet", "--no-charts"]
    kills = 0
    for _ in range(8):  # kill at random moments until 3 kills landed (or 8 attempts)
        extra = ["--resume"] if out.exists() else []
        before = len(done(out)) if (out / "runs").exists() else 0
        proc = subprocess.Popen(
            args + extra,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # A random moment of the sweep itself (not of the interpreter starting): after a
        # random number of further runs, plus up to one run's time.
        target = before + rng.randint(0, max(0, 11 - before) // 2)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "runs").exists() and len(done(out)) >= target:
                break
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.15))
        family = descendants(proc.pid) if proc.poll() is None else []
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # the main process only
            kills += 1
        proc.wait(timeout=60)
        try:
            assert gone_within(family, 10), "workers outlived their parent"
        finally:
            stop_group(proc)
        if kills == 3:
            break
    assert kills >= 1, "no kill landed mid-sweep"
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "runs" / ".00003-0123abcd.timeseries.parquet.999.tmp").write_bytes(b"half")  # killed
    assert run(bigger, out, "--workers", "2", "--resume") == 0
    assert digests(out) == expected
    assert not leftovers(out)


def test_a_running_sweep_locks_its_folder_and_stops_cleanly_on_sigterm(slow, tmp_path, capsys):
    """Before: two sweeps on one --out ran together (the same config twice crashed on a temp
    file the other had removed; two configs left a manifest describing the wrong runs), and
    SIGTERM killed the main process only: workers went on writing runs, then blocked for
    ever on a pipe nobody read, and the manifest said "running"."""
    out = tmp_path / "out"
    proc = start(slow, out, "--workers", "2")
    try:
        wait_for(lambda: (out / "runs").is_dir() and len(done(out)) >= 1, proc)
        family = descendants(proc.pid)
        assert len(family) >= 2  # the pool's workers (and multiprocessing's resource tracker)
        manifest = (out / "manifest.json").read_text()
        other = tmp_path / "other.toml"
        other.write_text(SLOW_CONFIG.replace("seed = 5", "seed = 6"))
        for config, flag in ((slow, "--resume"), (other, "--force")):
            started = time.monotonic()
            assert run(config, out, "--workers", "1", flag) == 2
            err = capsys.readouterr().err
            assert err == (
                f"error: '{out}' is in use by another python -m experiments process "
                f"(pid {proc.pid}); wait for it to finish or choose another --out\n"
            )
            assert time.monotonic() - started < 5  # at once, not after a sweep
        assert (out / "manifest.json").read_text() == manifest  # nothing cleared or rewritten
        for command in (["charts", str(out)], ["compare", str(out)]):
            assert main(command) == 2
            assert "is in use by another" in capsys.readouterr().err
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # the main process only, as `kill PID` does
        _, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err == "error: terminated by SIGTERM; finished runs are kept, continue with --resume\n"
    assert gone_within(family, 10), "workers outlived the sweep"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["stopped_by"] == "SIGTERM"
    kept = done(out)
    assert manifest["counts"] == {"total": 16, "finished": len(kept)} and 1 <= len(kept) < 16
    time.sleep(0.3)
    assert done(out) == kept  # nobody writes any more
    with store.lock_folder(out):  # the lock went with the process: a resume may start
        pass


def test_a_manifest_left_running_by_a_killed_sweep_is_settled_once_the_lock_is_free(slow, tmp_path):
    """Before: SIGKILL of the sweep left manifest.json saying "running" for ever (until a
    --resume). Now the next command that takes the folder's lock finds no writer and
    marks the run interrupted (killed); while a sweep runs, nothing is touched."""
    out = tmp_path / "out"
    proc = start(slow, out, "--workers", "1")
    try:
        wait_for(lambda: (out / "runs").is_dir() and len(done(out)) >= 1, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        stop_group(proc)
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    with store.lock_folder(out, create=False) as locked:
        assert locked
        assert store.settle_killed_run(out)
        assert not store.settle_killed_run(out)  # once
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and "killed" in manifest["stopped_by"]
    # Commands that read the folder settle it too (here after a second kill).
    manifest["status"] = "running"
    (out / "manifest.json").write_text(json.dumps(manifest))
    main(["charts", str(out)])
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


def test_a_dead_worker_fails_only_the_runs_it_did_not_store(slow, tmp_path):
    """Before: a worker's death marked every run of its batch failed, stored ones included,
    so the manifest counted more runs than the design (finished + failed > total)."""
    out = tmp_path / "out"
    proc = start(slow, out, "--workers", "2")
    specs = build_design(load_config(slow))
    ids = [s.run_id for s in specs]  # batches of 2: (0, 1), (2, 3), ...

    def half_a_batch_stored() -> bool:
        stored = done(out) if (out / "runs").is_dir() else set()
        return any(ids[i] in stored and ids[i + 1] not in stored for i in range(0, 16, 2))

    try:
        wait_for(half_a_batch_stored, proc)
        workers = [
            p for p in descendants(proc.pid) if "resource_tracker" not in " ".join(_cmdline(p))
        ]
        for pid in workers:
            os.kill(pid, signal.SIGKILL)  # as the system's out-of-memory killer would
        proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 1
    manifest = json.loads((out / "manifest.json").read_text())
    stored, counts = done(out), manifest["counts"]
    failed = {f["run_id"] for f in manifest["failures"]}
    assert not failed & stored  # no stored run is counted as failed
    assert counts["finished"] == len(stored) == counts["done_now"] + counts["skipped"]
    assert counts["failed"] == len(failed) == 16 - len(stored)
    assert all("worker process died" in f["error"] for f in manifest["failures"])


def _cmdline(pid: int) -> list[str]:
    psutil = pytest.importorskip("psutil")
    try:
        return psutil.Process(pid).cmdline()
    except psutil.NoSuchProcess:
        return []


def test_lost_batch_keeps_the_runs_stored_before_the_worker_died(config, tmp_path):
    cfg = load_config(config)
    specs = build_design(cfg)[:3]
    out = tmp_path / "out"
    for spec in specs[:2]:
        result = experiments.execute.simulate(cfg, spec)
        store.write_run(out, spec, result, 1.5, param_types(cfg))
    exc = BrokenProcessPool("A process in the process pool was terminated abruptly")
    outcomes = experiments.execute._lost_batch(out, specs, exc, store.TABLES)
    assert [o.ok for o in outcomes] == [True, True, False]
    assert outcomes[0].seconds == 1.5 and "worker process died" in outcomes[2].error


def test_lock_is_held_for_the_whole_run(config, tmp_path, capsys):
    out = tmp_path / "out"
    with store.lock_folder(out):
        assert run(config, out, "--workers", "1") == 2
        assert "is in use by another" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [store.LOCK]
    assert run(config, out, "--workers", "1") == 0
    plain = tmp_path / "plain"
    plain.mkdir()
    for command in ("charts", "compare"):  # readers create nothing, not even a lock file
        assert main([command, str(plain)]) == 2
        assert "is not a results folder" in capsys.readouterr().err
    assert list(plain.iterdir()) == []


def test_an_altered_run_file_with_the_same_row_count_is_redone(config, reference, tmp_path, capsys):
    """Before: resume checked row counts only, so an altered value survived into the tables."""
    out = tmp_path / "out"
    assert run(config, out, "--workers", "1") == 0
    path = sorted((out / "runs").glob("*.summary.parquet"))[4]
    table = pq.read_table(path)
    column = table.schema.get_field_index("profit")
    altered = table.set_column(column, "profit", pa.array([123.0], pa.float64()))
    pq.write_table(altered, path)
    assert pq.read_metadata(path).num_rows == 1  # same rows: only the content hash tells
    capsys.readouterr()
    assert run(config, out, "--workers", "1", "--resume") == 0
    assert "1 done now, 11 skipped" in capsys.readouterr().out
    assert digests(out) == reference


def test_more_replications_resume_runs_only_the_new_ones(tmp_path, capsys):
    """Replications 4 -> 8 with --resume: the 4 finished stay (seeds come from
    SeedSequence.spawn, so replication k has the same seed); before, the config hash changed
    and --resume refused. The folder ends bit-identical to a fresh run of 8."""
    text = CONFIG.format(borrowers=300).replace("months = 12", "months = 6")
    text = text.replace('[[scenario]]\npreset = "pandemic"\n', "")
    four, eight = tmp_path / "four.toml", tmp_path / "eight.toml"
    four.write_text(text.replace("replications = 3", "replications = 4"))
    eight.write_text(text.replace("replications = 3", "replications = 8"))
    fresh = tmp_path / "fresh"
    assert run(eight, fresh, "--workers", "1") == 0
    out = tmp_path / "out"
    assert run(four, out, "--workers", "1") == 0
    capsys.readouterr()
    assert run(eight, out, "--workers", "1", "--resume") == 0
    assert "8 done now, 8 skipped" in capsys.readouterr().out  # 2 policies x 4 new
    assert digests(out) == digests(fresh)
    assert sorted(os.listdir(out / "runs")) == sorted(os.listdir(fresh / "runs"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["skipped"] == 8 and manifest["status"] == "complete"
    assert run(four, out, "--workers", "1", "--resume") == 2  # fewer: finished runs dropped
    err = capsys.readouterr().err
    assert "has 4 replications, fewer than the 8" in err and err.count("\n") == 1
    other = tmp_path / "other.toml"
    other.write_text(eight.read_text().replace("months = 6", "months = 7"))
    assert run(other, out, "--workers", "1", "--resume") == 2
    assert "only replications may be added" in capsys.readouterr().err
    assert digests(out) == digests(fresh)


def test_force_deletes_only_what_the_tool_wrote_and_follows_no_link(
    config, drawn, tmp_path, capsys
):
    """Before: --force removed figures/ and runs/ whole (the user's files in them too) and
    followed a symbolic link (rmtree on the link's folder)."""
    out = tmp_path / "out"
    shutil.copytree(drawn, out)
    from experiments import charts

    written = set(charts.read_record(out / "figures")) | {charts.MANIFEST}
    assert {p.name for p in (out / "figures").iterdir()} == written
    (out / "figures" / "my_notes.txt").write_text("mine")
    (out / "figures" / "my_plot.png").write_bytes(b"mine")
    (out / "runs" / "README").write_text("mine")
    (out / "runs" / ".draft.123.tmp").write_text("mine")  # not a temporary file of ours
    (out / "keep.txt").write_text("mine")
    (out / ".notes.1.tmp").write_text("mine")
    (out / "runs" / ".00003-0123abcd.summary.parquet.77.tmp").write_text("a killed write")
    assert run(config, out, "--workers", "1", "--force") == 0
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["my_notes.txt", "my_plot.png"]
    for mine in ("runs/README", "runs/.draft.123.tmp", "keep.txt", ".notes.1.tmp"):
        assert (out / mine).read_text() == "mine"
    assert not (out / "runs" / ".00003-0123abcd.summary.parquet.77.tmp").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "01_timeseries_precious.png").write_bytes(b"precious")
    shutil.rmtree(out / "figures")
    (out / "figures").symlink_to(elsewhere)
    before = sorted(p.name for p in out.rglob("*"))
    assert run(config, out, "--workers", "1", "--force") == 2
    err = capsys.readouterr().err
    assert "figures' is a symbolic link, which --force neither follows nor deletes" in err
    assert err.count("\n") == 1
    assert sorted(p.name for p in out.rglob("*")) == before  # nothing deleted
    assert (elsewhere / "01_timeseries_precious.png").read_bytes() == b"precious"


def test_storage_errors_name_the_real_file(config, tmp_path, monkeypatch, capsys):
    """Before: a full disk inside pyarrow's writer was reported as "...: 'None'"."""

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")  # no file name, as pyarrow's

    monkeypatch.setattr(pq, "write_table", full)
    out = tmp_path / "out"
    assert run(config, out, "--workers", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No space left on device: '") and err.count("\n") == 1
    assert "None" not in err and f"{out / 'runs'}{os.sep}" in err and ".parquet'" in err


@pytest.fixture(scope="module")
def drawn(config, tmp_path_factory) -> Path:
    """A finished folder with the figures the tool draws (and its record of them)."""
    out = tmp_path_factory.mktemp("drawn") / "out"
    assert run(config, out, "--workers", "1") == 0
    assert main(["charts", str(out)]) == 0
    return out


def _manifest_edit(edit):
    def damage(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        edit(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))

    return damage


def _rename_policy(manifest):
    manifest["config"]["policy"][1]["name"] = "reckless"


def _other_experiment(manifest):
    manifest["config"]["experiment"]["seed"] = 6
    for spec in manifest["runs"]:
        spec["run_id"] = spec["run_id"][:6] + "00000000"


def _swept(manifest):
    manifest["config"]["sweep"] = {"policy.max_dti": [0.3, 0.4]}


DAMAGES = {
    "manifest not JSON": (
        lambda f: (f / "manifest.json").write_text("{"),
        "manifest.json is unreadable",
    ),
    "manifest a list": (
        lambda f: (f / "manifest.json").write_text("[1, 2]"),
        "manifest.json holds no experiment config",
    ),
    "manifest without config": (
        _manifest_edit(lambda m: m.pop("config")),
        "manifest.json holds no experiment config",
    ),
    "manifest with an invalid config": (
        _manifest_edit(lambda m: m["config"]["experiment"].pop("seed")),
        "manifest.json holds an invalid config (config [experiment] needs 'seed'",
    ),
    "manifest without runs": (_manifest_edit(lambda m: m.pop("runs")), "lists no runs"),
    "truncated summary": (
        lambda f: (f / "summary.parquet").write_bytes((f / "summary.parquet").read_bytes()[:100]),
        "summary.parquet is missing or damaged",
    ),
    "manifest of another experiment (was 'no finished runs', exit 0)": (
        _manifest_edit(_other_experiment),
        "summary.parquet holds 12 run(s) that manifest.json does not list",
    ),
    "manifest with a policy the summary lacks": (
        _manifest_edit(_rename_policy),
        "summary.parquet has policy 'aggressive', which the config in manifest.json does not",
    ),
    "manifest of a sweep (was KeyError)": (
        _manifest_edit(_swept),
        ".parquet does not match manifest.json (columns policy.max_dti expected)",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGES))
@pytest.mark.parametrize("command", ["charts", "compare"])
def test_damaged_folders_give_one_line_and_keep_their_figures(
    drawn, tmp_path, capsys, case, command
):
    """Before: tracebacks (JSONDecodeError, KeyError, ArrowInvalid, ValueError), figures
    deleted before failing, or "no finished runs to compare" with exit 0."""
    damage, fragment = DAMAGES[case]
    folder = tmp_path / "d"
    shutil.copytree(drawn, folder)
    damage(folder)
    before = {p.name: p.read_bytes() for p in (folder / "figures").iterdir()}
    assert main([command, str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: results folder '{folder}'") and err.count("\n") == 1, err
    assert fragment in err
    assert {p.name: p.read_bytes() for p in (folder / "figures").iterdir()} == before
    assert not (folder / "comparison.csv").exists()


def test_charts_checks_every_table_before_replacing_a_figure(drawn, tmp_path, capsys):
    """Before: a missing timeseries.parquet deleted every figure, then failed with 'None'."""
    folder = tmp_path / "d"
    shutil.copytree(drawn, folder)
    (folder / "timeseries.parquet").unlink()
    before = sorted(p.name for p in (folder / "figures").iterdir())
    assert main(["charts", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "timeseries.parquet is missing or damaged" in err and "None" not in err
    assert sorted(p.name for p in (folder / "figures").iterdir()) == before


def test_comparison_csv_is_written_atomically(drawn, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "d"
    shutil.copytree(drawn, folder)
    (folder / "comparison.csv").write_text("previous\n")

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store.os, "fsync", failing_fsync)
    assert main(["compare", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: Input/output error: '{folder / 'comparison.csv'}'\n"
    assert (folder / "comparison.csv").read_text() == "previous\n"
    assert not leftovers(folder)
    monkeypatch.undo()
    assert main(["compare", str(folder)]) == 0
    assert len(pd.read_csv(folder / "comparison.csv")) > 0


def test_sigterm_raises_terminated_and_an_ignored_sighup_stays_ignored():
    """``nohup`` ignores SIGHUP so that a sweep outlives its terminal: it must stay ignored."""
    before_term = signal.getsignal(signal.SIGTERM)
    before_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with (
            pytest.raises(experiments.execute.Terminated, match="SIGTERM"),
            experiments.execute.stop_on_signals(),
        ):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at once
        assert signal.getsignal(signal.SIGTERM) == before_term  # restored
    finally:
        signal.signal(signal.SIGHUP, before_hup)


def test_a_figure_that_cannot_be_drawn_loses_no_result(
    config, reference, tmp_path, monkeypatch, capsys
):
    """Before: an exception while drawing (e.g. mathtext in a name) was a traceback and
    left the manifest of a finished sweep "running" (then "stopped")."""
    import experiments.charts

    def broken(out_dir):
        raise ValueError("Unknown symbol: \\foo")

    monkeypatch.setattr(experiments.charts, "draw_all", broken)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("warning: the results are complete but the figures could not be")
    assert err.count("\n") == 1 and f"charts {out}" in err
    assert digests(out) == reference
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["figures_error"] == "ValueError: Unknown symbol: \\foo"
    assert main(["charts", str(out)]) == 2
    assert "charts failed on results folder" in capsys.readouterr().err


def test_charts_failing_midway_is_one_line(drawn, tmp_path, monkeypatch, capsys):
    import experiments.charts

    monkeypatch.setattr(experiments.charts, "draw_all", lambda out: {}["missing"])
    assert main(["charts", str(drawn)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: charts failed on results folder '{drawn}': KeyError: 'missing'\n"


def test_adopting_runs_ignores_ids_it_did_not_give(config, tmp_path):
    """A manifest edited by hand cannot make a resume move or delete files outside runs/."""
    cfg = load_config(config)
    specs = build_design(cfg)
    elsewhere = tmp_path / "elsewhere"
    result = experiments.execute.simulate(cfg, specs[1])
    store.write_run(elsewhere, specs[1], result, 1.0, param_types(cfg))
    before = sorted(p.name for p in (elsewhere / "runs").iterdir())
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    forged = [{**specs[1].to_dict(), "run_id": f"../../elsewhere/runs/{specs[1].run_id}"}]
    assert store.adopt_runs(out, forged, specs) == 0
    assert sorted(p.name for p in (elsewhere / "runs").iterdir()) == before
    assert list((out / "runs").iterdir()) == []


def test_a_file_system_without_locks_runs_unlocked(config, reference, tmp_path, monkeypatch):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(store.fcntl, "flock", no_locks)
    out = tmp_path / "out"
    assert run(config, out, "--workers", "1") == 0
    assert digests(out) == reference
