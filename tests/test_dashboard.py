"""The dashboard: model wrapper, charts, page rendering, command line and a browser run."""

from __future__ import annotations

import gc
import io
import math
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import weakref
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("solara", reason="the dashboard extra is not installed")
pytest.importorskip("altair", reason="Mesa's visualization needs altair")

from experiments import dashboard as dash  # noqa: E402
from experiments import dashboard_config as dconf  # noqa: E402
from experiments.cli import main  # noqa: E402
from experiments.config import MarketSpec, parse_config  # noqa: E402
from experiments.dashboard_svg import Mark, Series, chart, count, money, percent  # noqa: E402
from experiments.design import replication_seeds  # noqa: E402
from experiments.store import read_table  # noqa: E402
from model import CreditEconomy, RiskPolicy  # noqa: E402
from model.market import MarketRules  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SMALL = {"n_borrowers": 2_000, "seed": 3}


def _points(svg: str, series: str) -> int:
    match = re.search(rf'data-series="{re.escape(series)}" points="([^"]*)"', svg)
    return len(match.group(1).split()) if match else 0


def test_sliders_are_the_levers_declarations():
    described = {d["name"]: d for d in RiskPolicy.describe()}
    assert [c.name for c in dconf.LEVER_CONTROLS] == list(dconf.LEVERS)
    for control in dconf.LEVER_CONTROLS:
        d = described[control.name]
        if d["kind"] == "bool":
            assert control.switch and control.text == d["label"].lower()
            continue
        low, high = d["typical"] or (d["low"], d["high"])  # the lever's range
        assert control.high == high and control.step == d["step"]
        assert control.low == (low + d["step"] if d["low_open"] and low == d["low"] else low)
        assert d["low"] <= control.low < control.high <= d["high"]
        assert control.text == d["label"].lower().partition(" (")[0]
        for preset in RiskPolicy.names():  # every preset's value sits on the slider's grid
            value = dconf.preset_levers(preset)[control.name]
            assert control.low <= value <= control.high, (preset, control.name)
            assert (
                abs(
                    round((value - control.low) / control.step) * control.step + control.low - value
                )
                < 1e-9
            ), (preset, control.name)
    controls = {c.name: c for c in dconf.LEVER_CONTROLS}
    assert controls["max_dti"].shown(0.45) == "45%"
    assert controls["score_cutoff"].shown(600.0) == "600"
    assert controls["writeoff_dpd"].shown(180) == "180 days"
    assert controls["max_loan_to_income"].text == "max. loan-to-income"
    assert controls["dynamic_target"].shown(0.0) == "off"
    assert controls["dynamic_target"].shown(0.025) == "2.5%"
    severity = dash.SEVERITY
    assert (severity.low, severity.high, severity.step) == (0, 3, 0.1)


def test_market_controls_are_the_rules_declarations():
    described = {d["name"]: d for d in MarketRules.describe()}
    assert [c.name for c in dconf.MARKET_CONTROLS] == list(dconf.MARKET_RULES)
    for control in dconf.MARKET_CONTROLS:
        d = described[control.name]
        assert control.switch == (d["kind"] == "bool")
        if not control.switch:
            assert (control.high, control.step) == (d["high"], d["step"])
            assert control.low == (d["low"] + d["step"] if d["low_open"] else d["low"])
    controls = {c.name: c for c in dconf.MARKET_CONTROLS}
    assert controls["apr_cap"].text == "APR cap"  # an acronym keeps its capitals
    assert controls["apr_cap"].shown(0.3) == "30%" and controls["apr_cap"].off_at_zero
    assert controls["strategic_default"].text == "strategic default share"
    assert controls["investor_contagion"].text == "investors' contagion"
    assert controls["collect_after_failure"].switch
    rules = dconf.default_rules()
    assert rules == {
        **{k: getattr(MarketRules(), k) for k in dconf.MARKET_RULES},
        **{"price_sensitivity": 10.0},
    }
    assert dconf.market_rules(None) == rules


def test_model_steps_both_economies_on_same_borrowers():
    model = dash.DashboardModel(**SMALL, compare=True, policy_b="aggressive")
    assert list(model.economies) == ["A: balanced", "B: aggressive"]
    # The seed is the experiment seed: the economies run on replication 0's seed.
    assert model.run_seed == replication_seeds(SMALL["seed"], 1)[0]
    assert {eco.seed_entropy for eco in model.economies.values()} == {model.run_seed}
    for _ in range(3):
        model.step()
    assert model.month == 3 and model.steps == 3
    frames = model.frames()
    assert [len(f) for f in frames.values()] == [3, 3]
    a, b = model.economies.values()
    # Same seed: same borrowers and labour-market shocks, different lending.
    assert (a.state.employed == b.state.employed).all()
    assert frames["A: balanced"]["unemployment_rate"].equals(
        frames["B: aggressive"]["unemployment_rate"]
    )
    assert not frames["A: balanced"]["approvals"].equals(frames["B: aggressive"]["approvals"])


def test_levers_override_the_preset_and_stop_at_horizon():
    model = dash.DashboardModel(
        **SMALL,
        policy_a="conservative",
        levers_a={
            "score_cutoff": 700.0,
            "relief_enabled": False,
            "writeoff_dpd": 120,
            "dynamic_target": 0.08,
        },
        compare=False,
        scenario="pandemic",
        severity=0.5,
        horizon=2,
    )
    (label,) = model.economies
    assert label == "A: conservative (edited)"
    policy = model.first.lenders[0].policy
    assert (policy.score_cutoff, policy.relief_enabled, policy.writeoff_dpd) == (700, False, 120)
    assert policy.dynamic_target == 0.08
    assert policy.max_dti == dconf.preset_levers("conservative")["max_dti"]
    assert model.scenario.name == "pandemic"
    assert model.scenario.unemployment.max() < 0.12  # half the pandemic's 19% peak shock
    model.step()
    assert model.running
    model.step()
    assert not model.running
    unedited = dash.DashboardModel(
        **SMALL, policy_a="aggressive", levers_a=dconf.preset_levers("aggressive")
    )
    assert list(unedited.economies)[0] == "A: aggressive"
    with pytest.raises(ValueError, match="unknown lever"):
        dash.DashboardModel(**SMALL, levers_a={"late_fee": 0.1})


def test_policy_b_takes_levers_like_policy_a():
    model = dash.DashboardModel(
        **SMALL,
        policy_b="conservative",
        levers_b={"score_cutoff": 680.0, "max_dti": 0.3, "dynamic_target": 0.06},
    )
    assert list(model.economies) == ["A: balanced", "B: conservative (edited)"]
    a, b = (eco.lenders[0].policy for eco in model.economies.values())
    assert (b.score_cutoff, b.max_dti, b.dynamic_target) == (680, 0.3, 0.06)
    assert b.collection_intensity == dconf.preset_levers("conservative")["collection_intensity"]
    assert a.score_cutoff == 600 and a.dynamic_target is None
    assert model.params["levers_b"]["writeoff_dpd"] == RiskPolicy().writeoff_dpd  # filled in


def test_custom_scenario_from_knots():
    text = "0:4.2%, 6:0.08, 18:10%, 36:6%"
    knots = dconf.parse_knots(text)
    assert knots == ((0, 0.042), (6, 0.08), (18, 0.10), (36, 0.06))
    assert dconf.parse_knots(dconf.knots_text(knots)) == knots
    model = dash.DashboardModel(**SMALL, scenario="custom", knots=text, compare=False)
    path = model.scenario.unemployment
    assert model.scenario.name == "custom" and len(path) == dash.HORIZON
    assert (path[0], path[6], path[18], path[36], path[-1]) == pytest.approx(
        (0.042, 0.08, 0.10, 0.06, 0.06)
    )
    assert path[12] == pytest.approx(0.09)  # linear between knots
    model.step()
    assert model.frames()["A: balanced"]["scenario_unemployment"].iloc[0] == pytest.approx(0.042)
    assert model.params["knots"] == knots


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one knot"),
        ("0:0.04, 6", "'6' is not month:rate"),
        ("0:4.2%, six:8%", "'six:8%' is not month:rate"),
        ("0:0.04, 6:0.08, 3:0.05", "strictly increasing"),
        ("0:0.04, 6:80%", "must be in"),
        ("-1:0.04", "must be in"),
    ],
)
def test_bad_knots_give_one_line(text, message):
    with pytest.raises(ValueError, match=message) as info:
        dconf.parse_knots(text)
    assert "\n" not in str(info.value)


def test_charts_and_table_follow_the_months():
    model = dash.DashboardModel(**SMALL, compare=True)
    charts = dash.charts_for(model)
    assert len(charts) == len(dash.CHARTS) + 1
    assert all("no months yet" in draw(model) for draw in charts)
    for _ in range(4):
        model.step()
    svgs = {draw.__name__: draw(model) for draw in charts}
    for svg in svgs.values():
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert "no months yet" not in svg
    assert _points(svgs["chart_overdue"], "1+ DPD, A: balanced") == 4
    assert _points(svgs["chart_overdue"], "NPL (90+), B: aggressive") == 4
    assert svgs["chart_buckets"].count("<polygon") == 4
    table = model.borrower_table()
    assert len(table) == dash.N_SAMPLED
    assert {"income", "savings", "DPD", "status", "DPD (B)"} <= set(table.columns)
    assert set(table["status"]) <= {"no loan", "current", "overdue", "default"}
    assert dict(model.summary())["month"] == "4"
    single = dash.DashboardModel(**SMALL, compare=False)
    assert len(dash.charts_for(single)) == len(dash.CHARTS)


def _export_case() -> dash.DashboardModel:
    """A custom scenario and two edited policies writing off at different DPD."""
    return dash.DashboardModel(
        n_borrowers=1_500,
        seed=11,
        scenario="custom",
        knots="0:4.2%, 3:9%, 9:7.5%",
        severity=1.5,
        policy_a="conservative",
        levers_a={"score_cutoff": 620.0, "relief_enabled": False, "max_dti": 0.4},
        policy_b="aggressive",
        levers_b={"writeoff_dpd": 360, "dynamic_target": 0.05},
    )


def test_export_reproduces_the_runs_with_the_experiment_runner(tmp_path):
    model = _export_case()
    with pytest.raises(ValueError, match="step at least once"):
        dconf.config_toml(model)
    for _ in range(5):
        model.step()
    text = dconf.config_toml(model)
    config = parse_config(tomllib.loads(text))
    assert config == dconf.export_config(model)
    assert (config.seed, config.months, config.borrowers, config.replications) == (11, 5, 1500, 1)
    assert config.burn_in is None  # 46 and 54 months: each policy's default, as the dashboard's
    (scenario,) = config.scenarios
    assert scenario.knots == {"unemployment": [[0, 0.042], [3, 0.09], [9, 0.075]]}
    assert scenario.severity == 1.5
    a, b = config.policies
    assert (a.name, a.preset, b.name, b.preset) == ("A-conservative", "conservative") + (
        "B-aggressive",
        "aggressive",
    )
    assert a.overrides == {"score_cutoff": 620.0, "max_dti": 0.4, "relief_enabled": False}
    assert b.overrides == {"writeoff_dpd": 360, "dynamic_target": 0.05}
    assert f"replication 0 runs on seed {model.run_seed}" in text

    # As a user would: python -m experiments run on the downloaded file.
    (tmp_path / "dashboard.toml").write_text(text)
    args = ["run", str(tmp_path / "dashboard.toml"), "--out", str(tmp_path / "out")]
    assert main([*args, "--workers", "1", "--quiet", "--no-charts"]) == 0
    ran = read_table(tmp_path / "out", "timeseries")
    exported = pd.read_csv(io.StringIO(dconf.metrics_csv(model)))
    assert list(exported.columns[:3]) == ["scenario", "policy", "month"]
    assert set(exported["scenario"]) == {"custom"}
    columns = list(exported.columns[2:])
    for policy in ("A-conservative", "B-aggressive"):
        mine = exported[exported["policy"] == policy][columns].reset_index(drop=True)
        theirs = ran[ran["policy"] == policy].sort_values("month")[columns]
        assert list(mine["month"]) == [0, 1, 2, 3, 4]
        pd.testing.assert_frame_equal(
            mine, theirs.reset_index(drop=True), check_dtype=False, check_exact=True
        )


def test_export_of_presets_names_the_shared_burn_in():
    model = dash.DashboardModel(**SMALL, compare=False, scenario="stagflation", severity=2.0)
    model.step()
    config = parse_config(tomllib.loads(dconf.config_toml(model)))
    assert config.burn_in == model.first.burn_in == 46
    assert [(s.name, s.preset, s.severity) for s in config.scenarios] == [
        ("stagflation", "stagflation", 2.0)
    ]
    assert [(p.name, p.overrides) for p in config.policies] == [("A-balanced", {})]
    assert set(pd.read_csv(io.StringIO(dconf.metrics_csv(model)))["policy"]) == {"A-balanced"}


#: A market of four lenders, two funded by investors, under every exposed rule.
MARKET = {
    "market": True,
    "lenders": (
        ("conservative", "stable"),
        ("aggressive", "investors"),
        ("balanced", "stable"),
        ("balanced", "investors"),
    ),
    "rules": {
        "price_sensitivity": 20.0,
        "apr_cap": 0.4,
        "investor_contagion": 2.0,
        "collect_after_failure": False,
        "strategic_default": 0.3,
    },
}
MARKET_NAMES = ["L1-conservative", "L2-aggressive", "L3-balanced", "L4-balanced"]


def test_market_mode_builds_the_chosen_lenders_and_rules():
    model = dash.DashboardModel(**SMALL, **MARKET, compare=True)  # the market wins over A/B
    assert list(model.economies) == ["market (4 lenders)"]
    assert model.run_seed == replication_seeds(SMALL["seed"], 1)[0]
    eco = model.first
    assert eco.seed_entropy == model.run_seed
    assert model.lender_names == MARKET_NAMES
    policies = [lender.policy for lender in eco.lenders]
    assert [p.funding for p in policies] == ["stable", "investors", "stable", "investors"]
    for policy, (preset, _) in zip(policies, MARKET["lenders"], strict=True):
        assert policy.score_cutoff == RiskPolicy.preset(preset).score_cutoff
    assert eco.market == MarketRules(**MARKET["rules"])
    (spec,) = model.config.policies
    assert isinstance(spec, MarketSpec) and spec.lender_names == MARKET_NAMES
    assert model.params["lenders"] == MARKET["lenders"] and model.params["rules"] == MARKET["rules"]
    uncapped = dash.DashboardModel(
        **SMALL, market=True, lenders=[("balanced", "stable")] * 2, rules={"apr_cap": None}
    )
    assert uncapped.first.market.apr_cap is None and uncapped.first.market.price_sensitivity == 10
    assert uncapped.lender_names == ["L1-balanced", "L2-balanced"]
    for _ in range(3):
        model.step()
    history = model.lender_history()
    assert len(history) == 4 * 3 and set(history["lender_name"]) == set(MARKET_NAMES)
    assert history.groupby("month")["balance_share"].sum().to_numpy() == pytest.approx(1.0)
    assert dict(model.summary())["month"] == "3"
    assert "DPD (B)" not in model.borrower_table().columns


def test_market_charts_draw_one_line_per_lender():
    model = dash.DashboardModel(**SMALL, **MARKET)
    charts = dash.charts_for(model)
    assert charts[1 : 1 + len(dash.MARKET_CHARTS)] == list(dash.MARKET_CHARTS)
    assert dash.chart_buckets_b not in charts
    assert all("no months yet" in draw(model) for draw in dash.MARKET_CHARTS)
    for _ in range(3):
        model.step()
    svgs = {draw.__name__: draw(model) for draw in dash.MARKET_CHARTS}
    for svg in svgs.values():
        lines = re.findall(r'<polyline data-series="([^"]*)" points="([^"]*)"', svg)
        own = [(name, points) for name, points in lines if "funding line" not in name]
        assert [name for name, _ in own] == MARKET_NAMES
        assert all(len(points.split()) == 3 for _, points in own)
        assert 'class="mark"' not in svg  # nobody failed
    titles = {
        k: re.search(r'font-weight="bold" fill="#222">([^<]*)<', v)[1] for k, v in svgs.items()
    }
    assert titles == {
        "chart_lender_share": "Balance share (%), by lender",
        "chart_lender_overdue": "Overdue rate (1+ DPD, %), by lender",
        "chart_lender_capital": "Capital ratio (%), by lender",
        "chart_lender_balance": "Balance and funding line (currency units), by lender",
    }
    balance = svgs["chart_lender_balance"]
    funding = re.findall(r'data-series="([^"]*), funding line"', balance)
    assert funding == ["L2-aggressive", "L4-balanced"]  # the investor-funded lenders'
    assert "investors&#x27; funding line" in balance
    assert len(re.findall(r'font-size="11" fill="#333">L', balance)) == 4  # lenders in legend


def test_a_failed_lender_is_marked_on_every_market_chart():
    model = dash.DashboardModel(**SMALL, **MARKET)
    for _ in range(2):
        model.step()
    weak = model.first.lenders[1]
    weak.capital = -0.05 * float(model.first.book.balance[1].sum())  # losses beyond its equity
    for _ in range(3):
        model.step()
    assert weak.failed and model.failures() == {"L2-aggressive": 2}
    for draw in dash.MARKET_CHARTS:
        svg = draw(model)
        (mark,) = re.findall(r'<g class="mark"[^>]*>.*?</g>', svg)
        assert 'data-mark="failed" data-series="L2-aggressive" data-month="2"' in mark
        assert ">failed</text>" in mark and "<circle" in mark
    capital = dash.chart_lender_capital(model)
    assert _points(capital, "L2-aggressive") == 3  # months 0-2: no ratio after the failure
    assert _points(capital, "L1-conservative") == 5
    table = model.lender_table().set_index("lender")
    assert list(table.columns) == ["funding", "market share", "capital ratio", "failed"]
    assert table.loc["L2-aggressive", "failed"] == "month 2"
    assert table.loc["L2-aggressive", "capital ratio"] == ""
    assert table.loc["L1-conservative", "failed"] == "no"
    assert table.loc["L1-conservative", "capital ratio"].endswith("%")
    shares = table["market share"].str.rstrip("%").astype(float)
    assert shares.sum() == pytest.approx(100, abs=0.3)


def test_market_export_reproduces_the_run_with_the_experiment_runner(tmp_path):
    model = dash.DashboardModel(
        n_borrowers=1_500, seed=5, scenario="custom", knots="0:4%, 4:9%", **MARKET
    )
    for _ in range(4):
        model.step()
    text = dconf.config_toml(model)
    assert "[[market]]" in text and "[[policy]]" not in text and "policy = []" not in text
    config = parse_config(tomllib.loads(text))
    assert config == dconf.export_config(model)
    assert (config.seed, config.months, config.borrowers) == (5, 4, 1500)
    assert config.burn_in == model.first.burn_in
    (market,) = config.policies
    assert isinstance(market, MarketSpec) and market.name == "market"
    assert [(x.name, x.preset, x.overrides) for x in market.lenders] == [
        (name, preset, {"funding": funding})
        for name, (preset, funding) in zip(MARKET_NAMES, MARKET["lenders"], strict=True)
    ]
    assert market.rules == MARKET["rules"]  # every rule here differs from its default

    (tmp_path / "market.toml").write_text(text)
    args = ["run", str(tmp_path / "market.toml"), "--out", str(tmp_path / "out")]
    assert main([*args, "--workers", "1", "--quiet", "--no-charts"]) == 0
    for table, csv in (("timeseries", dconf.metrics_csv), ("lender_timeseries", dconf.lenders_csv)):
        exported = pd.read_csv(io.StringIO(csv(model)))
        assert set(exported["policy"]) == {"market"} and set(exported["scenario"]) == {"custom"}
        ran = read_table(tmp_path / "out", table)
        columns = list(exported.columns[2:])
        keys = [c for c in ("lender", "month") if c in columns]
        pd.testing.assert_frame_equal(
            exported[columns].sort_values(keys).reset_index(drop=True),
            ran[columns].sort_values(keys).reset_index(drop=True),
            check_dtype=False,
            check_exact=True,
        )
    lenders = pd.read_csv(io.StringIO(dconf.lenders_csv(model)))
    assert list(lenders.columns[:5]) == ["scenario", "policy", "lender", "lender_name", "month"]
    assert len(lenders) == 4 * 4


def test_uncapped_market_with_default_rules_exports_no_rules():
    model = dash.DashboardModel(
        **SMALL, market=True, rules={"price_sensitivity": 0.0}, lenders=dconf.DEFAULT_LENDERS[:2]
    )
    model.step()
    (market,) = parse_config(tomllib.loads(dconf.config_toml(model))).policies
    assert market.rules == {}  # the declared defaults: nothing to write
    assert model.first.market == MarketRules()


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"lenders": [("balanced", "stable")]}, ValueError, "a market has 2 to 5 lenders, got 1"),
        ({"lenders": [("balanced", "stable")] * 6}, ValueError, "2 to 5 lenders, got 6"),
        (
            {"lenders": [("balanced", "stable"), ("bold", "stable")]},
            ValueError,
            "lender 2: unknown",
        ),
        ({"lenders": [("balanced", "bank")] * 2}, ValueError, "funding must be one of stable, inv"),
        ({"lenders": [("balanced",)] * 2}, ValueError, "must be (preset, funding)"),
        ({"rules": {"late_fee": 0.1}}, ValueError, "unknown market rule(s) late_fee; allowed"),
        ({"rules": {"apr_cap": 20.0}}, ValueError, "apr_cap must be in (0, 10]"),
        ({"rules": {"apr_cap": 0.0}}, ValueError, "apr_cap must be in (0, 10]"),
        ({"rules": {"strategic_default": 1.5}}, ValueError, "strategic_default must be"),
        ({"rules": {"price_sensitivity": -1.0}}, ValueError, "price_sensitivity must be"),
        ({"rules": {"collect_after_failure": 1}}, TypeError, "must be true or false, got 1"),
    ],
)
def test_bad_market_settings_give_one_line(settings, error, message):
    with pytest.raises(error, match=re.escape(message)) as info:
        dash.DashboardModel(**SMALL, market=True, **settings)
    assert "\n" not in str(info.value)


def test_toml_writer_quotes_and_escapes():
    text = dconf.to_toml(
        {
            "experiment": {"name": 'a "b"\\c', "seed": 1, "x": 1e-7, "on": True},
            "sweep": {"policy.max_dti": [0.3, 0.4]},
            "policy": [{"name": "p", "provision_rates": (0.1, 0.2)}, {"name": "q"}],
        }
    )
    assert tomllib.loads(text) == {
        "experiment": {"name": 'a "b"\\c', "seed": 1, "x": 1e-7, "on": True},
        "sweep": {"policy.max_dti": [0.3, 0.4]},
        "policy": [{"name": "p", "provision_rates": [0.1, 0.2]}, {"name": "q"}],
    }
    with pytest.raises(TypeError, match="TOML cannot hold None"):
        dconf.to_toml({"experiment": {"burn_in": None}})


def test_svg_axis_formats():
    assert percent(0.025)(0.05) == "5.0%" and percent(0.05)(0.1) == "10%"
    assert percent(0.0005)(0.003) == "0.30%" and percent(2.5e-6)(5e-6) == "0.00050%"
    assert money(2.5e6)(5e6) == "5.0m" and money(2e4)(4e4) == "40k"
    assert money(0.2)(0.6) == "0.6" and money(250)(1500) == "1,500" and money(2e8)(1e9) == "1.0bn"
    assert count(2.5)(7.5) == "7.5" and count(500)(2000) == "2,000"
    assert percent(0.001)(-1e-19) == "0.0%"  # no "-0.0%" from rounding
    svg = chart("x", "T <&>", [], percent)
    assert "T &lt;&amp;&gt;" in svg and "no months yet" in svg


def test_svg_legend_wraps_and_marks_events():
    names = [f"L{k}-balanced" for k in range(1, 6)]
    series = [Series(n, [0, 1, 2], [0.1, 0.2, 0.1 * k], "#000") for k, n in enumerate(names)]
    svg = chart("x", "t", series, percent, marks=[Mark(names[2], 1, 0.2, "#f00")])
    legend = re.findall(r'y="([\d.]+)" font-size="11" fill="#333">L', svg)
    assert len(legend) == 5 and len(set(legend)) == 2  # five names need two rows
    plot_top = float(re.search(r'<rect x="58" y="([\d.]+)"', svg).group(1))
    assert plot_top > 46  # the plot makes room for the second row
    (mark,) = re.findall(r'<g class="mark"[^>]*>.*?</g>', svg)
    assert 'data-mark="failed"' in mark and f'data-series="{names[2]}"' in mark
    assert 'data-month="1"' in mark and "<circle" in mark and ">failed</text>" in mark
    short = chart("x", "t", series[:2], percent)  # one row: the plot keeps its place
    assert '<rect x="58" y="46"' in short and '<g class="mark"' not in short


def test_svg_curves_break_where_a_value_is_undefined():
    """A lender's capital ratio is NaN while it has no book: the curve stops and resumes,
    and no 'nan' reaches the SVG (which would make it invalid)."""
    series = [Series("a", [0, 1, 2, 3, 4], [0.1, math.nan, math.nan, 0.12, 0.13], "#000")]
    svg = chart("x", "t", series, percent)
    assert "nan" not in svg.lower()
    lines = re.findall(r'<polyline data-series="a" points="([^"]*)"', svg)
    assert [len(points.split()) for points in lines] == [1, 2]
    ending = chart("x", "t", [Series("b", [0, 1, 2], [0.1, 0.2, math.nan], "#000")], percent)
    assert "nan" not in ending.lower() and ending.count("<circle") == 1


def _tick_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]*)</text>', svg)


_SMALL_AND_LARGE = (2.5e-6, 4e-5, 0.003, 0.03, 0.9, 7, 12, 450, 2.5e4, 3.3e6, 4e9)


@pytest.mark.parametrize(
    ("fmt", "top"),
    [(percent, top) for top in _SMALL_AND_LARGE if top <= 1]
    + [(fmt, top) for fmt in (money, count) for top in _SMALL_AND_LARGE if top < 1e9]
    + [(money, 4e9)],
)
@pytest.mark.parametrize("bottom", [0.0, -0.6])
def test_tick_labels_are_distinct_and_readable(fmt, top, bottom):
    svg = chart("x", "t", [Series("s", [0, 1, 2], [bottom * top, top / 3, top], "#000")], fmt)
    labels = _tick_labels(svg)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert all(len(label) <= 9 for label in labels), labels  # fit the 58-pixel margin
    assert not any(label.startswith("-0") and not label.strip("-0.%km") for label in labels)


def test_step_at_20k_borrowers_is_fast():
    start = time.perf_counter()
    model = dash.DashboardModel(n_borrowers=20_000, compare=True)
    built = time.perf_counter() - start
    times = []
    for _ in range(6):
        start = time.perf_counter()
        model.step()
        for draw in dash.charts_for(model):
            draw(model)
        times.append(time.perf_counter() - start)
    assert built < 10
    assert sorted(times)[len(times) // 2] < 0.5  # measured: ~0.02 s for two economies


def _render_page():
    import solara

    @solara.component
    def App():  # as solara-server does: the layout hosts the app bar and sidebar
        with solara.AppLayout():
            dash.Page()

    _box, rc = solara.render(App(), handle_error=False)
    return rc


def test_page_renders_and_steps_without_browser():
    import ipyvuetify as v
    import solara

    rc = _render_page()
    step = rc.find(v.Btn, children=["Step"])
    step.assert_single()
    rc.find(v.Btn, children=["Reset"]).assert_single()

    chart = rc.find(solara.widgets.HTML, attributes={"class": "chart_overdue"})
    chart.assert_single()

    def overdue_chart() -> str:
        return chart.widget.unsafe_innerHTML

    assert "no months yet" in overdue_chart()
    step.widget.click()
    step.widget.click()
    overdue = overdue_chart()
    assert "no months yet" not in overdue
    assert _points(overdue, "1+ DPD, A: balanced") == 2
    rc.close()


@pytest.fixture
def small_page(monkeypatch):
    """The page at 2,000 borrowers, recording a weak reference to every model it makes."""
    made: list[weakref.ref] = []

    class Recorded(dash.DashboardModel):
        def __init__(self, **params):
            super().__init__(**params)
            made.append(weakref.ref(self))
            made.extend(weakref.ref(eco) for eco in self.economies.values())

    monkeypatch.setattr(dash, "DashboardModel", Recorded)
    monkeypatch.setitem(dash.DEFAULT_PARAMS, "n_borrowers", 2_000)
    rc = _render_page()
    yield rc, made
    rc.close()


def test_reset_frees_the_previous_economies(small_page):
    import ipyvuetify as v

    rc, made = small_page
    step, reset = (rc.find(v.Btn, children=[name]).widget for name in ("Step", "Reset"))
    for _ in range(2):
        step.click()
        reset.click()
    gc.collect()
    assert len(made) == 3 * 3  # the first model and two resets: each a model, two economies
    alive = [ref() for ref in made]
    assert all(obj is None for obj in alive[:-3]), [type(obj).__name__ for obj in alive[:-3]]
    model, *economies = alive[-3:]
    assert model.month == 0 and all(isinstance(e, CreditEconomy) for e in economies)


def test_page_edits_policy_b_and_a_custom_scenario(small_page):
    import ipyvuetify as v

    rc, made = small_page

    def pending() -> bool:  # the "press Reset to apply" warning is shown
        return any("press Reset" in str(alert.children) for alert in rc.find(v.Alert).widgets)

    assert not pending()
    rc.find(v.Slider, label="score cut-off: 550").widget.v_model = 680  # policy B's
    rc.find(v.Select, label="scenario preset").widget.v_model = "custom"
    knots = rc.find(v.TextField, label="unemployment knots, month:rate").widget
    knots.v_model = "0:4%, 6:0.08, 3:5%"
    knots.fire_event("keyup.enter", None)
    field = rc.find(v.TextField, label=knots.label).widget
    assert field.error and len(field.messages) == 1 and "strictly increasing" in field.messages[0]
    knots.v_model = "0:4%, 6:12%"
    knots.fire_event("keyup.enter", None)
    field = rc.find(v.TextField, label=knots.label).widget
    assert not field.error and "Enter to apply" in field.messages[0]
    assert pending()
    rc.find(v.Btn, children=["Reset"]).widget.click()
    model = made[-3]()
    assert model.params["knots"] == ((0, 0.04), (6, 0.12))
    assert model.scenario.unemployment[6] == pytest.approx(0.12)
    policy_b = list(model.economies.values())[1].lenders[0].policy
    assert policy_b.score_cutoff == 680 and policy_b.max_dti == 0.6  # aggressive otherwise
    assert list(model.economies) == ["A: balanced", "B: aggressive (edited)"]


def test_page_runs_a_market_of_lenders(small_page):
    import ipyvuetify as v
    import solara

    rc, made = small_page

    def control(kind, label):
        return rc.find(kind, label=label).widget

    assert control(v.Slider, "lenders: 3").disabled  # until the market mode is on
    control(v.Checkbox, "run a market of lenders instead").v_model = True
    assert control(v.Checkbox, "run policy B side by side").disabled
    assert control(v.Slider, "score cut-off: 600").disabled  # policy A is idle
    control(v.Slider, "lenders: 3").v_model = 4
    control(v.Select, "L4 funding").v_model = "stable"
    control(v.Select, "L2 preset").v_model = "conservative"
    assert control(v.Slider, "APR cap: 30%").disabled
    control(v.Checkbox, "cap the APR").v_model = True
    control(v.Slider, "APR cap: 30%").v_model = 0.5
    assert control(v.Slider, "strategic default share: 0%").disabled  # books still collected
    control(v.Checkbox, "collection after failure").v_model = False
    control(v.Slider, "strategic default share: 0%").v_model = 0.25
    control(v.Slider, "investors' contagion: 0.0").v_model = 1.5
    rc.find(v.Btn, children=["Reset"]).widget.click()
    model = made[-2]()
    assert model.params["market"] and model.lender_names == [
        "L1-conservative",
        "L2-conservative",
        "L3-aggressive",
        "L4-balanced",
    ]
    assert [lender.policy.funding for lender in model.first.lenders] == [
        "stable",
        "stable",
        "investors",
        "stable",
    ]
    rules = model.first.market
    assert (rules.apr_cap, rules.collect_after_failure, rules.strategic_default) == (
        0.5,
        False,
        0.25,
    )
    assert rules.investor_contagion == 1.5 and rules.price_sensitivity == 10
    assert not any("press Reset" in str(a.children) for a in rc.find(v.Alert).widgets)
    rc.find(v.Btn, children=["Step"]).widget.click()
    share = rc.find(solara.widgets.HTML, attributes={"class": "chart_lender_share"}).widget
    assert _points(share.unsafe_innerHTML, "L4-balanced") == 1
    lenders = rc.find(solara.widgets.HTML, attributes={"class": "lender-table"}).widget
    assert lenders.unsafe_innerHTML.count("</tr>") == 1 + 4  # header and a row per lender
    control(v.Checkbox, "cap the APR").v_model = False  # off, the slider keeps its value
    assert control(v.Slider, "APR cap: 50%").disabled


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_rejects_bad_arguments(capsys):
    assert main(["dashboard", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --port must be in 1-65535") and err.count("\n") == 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", "--port", str(port)]) == 2
    assert "choose another --port" in capsys.readouterr().err


#: Which element is at points spread over the borrower table's visible part (none: not covered).
_COVERED_JS = """() => {
  const table = document.querySelector('.borrowers');
  const box = table.getBoundingClientRect();
  const scroller = table.parentElement.getBoundingClientRect();  // scrolls sideways
  const left = Math.max(box.left, scroller.left);
  const right = Math.min(box.right, scroller.right, innerWidth);
  const top = Math.max(box.top, 0), bottom = Math.min(box.bottom, innerHeight);
  const covered = [];
  for (const fx of [0.01, 0.25, 0.5, 0.75, 0.99]) for (const fy of [0.02, 0.5, 0.98]) {
    const x = left + fx * (right - left), y = top + fy * (bottom - top);
    const hit = document.elementFromPoint(x, y);
    if (!hit || !table.contains(hit)) covered.push([x, y, hit ? hit.outerHTML.slice(0, 80) : null]);
  }
  return covered;
}"""


def _table_uncovered(page, width: int, height: int) -> None:
    """At this window size, nothing (the footer above all) lies over the borrower table."""
    page.set_viewport_size({"width": width, "height": height})
    if width < 960:  # Vuetify's mobile layout opens the sidebar over the page: close it
        page.locator(".v-navigation-drawer--is-mobile").wait_for(state="attached")
        if page.locator(".v-navigation-drawer--open").count():
            page.mouse.click(width - 5, height // 2)
        page.locator(".v-navigation-drawer--open").wait_for(state="detached")
    table, footer = page.locator(".borrowers"), page.locator(".dash-footer")
    table.scroll_into_view_if_needed()
    try:  # drawer and scrim fade out: wait until nothing is over the table
        page.wait_for_function(f"({_COVERED_JS})().length === 0", timeout=5_000)
    except Exception:  # noqa: BLE001 - report what covers it
        pytest.fail(f"at {width}x{height} the table is covered: {page.evaluate(_COVERED_JS)}")
    footer.scroll_into_view_if_needed()
    a, b = table.bounding_box(), footer.bounding_box()
    assert b["y"] >= a["y"] + a["height"], (width, height, a, b)  # below the table
    assert page.get_by_text("This website runs on").count() == 0  # solara's banner


def _download(page, button: str, path: Path) -> str:
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    info.value.save_as(path)
    return path.read_text()


def _browse(page, tmp_path: Path) -> None:
    overdue = page.locator('svg[data-chart="overdue"]')
    overdue.wait_for()
    for label in ("scenario preset", "policy preset", "score cut-off", "Step at least one"):
        page.get_by_text(label).first.wait_for()
    assert page.get_by_text("no months yet").first.is_visible()
    line = overdue.locator('polyline[data-series="1+ DPD, A: balanced"]')
    step = page.get_by_role("button", name="Step", exact=True)
    step.click()
    line.wait_for(state="attached")
    step.click()
    page.wait_for_function(
        """(sel) => {
            const l = document.querySelector(sel);
            return l && l.getAttribute('points').trim().split(' ').length === 2;
        }""",
        arg='svg[data-chart="overdue"] polyline[data-series="1+ DPD, A: balanced"]',
    )
    assert page.locator(".borrowers tbody tr").count() == dash.N_SAMPLED

    # Export: the downloads are the runs' two months and a config that reproduces them.
    config = parse_config(tomllib.loads(_download(page, "config (TOML)", tmp_path / "c.toml")))
    assert (config.seed, config.months, config.borrowers) == (7, 2, 20_000)
    assert [p.name for p in config.policies] == ["A-balanced", "B-aggressive"]
    metrics = pd.read_csv(io.StringIO(_download(page, "metrics (CSV)", tmp_path / "m.csv")))
    assert list(zip(metrics["policy"], metrics["month"], strict=True)) == [
        ("A-balanced", 0),
        ("A-balanced", 1),
        ("B-aggressive", 0),
        ("B-aggressive", 1),
    ]

    page.wait_for_timeout(300)
    page.screenshot(path=tmp_path / "dashboard.png")
    target = os.environ.get("DASHBOARD_SCREENSHOT")
    if target:  # refresh the README's screenshot after a few more months
        for _ in range(22):
            step.click()
            page.wait_for_timeout(250)
        page.wait_for_timeout(1_000)
        page.screenshot(path=target)

    # Policy B has its own levers, in its tab.
    page.get_by_role("tab", name="Policy B").click()
    page.get_by_text("run policy B side by side").wait_for()
    page.get_by_text("score cut-off: 550").wait_for()  # aggressive's cut-off
    page.get_by_role("tab", name="Policy A").click()

    # A custom scenario: bad knots give a one-line error, good ones wait for Reset.
    page.locator(".v-select").filter(has_text="scenario preset").click()
    page.get_by_role("option", name="custom").click()
    page.get_by_text("press Reset to apply").wait_for()
    knots = page.get_by_label("unemployment knots, month:rate")
    knots.fill("0:4%, 12:9%, 6:7%")
    knots.press("Enter")
    page.get_by_text("knot months must be strictly increasing").wait_for()
    knots.fill("0:4%, 6:9%, 24:6%")
    knots.press("Enter")
    page.get_by_text("strictly increasing").wait_for(state="hidden")

    # Moving a control marks the settings as pending until Reset.
    page.get_by_label("seed").fill("11")
    page.get_by_label("seed").press("Enter")
    page.get_by_role("button", name="Reset", exact=True).click()
    page.get_by_text("no months yet").first.wait_for()
    page.get_by_text("press Reset to apply").wait_for(state="hidden")
    step.click()
    page.get_by_role("button", name="config (TOML)").wait_for()
    config = parse_config(tomllib.loads(_download(page, "config (TOML)", tmp_path / "d.toml")))
    assert config.seed == 11 and config.scenarios[0].knots == {
        "unemployment": [[0, 0.04], [6, 0.09], [24, 0.06]]
    }

    # The market mode: a line per lender, the lenders' table and their CSV.
    page.get_by_role("tab", name="Market").click()
    page.get_by_text("run a market of lenders instead").click()
    page.get_by_text("press Reset to apply").wait_for()
    page.get_by_role("button", name="Reset", exact=True).click()
    share = page.locator('svg[data-chart="lender_balance_share"]')
    share.wait_for()
    step.click()
    step.click()
    page.wait_for_function(
        """(sel) => {
            const l = document.querySelector(sel);
            return l && l.getAttribute('points').trim().split(' ').length === 2;
        }""",
        arg='svg[data-chart="lender_balance_share"] polyline[data-series="L3-aggressive"]',
    )
    assert share.locator("polyline").count() == 3
    assert page.locator(".lenders tbody tr").count() == 3
    lenders = pd.read_csv(io.StringIO(_download(page, "lenders (CSV)", tmp_path / "l.csv")))
    assert list(zip(lenders["lender_name"], lenders["month"], strict=True))[:2] == [
        ("L1-conservative", 0),
        ("L1-conservative", 1),
    ]
    config = parse_config(tomllib.loads(_download(page, "config (TOML)", tmp_path / "e.toml")))
    assert [p.lender_names for p in config.policies] == [
        ["L1-conservative", "L2-balanced", "L3-aggressive"]
    ]

    # The footer (or anything else) never covers the borrower table.
    for width, height in ((1600, 1400), (1024, 600), (800, 600)):
        _table_uncovered(page, width, height)


@pytest.mark.slow  # 20 s: a real browser (run with -m slow)
@pytest.mark.timeout(90)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_browser_shows_controls_and_charts_that_move(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "experiments", "dashboard", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dashboard server did not start:\n{server.stdout.read()}")
            time.sleep(0.3)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            try:
                page = browser.new_page(
                    viewport={"width": 1600, "height": 1400}, accept_downloads=True
                )
                page.set_default_timeout(30_000)
                page.goto(url)
                _browse(page, tmp_path)
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
