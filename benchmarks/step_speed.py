"""Nanoseconds per borrower-month of CreditEconomy, construction and burn-in included.

Each size runs in a fresh subprocess so peak RSS is that run's own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The repository root, where ``benchmarks`` is imported from in a measuring subprocess.
ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "severe_recession"
#: The sizes timed by default, and the target of each (ns per recorded borrower-month,
#: one core, construction and burn-in included).
TARGET_SIZES = [(10_000, 60), (100_000, 120), (1_000_000, 60)]
TARGETS_NS = {(100_000, 120): 300.0, (1_000_000, 60): 110.0}


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (2**20 bytes).

    Read from ``VmHWM`` in ``/proc/self/status`` where there is one: ``ru_maxrss``
    survives ``exec``, so a process started by a large one would report its parent's
    peak (as the benchmark suite's later sizes did).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def measure(n_borrowers: int, months: int, seed: int = 1) -> dict[str, float]:
    """Build and run one economy; return timings and peak memory of this process."""
    from model import CreditEconomy

    start = time.perf_counter()
    eco = CreditEconomy(n_borrowers=n_borrowers, scenario=SCENARIO, seed=seed)
    built = time.perf_counter()
    eco.run(months)
    done = time.perf_counter()
    steps = months + eco.burn_in
    return {
        "borrowers": n_borrowers,
        "months": months,
        "burn_in": eco.burn_in,
        "seconds": done - start,
        "construction_seconds": built - start,
        "ns_per_borrower_month": (done - start) / (n_borrowers * steps) * 1e9,
        "ns_per_borrower_month_recorded": (done - start) / (n_borrowers * months) * 1e9,
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_in_subprocess(
    n_borrowers: int, months: int, reuse_memory: bool = False
) -> dict[str, float]:
    """Run :func:`measure` in a fresh interpreter and return its result.

    With ``reuse_memory``, the interpreter first calls ``model.reuse_freed_memory()``
    (as ``python -m experiments`` does in its run processes).
    """
    setup = "from model import reuse_freed_memory; reuse_freed_memory(); " if reuse_memory else ""
    return in_subprocess(
        f"{setup}from benchmarks.step_speed import measure", f"measure({n_borrowers}, {months})"
    )


def in_subprocess(imports: str, call: str) -> dict[str, Any]:
    """Run ``imports`` then ``call`` in a fresh interpreter; return the call's dict result.

    The interpreter starts in the repository root (``benchmarks`` is imported from there),
    so its peak memory is its own run's.
    """
    code = f"import json; {imports}; print(json.dumps({call}))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(
    sizes: list[tuple[int, int]], reuse_memory: bool = False, repeat: int = 1
) -> list[dict[str, float]]:
    """Measure each ``(borrowers, months)`` size ``repeat`` times and print a table.

    Each size reports its fastest run (other load on the machine only adds time, as in
    ``timeit``), with every run's seconds in ``seconds_all``.
    """
    allocator = "freed memory reused" if reuse_memory else "default allocator"
    print(
        f"one run, scenario={SCENARIO}, one core, construction and burn-in included, "
        f"{allocator}, fastest of {repeat}"
    )
    header = (
        "borrowers",
        "months",
        "burn-in",
        "seconds",
        "ns/b-month",
        "ns/rec-month",
        "target",
        "peak MB",
    )
    widths = (10, 6, 7, 8, 11, 12, 12, 8)
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    results = []
    for n, m in sizes:
        runs = [measure_in_subprocess(n, m, reuse_memory) for _ in range(repeat)]
        r = min(runs, key=lambda run: run["seconds"])
        r["seconds_all"] = [run["seconds"] for run in runs]
        r["reuse_freed_memory"] = reuse_memory
        target = TARGETS_NS.get((n, m))
        r["target_ns_per_borrower_month_recorded"] = target
        results.append(r)
        if target is None:
            verdict = ""
        else:
            met = r["ns_per_borrower_month_recorded"] <= target
            verdict = f"<={target:.0f} {'met' if met else 'MISSED'}"
        values = (
            f"{r['borrowers']:,}",
            r["months"],
            r["burn_in"],
            f"{r['seconds']:.2f}",
            f"{r['ns_per_borrower_month']:.0f}",
            f"{r['ns_per_borrower_month_recorded']:.0f}",
            verdict,
            f"{r['peak_rss_mb']:.0f}",
        )
        print(" ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True)))
    print("ns/b-month counts burn-in and recorded months; ns/rec-month counts recorded ones only")
    return results
