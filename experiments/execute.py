"""Execution: simulate runs serially, in a spawn process pool or on a Dask cluster.

Each run is stored as soon as it finishes. On a Dask cluster (``--scheduler``) the
workers only simulate: every result comes back to this process, which writes it with
the same store code as a local run, so workers need no access to the results folder.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from experiments.config import ConfigError, ExperimentConfig, parse_config
from experiments.design import RunInputs, RunSpec, build_economy, model_inputs, param_types
from experiments.store import RunResult, finished, run_tables, write_run
from experiments.summaries import summarise_timeseries
from model import CreditEconomy, release_freed_memory, reuse_freed_memory
from model.allocator import WORKER_ENVIRONMENT
from model.economy import BASE_BYTES, memory_estimate
from model.macro import SERIES_BOUNDS

if TYPE_CHECKING:
    from distributed import Client

#: How to get the optional Dask dependencies (named in the error without them).
CLUSTER_EXTRA = 'pip install -e ".[cluster]"'
#: Seconds to wait for a Dask scheduler before giving up.
CONNECT_TIMEOUT = 10.0
#: Runs in flight on a Dask cluster: this many per worker thread (at least MIN_IN_FLIGHT).
IN_FLIGHT_PER_THREAD = 3
MIN_IN_FLIGHT = 8
#: Dask ``retries=`` of each run: re-executions after an error outside the run's own
#: ``try`` (e.g. a worker that cannot unpickle the task). A run that raises is recorded
#: as failed, never retried; a run whose worker dies is rescheduled by the scheduler
#: (up to ``distributed.scheduler.allowed-failures`` times, default 3).
RETRIES = 2


class SchedulerLostError(RuntimeError):
    """The Dask scheduler went away mid-sweep; the runs stored so far are kept."""


class Terminated(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """The process was asked to stop (SIGTERM or SIGHUP); the runs stored so far are kept.

    A ``BaseException`` like ``KeyboardInterrupt``, so that no ``except Exception``
    (a failing run is recorded and the sweep goes on) swallows it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


#: Signals that stop a sweep cleanly (:func:`stop_on_signals`); SIGINT is KeyboardInterrupt.
STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` in this (main) thread.

    The first signal raises; later ones are ignored while the sweep stops (the pool is
    terminated, the manifest written). A signal already ignored stays ignored (``nohup``
    ignores SIGHUP so that a sweep outlives its terminal). Outside the main thread this
    does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]

    def handler(signum: int, _frame: Any) -> None:
        for s in caught:
            signal.signal(s, signal.SIG_IGN)
        raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in caught}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one run: finished (with its time) or failed (with the traceback)."""

    run_id: str
    ok: bool
    seconds: float
    error: str | None = None
    traceback: str | None = None


def simulate(config: ExperimentConfig, spec: RunSpec) -> RunResult:
    """Run one simulation and return its tables, identifier columns included.

    During the run the process reuses freed memory (``model.reuse_freed_memory``), which
    makes large runs markedly faster; after it, the memory is given back to the system
    (``model.release_freed_memory``), so a worker does not hold its peak between runs.
    """
    reuse_freed_memory()
    try:
        return _simulate(config, spec)
    finally:
        release_freed_memory()


# ------------------------------------------------------------------ shared burn-in
#: Estimated memory the burned-in economies kept by one process may take (bytes).
BURN_IN_CACHE_BYTES = 512e6
#: Most burned-in economies one process keeps (runs are ordered so that one or two do).
BURN_IN_CACHE_ENTRIES = 4


def burn_in_key(config: ExperimentConfig, spec: RunSpec, inputs: RunInputs) -> Hashable:
    """What a run's burn-in depends on: runs with equal keys have the same month-0 economy.

    The population size and parameters, the seed, the burn-in length, every lender's
    policy, the market rules, and the scenario's month-0 values (the burn-in runs under
    month-0 conditions, :meth:`model.MacroScenario.state`). The scenario's later months
    are not in it: runs that differ only there share one burn-in. Policies enter whole,
    since a lever could act during the burn-in: runs share across scenarios only.
    """
    month0 = tuple(float(getattr(inputs.scenario, s)[0]) for s in SERIES_BOUNDS)
    lenders = inputs.policy if isinstance(inputs.policy, list) else [inputs.policy]
    model = repr((lenders, inputs.population, inputs.market))  # exact: floats repr round-trip
    return (config.borrowers, config.burn_in, spec.seed, month0, model)


class BurnInCache:
    """Burned-in economies at month 0 of this process, by :func:`burn_in_key` (LRU, bounded).

    A run whose key is cached starts from a fork of that economy with its own scenario
    (``CreditEconomy.fork``): at month 0, with the same month-0 conditions, the fork is
    the economy the run would build (tested), so results are bit-identical to building
    each run's economy, and the burn-in is simulated once per key and process. At most
    :data:`BURN_IN_CACHE_ENTRIES` economies and :data:`BURN_IN_CACHE_BYTES` (estimated)
    are kept; an economy larger than that is not kept (its runs build their own).
    """

    def __init__(
        self,
        max_entries: int = BURN_IN_CACHE_ENTRIES,
        max_bytes: float = BURN_IN_CACHE_BYTES,
    ) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.enabled = True
        self.built = 0  # burn-ins simulated by this cache (for tests and measurements)
        self._entries: OrderedDict[Hashable, tuple[CreditEconomy, float]] = OrderedDict()
        self._lock = threading.Lock()

    def economy(self, config: ExperimentConfig, spec: RunSpec) -> CreditEconomy:
        """The economy of one run at month 0: a fork of a shared burn-in when possible."""
        if not self.enabled:
            return build_economy(config, spec)
        inputs = model_inputs(config, spec)
        key = burn_in_key(config, spec, inputs)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
        if cached is not None:
            return cached[0].fork(inputs.scenario)
        base = build_economy(config, spec)
        with self._lock:
            self.built += 1
        lenders = len(base.lenders)
        size = memory_estimate(config.borrowers, lenders) - BASE_BYTES
        if size > self.max_bytes:
            return base
        self._keep(key, base, size)
        return base.fork(inputs.scenario)

    def _keep(self, key: Hashable, economy: CreditEconomy, size: float) -> None:
        with self._lock:
            self._entries[key] = (economy, size)
            while len(self._entries) > self.max_entries or (
                sum(s for _, s in self._entries.values()) > self.max_bytes
            ):
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every kept economy (their memory can be given back)."""
        with self._lock:
            self._entries.clear()


#: This process's cache (a pool worker's, a Dask worker's or the serial sweep's).
BURN_INS = BurnInCache()


def sharing_order(specs: list[RunSpec]) -> list[RunSpec]:
    """``specs`` ordered so that runs likely to share a burn-in come one after another.

    By seed, policy and swept values other than ``scenario.*`` (which change the
    scenario only), then design order. Only the order of execution changes.
    """

    def key(spec: RunSpec) -> tuple[int, str, str, int]:
        levers = {k: v for k, v in spec.params.items() if not k.startswith("scenario.")}
        return (spec.seed, spec.policy, json.dumps(levers, sort_keys=True), spec.index)

    return sorted(specs, key=key)


def _simulate(config: ExperimentConfig, spec: RunSpec) -> RunResult:
    eco = BURN_INS.economy(config, spec)
    monthly = eco.run(config.months)
    ids = {
        "run_id": spec.run_id,
        "scenario": spec.scenario,
        "policy": spec.policy,
        "replication": spec.replication,
        **spec.params,
    }

    def tag(frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the run's identifier columns first."""
        return frame.assign(**ids)[[*ids, *frame.columns]]

    summary = pd.DataFrame([{**ids, "seed": spec.seed, **summarise_timeseries(monthly)}])
    return RunResult(
        timeseries=tag(monthly),
        lender_timeseries=tag(eco.lender_history()),
        rollrates=tag(eco.roll_rate_table().reset_index()),
        vintages=tag(eco.vintage_table()),
        lender_vintages=tag(eco.lender_vintage_table()),
        summary=summary,
        loan_tape=tag(eco.loan_tape()) if config.save_loan_tape else None,
    )


def _failure(run_id: str, seconds: float, exc: BaseException) -> RunOutcome:
    """The outcome of a run that raised ``exc`` (call inside the ``except`` block)."""
    return RunOutcome(
        run_id,
        False,
        seconds,
        error=f"{type(exc).__name__}: {exc}",
        traceback=traceback.format_exc(),
    )


def simulate_safely(config: ExperimentConfig, spec: RunSpec) -> tuple[RunResult | None, RunOutcome]:
    """Simulate one run; an exception is caught and returned as a failed outcome.

    Returns:
        ``(result, outcome)``: the tables and an ok outcome with the run time, or
        ``None`` and the failure (error and traceback).
    """
    start = time.perf_counter()
    try:
        result = simulate(config, spec)
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
        return None, _failure(spec.run_id, time.perf_counter() - start, exc)
    return result, RunOutcome(spec.run_id, True, time.perf_counter() - start)


def store_safely(
    config: ExperimentConfig,
    spec: RunSpec,
    out_dir: Path,
    result: RunResult | None,
    outcome: RunOutcome,
) -> RunOutcome:
    """Store a simulated run; a failed run gives a failed outcome.

    Raises:
        OSError: If the results folder cannot be written (full disk, read-only): the
            sweep stops, since every later run would fail the same way; the runs
            already stored are intact and ``--resume`` continues.
    """
    if result is None:
        return outcome
    write_run(out_dir, spec, result, outcome.seconds, param_types(config))
    return outcome


def run_and_store(config: ExperimentConfig, spec: RunSpec, out_dir: Path) -> RunOutcome:
    """Simulate one run and store it; an exception is caught and returned as a failure."""
    return store_safely(config, spec, out_dir, *simulate_safely(config, spec))


# Per-worker state, set once by the pool initializer so tasks stay small.
_WORKER: dict[str, Any] = {}


#: ``prctl`` option: the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Make this process die as soon as process ``parent`` (its parent) does.

    On Linux the kernel sends SIGKILL (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon
    thread checks the parent every second. Either way a worker never outlives a killed
    sweep, writing or blocked on a pipe nobody reads.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    if not armed:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _init_worker(
    config_dict: dict[str, Any], out_dir: str, parent: int, share_burn_in: bool = True
) -> None:
    die_with_parent(parent)
    BURN_INS.enabled = share_burn_in
    # Ctrl-C reaches the whole process group: workers leave quietly (each run's files are
    # written atomically) and the main process reports the interruption. SIGTERM keeps
    # its default (die): the main process terminates its workers that way.
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    _WORKER["config"] = parse_config(config_dict)
    _WORKER["out_dir"] = Path(out_dir)


def _run_batch(specs: list[RunSpec]) -> list[RunOutcome]:
    return [run_and_store(_WORKER["config"], spec, _WORKER["out_dir"]) for spec in specs]


def batches(specs: list[RunSpec], workers: int) -> list[list[RunSpec]]:
    """Split runs into batches: about four per worker, at most 32 runs each."""
    size = max(1, min(32, math.ceil(len(specs) / (4 * workers))))
    return [specs[i : i + size] for i in range(0, len(specs), size)]


_ADDRESS_RE = re.compile(r"^(?:(?:tcp|tls)://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}$")


@contextmanager
def dask_client(scheduler: str | None, workers: int = 1) -> Iterator[Client | None]:
    """Connect to a Dask scheduler for :func:`execute`; yield ``None`` without one.

    Args:
        scheduler: ``'local'`` starts a ``LocalCluster`` on 127.0.0.1 (``workers``
            single-threaded worker processes), an address such as ``tcp://HOST:PORT``
            connects to a running cluster, ``None`` yields ``None`` (no cluster).
        workers: Worker processes of a ``'local'`` cluster.

    Raises:
        ConfigError: If the cluster extra is not installed, the address is malformed or
            no scheduler answers within :data:`CONNECT_TIMEOUT` seconds.
    """
    if scheduler is None:
        yield None
        return
    distributed = _import_distributed()
    security = _security(distributed, scheduler)
    with ExitStack() as stack:
        # A lost scheduler is reported in one line (SchedulerLostError), not in Dask's logs.
        client_log = logging.getLogger("distributed.client")
        stack.callback(client_log.setLevel, client_log.level)
        client_log.setLevel(logging.CRITICAL)
        address: Any = scheduler
        if scheduler == "local":
            address = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    env=WORKER_ENVIRONMENT,  # runs simulate in a thread: see model.allocator
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=40,  # logging.ERROR
                )
            )
        client = _connect(distributed, address, scheduler, security)
        stack.enter_context(client)
        yield client


def _import_distributed() -> Any:
    """The ``distributed`` package (the cluster extra).

    Raises:
        ConfigError: If it is not installed.
    """
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "argument --scheduler needs dask.distributed, which is not installed; "
            f"install the cluster extra: {CLUSTER_EXTRA}"
        ) from None
    return distributed


def _security(distributed: Any, scheduler: str) -> Any:
    """Check a scheduler address; the Dask TLS settings for a ``tls://`` one, else None.

    Raises:
        ConfigError: If the address is malformed, or ``tls://`` without TLS settings.
    """
    if scheduler != "local" and not _ADDRESS_RE.match(scheduler):
        raise ConfigError(
            f"argument --scheduler: expected 'local' or an address like tcp://HOST:PORT, "
            f"got '{scheduler}'"
        )
    if not scheduler.startswith("tls://"):
        return None
    security = distributed.Security()  # from the Dask config: distributed.comm.tls.*
    if not (security.tls_ca_file and security.tls_client_cert):
        raise ConfigError(
            f"argument --scheduler: '{scheduler}' needs Dask's TLS settings "
            "(distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and .key in "
            "the Dask config or DASK_DISTRIBUTED__COMM__TLS__... variables); none are set"
        )
    return security


def _connect(distributed: Any, address: Any, scheduler: str, security: Any) -> Client:
    """A client of the scheduler at ``address`` (``scheduler`` as the user gave it).

    Raises:
        ConfigError: If no scheduler answers within :data:`CONNECT_TIMEOUT` seconds, or the
            connection cannot be made.
    """
    try:
        return distributed.Client(
            address, timeout=CONNECT_TIMEOUT, set_as_default=False, security=security
        )
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"argument --scheduler: no Dask scheduler answered at '{scheduler}' "
            f"within {CONNECT_TIMEOUT:g} s ({exc})"
        ) from None
    except (TypeError, ValueError) as exc:  # e.g. TLS settings Dask cannot use
        raise ConfigError(f"argument --scheduler: cannot connect to '{scheduler}': {exc}") from None


def in_flight_limit(client: Client) -> int:
    """Runs to keep submitted: :data:`IN_FLIGHT_PER_THREAD` per worker thread, at least 8."""
    threads = sum(client.nthreads().values())
    return max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads)


def _scheduler_lost(exc: BaseException) -> bool:
    """Whether ``exc``, raised by a run's future, means the connection to the scheduler was lost."""
    from distributed.client import FutureCancelledError

    return isinstance(exc, FutureCancelledError) and exc.reason == "scheduler-connection-lost"


def _room(client: Client, running: dict[Any, Any]) -> int:
    """Runs that may still be submitted (asks the scheduler for its workers).

    Raises:
        SchedulerLostError: If the connection to the scheduler is gone.
    """
    try:
        return in_flight_limit(client) - len(running)
    except OSError as exc:  # the connection to the scheduler is gone
        raise SchedulerLostError(str(exc)) from exc


def _result_of(future: Any, spec: RunSpec) -> tuple[RunResult | None, RunOutcome]:
    """A finished run's result and outcome; a run the cluster lost is a failed outcome.

    Raises:
        SchedulerLostError: If the future failed because the scheduler went away (the run
            itself did not fail).
    """
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: recorded, sweep goes on
        if _scheduler_lost(exc):  # the run did not fail: the scheduler went away
            raise SchedulerLostError(str(exc)) from exc
        return None, _failure(spec.run_id, 0.0, exc)


def _execute_dask(
    client: Client,
    config: ExperimentConfig,
    specs: list[RunSpec],
    out_dir: Path,
    record: Callable[[RunOutcome], None],
) -> None:
    """Simulate ``specs`` on the cluster, a bounded number at a time, storing results here."""
    from distributed import as_completed as dask_as_completed

    token = uuid.uuid4().hex[:8]  # keys unique per sweep: a cluster may serve many clients
    todo = iter(specs)
    running: dict[Any, tuple[Any, RunSpec]] = {}  # future and spec by task key

    def submit(count: int) -> list[Any]:
        futures: list[Any] = []
        if count <= 0:
            return futures
        for spec in todo:
            future = client.submit(
                simulate_safely,
                config,
                spec,
                key=f"run-{spec.run_id}-{token}",
                retries=RETRIES,
                pure=False,
            )
            running[future.key] = (future, spec)
            futures.append(future)
            if len(futures) >= count:
                break
        return futures

    try:
        pending = dask_as_completed(submit(_room(client, running)), loop=client.loop)
        for future in pending:
            _, spec = running.pop(future.key)
            result, outcome = _result_of(future, spec)
            future.release()
            record(store_safely(config, spec, out_dir, result, outcome))
            del result
            for new in submit(_room(client, running)):
                pending.add(new)
    except SchedulerLostError:
        raise
    except Exception as exc:
        if client.status != "running":
            raise SchedulerLostError(str(exc)) from exc
        client.cancel([f for f, _ in running.values()])
        raise
    except BaseException:
        client.cancel([f for f, _ in running.values()])
        raise


def execute(
    config: ExperimentConfig,
    specs: list[RunSpec],
    out_dir: Path,
    workers: int = 1,
    on_done: Callable[[RunOutcome], None] | None = None,
    client: Client | None = None,
    share_burn_in: bool = True,
) -> list[RunOutcome]:
    """Run ``specs``, storing each run in ``out_dir`` as soon as it finishes.

    Args:
        config: The validated experiment.
        specs: Runs to do (usually those not finished yet).
        out_dir: Results folder.
        workers: 1 runs serially in this process; more uses a spawn process pool.
        on_done: Called in this process with each outcome (e.g. to advance a progress bar).
        client: A Dask client (see :func:`dask_client`): runs are simulated on its
            cluster and stored by this process; ``workers`` is then ignored.
        share_burn_in: Runs that differ only in their scenario's months after 0 start
            from one burn-in per process (:class:`BurnInCache`; same results, less
            time). False builds every run's economy from scratch. Dask workers always
            share (each worker its own cache).

    Returns:
        The outcomes, in design order.
    """
    outcomes: list[RunOutcome] = []

    def record(outcome: RunOutcome) -> None:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    todo = sharing_order(specs) if share_burn_in else specs
    enabled, BURN_INS.enabled = BURN_INS.enabled, share_burn_in
    try:
        if client is not None:
            _execute_dask(client, config, todo, out_dir, record)
        elif workers <= 1 or len(specs) <= 1:
            for spec in todo:
                record(run_and_store(config, spec, out_dir))
        else:
            _execute_pool(config, todo, out_dir, workers, record)
    finally:
        BURN_INS.enabled = enabled
        BURN_INS.clear()
    order = {spec.run_id: spec.index for spec in specs}
    return sorted(outcomes, key=lambda o: order[o.run_id])


def _lost_batch(
    out_dir: Path, batch: list[RunSpec], exc: BaseException, tables: tuple[str, ...]
) -> list[RunOutcome]:
    """Outcomes of a batch whose worker died: runs it stored are done, the others failed."""
    stored = finished(out_dir, batch, tables)
    error = f"{type(exc).__name__}: {exc}"
    if "terminated abruptly" in str(exc):
        error = (
            "the worker process died (killed, e.g. by the system when out of memory) before "
            f"this run was stored ({type(exc).__name__})"
        )
    trace = "".join(traceback.format_exception(exc))
    return [
        RunOutcome(s.run_id, True, stored[s.run_id])
        if s.run_id in stored
        else RunOutcome(s.run_id, False, 0.0, error, trace)
        for s in batch
    ]


def terminate_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a process pool now: cancel what has not started, terminate running workers.

    Each run's files are written atomically, so a worker terminated mid-write leaves at
    most a temporary file, removed on resume.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


def _execute_pool(
    config: ExperimentConfig,
    specs: list[RunSpec],
    out_dir: Path,
    workers: int,
    record: Callable[[RunOutcome], None],
) -> None:
    """Run ``specs`` in batches on a spawn process pool whose workers die with this process."""
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(specs)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(config.to_dict(), str(out_dir), os.getpid(), BURN_INS.enabled),
    )
    try:
        futures = {pool.submit(_run_batch, batch): batch for batch in batches(specs, workers)}
        for future in as_completed(futures):
            try:
                batch_outcomes = future.result()
            except OSError:
                raise  # the results folder cannot be written: stop the sweep
            except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                batch_outcomes = _lost_batch(
                    out_dir, futures[future], exc, run_tables(config.save_loan_tape)
                )
            for outcome in batch_outcomes:
                record(outcome)
    except BaseException:
        terminate_pool(pool)  # SIGTERM, Ctrl-C or a full disk: workers stop now, not later
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
