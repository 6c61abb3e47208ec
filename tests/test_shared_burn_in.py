"""Shared burn-in: runs that differ only after month 0 start from one burned-in economy."""

from pathlib import Path

import pandas as pd
import pytest

from experiments import execute
from experiments.config import parse_config
from experiments.design import build_design, model_inputs
from experiments.store import TABLES

RAW = {
    "experiment": {
        "name": "share",
        "seed": 5,
        "months": 8,
        "borrowers": 300,
        "burn_in": 10,
        "replications": 2,
    },
    "scenario": [
        {"preset": "baseline"},
        {"preset": "severe_recession"},
        {"preset": "us_2007"},  # starts at 4.6% unemployment: a burn-in of its own
        {"name": "mc", "stochastic": {"paths": 2}},
    ],
    "policy": [{"preset": "balanced"}, {"preset": "aggressive"}],
    "sweep": {"scenario.severity": [1.0, 2.0]},
}


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    files = sorted((folder / "runs").glob("*.parquet"))
    return {f.name: pd.read_parquet(f) for f in files}


def _run(config, folder: Path, share: bool, workers: int = 1) -> dict[str, pd.DataFrame]:
    outcomes = execute.execute(
        config, build_design(config), folder, workers=workers, share_burn_in=share
    )
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    return _frames(folder)


@pytest.fixture(scope="module")
def unshared(tmp_path_factory):
    config = parse_config(RAW)
    return config, _run(config, tmp_path_factory.mktemp("unshared"), share=False)


def test_shared_burn_ins_give_bit_identical_results(unshared, tmp_path):
    config, expected = unshared
    before = execute.BURN_INS.built
    shared = _run(config, tmp_path, share=True)
    assert shared.keys() == expected.keys()
    assert len(shared) == len(build_design(config)) * len(TABLES)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(shared[name], frame, check_exact=True, obj=name)
    # one burn-in per replication, policy and month-0 conditions (those of the baseline,
    # of us_2007 and of us_2007 at severity 2): 2 x 2 x 3 burn-ins for 40 runs
    assert len(build_design(config)) == 40
    assert execute.BURN_INS.built - before == 2 * 2 * 3
    assert not execute.BURN_INS._entries  # forgotten once the sweep is done


def test_a_pool_of_workers_shares_per_worker_and_gives_the_same_results(unshared, tmp_path):
    config, expected = unshared
    shared = _run(config, tmp_path, share=True, workers=2)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(shared[name], frame, check_exact=True, obj=name)


def test_the_key_separates_what_the_burn_in_depends_on():
    config = parse_config(RAW)
    specs = build_design(config)

    def key(spec):
        return execute.burn_in_key(config, spec, model_inputs(config, spec))

    first = {
        (s.scenario, s.policy, s.replication, s.params["scenario.severity"]): key(s) for s in specs
    }
    same = first[("baseline", "balanced", 0, 1.0)]
    assert first[("severe_recession", "balanced", 0, 2.0)] == same
    assert first[("mc/p0002", "balanced", 0, 1.0)] == same
    assert first[("us_2007", "balanced", 0, 1.0)] != same  # other month-0 conditions
    assert first[("baseline", "aggressive", 0, 1.0)] != same  # other policy
    assert first[("baseline", "balanced", 1, 1.0)] != same  # other seed


def test_the_cache_is_bounded():
    config = parse_config({**RAW, "experiment": {**RAW["experiment"], "borrowers": 100}})
    cache = execute.BurnInCache(max_entries=2)
    for spec in build_design(config):
        cache.economy(config, spec)
    assert len(cache._entries) <= 2
    tiny = execute.BurnInCache(max_bytes=1.0)  # nothing fits: every run builds its own
    spec = build_design(config)[0]
    assert tiny.economy(config, spec).month == 0 and not tiny._entries
