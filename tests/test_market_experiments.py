"""Markets in experiment configs: parsing, sweeps of one lender, the per-lender file,
per-lender charts and comparisons."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import compare, lender_summaries
from experiments.cli import main
from experiments.config import ConfigError, MarketSpec, PolicySpec, load_config, parse_config
from experiments.design import build_design, build_economy, model_inputs

ROOT = Path(__file__).resolve().parent.parent

MARKETS = """
[experiment]
name = "markets"
months = 6
borrowers = 1500
replications = 2
seed = 5
burn_in = 12

[[scenario]]
preset = "severe_recession"

[[policy]]
name = "pair"
preset = "balanced"
lenders = 2
apr_cap = 0.5

[[market]]
name = "two_platforms"
lenders = [
    { name = "bank_like", preset = "conservative", capital_ratio = 0.15 },
    { name = "p2p", preset = "aggressive", funding = "investors" },
]
sees_other_loans = false
price_sensitivity = 4.0

[[market]]
name = "capped"
lenders = [
    { name = "bank_like", preset = "conservative", capital_ratio = 0.15 },
    { name = "p2p", preset = "aggressive", funding = "investors", sees_other_loans = true },
]
sees_other_loans = false
apr_cap = 0.24
"""


def _config(tmp_path: Path, text: str = MARKETS, sweep: str = ""):
    path = tmp_path / "m.toml"
    path.write_text(text + sweep)
    return load_config(path)


def _raw(**market):
    base = {"experiment": {"name": "m", "seed": 1, "months": 3}}
    lenders = [{"name": "a"}, {"name": "b", "preset": "aggressive"}]
    return {**base, "market": [{"name": "mkt", "lenders": lenders, **market}]}


# -------------------------------------------------------------------- parsing
def test_a_heterogeneous_market_parses_into_named_lenders_and_rules(tmp_path):
    config = _config(tmp_path)
    pair, market, capped = config.policies
    assert isinstance(pair, PolicySpec) and isinstance(market, MarketSpec)
    assert pair.lender_names == ["pair", "pair-2"] and pair.rules == {"apr_cap": 0.5}
    assert market.lender_names == ["bank_like", "p2p"]
    spec = next(s for s in build_design(config) if s.policy == "two_platforms")
    inputs = model_inputs(config, spec)
    bank, p2p = inputs.policy
    assert (bank.name, bank.score_cutoff, bank.capital_ratio) == ("bank_like", 640.0, 0.15)
    assert (p2p.name, p2p.funding, p2p.score_cutoff) == ("p2p", "investors", 550.0)
    assert not bank.sees_other_loans and not p2p.sees_other_loans  # the market's lever
    assert inputs.market.price_sensitivity == 4.0 and inputs.market.apr_cap is None
    capped_spec = next(s for s in build_design(config) if s.policy == "capped")
    assert model_inputs(config, capped_spec).policy[1].sees_other_loans  # the lender's own wins
    assert model_inputs(config, capped_spec).market.apr_cap == 0.24


def test_a_market_config_round_trips_with_its_hash(tmp_path):
    config = _config(tmp_path)
    again = parse_config(config.to_dict())
    assert again == config and again.config_hash() == config.config_hash()
    assert [m["name"] for m in config.to_dict()["market"]] == ["two_platforms", "capped"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lenders": []}, "lenders must be a non-empty array of tables"),
        ({"lenders": [{"name": "a"}, {"name": "a"}]}, "name 'a' is used twice"),
        ({"lenders": [{"name": "a.b"}]}, "no dots"),
        ({"lenders": [{"name": "a", "colour": 1}]}, "unknown key 'colour'"),
        ({"lenders": [{"name": "a", "preset": "wild"}]}, "unknown policy preset 'wild'"),
        ({"apr_cap": -0.1}, "apr_cap"),
        ({"max_collection_stage": 7}, "max_collection_stage"),
        ({"weather": 1}, "unknown key 'weather'"),
    ],
)
def test_bad_market_tables_are_refused_with_one_line(change, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(_raw(**change))
    assert "\n" not in str(info.value)


def test_policy_and_market_names_are_unique_together():
    raw = _raw()
    raw["policy"] = [{"name": "mkt"}]
    with pytest.raises(ConfigError, match="'mkt' is used twice"):
        parse_config(raw)


def test_market_rules_and_the_policy_lever_of_the_same_idea_do_not_clash():
    from model.market import MarketRules
    from model.policy import RiskPolicy

    assert not set(MarketRules.field_names()) & set(RiskPolicy.field_names())


# --------------------------------------------------------------------- sweeps
def test_a_sweep_of_one_named_lender_sets_only_that_lender(tmp_path):
    text = MARKETS.split("[[policy]]")[0] + "[[market]]" + MARKETS.split("[[market]]", 1)[1]
    config = _config(tmp_path, text, '\n[sweep]\n"market.p2p.score_cutoff" = [500, 600]\n')
    for spec in build_design(config):
        bank, p2p = model_inputs(config, spec).policy
        assert p2p.score_cutoff == spec.params["market.p2p.score_cutoff"]
        assert bank.score_cutoff == 640.0


def test_a_sweep_of_a_market_rule_sets_every_market(tmp_path):
    config = _config(tmp_path, sweep='\n[sweep]\n"market.apr_cap" = [0.3, 0.4]\n')
    for spec in build_design(config):
        assert model_inputs(config, spec).market.apr_cap == spec.params["market.apr_cap"]


def test_a_sweep_of_a_lender_some_market_lacks_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="sets lender 'p2p', which 'pair' does not have"):
        _config(tmp_path, sweep='\n[sweep]\n"market.p2p.score_cutoff" = [500, 600]\n')
    with pytest.raises(ConfigError, match="unknown lever 'market.p2p.colour'"):
        _config(tmp_path, sweep='\n[sweep]\n"market.p2p.colour" = [1, 2]\n')


def test_replications_pair_across_markets(tmp_path):
    config = _config(tmp_path)
    seeds = {}
    for spec in build_design(config):
        seeds.setdefault(spec.replication, set()).add(spec.seed)
    assert all(len(s) == 1 for s in seeds.values()) and len(seeds) == 2
    specs = [s for s in build_design(config) if s.replication == 0]
    runs = [build_economy(config, s).run(3) for s in specs]
    for other in runs[1:]:  # same borrowers and shocks in every market of two lenders
        assert np.array_equal(runs[0].unemployment_rate, other.unemployment_rate)
        assert np.array_equal(runs[0].common_factor, other.common_factor)


# ------------------------------------------------------------ the lender file
@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    folder = tmp_path_factory.mktemp("markets")
    config = folder / "m.toml"
    config.write_text(MARKETS)
    out = folder / "out"
    assert main(["run", str(config), "--out", str(out), "--workers", "1"]) == 0
    return out


def test_every_run_saves_each_lenders_months(ran):
    lenders = pd.read_parquet(ran / "lender_timeseries.parquet")
    ts = pd.read_parquet(ran / "timeseries.parquet")
    assert len(lenders) == 3 * 2 * 2 * 6  # markets x replications x lenders x months
    names = set(lenders.loc[lenders.policy == "two_platforms", "lender_name"])
    assert names == {"bank_like", "p2p"}
    by_run = lenders.groupby(["run_id", "month"])
    pd.testing.assert_series_equal(
        by_run["originations"].sum(),
        ts.set_index(["run_id", "month"])["originations"].sort_index(),
        check_names=False,
    )
    assert np.allclose(by_run["balance_share"].sum(), 1.0)
    assert lenders["failed"].dtype == bool


def test_the_per_lender_charts_are_drawn(ran):
    figures = {p.name for p in (ran / "figures").glob("*.png")}
    assert {f for f in figures if "lenders_" in f or "market_share" in f} == {
        "08_lenders_overdue_rate.png",
        "09_lenders_capital.png",
        "10_lenders_funding_line.png",
        "11_market_share.png",
    }


def test_lender_summaries_sum_to_the_market(ran):
    lenders = pd.read_parquet(ran / "lender_timeseries.parquet")
    summary = pd.read_parquet(ran / "summary.parquet").set_index("run_id")
    per_lender = lender_summaries(lenders)
    total = per_lender.groupby("run_id")["total_originations"].sum()
    assert np.allclose(total, summary.loc[total.index, "total_originations"])
    assert set(per_lender["lender"]) == {"pair", "pair-2", "bank_like", "p2p"}
    table = compare(per_lender[per_lender.policy != "pair"], by="lender", metrics=["profit"])
    assert set(table["lender"]) == {"bank_like", "p2p"} and table["n_pairs"].min() == 2


def test_compare_on_lenders_from_the_command_line(ran, capsys):
    assert main(["compare", str(ran), "--by", "lender", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(table["lender"]) == {"pair", "pair-2", "bank_like", "p2p"}
    assert main(["compare", str(ran), "--lender", "p2p", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(table["policy"]) == {"two_platforms", "capped"} and set(table["lender"]) == {"p2p"}
    assert main(["compare", str(ran), "--lender", "nobody"]) == 2
    assert "unknown lender 'nobody'" in capsys.readouterr().err


def test_shipped_market_configs_parse():
    for name in ("contagion", "apr_cap"):
        config = load_config(ROOT / "experiments" / "configs" / f"{name}.toml")
        assert all(isinstance(p, MarketSpec) for p in config.policies)
        sizes = {len(p.lender_names) for p in config.policies}
        assert len(sizes) == 1  # the markets pair: the same number of lenders
