"""Dask cluster execution: same files as a local run, worker loss, failures, errors, Slurm.

Everything listens on 127.0.0.1 only; every process started here is stopped by its fixture.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest

import experiments.execute
from experiments.cli import main

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("summary", "timeseries", "rollrates", "vintages")
HOST = "127.0.0.1"

needs_dask = pytest.mark.skipif(
    find_spec("distributed") is None or find_spec("dask_jobqueue") is None,
    reason="needs the cluster extra",
)
pytestmark = pytest.mark.timeout(60)

CONFIG = """# Cluster test experiment.
[experiment]
name = "cluster"
months = {months}
borrowers = {borrowers}
replications = 2
seed = 5
burn_in = 12

[[scenario]]
preset = "baseline"
[[scenario]]
preset = "severe_recession"

[[policy]]
preset = "conservative"
[[policy]]
preset = "balanced"

[sweep]
"policy.max_dti" = [0.3, 0.5]
"""
N_RUNS = 16


def write_config(folder: Path, borrowers: int = 400, months: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cluster_{borrowers}_{months}.toml"
    path.write_text(CONFIG.format(borrowers=borrowers, months=months))
    return path


def run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", str(config), "--out", str(out), "--quiet", "--no-charts", *extra])


def digests(folder: Path) -> dict[str, str]:
    return {t: hashlib.sha256((folder / f"{t}.parquet").read_bytes()).hexdigest() for t in TABLES}


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class DaskProcesses:
    """A ``dask scheduler`` and ``dask worker`` subprocesses on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.address = ""

    def start_scheduler(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        file = self.folder / "scheduler.json"
        self.procs.append(
            self._start(
                "dask_scheduler",
                f"--host={HOST}",
                "--port=0",
                "--no-dashboard",
                f"--scheduler-file={file}",
            )
        )
        deadline = time.monotonic() + 30
        while not file.is_file() and time.monotonic() < deadline:
            assert self.procs[0].poll() is None, "dask scheduler exited"
            time.sleep(0.05)
        time.sleep(0.1)  # the file is written in one go, but let it land
        self.address = json.loads(file.read_text())["address"]
        assert self.address.startswith(f"tcp://{HOST}:")

    def _start(self, module: str, *args: str) -> subprocess.Popen:
        log = (self.folder / f"{module}-{len(self.procs)}.log").open("w")
        return subprocess.Popen(
            [sys.executable, "-m", f"distributed.cli.{module}", *args],
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def add_workers(self, *names: str) -> None:
        """Start single-threaded workers without nannies and wait until they are connected."""
        from distributed import Client

        for name in names:
            proc = self._start(
                "dask_worker",
                self.address,
                f"--host={HOST}",
                "--nthreads=1",
                "--no-nanny",
                "--no-dashboard",
                f"--name={name}",
                "--death-timeout=30",
            )
            self.procs.append(proc)
            self.workers[name] = proc
        with Client(self.address, timeout=10, set_as_default=False) as client:
            client.wait_for_workers(len(self.workers), timeout=30)

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)


def start_sweep(config: Path, out: Path, cluster: DaskProcesses) -> subprocess.Popen:
    """``python -m experiments run`` of ``config`` on ``cluster``, in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "experiments", "run", str(config), "--out", str(out)]
        + ["--quiet", "--no-charts", "--scheduler", cluster.address],
        cwd=out.parent,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_runs(sweep: subprocess.Popen, out: Path, count: int, timeout: float = 40) -> None:
    """Wait until ``count`` runs of ``sweep`` are stored (the sweep still running)."""
    deadline = time.monotonic() + timeout
    while len(list((out / "runs").glob("*.done.json"))) < count:
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture
def dask_processes(tmp_path) -> Iterator[DaskProcesses]:
    cluster = DaskProcesses(tmp_path / "dask")
    try:
        cluster.start_scheduler()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny sweep run locally and serially."""
    folder = tmp_path_factory.mktemp("local")
    config = write_config(folder)
    assert run(config, folder / "out", "--workers", "1") == 0
    return config, folder / "out"


@needs_dask
def test_cluster_run_matches_local_run(reference, dask_processes, tmp_path):
    config, local = reference
    dask_processes.add_workers("w0", "w1")
    out = tmp_path / "cluster"
    assert run(config, out, "--scheduler", dask_processes.address) == 0
    assert digests(out) == digests(local)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["done_now"] == N_RUNS
    assert manifest["timings"]["scheduler"] == dask_processes.address
    assert manifest["timings"]["workers"] == 2
    # Only this process wrote: the workers ran in another folder and wrote nothing there.
    assert sorted(p.name for p in dask_processes.folder.iterdir() if p.suffix != ".log") == [
        "scheduler.json"
    ]
    # Resuming a finished folder on the cluster has nothing to do and changes nothing.
    assert run(config, out, "--resume", "--scheduler", dask_processes.address) == 0
    assert digests(out) == digests(local)


@pytest.mark.slow  # 14 s (run with -m slow)
@needs_dask
def test_sweep_survives_a_killed_worker(dask_processes, tmp_path):
    from distributed import Client

    config = write_config(tmp_path, borrowers=20000, months=48)  # ~0.3 s a run
    start = time.perf_counter()
    assert run(config, tmp_path / "local", "--workers", "1") == 0
    local_seconds = time.perf_counter() - start
    dask_processes.add_workers("w0", "w1")
    out = tmp_path / "cluster"
    sweep = start_sweep(config, out, dask_processes)
    try:
        with Client(dask_processes.address, timeout=10, set_as_default=False) as client:
            wait_for_runs(sweep, out, 3)
            names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
            busy = {names[a] for a, keys in client.processing().items() if keys}
            dask_processes.workers["w0"].send_signal(signal.SIGKILL)
            done_at_kill = len(list((out / "runs").glob("*.done.json")))
            stdout, stderr = sweep.communicate(timeout=40)
            assert len(client.scheduler_info()["workers"]) == 1
    finally:
        stop(sweep)
    assert sweep.returncode == 0, stderr
    assert "w0" in busy and done_at_kill < N_RUNS  # w0 died with runs in progress
    assert f"{N_RUNS} done now" in stdout and "0 failed" in stdout
    assert digests(out) == digests(tmp_path / "local")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["failures"] == [] and manifest["counts"]["finished"] == N_RUNS
    print(f"\nlocal --workers 1: {local_seconds:.1f} s; cluster: {manifest['timings']}")


@needs_dask
def test_scheduler_local(reference, tmp_path):
    config, local = reference
    out = tmp_path / "local_cluster"
    assert run(config, out, "--scheduler", "local", "--workers", "2") == 0
    assert digests(out) == digests(local)
    timings = json.loads((out / "manifest.json").read_text())["timings"]
    assert timings["scheduler"] == "local" and timings["workers"] == 2


@needs_dask
def test_failing_run_is_recorded_once_not_retried(reference, tmp_path, monkeypatch, capsys):
    from distributed import LocalCluster

    config, local = reference
    real = experiments.execute.simulate
    calls: list[int] = []

    def flaky(config, spec):
        calls.append(spec.index)
        if spec.index == 2:
            raise RuntimeError("boom")
        return real(config, spec)

    monkeypatch.setattr(experiments.execute, "simulate", flaky)
    # Threads in this process, so that the patched function is the one the workers run.
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host=HOST,
        dashboard_address=None,
    ) as cluster:
        out = tmp_path / "flaky"
        assert run(config, out, "--scheduler", cluster.scheduler_address) == 1
        assert "1 failed" in capsys.readouterr().out
        assert calls.count(2) == 1 and len(calls) == N_RUNS
        (failure,) = json.loads((out / "manifest.json").read_text())["failures"]
        assert failure["spec"]["index"] == 2 and "RuntimeError: boom" in failure["traceback"]
        assert len(pd.read_parquet(out / "summary.parquet")) == N_RUNS - 1
        monkeypatch.setattr(experiments.execute, "simulate", real)
        assert run(config, out, "--resume", "--scheduler", cluster.scheduler_address) == 0
    assert digests(out) == digests(local)


def test_scheduler_without_the_extra(reference, tmp_path, monkeypatch, capsys):
    config, _ = reference
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    assert run(config, tmp_path / "out", "--scheduler", "local") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[cluster]"' in err
    assert not (tmp_path / "out").exists()


@needs_dask
def test_bad_scheduler_address(reference, tmp_path, monkeypatch, capsys):
    config, _ = reference
    monkeypatch.setattr(experiments.execute, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out"
    for address, message in [
        (f"tcp://{HOST}:{port}", "no Dask scheduler answered"),
        ("nonsense", "expected 'local' or an address like tcp://HOST:PORT"),
        # Was a TypeError from Dask's TLS code, then a 20 s timeout, as a traceback.
        (f"tls://{HOST}:{port}", "needs Dask's TLS settings (distributed.comm.tls.ca-file"),
    ]:
        assert run(config, out, "--scheduler", address) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
    assert run(config, out, "--scheduler", f"tcp://{HOST}:{port}", "--workers", "2") == 2
    assert "--workers: not allowed" in capsys.readouterr().err
    assert not out.exists()


@needs_dask
def test_slurm_cluster_job_script():
    from experiments.cluster import slurm_cluster

    with slurm_cluster(
        cores=2,
        memory="8GiB",
        walltime="01:30:00",
        queue="short",
        account="proj",
        job_script_prologue=["source ~/venvs/abm/bin/activate"],
        scheduler_options={"host": HOST, "dashboard_address": None},
    ) as cluster:
        script = cluster.job_script()
        assert cluster.scheduler_address.startswith(f"tcp://{HOST}:")
    lines = script.splitlines()
    for directive in (
        "#SBATCH -p short",
        "#SBATCH -A proj",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=8G",
        "#SBATCH -t 01:30:00",
    ):
        assert directive in lines
    assert "source ~/venvs/abm/bin/activate" in lines
    assert "export MALLOC_ARENA_MAX=1" in lines
    # 5400 s walltime: 270 s stagger and 270 s to close, so a worker leaves by 5400 s.
    assert "--lifetime 4860s --lifetime-stagger 270s" in script
    assert "--nworkers 2" in script and "--nthreads 1" in script


def test_walltime_and_lifetime():
    from experiments.cluster import walltime_seconds, worker_lifetime
    from experiments.config import ConfigError

    assert walltime_seconds("90") == 5400
    assert walltime_seconds("30:15") == 1815
    assert walltime_seconds("02:00:00") == 7200
    assert walltime_seconds("1-00") == 86400
    assert walltime_seconds("1-02:03:04") == 93784
    assert worker_lifetime("02:00:00") == ("6480s", "360s")
    assert worker_lifetime("2-00:00:00") == (f"{172800 - 600 - 8640}s", "600s")
    for bad in ("2h", "", "1:2:3:4", "00:03:00"):
        with pytest.raises(ConfigError):
            worker_lifetime(bad)


@needs_dask
def test_cluster_command_prints_job_script(capsys):
    from experiments.cluster import main as cluster_main

    argv = ["--job-script", "--host", HOST, "--walltime", "00:30:00", "--account", "proj"]
    assert cluster_main(argv) == 0
    script = capsys.readouterr().out
    assert "#SBATCH -t 00:30:00" in script and "--lifetime 1590s --lifetime-stagger 90s" in script
    assert cluster_main(["--job-script", "--walltime", "soon"]) == 2
    assert "walltime" in capsys.readouterr().err


@needs_dask
@pytest.mark.parametrize(
    ("argv", "fragment"),
    [  # were: usage lines, KeyError or ValueError tracebacks, or accepted
        (["--cores", "x"], "argument --cores: invalid int value: 'x'"),
        (["--cores", "0"], "argument --cores must be an integer >= 1, got 0"),
        (["--memory", "lots"], "argument --memory must be a size such as 4GiB"),
        (["--maximum", "-3"], "argument --maximum must be >= 1 and >= --minimum (1), got -3"),
        (["--minimum", "-1"], "argument --minimum must be >= 0, got -1"),
        (["--port", "99999"], "argument --port must be in [0, 65535], got 99999"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_cluster_command_bad_arguments(argv, fragment, capsys):
    from experiments.cluster import main as cluster_main

    assert cluster_main(["--job-script", *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {fragment}\n" or (fragment in err and err.count("\n") == 1), err


@pytest.mark.slow  # 13 s (run with -m slow)
@needs_dask
def test_lost_scheduler_stops_with_one_line_and_resume_completes(dask_processes, tmp_path):
    config = write_config(tmp_path, borrowers=20000, months=48)  # ~0.3 s a run
    assert run(config, tmp_path / "local", "--workers", "1") == 0
    dask_processes.add_workers("w0")
    out = tmp_path / "cluster"
    sweep = start_sweep(config, out, dask_processes)
    try:
        wait_for_runs(sweep, out, 2)
        dask_processes.procs[0].send_signal(signal.SIGKILL)  # the scheduler
        _, stderr = sweep.communicate(timeout=45)
    finally:
        stop(sweep)
    kept = len(list((out / "runs").glob("*.done.json")))
    assert sweep.returncode == 2, stderr
    assert stderr.strip().splitlines() == [
        f"error: lost the Dask scheduler at {dask_processes.address}; {kept} finished runs "
        "are kept; continue with --resume"
    ]
    assert kept < N_RUNS
    assert run(config, out, "--resume", "--workers", "1") == 0
    assert digests(out) == digests(tmp_path / "local")


@needs_dask
def test_local_cluster_workers_share_one_memory_pool():
    from experiments.execute import dask_client

    with dask_client("local", 1) as client:
        values = client.run(lambda: os.environ.get("MALLOC_ARENA_MAX"))
    assert list(values.values()) == ["1"]
