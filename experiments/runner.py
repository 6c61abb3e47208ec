"""Run a whole experiment: check the folder, execute, consolidate, write the manifest, draw."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm import tqdm

from experiments import charts, store
from experiments.config import ConfigError, ExperimentConfig
from experiments.design import RunSpec, build_design, param_types, replication_seeds
from experiments.execute import RunOutcome, SchedulerLostError, dask_client, execute
from model.economy import available_memory, memory_estimate

_PACKAGES = ("mesa", "numpy", "pandas", "pyarrow", "scipy", "matplotlib", "tqdm")


@dataclass
class RunReport:
    """Outcome of :func:`run_experiment`."""

    out_dir: Path
    total: int
    done: int
    skipped: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    figures: list[Path] = field(default_factory=list)

    def text(self) -> str:
        """One-screen summary of the sweep."""
        lines = [
            f"runs: {self.total} in design, {self.done} done now, {self.skipped} skipped "
            f"(already done), {len(self.failed)} failed",
            f"wall time: {self.wall_seconds:.1f} s",
            f"results: {self.out_dir}/ (summary.parquet, timeseries.parquet, manifest.json, "
            f"figures/ with {len(self.figures)} files)",
        ]
        for failure in self.failed[:5]:
            lines.append(f"  failed {failure['run_id']}: {failure['error']}")
        if len(self.failed) > 5:
            lines.append(f"  ... and {len(self.failed) - 5} more (tracebacks in manifest.json)")
        if self.failed:
            lines.append("rerun with --resume to retry the failed runs")
        return "\n".join(lines)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def code_version() -> str:
    """``git rev-parse HEAD`` of the code (``+dirty`` if modified), else ``'unknown'``."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = _git(root, "rev-parse", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages results depend on."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _check_memory(config: ExperimentConfig, parallel: int) -> None:
    """Refuse up front a sweep whose parallel runs would not fit in memory."""
    lenders = max(p.lenders for p in config.policies)
    need, have = memory_estimate(config.borrowers, lenders) * parallel, available_memory()
    if have is not None and need > have:
        raise ConfigError(
            f"config [experiment] borrowers = {config.borrowers:,} with {parallel} parallel "
            f"run(s) needs about {need / 1e9:.1f} GB of memory; {have / 1e9:.1f} GB is "
            "available (lower borrowers or --workers)"
        )


def prepare_output(config: ExperimentConfig, out_dir: Path, resume: bool, force: bool) -> None:
    """Check that results may be written to ``out_dir``, without touching anything.

    Raises:
        ConfigError: If the folder holds results and neither ``--resume`` nor ``--force``
            is given, or ``--resume`` meets results of a different config.
    """
    if resume and force:
        raise ConfigError("argument --resume: not allowed with --force; choose one")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"argument --out: '{out_dir}' exists and is not a folder")
    if not store.has_results(out_dir) or force:
        return
    if not resume:
        raise ConfigError(
            f"'{out_dir}' already holds results; "
            "pass --resume to finish them or --force to overwrite"
        )
    try:
        manifest = store.read_manifest(out_dir)
        previous = manifest["config_hash"]
    except (OSError, ValueError, KeyError):
        raise ConfigError(
            f"argument --resume: '{out_dir}' has no readable manifest.json; use --force"
        ) from None
    if previous != config.config_hash():
        raise ConfigError(
            f"argument --resume: the config differs from the one that made '{out_dir}' "
            f"(hash {config.config_hash()[:12]} vs {previous[:12]}); use --force or another --out"
        )
    if not same_code(manifest.get("code_version", "unknown"), code_version()):
        raise ConfigError(
            f"argument --resume: '{out_dir}' was made by code {manifest['code_version'][:12]}, "
            f"this is {code_version()[:12]}; results would mix model versions: use --force"
        )


def same_code(previous: str, current: str) -> bool:
    """Whether two code versions are the same commit (unknown versions are not compared)."""
    if "unknown" in (previous, current):
        return True
    return previous.removesuffix("+dirty") == current.removesuffix("+dirty")


def _manifest(
    config: ExperimentConfig, specs: list[RunSpec], source: str | None, started: str
) -> dict[str, Any]:
    return {
        "experiment": config.name,
        "status": "running",
        "config": config.to_dict(),
        "config_hash": config.config_hash(),
        "config_source": source,
        "seed": config.seed,
        "replication_seeds": replication_seeds(config.seed, config.replications),
        "params": param_types(config),
        "versions": package_versions(),
        "code_version": code_version(),
        "started_at": started,
        "runs": [s.to_dict() for s in specs],
    }


def run_experiment(
    config: ExperimentConfig,
    out_dir: Path | str | None = None,
    workers: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    source: str | None = None,
    draw: bool = True,
    scheduler: str | None = None,
) -> RunReport:
    """Run every unfinished run of ``config`` and leave a complete results folder.

    Args:
        config: The validated experiment.
        out_dir: Results folder (default ``results/<name>`` under the current directory).
        workers: Worker processes (default: CPU count); 1 runs serially in-process.
        resume: Continue a folder made by the same config, skipping finished runs.
        force: Delete the results already in the folder first.
        progress: Show a tqdm progress bar over runs.
        source: The config file's text, kept in the manifest.
        draw: Draw the figures at the end (``charts DIR`` can draw them later).
        scheduler: Run on a Dask cluster: ``'local'`` starts one with ``workers``
            processes, ``tcp://HOST:PORT`` uses a running one (``workers`` not allowed).
            Results come back here and are stored as in a local run (same files).

    Returns:
        Counts, failures, wall time and figure paths.

    Raises:
        ConfigError: For a bad design or output folder (nothing is written then).
    """
    out_dir = Path(out_dir) if out_dir is not None else Path("results") / config.name
    if scheduler not in (None, "local") and workers is not None:
        raise ConfigError(
            "argument --workers: not allowed with --scheduler ADDRESS (the cluster has its "
            "workers); use it with --scheduler local"
        )
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {workers}")
    specs = build_design(config)
    if scheduler is None:
        _check_memory(config, min(workers, len(specs)))
    prepare_output(config, out_dir, resume, force)
    start = time.perf_counter()
    # Connect to the cluster (if any) before writing anything: a bad address writes nothing.
    with dask_client(scheduler, workers) as client:
        if force:
            store.clear_results(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        manifest = _manifest(config, specs, source, started)
        store.write_manifest(out_dir, manifest)
        store.remove_partial_files(out_dir)
        already = store.finished(out_dir, specs)
        todo = [s for s in specs if s.run_id not in already]
        with tqdm(
            total=len(specs),
            initial=len(already),
            unit="run",
            disable=not progress,
            file=sys.stderr,
            desc=config.name,
        ) as bar:

            def advance(outcome: RunOutcome) -> None:
                bar.update(1)

            try:
                outcomes = execute(config, todo, out_dir, workers, on_done=advance, client=client)
            except SchedulerLostError:
                kept = len(store.finished(out_dir, specs))
                raise ConfigError(
                    f"lost the Dask scheduler at {scheduler}; {kept} finished runs are kept; "
                    "continue with --resume"
                ) from None
        if client is not None and scheduler != "local":
            try:
                workers = sum(client.nthreads().values())
            except OSError:  # the scheduler went away after the last run: count unknown
                workers = None
    by_id = {s.run_id: s for s in specs}
    failed = [
        {
            "run_id": o.run_id,
            "spec": by_id[o.run_id].to_dict(),
            "error": o.error,
            "traceback": o.traceback,
        }
        for o in outcomes
        if not o.ok
    ]
    consolidated = store.consolidate(out_dir, specs, param_types(config))
    figures = charts.draw_all(out_dir) if consolidated and draw else []
    wall = time.perf_counter() - start
    timings = store.finished(out_dir, specs)
    manifest.update(
        status="complete" if not failed else "some runs failed",
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        timings={
            "wall_seconds": wall,
            "workers": workers,
            "scheduler": scheduler,
            "run_seconds": timings,
        },
        counts={
            "total": len(specs),
            "finished": consolidated,
            "done_now": len(outcomes) - len(failed),
            "skipped": len(already),
            "failed": len(failed),
        },
        failures=failed,
    )
    store.write_manifest(out_dir, manifest)
    return RunReport(
        out_dir, len(specs), len(outcomes) - len(failed), len(already), failed, wall, figures
    )
