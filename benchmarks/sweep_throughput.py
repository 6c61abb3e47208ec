"""Sweep throughput: runs per second of a config-driven sweep with 1 and 2 workers."""

from __future__ import annotations

import tempfile
import time
import tomllib
from pathlib import Path

from experiments import parse_config, run_experiment

CONFIG = """
[experiment]
name = "throughput"
months = {months}
borrowers = {borrowers}
replications = {replications}
seed = 1

[[scenario]]
preset = "baseline"
[[scenario]]
preset = "severe_recession"

[[policy]]
preset = "conservative"
[[policy]]
preset = "balanced"
"""


def measure(
    runs: int = 200, borrowers: int = 10_000, months: int = 60, workers: int = 1
) -> dict[str, float]:
    """Time a sweep of ``runs`` runs (2 scenarios x 2 policies x runs/4 replications).

    Figures are not drawn; consolidation and the manifest are included.
    """
    if runs % 4:
        raise ValueError(f"runs must be a multiple of 4, got {runs}")
    config = parse_config(
        tomllib.loads(CONFIG.format(months=months, borrowers=borrowers, replications=runs // 4))
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = run_experiment(
            config, out_dir=Path(tmp) / "out", workers=workers, progress=False, draw=False
        )
        seconds = time.perf_counter() - start
    if report.failed:
        raise RuntimeError(f"{len(report.failed)} runs failed in the throughput sweep")
    return {
        "runs": runs,
        "borrowers": borrowers,
        "months": months,
        "workers": workers,
        "seconds": seconds,
        "runs_per_second": runs / seconds,
    }


def main(runs: int, borrowers: int, months: int) -> list[dict[str, float]]:
    """Measure with 1 and 2 workers and print runs/s and parallel efficiency."""
    print(f"sweep of {runs} runs, {borrowers:,} borrowers x {months} months (+ burn-in)")
    results = [measure(runs, borrowers, months, workers) for workers in (1, 2)]
    one = results[0]["runs_per_second"]
    for r in results:
        r["parallel_efficiency"] = r["runs_per_second"] / (one * r["workers"])
        print(
            f"  workers={r['workers']}: {r['seconds']:.1f} s, {r['runs_per_second']:.2f} runs/s, "
            f"parallel efficiency {r['parallel_efficiency']:.0%}"
        )
    return results
