"""The benchmark command: its arguments, and a small end-to-end run (timings are not tested)."""

import json
import subprocess
import sys

import pytest

from benchmarks import market_speed, step_speed
from model.economy import DEFAULT_BURN_IN


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True, cwd=cwd
    )


SIZES = "expected BORROWERSxMONTHS with 1-100000000 borrowers and 1-1200 months"
REPEATS = "expected a number of runs from 1 to 20"


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        *(("--sizes", v, SIZES) for v in ("10x0", "abc", "0x60", "10x60x2", "200000000x60")),
        *(("--repeat", v, REPEATS) for v in ("0", "21", "two")),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(option, value, expected):
    done = _run(option, value)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"python -m benchmarks: error: argument {option}: {expected}, got '{value}'"
    ]


def test_one_size_is_measured_with_burn_in_counted_both_ways():
    r = step_speed.measure(2_000, 12)
    assert r["burn_in"] == DEFAULT_BURN_IN == 46  # 36 + 120 DPD in months + 6
    steps = r["burn_in"] + 12
    assert r["ns_per_borrower_month"] == pytest.approx(r["seconds"] / (2_000 * steps) * 1e9)
    assert r["ns_per_borrower_month_recorded"] == pytest.approx(
        r["ns_per_borrower_month"] * steps / 12
    )
    assert 0 < r["construction_seconds"] < r["seconds"]
    assert r["peak_rss_mb"] > 0


@pytest.mark.slow
def test_quick_suite_writes_its_figures(tmp_path):
    out = tmp_path / "bench.json"
    done = _run("--quick", "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert [r["borrowers"] for r in report["runs"]] == [10_000]
    assert report["reference"]["ratio"] > 1
    assert {s["workers"] for s in report["sweeps"]} == {1, 2}
    assert report["market"]["market"]["lenders"] == 5


def test_the_market_benchmark_times_five_lenders_against_one_on_the_same_footing():
    one = market_speed.measure(False, 1_000, 6)
    five = market_speed.measure(True, 1_000, 6)
    assert (one["lenders"], five["lenders"]) == (1, 5)
    for r in (one, five):
        steps = r["burn_in"] + 6
        assert r["ns_per_borrower_month"] == pytest.approx(r["seconds"] / (1_000 * steps) * 1e9)
    assert market_speed.TARGET_RATIO == 2.0


def test_the_warm_market_benchmark_steps_both_economies_in_one_process():
    out = market_speed.measure_warm(1_000, 4)
    assert out["one_lender_seconds"] > 0 and out["market_seconds"] > 0
    steps = 4 + 46  # the severe recession's burn-in, the same for both
    per_month = [out[k] / steps for k in ("one_lender_seconds", "market_seconds")]
    assert out["ratio"] == pytest.approx(per_month[1] / per_month[0])
    market_stepped = out["market_ms_per_recorded_month"] * 4 / 1e3
    assert 0 < market_stepped < out["market_seconds"]  # the recorded months are a part
    assert out["recorded_ratio"] > 0


def test_rule_times_times_every_rule_of_the_schedule_in_order():
    from benchmarks import rule_times

    rules = rule_times.schedule()
    assert rules[0] == "_begin_month" and rules[-1] == "_end_month"
    assert {"_fall_due", "_pay", "_settle", "_originate"} <= set(rules)
    times = rule_times.rule_times(True, 300, 2)
    assert list(times) == rules
    assert all(ms >= 0 for ms in times.values()) and sum(times.values()) > 0


@pytest.mark.slow  # compiles the revision's kernels afresh (about 20 s)
def test_paired_runs_this_checkout_against_a_revision_in_one_process():
    from benchmarks import paired

    out = paired.compare("HEAD", 300, 2, ["balanced", "aggressive"])
    assert out["same_metrics"]  # (HEAD's model is this checkout's, unless edited)
    assert set(out["month_seconds"]) == {"base", "new"} and out["ratio"] > 0
    assert "model_base" not in sys.modules  # a second revision would be imported afresh
    forked = paired.compare("HEAD", 300, 2, ["balanced"], runs=3)
    assert forked["same_metrics"] and len(forked["ratios"]) == 3
    assert forked["ratio"] == sorted(forked["ratios"])[1]  # the median run's
