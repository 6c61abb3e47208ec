"""Faults: kills at random moments, full or read-only disks, damaged run files."""

import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import experiments.store as store
from experiments.cli import main

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


def run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", str(config), "--out", str(out), "--quiet", "--no-charts", *extra])


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
        if calls["n"] > 14:  # the manifest and a few runs get through, then the disk fails
            tmp = path.with_name(f".{path.name}.partial.tmp")
            tmp.write_bytes(b"half")  # what a real partial write leaves, before it fails
            tmp.unlink()
            raise OSError(code, message, str(path))
        real(path, write)

    monkeypatch.setattr(store, "_atomic_write", failing)
    assert run(config, out, "--workers", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not leftovers(out)
    assert not (out / "summary.parquet").exists()  # nothing consolidated from a partial sweep
    finished = store.finished(out, [])  # no spec given: nothing to check, nothing removed
    assert finished == {}
    monkeypatch.setattr(store, "_atomic_write", real)
    assert run(config, out, "--workers", "1", "--resume") == 0
    assert digests(out) == reference


def test_killed_at_random_moments_then_resumed_ends_identical(config, reference, tmp_path):
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
        proc = subprocess.Popen(
            args + extra,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(1.5, 4.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if kills == 3:
            break
    assert kills >= 1, "no kill landed mid-sweep"
    if (out / "runs").is_dir():  # a kill may land before the folder is made
        (out / "runs" / ".stale.timeseries.parquet.999.tmp").write_bytes(b"half")  # killed write
    assert run(bigger, out, "--workers", "2", "--resume") == 0
    assert digests(out) == expected
    assert not leftovers(out)
