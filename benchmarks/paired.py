"""Paired speed comparison: this checkout's model against an earlier revision's, one process.

On a shared machine whose speed drifts within minutes, timings of separate runs differ by
more than most changes do. Here both versions run in one process: the revision's
``model/`` is extracted with ``git archive`` and imported as ``model_base``, both
economies are built from the same arguments, then stepped alternately month by month, so
drift hits both alike. Also checks that their metrics agree (whether results moved).

Run: ``python -m benchmarks.paired REVISION [--borrowers N] [--months M] [--lenders ...]
[--runs R]`` (``--lenders`` takes preset names, one per lender). With ``--runs R`` each
version is built once and ``R`` forks of it are stepped (which version steps first
alternates between runs too); the ratio is the median over runs, steadier than one run's
(about +-2% against +-5%).
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load_revision(revision: str, into: Path) -> Any:
    """The ``model`` package of ``revision``, imported as ``model_base`` from ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "model"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / "model_base"
    (into / "model").rename(package)
    for path in package.glob("*.py"):
        text = re.sub(
            r"^(\s*(?:from|import)\s+)model\b",
            r"\1model_base",
            path.read_text(encoding="utf-8"),
            flags=re.MULTILINE,
        )
        path.write_text(text, encoding="utf-8")
    sys.path.insert(0, str(into))
    return importlib.import_module("model_base.economy")


def _unload(into: Path) -> None:
    """Forget a loaded revision, so a later one is imported afresh."""
    for name in [m for m in sys.modules if m == "model_base" or m.startswith("model_base.")]:
        del sys.modules[name]
    sys.path.remove(str(into))


def compare(
    revision: str, borrowers: int, months: int, lenders: list[str], runs: int = 1
) -> dict[str, Any]:
    """Build both versions' economies and step them alternately; return their timings.

    With ``runs`` > 1, each run steps forks of the economies built once (the first run's
    forks too); ``ratio`` is the median of the runs' ratios, ``month_seconds`` their sums.
    """
    from model.economy import CreditEconomy

    with tempfile.TemporaryDirectory() as tmp:
        base = load_revision(revision, Path(tmp)).CreditEconomy
        kw = {"n_borrowers": borrowers, "scenario": "severe_recession", "policy": lenders}
        for cls in (base, CreditEconomy):  # compile the kernels before timing
            cls(n_borrowers=500, policy=lenders, seed=1, burn_in=2).run(1)
        built = {}
        for name, cls in (("base", base), ("new", CreditEconomy)):
            start = time.perf_counter()
            built[name] = (cls(seed=1, **kw), time.perf_counter() - start)
        spent, ratios, same = {"base": 0.0, "new": 0.0}, [], True
        for run in range(runs):
            economies = {k: b[0].fork() if runs > 1 else b[0] for k, b in built.items()}
            times = _step_alternately(economies, months, first=run % 2)
            ratios.append(times["new"] / times["base"])
            same &= bool(economies["base"].metrics().equals(economies["new"].metrics()))
            spent = {k: spent[k] + times[k] for k in spent}
        _unload(Path(tmp))
    return {
        "build_seconds": {name: b[1] for name, b in built.items()},
        "month_seconds": spent,
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "same_metrics": same,
    }


def _step_alternately(economies: dict[str, Any], months: int, first: int) -> dict[str, float]:
    """Step ``base`` and ``new`` month by month, alternating which goes first; their times."""
    spent = {"base": 0.0, "new": 0.0}
    for month in range(months):
        order = ("base", "new") if (month + first) % 2 == 0 else ("new", "base")
        for name in order:
            start = time.perf_counter()
            economies[name].step()
            spent[name] += time.perf_counter() - start
    return spent


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: print the paired timings of this checkout against ``REVISION``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paired", description=__doc__)
    parser.add_argument("revision", help="a git revision of this repository (e.g. HEAD~3)")
    parser.add_argument("--borrowers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--lenders", nargs="+", default=["balanced"])
    parser.add_argument("--runs", type=_positive, default=1, help="forked runs (median ratio)")
    args = parser.parse_args(argv)
    out = compare(args.revision, args.borrowers, args.months, args.lenders, args.runs)
    months = args.months
    print(
        f"{args.borrowers:,} borrowers, {len(args.lenders)} lender(s), {months} months "
        f"stepped alternately (severe_recession): {args.revision} "
        f"{out['month_seconds']['base']:.3f} s, this checkout {out['month_seconds']['new']:.3f} s"
        f" (x{out['ratio']:.3f}{_spread(out['ratios'])}); built with burn-in in "
        f"{out['build_seconds']['base']:.2f} s "
        f"and {out['build_seconds']['new']:.2f} s (once each, in that order); same metrics: "
        f"{out['same_metrics']}"
    )
    return out


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _spread(ratios: list[float]) -> str:
    """``, median of R runs: lo-hi`` for several runs, nothing for one."""
    if len(ratios) == 1:
        return ""
    return f", median of {len(ratios)} runs: {min(ratios):.3f}-{max(ratios):.3f}"


if __name__ == "__main__":
    main()
