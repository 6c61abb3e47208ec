"""Run a whole experiment: check the folder, execute, consolidate, write the manifest, draw."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm import tqdm

from experiments import charts, store
from experiments.config import BYTES_PER_RUN, ConfigError, ExperimentConfig, design_size
from experiments.design import RunSpec, build_design, param_types, replication_seeds
from experiments.execute import (
    BURN_IN_CACHE_BYTES,
    RunOutcome,
    SchedulerLostError,
    Terminated,
    dask_client,
    execute,
    stop_on_signals,
)
from model.economy import BASE_BYTES, LIBRARY_BYTES, available_memory, memory_estimate

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
    figures_error: str | None = None

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
        if self.figures_error:
            lines.append(f"figures not drawn: {self.figures_error}")
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


def _check_memory(config: ExperimentConfig, parallel: int, runs: int) -> None:
    """Refuse up front a sweep whose parallel runs (and design) would not fit in memory.

    Each parallel process holds a run's economy, the burned-in economy it shares with the
    next runs (``execute.BurnInCache``, bounded) and, with ``save_loan_tape``, the tape
    being written; the libraries' pages are counted once.
    """
    lenders = max(len(p.lender_names) for p in config.policies)
    one = memory_estimate(config.borrowers, lenders)
    kept = min(one - BASE_BYTES, BURN_IN_CACHE_BYTES)  # a process's shared burn-in
    tape = (
        store.TAPE_BYTES_PER_BORROWER_MONTH * config.borrowers * config.months
        if config.save_loan_tape
        else 0.0
    )
    # The libraries' pages are shared: once for all the processes.
    simulations = (one - LIBRARY_BYTES + kept + tape) * parallel + LIBRARY_BYTES
    bookkeeping = runs * BYTES_PER_RUN
    need, have = simulations + bookkeeping, available_memory()
    if have is not None and need > have:
        raise ConfigError(
            f"config [experiment] borrowers = {config.borrowers:,} with {parallel} parallel "
            f"run(s) and {runs:,} runs in the design needs about {need / 1e9:.1f} GB of memory "
            f"({simulations / 1e9:.1f} GB to simulate, {bookkeeping / 1e9:.1f} GB to keep track "
            f"of the runs); {have / 1e9:.1f} GB is available (lower borrowers, --workers or "
            "the design)"
        )


def output_folder(config: ExperimentConfig, out_dir: Path | str | None) -> Path:
    """The results folder: ``out_dir``, or ``results/<name>`` when it is ``None``.

    Raises:
        ConfigError: For an empty path (e.g. an unset shell variable: it would write into
            the working directory) or the root of the file system.
    """
    if out_dir is None:
        return Path("results") / config.name
    if not isinstance(out_dir, str | os.PathLike) or isinstance(out_dir, bytes):
        raise ConfigError(
            f"argument --out must be a folder path, got {type(out_dir).__name__} {out_dir!r}"
        )
    text = os.fspath(out_dir)
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(
            "argument --out: empty path; give a folder (without --out: results/<experiment name>)"
        )
    if "\0" in text:
        raise ConfigError("argument --out: the path contains a NUL character")
    path = Path(text)
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        raise ConfigError(
            f"argument --out: '{text}' is the root of the file system; give a folder of its own"
        )
    return path


def _check_arguments(
    config: Any,
    workers: Any,
    scheduler: Any,
    flags: dict[str, Any],
    source: Any,
) -> None:
    """Refuse API arguments of the wrong type with one line naming the argument."""
    if not isinstance(config, ExperimentConfig):
        raise ConfigError(
            f"argument config must be an ExperimentConfig (from load_config or parse_config), "
            f"got {type(config).__name__}"
        )
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise ConfigError(
            f"argument --workers must be an integer >= 1, got {type(workers).__name__} {workers!r}"
        )
    if workers is not None and workers < 1:
        raise ConfigError(f"argument --workers must be >= 1, got {workers}")
    if scheduler is not None and not isinstance(scheduler, str):
        raise ConfigError(
            f"argument --scheduler must be 'local' or an address like tcp://HOST:PORT, got "
            f"{type(scheduler).__name__} {scheduler!r}"
        )
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ConfigError(
                f"argument {name} must be True or False, got {type(value).__name__} {value!r}"
            )
    if source is not None and not isinstance(source, str):
        raise ConfigError(f"argument source must be the config's text, got {type(source).__name__}")


#: ``[experiment]`` keys a resumed config may change: they add runs or files, never
#: change a finished run's results.
RESUMABLE_CHANGES = ("replications", "save_loan_tape")


def _without_resumable(config: dict[str, Any]) -> str:
    """Canonical JSON of a normalised config, its :data:`RESUMABLE_CHANGES` left out."""
    experiment = {
        k: v for k, v in config.get("experiment", {}).items() if k not in RESUMABLE_CHANGES
    }
    return json.dumps({**config, "experiment": experiment}, sort_keys=True, separators=(",", ":"))


def prepare_output(
    config: ExperimentConfig, out_dir: Path, resume: bool, force: bool
) -> list[dict[str, Any]] | None:
    """Check that results may be written to ``out_dir``, without touching anything.

    ``--resume`` accepts a folder made by the same config, or by one that differs only
    in having fewer replications (seeds come from ``SeedSequence(seed).spawn(k)``, so
    the finished runs stay valid and only the new replications are run) or in
    ``save_loan_tape`` (turned on, the runs without a tape are run again).

    Returns:
        The previous manifest's run specs when their run ids must be carried over to
        this design (more replications), else ``None``.

    Raises:
        ConfigError: If the folder holds results and neither ``--resume`` nor ``--force``
            is given, or ``--resume`` meets results of a different config. (A run of the
            folder's own config resumes without ``--resume``: see :func:`run_experiment`.)
    """
    if resume and force:
        raise ConfigError("argument --resume: not allowed with --force; choose one")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"argument --out: '{out_dir}' exists and is not a folder")
    if not store.has_results(out_dir):
        return None
    if force:
        store.check_clearable(out_dir)
        return None
    if not resume:
        raise ConfigError(
            f"'{out_dir}' already holds results; "
            "pass --resume to finish them or --force to overwrite"
        )
    manifest = _resumable_manifest(out_dir)
    if manifest["config_hash"] == config.config_hash():
        return None
    return _runs_to_carry_over(config, out_dir, manifest)


def holds_results_of(config: ExperimentConfig, out_dir: Path) -> bool:
    """Whether ``out_dir`` holds results of exactly ``config``, made by this very code.

    The code must be a known, clean commit on both sides: uncommitted edits (``+dirty``)
    or a copy outside git (``unknown``) could differ unseen, so those folders are
    resumed only on an explicit ``--resume``.
    """
    if not store.has_results(out_dir):
        return False
    current = code_version()
    if current == "unknown" or current.endswith("+dirty"):
        return False
    try:
        manifest = store.read_manifest(out_dir)
        return manifest["config_hash"] == config.config_hash() and (
            manifest.get("code_version") == current
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _resumable_manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest of a folder to resume: readable, and made by this code.

    Raises:
        ConfigError: If the manifest is unreadable, or another code version made it.
    """
    try:
        manifest = store.read_manifest(out_dir)
        previous = manifest["config_hash"]
        previous_config = manifest["config"]
        if not isinstance(previous, str) or not isinstance(previous_config, dict):
            raise TypeError(previous)
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(
            f"argument --resume: '{out_dir}' has no readable manifest.json; use --force"
        ) from None
    if not same_code(str(manifest.get("code_version", "unknown")), code_version()):
        raise ConfigError(
            f"argument --resume: '{out_dir}' was made by code {manifest['code_version'][:12]}, "
            f"this is {code_version()[:12]}; results would mix model versions: use --force"
        )
    return manifest


def _runs_to_carry_over(
    config: ExperimentConfig, out_dir: Path, manifest: dict[str, Any]
) -> list[dict[str, Any]]:
    """The previous run specs, when ``config`` only adds replications to the folder's.

    Raises:
        ConfigError: If the config differs otherwise, or has fewer replications.
    """
    previous, previous_config = manifest["config_hash"], manifest["config"]
    if _without_resumable(previous_config) == _without_resumable(config.to_dict()):
        before = previous_config["experiment"].get("replications", 1)
        if isinstance(before, int) and before <= config.replications:
            runs = manifest.get("runs")
            return runs if isinstance(runs, list) else []
        raise ConfigError(
            f"argument --resume: the config has {config.replications} replications, fewer "
            f"than the {before} that made '{out_dir}' (their finished runs would be dropped); "
            "use --force or another --out"
        )
    raise ConfigError(
        f"argument --resume: the config differs from the one that made '{out_dir}' "
        f"(hash {config.config_hash()[:12]} vs {previous[:12]}; only replications may be "
        "added, or save_loan_tape changed, on resume); use --force or another --out"
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
        resume: Continue a folder made by the same config, skipping finished runs (or
            made by a config with fewer replications, or without the loan tape). A
            folder made by this very config and code is continued without it.
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
    flags = {"resume": resume, "force": force, "progress": progress, "draw": draw}
    _check_arguments(config, workers, scheduler, flags, source)
    out_dir = output_folder(config, out_dir)
    workers, parallel = _workers(config, workers, scheduler)
    specs = build_design(config)
    # Rerunning a config on its own folder (same config, same code) finishes it: the runs
    # are deterministic, so there is nothing to choose between resuming and refusing.
    resume = resume or (not force and holds_results_of(config, out_dir))
    prepare_output(config, out_dir, resume, force)  # refuse early, writing nothing
    start = time.perf_counter()
    # Connect to the cluster (if any) before writing anything: a bad address writes nothing.
    # Then hold the folder's lock: a second run on the same folder stops at once. SIGTERM
    # or SIGHUP stop the sweep as Ctrl-C does: workers terminated, manifest "interrupted".
    with (
        stop_on_signals(),
        dask_client(scheduler, parallel) as client,
        store.lock_folder(out_dir),
    ):
        manifest = _start_folder(config, specs, out_dir, resume, force, source)
        try:
            return _sweep(
                config, specs, out_dir, workers, client, scheduler, manifest, progress, draw, start
            )
        except BaseException as exc:
            _record_stop(config, out_dir, manifest, specs, exc)
            raise


def _workers(
    config: ExperimentConfig, workers: int | None, scheduler: str | None
) -> tuple[int, int]:
    """Worker processes asked for (default: CPU count) and those used (no more than runs).

    Raises:
        ConfigError: For ``workers`` with a cluster's address, or a design whose parallel
            runs would not fit in memory here.
    """
    if scheduler not in (None, "local") and workers is not None:
        raise ConfigError(
            "argument --workers: not allowed with --scheduler ADDRESS (the cluster has its "
            "workers); use it with --scheduler local"
        )
    workers = workers if workers is not None else (os.cpu_count() or 1)
    runs = design_size(config)[1]  # counted, not expanded: a design too big is refused first
    parallel = min(workers, runs)  # no more workers than runs, here or in a LocalCluster
    if scheduler in (None, "local"):
        _check_memory(config, parallel, runs)
    return workers, parallel


def _start_folder(
    config: ExperimentConfig,
    specs: list[RunSpec],
    out_dir: Path,
    resume: bool,
    force: bool,
    source: str | None,
) -> dict[str, Any]:
    """Ready the locked folder (cleared, partial files gone, runs adopted); write the manifest."""
    previous_runs = prepare_output(config, out_dir, resume, force)  # now the folder is ours
    if force:
        store.clear_results(out_dir)
        charts.remove_figures(out_dir)
    store.remove_partial_files(out_dir)
    if previous_runs:
        store.adopt_runs(out_dir, previous_runs, specs)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = _manifest(config, specs, source, started)
    store.write_manifest(out_dir, manifest)
    return manifest


def _record_stop(
    config: ExperimentConfig,
    out_dir: Path,
    manifest: dict[str, Any],
    specs: list[RunSpec],
    exc: BaseException,
) -> None:
    """Leave the manifest saying why the sweep stopped (never ``running``), if it can."""
    try:
        kept = len(store.finished(out_dir, specs, store.run_tables(config.save_loan_tape)))
    except OSError:
        kept = None
    interrupted = isinstance(exc, KeyboardInterrupt | Terminated)
    manifest.update(
        status="interrupted" if interrupted else "stopped",
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        stopped_by=str(exc) if isinstance(exc, Terminated) else type(exc).__name__,
        counts={"total": len(specs), "finished": kept},
    )
    if not interrupted:
        manifest["error"] = f"{type(exc).__name__}: {exc}"
    with suppress(OSError):  # e.g. the full disk that stopped the sweep: run files are intact
        store.write_manifest(out_dir, manifest)


def _sweep(
    config: ExperimentConfig,
    specs: list[RunSpec],
    out_dir: Path,
    workers: int | None,
    client: Any,
    scheduler: str | None,
    manifest: dict[str, Any],
    progress: bool,
    draw: bool,
    start: float,
) -> RunReport:
    """Execute the unfinished runs, consolidate, draw and complete the manifest."""
    already = store.finished(out_dir, specs, store.run_tables(config.save_loan_tape))
    todo = [s for s in specs if s.run_id not in already]
    outcomes = _execute_with_bar(config, specs, todo, out_dir, workers, client, scheduler, progress)
    if client is not None and scheduler != "local":
        workers = _cluster_threads(client)
    failed = _failures(specs, outcomes)
    consolidated = store.consolidate(out_dir, specs, param_types(config))
    figures, figures_error = _draw(out_dir) if consolidated and draw else ([], None)
    wall = time.perf_counter() - start
    manifest.update(
        status="complete" if not failed else "some runs failed",
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        timings={
            "wall_seconds": wall,
            "workers": workers,
            "scheduler": scheduler,
            "run_seconds": store.finished(out_dir, specs, store.run_tables(config.save_loan_tape)),
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
    if figures_error:
        manifest["figures_error"] = figures_error
    store.write_manifest(out_dir, manifest)
    done = len(outcomes) - len(failed)
    return RunReport(out_dir, len(specs), done, len(already), failed, wall, figures, figures_error)


def _execute_with_bar(
    config: ExperimentConfig,
    specs: list[RunSpec],
    todo: list[RunSpec],
    out_dir: Path,
    workers: int | None,
    client: Any,
    scheduler: str | None,
    progress: bool,
) -> list[RunOutcome]:
    """Execute the runs ``todo`` of the design ``specs`` under a progress bar over all.

    Raises:
        ConfigError: If the Dask scheduler is lost (the finished runs are kept).
    """
    already = len(specs) - len(todo)
    with tqdm(
        total=len(specs),
        initial=already,
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
            kept = len(store.finished(out_dir, specs, store.run_tables(config.save_loan_tape)))
            raise ConfigError(
                f"lost the Dask scheduler at {scheduler}; {kept} finished runs are kept; "
                "continue with --resume"
            ) from None
    return outcomes


def _cluster_threads(client: Any) -> int | None:
    """Worker threads of a cluster (None if the scheduler went away after the last run)."""
    try:
        return sum(client.nthreads().values())
    except OSError:
        return None


def _failures(specs: list[RunSpec], outcomes: list[RunOutcome]) -> list[dict[str, Any]]:
    """The failed runs, as the manifest lists them: id, spec, error and traceback."""
    by_id = {s.run_id: s for s in specs}
    return [
        {
            "run_id": o.run_id,
            "spec": by_id[o.run_id].to_dict(),
            "error": o.error,
            "traceback": o.traceback,
        }
        for o in outcomes
        if not o.ok
    ]


def _draw(out_dir: Path) -> tuple[list[Path], str | None]:
    """Draw the figures; a failure is returned as one line (the results stand)."""
    try:
        return charts.draw_all(out_dir), None
    except Exception as exc:  # noqa: BLE001 - the results stand; the figures can be redrawn
        return [], f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
