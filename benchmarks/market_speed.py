"""Cost of a market of five lenders against one lender, per borrower-month.

The target (issue 13): a market of 5 lenders at 100,000 borrowers costs no more than
2x a single lender per borrower-month. Both economies are built as ``python -m
experiments run`` builds them (``experiments.design.build_economy``), construction and
burn-in included, in a severe recession, two ways:

- *warm* (the target's reading): in one fresh subprocess, every compiled kernel loaded
  first, the two economies each built twice (one lender, market, market, one lender;
  the builds averaged) and then stepped month by month alternately, so a drifting
  machine slows both alike; the simulation's own cost, as in a sweep's worker. (Until
  2026-12-04 each was built once, one lender first: a drift within the builds, about
  half the time measured, then fell on one side only.)
- *cold*: each economy alone in a fresh subprocess, as one ``experiments run`` pays it,
  loading the compiled kernels from the cache included (a fixed cost of a few tenths of
  a second that dilutes the ratio at this size).

Run alone: ``python -m benchmarks.market_speed [BORROWERS MONTHS REPEAT]``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from benchmarks.step_speed import in_subprocess, peak_rss_mb

SCENARIO = "severe_recession"
#: Most a 5-lender market may cost per borrower-month, as a multiple of one lender.
TARGET_RATIO = 2.0
#: The population the target is read at (issue 13: 100,000 borrowers).
TARGET_BORROWERS = 100_000
#: The order the warm reading builds the economies in (False: one lender; True: the market).
BUILD_ORDER = (False, True, True, False)
#: The five lenders of the market: bank-like and investor-funded, three presets.
MARKET_LENDERS = (
    {"name": "bank", "preset": "conservative"},
    {"name": "card", "preset": "balanced"},
    {"name": "p2p_a", "preset": "aggressive", "funding": "investors"},
    {"name": "p2p_b", "preset": "balanced", "funding": "investors"},
    {"name": "p2p_c", "preset": "conservative", "funding": "investors"},
)


def config_of(market: bool, borrowers: int, months: int) -> dict[str, Any]:
    """The experiment config (as parsed TOML) of the single lender or the market."""
    raw: dict[str, Any] = {
        "experiment": {"name": "market_speed", "seed": 1, "months": months, "borrowers": borrowers},
        "scenario": [{"preset": SCENARIO}],
    }
    if market:
        raw["market"] = [{"name": "five", "lenders": [dict(lender) for lender in MARKET_LENDERS]}]
    else:
        raw["policy"] = [{"preset": "balanced"}]
    return raw


def measure(market: bool, borrowers: int, months: int) -> dict[str, Any]:
    """Build and run one economy; return its timings and peak memory (this process)."""
    from experiments.config import parse_config
    from experiments.design import build_design, build_economy

    config = parse_config(config_of(market, borrowers, months))
    start = time.perf_counter()
    eco = build_economy(config, build_design(config)[0])
    eco.run(months)
    seconds = time.perf_counter() - start
    steps = months + eco.burn_in
    return {
        "lenders": len(eco.lenders),
        "borrowers": borrowers,
        "months": months,
        "burn_in": eco.burn_in,
        "seconds": seconds,
        "ns_per_borrower_month": seconds / (borrowers * steps) * 1e9,
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_warm(borrowers: int, months: int) -> dict[str, Any]:
    """One lender and the market in this process, kernels loaded first (see the module).

    Construction and burn-in are timed twice for each, in :data:`BUILD_ORDER` (one
    lender, the market, the market, one lender: a drift linear in time costs both
    alike), and averaged; the second economy of each is stepped.

    Returns:
        Seconds of each (construction and burn-in, then the months stepped alternately),
        the ratio of their costs per borrower-month (the target's reading), and the ratio
        of the recorded months alone (stepped alternately, so the least touched by the
        machine's drift) with the market's milliseconds per recorded month.
    """
    from experiments.config import parse_config
    from experiments.design import build_design, build_economy

    def build(market: bool, n: int, m: int) -> Any:
        config = parse_config(config_of(market, n, m))
        return build_economy(config, build_design(config)[0])

    for market in (False, True):  # load every kernel both use, untimed
        build(market, 2_000, 2).run(2)
    economies, builds, kept = {}, {False: [], True: []}, []
    for market in BUILD_ORDER:  # each built twice, the second stepped; none freed meanwhile
        start = time.perf_counter()
        economies[market] = build(market, borrowers, months)
        builds[market].append(time.perf_counter() - start)
        kept.append(economies[market])
    seconds = {m: sum(b) / len(b) for m, b in builds.items()}
    stepped = {False: 0.0, True: 0.0}
    for _ in range(months):
        for market in (False, True):
            start = time.perf_counter()
            economies[market].step()
            stepped[market] += time.perf_counter() - start
    per_month = {
        m: (seconds[m] + stepped[m]) / (months + economies[m].burn_in) for m in (False, True)
    }
    return {
        "one_lender_seconds": seconds[False] + stepped[False],
        "market_seconds": seconds[True] + stepped[True],
        "ratio": per_month[True] / per_month[False],
        "recorded_ratio": stepped[True] / stepped[False],
        "market_ms_per_recorded_month": stepped[True] / months * 1e3,
    }


def main(borrowers: int = 100_000, months: int = 60, repeat: int = 3) -> dict[str, Any]:
    """Time one lender and the 5-lender market (fastest of ``repeat`` each); print the ratio.

    The two alternate (one lender, market, one lender, ...), so a machine whose speed
    drifts during the benchmark slows both alike.
    """
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for _ in range(repeat):
        for market in (False, True):
            runs[market].append(
                in_subprocess(
                    "from benchmarks.market_speed import measure",
                    f"measure({market}, {borrowers}, {months})",
                )
            )
    one, five = (min(runs[market], key=lambda r: r["seconds"]) for market in (False, True))
    cold = five["ns_per_borrower_month"] / one["ns_per_borrower_month"]
    warm = [
        in_subprocess(
            "from benchmarks.market_speed import measure_warm",
            f"measure_warm({borrowers}, {months})",
        )
        for _ in range(repeat)
    ]
    ratio = float(np.median([w["ratio"] for w in warm]))
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    if borrowers < TARGET_BORROWERS:  # fixed costs weigh more in a small economy
        verdict = f"read at {TARGET_BORROWERS:,} borrowers, not judged at this size"
    print(
        f"market of {five['lenders']} lenders against one, {borrowers:,} borrowers x {months} "
        f"months, {SCENARIO}, burn-in included:"
    )
    for r in (one, five):
        print(
            f"  cold, {r['lenders']} lender(s): {r['seconds']:.2f} s (fastest of {repeat}), "
            f"{r['ns_per_borrower_month']:.0f} ns per borrower-month, "
            f"burn-in {r['burn_in']}, peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    print(f"  cold ratio {cold:.2f}x (kernel loading included)")
    runs_text = ", ".join(f"{w['ratio']:.2f}x" for w in warm)
    print(
        f"  warm ratio {ratio:.2f}x per borrower-month, median of {repeat} ({runs_text}; "
        f"target <= {TARGET_RATIO:.1f}x: {verdict})"
    )
    recorded = ", ".join(
        f"{w['recorded_ratio']:.2f}x ({w['market_ms_per_recorded_month']:.1f} ms)" for w in warm
    )
    print(f"  recorded months alone (stepped alternately; the market's ms a month): {recorded}")
    return {
        "one_lender": one,
        "market": five,
        "cold_ratio": cold,
        "warm": warm,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
    }


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:4]]
    main(*sizes)
