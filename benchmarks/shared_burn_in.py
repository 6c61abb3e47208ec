"""Cost of a stochastic-path experiment with and without the shared burn-in.

Runs the shipped ``experiments/configs/loss_distribution.toml`` (its paths, borrowers,
months and policies unless given) into two temporary folders, once with every run
building its own burned-in economy and once sharing one burn-in per process
(``experiments.execute.BurnInCache``), and checks that both store identical results.

Run: ``python -m benchmarks.shared_burn_in [PATHS [BORROWERS [WORKERS]]]``
(defaults: the config's 1,000 paths and 20,000 borrowers, 2 workers).
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "loss_distribution.toml"


def _config(paths: int | None, borrowers: int | None) -> Any:
    from experiments.config import parse_config, read_toml

    raw, _ = read_toml(CONFIG)
    if paths is not None:
        raw["scenario"][0]["stochastic"]["paths"] = paths
    config = parse_config(raw)
    return dataclasses.replace(config, borrowers=borrowers or config.borrowers)


def _timed(config: Any, workers: int, share: bool, out: Path) -> float:
    from experiments.design import build_design
    from experiments.execute import execute

    specs = build_design(config)
    start = time.perf_counter()
    outcomes = execute(config, specs, out, workers, share_burn_in=share)
    seconds = time.perf_counter() - start
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} runs failed, e.g. {failed[0].error}")
    return seconds


def _same_results(a: Path, b: Path) -> bool:
    """Whether two folders hold the same run files, byte for byte (markers aside)."""

    def files(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (folder / "runs").glob("*.parquet")}

    mine = files(a)
    return bool(mine) and mine == files(b)


def main(paths: int | None = None, borrowers: int | None = None, workers: int = 2) -> dict:
    """Time the experiment both ways; print and return the seconds and the saving."""
    config = _config(paths, borrowers)
    runs = len(config.scenarios) * len(config.policies) * config.replications
    with tempfile.TemporaryDirectory() as tmp:
        own, shared = Path(tmp, "own"), Path(tmp, "shared")
        seconds_own = _timed(config, workers, False, own)
        seconds_shared = _timed(config, workers, True, shared)
        identical = _same_results(own, shared)
    saving = 1 - seconds_shared / seconds_own
    print(
        f"{runs:,} runs ({len(config.scenarios):,} paths x {len(config.policies)} policies), "
        f"{config.borrowers:,} borrowers x {config.months} months, {workers} workers:"
    )
    print(f"  each run its own burn-in: {seconds_own:,.1f} s")
    print(f"  shared burn-in:           {seconds_shared:,.1f} s ({saving:.0%} less)")
    print(f"  identical stored results: {identical}")
    return {
        "runs": runs,
        "borrowers": config.borrowers,
        "months": config.months,
        "workers": workers,
        "seconds_own_burn_in": seconds_own,
        "seconds_shared_burn_in": seconds_shared,
        "identical": identical,
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    main(*args)
