"""Dask clusters on Slurm for sweeps: a ``SLURMCluster`` with defaults that suit them.

Needs the cluster extra (``pip install -e ".[cluster]"``); see ``docs/cluster.md``.
From Python::

    from experiments import load_config, run_experiment
    from experiments.cluster import slurm_cluster

    with slurm_cluster(walltime="02:00:00", account="myproject") as cluster:
        cluster.adapt(minimum=2, maximum=100)
        run_experiment(load_config("sweep.toml"), scheduler=cluster.scheduler_address)

or from a shell, a scheduler whose address ``run CONFIG --scheduler`` takes::

    python -m experiments.cluster --walltime 02:00:00 --account myproject --maximum 100
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from experiments.config import ConfigError
from experiments.execute import CLUSTER_EXTRA
from model.allocator import WORKER_ENVIRONMENT

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster

_WALLTIME_RE = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def walltime_seconds(walltime: str) -> int:
    """Seconds in a Slurm time limit (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``).

    Raises:
        ConfigError: If ``walltime`` is not in one of these forms.
    """
    match = _WALLTIME_RE.match(walltime.strip())
    if not match:
        raise ConfigError(f"walltime: expected MM, MM:SS, HH:MM:SS or D-HH:MM:SS, got '{walltime}'")
    days, first, second, third = match.groups()
    parts = [int(p) for p in (first, second, third) if p is not None]
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = [*parts, 0, 0][:3]
        return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if len(parts) == 3:
        hours, minutes, seconds = parts
        return (hours * 60 + minutes) * 60 + seconds
    minutes, seconds = [*parts, 0][:2]
    return minutes * 60 + seconds


def worker_lifetime(walltime: str) -> tuple[str, str]:
    """``--lifetime`` and ``--lifetime-stagger`` that retire a worker before its walltime.

    The stagger is 5% of the walltime (1 to 10 minutes) so that workers do not all
    leave at once; a further 5% (at least 2 minutes) is left for a graceful close.
    A retiring worker's unfinished runs are rescheduled on the other workers.

    Returns:
        Both as Dask durations in seconds, e.g. ``('6480s', '360s')`` for two hours.
    """
    total = walltime_seconds(walltime)
    stagger = min(600, max(60, total // 20))
    grace = max(120, total // 20)
    lifetime = total - stagger - grace
    if lifetime < 60:
        raise ConfigError(f"walltime: '{walltime}' is too short for a worker (use 10 minutes+)")
    return f"{lifetime}s", f"{stagger}s"


def _check_job(cores: Any, processes: Any, memory: Any) -> None:
    """Refuse job sizes Slurm or Dask would reject later, with one line naming the argument."""
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ConfigError(f"argument --cores must be an integer >= 1, got {cores!r}")
    if processes is not None and (
        isinstance(processes, bool)
        or not isinstance(processes, int)
        or not 1 <= processes <= cores
        or cores % processes
    ):
        raise ConfigError(
            f"argument processes must be an integer dividing --cores ({cores}), got {processes!r}"
        )
    from dask.utils import parse_bytes

    try:
        size = parse_bytes(memory)
    except (ValueError, TypeError, KeyError):
        size = 0
    if size <= 0:
        raise ConfigError(
            f"argument --memory must be a size such as 4GiB or 1500MB, got {memory!r}"
        )


def slurm_cluster(
    *,
    cores: int = 1,
    processes: int | None = None,
    memory: str = "4GiB",
    walltime: str = "02:00:00",
    queue: str | None = None,
    account: str | None = None,
    job_script_prologue: Sequence[str] = (),
    worker_extra_args: Sequence[str] = (),
    scheduler_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> SLURMCluster:
    """A ``dask_jobqueue.SLURMCluster`` whose workers retire gracefully before walltime.

    Each Slurm job runs ``processes`` worker processes sharing ``cores`` cores and
    ``memory``; by default one single-threaded process per core, like
    ``--scheduler local`` (a run is single-threaded). Workers get ``--lifetime`` and
    ``--lifetime-stagger`` from :func:`worker_lifetime`; with ``cluster.adapt(minimum=...,
    maximum=...)`` retired workers are replaced by new jobs. No job is submitted until
    ``scale`` or ``adapt`` is called.

    Args:
        cores: Cores per job (``#SBATCH --cpus-per-task``); also worker threads in total.
        processes: Worker processes per job (default ``cores``; threads per worker =
            cores / processes).
        memory: Memory per job (``#SBATCH --mem``).
        walltime: Time limit per job (``#SBATCH -t``).
        queue: Slurm partition (``#SBATCH -p``).
        account: Slurm account (``#SBATCH -A``).
        job_script_prologue: Shell lines run before the worker starts, e.g. activating
            the environment where this package is installed (after the exports of
            ``model.allocator.WORKER_ENVIRONMENT``).
        worker_extra_args: More ``dask worker`` arguments.
        scheduler_options: Options of the scheduler (runs in this process), e.g.
            ``{"interface": "ib0"}`` or ``{"dashboard_address": ":8787"}``.
        **kwargs: Any other ``SLURMCluster`` argument (``interface``,
            ``job_extra_directives``, ``log_directory``, ``local_directory``, ...).

    Raises:
        ConfigError: Without the cluster extra or with a bad walltime.
    """
    cluster_class = _slurm_cluster_class()
    _check_job(cores, processes, memory)
    lifetime, stagger = worker_lifetime(walltime)
    retire = ["--lifetime", lifetime, "--lifetime-stagger", stagger]
    return cluster_class(
        cores=cores,
        processes=processes if processes is not None else cores,
        memory=memory,
        walltime=walltime,
        queue=queue,
        account=account,
        job_script_prologue=_job_prologue(job_script_prologue),
        worker_extra_args=[*retire, *worker_extra_args],
        scheduler_options=dict(scheduler_options or {}),
        **kwargs,
    )


def _slurm_cluster_class() -> type[SLURMCluster]:
    """``dask_jobqueue.SLURMCluster``, imported when first needed.

    Raises:
        ConfigError: Without the cluster extra.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ConfigError(
            f"slurm_cluster needs dask-jobqueue, which is not installed; install the cluster "
            f"extra: {CLUSTER_EXTRA}"
        ) from None
    return SLURMCluster


def _job_prologue(lines: Sequence[str]) -> list[str]:
    """A worker job's shell lines: the exports of the worker environment, then ``lines``.

    Workers simulate in a thread: one glibc memory pool lets them reuse freed arrays
    (``model.allocator.WORKER_ENVIRONMENT``).
    """
    return [*(f"export {k}={v}" for k, v in WORKER_ENVIRONMENT.items()), *lines]


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (a ConfigError), not usage plus message."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m experiments.cluster``."""
    parser = _Parser(
        prog="python -m experiments.cluster",
        description="Start a Dask scheduler whose workers are Slurm jobs; print its address "
        "for 'python -m experiments run CONFIG --scheduler ADDRESS'; Ctrl-C stops it.",
    )
    parser.add_argument("--cores", type=int, default=1, help="cores per job (default 1)")
    parser.add_argument("--memory", default="4GiB", help="memory per job (default 4GiB)")
    parser.add_argument("--walltime", default="02:00:00", help="per job (default 02:00:00)")
    parser.add_argument("--queue", help="Slurm partition")
    parser.add_argument("--account", help="Slurm account")
    parser.add_argument("--minimum", type=int, default=1, help="jobs kept running (default 1)")
    parser.add_argument("--maximum", type=int, default=20, help="jobs at most (default 20)")
    parser.add_argument(
        "--prologue",
        action="append",
        default=[],
        help="shell line run before each worker, e.g. 'source ~/venvs/abm/bin/activate'",
    )
    parser.add_argument("--interface", help="network interface of workers, e.g. ib0")
    parser.add_argument("--host", help="address the scheduler listens on (default: --interface)")
    parser.add_argument("--port", type=int, default=0, help="scheduler port (default: any free)")
    parser.add_argument(
        "--job-script", action="store_true", help="print the worker job script and exit"
    )
    return parser


def _check_counts(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"argument --port must be in [0, 65535], got {args.port}")
    if args.minimum < 0:
        raise ConfigError(f"argument --minimum must be >= 0, got {args.minimum}")
    if args.maximum < max(1, args.minimum):
        raise ConfigError(
            f"argument --maximum must be >= 1 and >= --minimum ({args.minimum}), got {args.maximum}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Start the cluster and wait (or print the job script); exit status 2 on bad input."""
    try:
        args = build_parser().parse_args(argv)
        _check_counts(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options: dict[str, Any] = {"port": args.port}
    if args.host:
        options["host"] = args.host
    elif args.interface:
        options["interface"] = args.interface
    try:
        cluster = slurm_cluster(
            cores=args.cores,
            memory=args.memory,
            walltime=args.walltime,
            queue=args.queue,
            account=args.account,
            job_script_prologue=args.prologue,
            interface=args.interface,
            scheduler_options=options,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with cluster:
        if args.job_script:
            print(cluster.job_script())
            return 0
        cluster.adapt(minimum_jobs=args.minimum, maximum_jobs=args.maximum)
        print(f"scheduler: {cluster.scheduler_address}", flush=True)
        print(
            f"run: python -m experiments run CONFIG --scheduler {cluster.scheduler_address}",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping the cluster (cancelling its jobs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
