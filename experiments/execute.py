"""Execution: simulate runs serially or in a spawn process pool, storing each as it finishes."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.analysis import summarise_timeseries
from experiments.config import ExperimentConfig, parse_config
from experiments.design import RunSpec, model_inputs, param_types
from experiments.store import RunResult, write_run
from model import CreditEconomy


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one run: finished (with its time) or failed (with the traceback)."""

    run_id: str
    ok: bool
    seconds: float
    error: str | None = None
    traceback: str | None = None


def simulate(config: ExperimentConfig, spec: RunSpec) -> RunResult:
    """Run one simulation and return its tables, identifier columns included."""
    scenario, policy, population = model_inputs(config, spec)
    eco = CreditEconomy(
        n_borrowers=config.borrowers,
        scenario=scenario,
        policy=policy,
        seed=spec.seed,
        population=population,
        burn_in=config.burn_in,
    )
    monthly = eco.run(config.months)
    ids = {
        "run_id": spec.run_id,
        "scenario": spec.scenario,
        "policy": spec.policy,
        "replication": spec.replication,
        **spec.params,
    }

    def tag(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**ids)

    summary = pd.DataFrame([{**ids, "seed": spec.seed, **summarise_timeseries(monthly)}])
    return RunResult(
        timeseries=tag(monthly),
        rollrates=tag(eco.roll_rate_table().reset_index()),
        vintages=tag(eco.vintage_table()),
        summary=summary,
    )


def run_and_store(config: ExperimentConfig, spec: RunSpec, out_dir: Path) -> RunOutcome:
    """Simulate one run and store it; an exception is caught and returned as a failure."""
    start = time.perf_counter()
    try:
        result = simulate(config, spec)
        seconds = time.perf_counter() - start
        write_run(out_dir, spec, result, seconds, param_types(config))
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
        return RunOutcome(
            spec.run_id,
            False,
            time.perf_counter() - start,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    return RunOutcome(spec.run_id, True, seconds)


# Per-worker state, set once by the pool initializer so tasks stay small.
_WORKER: dict[str, Any] = {}


def _init_worker(config_dict: dict[str, Any], out_dir: str) -> None:
    # Ctrl-C reaches the whole process group: workers leave quietly (each run's files are
    # written atomically) and the main process reports the interruption.
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    _WORKER["config"] = parse_config(config_dict)
    _WORKER["out_dir"] = Path(out_dir)


def _run_batch(specs: list[RunSpec]) -> list[RunOutcome]:
    return [run_and_store(_WORKER["config"], spec, _WORKER["out_dir"]) for spec in specs]


def batches(specs: list[RunSpec], workers: int) -> list[list[RunSpec]]:
    """Split runs into batches: about four per worker, at most 32 runs each."""
    size = max(1, min(32, math.ceil(len(specs) / (4 * workers))))
    return [specs[i : i + size] for i in range(0, len(specs), size)]


def execute(
    config: ExperimentConfig,
    specs: list[RunSpec],
    out_dir: Path,
    workers: int = 1,
    on_done: Callable[[RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Run ``specs``, storing each run in ``out_dir`` as soon as it finishes.

    Args:
        config: The validated experiment.
        specs: Runs to do (usually those not finished yet).
        out_dir: Results folder.
        workers: 1 runs serially in this process; more uses a spawn process pool.
        on_done: Called in this process with each outcome (e.g. to advance a progress bar).

    Returns:
        The outcomes, in design order.
    """
    outcomes: list[RunOutcome] = []

    def record(outcome: RunOutcome) -> None:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    if workers <= 1 or len(specs) <= 1:
        for spec in specs:
            record(run_and_store(config, spec, out_dir))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(workers, len(specs)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(config.to_dict(), str(out_dir)),
        ) as pool:
            futures = {pool.submit(_run_batch, batch): batch for batch in batches(specs, workers)}
            try:
                for future in as_completed(futures):
                    try:
                        batch_outcomes = future.result()
                    except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                        error = f"{type(exc).__name__}: {exc}"
                        batch_outcomes = [
                            RunOutcome(s.run_id, False, 0.0, error, traceback.format_exc())
                            for s in futures[future]
                        ]
                    for outcome in batch_outcomes:
                        record(outcome)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    order = {spec.run_id: spec.index for spec in specs}
    return sorted(outcomes, key=lambda o: order[o.run_id])
