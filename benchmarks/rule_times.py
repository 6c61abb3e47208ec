"""Time of each rule of the month, one lender against the 5-lender market.

Times every rule of ``CreditEconomy.step`` (the schedule, in order) over the recorded
months of the economies ``benchmarks.market_speed`` compares, so a change to one rule
can be weighed where it counts. The rules are called as ``step`` calls them; results
are those of an untimed run.

Run alone: ``python -m benchmarks.rule_times [BORROWERS MONTHS]``.
"""

from __future__ import annotations

import inspect
import re
import sys
import time

from benchmarks.market_speed import config_of
from model.economy import CreditEconomy


def schedule() -> list[str]:
    """The names of the month's rules, in the order ``CreditEconomy.step`` calls them."""
    return re.findall(r"self\.(_\w+)\(", inspect.getsource(CreditEconomy.step))


def rule_times(market: bool, borrowers: int, months: int) -> dict[str, float]:
    """Milliseconds per recorded month spent in each rule (built as ``experiments run``)."""
    from experiments.config import parse_config
    from experiments.design import build_design, build_economy

    config = parse_config(config_of(market, borrowers, months))
    eco = build_economy(config, build_design(config)[0])
    rules = schedule()
    spent = dict.fromkeys(rules, 0.0)
    for _ in range(months):
        start = time.perf_counter()
        m = getattr(eco, rules[0])()
        spent[rules[0]] += time.perf_counter() - start
        for name in rules[1:]:
            start = time.perf_counter()
            getattr(eco, name)(m)
            spent[name] += time.perf_counter() - start
    return {name: seconds / months * 1e3 for name, seconds in spent.items()}


def main(borrowers: int = 100_000, months: int = 60) -> dict[bool, dict[str, float]]:
    """Print the milliseconds per month of each rule, one lender and the market."""
    times = {market: rule_times(market, borrowers, months) for market in (False, True)}
    print(f"ms per recorded month, {borrowers:,} borrowers x {months} months (severe_recession)")
    print(f"{'rule':24s} {'1 lender':>9s} {'5 lenders':>10s}")
    for name in times[False]:
        print(f"{name:24s} {times[False][name]:9.2f} {times[True][name]:10.2f}")
    totals = [sum(times[market].values()) for market in (False, True)]
    print(f"{'month':24s} {totals[0]:9.2f} {totals[1]:10.2f}")
    return times


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:3]])
