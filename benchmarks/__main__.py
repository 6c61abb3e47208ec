"""Benchmark suite: ``python -m benchmarks [--quick] [--sizes NxM ...] [--reuse-freed-memory]``.

Prints, per population size, the time of one run (construction and burn-in
included), nanoseconds per borrower-month (counting burn-in months, and counting
recorded months only) against the targets, peak memory, and the speed-up over the
per-agent Mesa reference; then sweep throughput with 1 and 2 workers; then the cost of a
market of five lenders against one lender per borrower-month (``market_speed``). Writes
everything as JSON (default ``results/benchmarks/latest.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import numpy as np

from benchmarks import step_speed


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (exit status 2), not usage plus message."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _size(text: str) -> tuple[int, int]:
    """Parse ``BORROWERSxMONTHS`` (e.g. ``10000000x60``)."""
    try:
        borrowers, months = (int(part) for part in text.lower().split("x"))
    except ValueError:
        borrowers = months = 0
    if not (1 <= borrowers <= 100_000_000 and 1 <= months <= 1200):
        raise argparse.ArgumentTypeError(
            f"expected BORROWERSxMONTHS with 1-100000000 borrowers and 1-1200 months, got {text!r}"
        )
    return borrowers, months


def _count(text: str) -> int:
    """Parse a number of runs, 1-20."""
    if not text.isdigit() or not 1 <= int(text) <= 20:
        raise argparse.ArgumentTypeError(f"expected a number of runs from 1 to 20, got {text!r}")
    return int(text)


def _parser() -> _Parser:
    """The command line of the suite."""
    parser = _Parser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only (under a minute)")
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=_size,
        metavar="NxM",
        help="run sizes to time instead of the defaults, e.g. 10000000x60",
    )
    parser.add_argument(
        "--reuse-freed-memory",
        action="store_true",
        help="time runs after model.reuse_freed_memory(), as python -m experiments runs them",
    )
    parser.add_argument(
        "--repeat",
        type=_count,
        default=None,
        metavar="N",
        help="runs per size; the fastest is reported (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--json", default="results/benchmarks/latest.json", help="where to write the figures"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the suite and return the exit status."""
    args = _parser().parse_args(argv)
    if args.quick:
        sizes, reference, sweep = [(10_000, 60)], (2_000, 12), (8, 5_000, 24)
        market_size = (10_000, 24)
    else:
        sizes, reference, sweep = step_speed.TARGET_SIZES, (5_000, 24), (200, 10_000, 60)
        market_size = (100_000, 60)
    if args.sizes:
        sizes = args.sizes
    # Imported only now, so that argument errors come back at once.
    from benchmarks import market_speed, sweep_throughput
    from benchmarks.mesa_reference import speedup

    ref = speedup(*reference)
    per_agent_ns = ref["seconds_per_agent"] / (reference[0] * (reference[1] + ref["burn_in"])) * 1e9
    print(
        f"per-agent Mesa reference at {reference[0]:,} x {reference[1]} months: "
        f"{ref['seconds_per_agent']:.2f} s against {ref['seconds_vectorized']:.3f} s, "
        f"speed-up {ref['ratio']:.1f}x ({per_agent_ns:,.0f} ns per borrower-month)"
    )
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    runs = step_speed.main(sizes, args.reuse_freed_memory, repeat)
    for r in runs:
        r["speedup_over_reference"] = per_agent_ns / r["ns_per_borrower_month"]
    print("speed-up over the reference (its ns per borrower-month at the size above):")
    for r in runs:
        print(f"  {r['borrowers']:>10,}: {r['speedup_over_reference']:.0f}x")
    sweeps = sweep_throughput.main(*sweep)
    market = market_speed.main(*market_size, repeat=repeat)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "numpy": np.__version__,
        "quick": args.quick,
        "reference": ref,
        "runs": runs,
        "sweeps": sweeps,
        "market": market,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
