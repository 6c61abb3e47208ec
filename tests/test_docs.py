"""docs/configs.md: generated from the declarations, current, complete and true to the parsers."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from experiments import config as config_module
from experiments import docs
from experiments.analysis import SUMMARIES
from experiments.cli import main
from experiments.config import ConfigError, parse_config
from model import PopulationParams, RiskPolicy
from model.macro import PATH, SERIES, ScenarioParams
from model.metrics import METRICS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def text() -> str:
    return docs.configs_markdown()


def test_the_committed_reference_is_current(text):
    committed = (ROOT / docs.CONFIGS_MD).read_text(encoding="utf-8")
    assert committed == text, f"docs/configs.md is out of date: run {docs.COMMAND}"


def test_every_table_key_lever_series_and_metric_is_there(text):
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    for table in config_module._TOP_KEYS:
        assert f"[{table}]" in headings or f"[[{table}]]" in headings, table
    rows = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))
    for cls in (RiskPolicy, PopulationParams):
        for d in cls.describe():
            if d["name"] != "name":
                assert d["name"] in rows, d["name"]
                assert d["description"] in text and d["label"] in text, d["name"]
    assert "scenario.severity" in rows and "severity" in rows
    assert {s.name for s in SERIES} <= rows
    assert {s.name for s in SERIES if s.kind == PATH} <= rows
    assert set(METRICS) <= rows and set(SUMMARIES) <= rows
    assert set(config_module.SAMPLE_METHODS) <= rows and set(config_module.CHART_KINDS) <= rows
    for name in ("oversight_rate", "low_willingness_share", "habit_protected"):  # fitted
        assert re.search(rf"^\| `{name}` \|.*\(fitted\)", text, flags=re.MULTILINE), name
    assert text.count("```toml") == len(docs.EXAMPLES)


def test_every_example_is_a_valid_config():
    docs.check_examples()
    for table, example in docs.EXAMPLES.items():
        keys = tomllib.loads(example)
        assert table in keys, table  # each example shows its own table


def _experiment(**values) -> dict:
    return {"experiment": {"name": "x", "seed": 1, **values}}


def _bound(text: str) -> int:
    return 2**63 - 1 if text == "2^63 - 1" else int(text)


@pytest.mark.parametrize("key", ["months", "borrowers", "replications", "seed", "burn_in"])
def test_documented_ranges_and_defaults_are_the_parsers(key):
    type_, allowed, default, _ = docs.key_docs()["experiment"][key]
    assert type_ == "integer"
    low, high = map(_bound, re.fullmatch(r"in \[(.+), (.+)\]", allowed).groups())
    for ok in (low, high):
        assert getattr(parse_config(_experiment(**{key: ok})), key) == ok
    for bad in (low - 1, high + 1):
        with pytest.raises(ConfigError, match=key):
            parse_config(_experiment(**{key: bad}))
    if default == "":  # the table shows the parser's own default
        expected = getattr(config_module.ExperimentConfig(name="x", seed=1), key)
        assert getattr(parse_config(_experiment()), key) == expected


def test_policy_lenders_range_is_the_parsers():
    allowed = docs.key_docs()["policy"]["lenders"][1]
    high = int(re.fullmatch(r"in \[1, (\d+)\]", allowed).group(1))
    raw = {**_experiment(), "policy": [{"preset": "balanced", "lenders": high}]}
    assert parse_config(raw).policies[0].lenders == high
    raw["policy"][0]["lenders"] = high + 1
    with pytest.raises(ConfigError, match="lenders"):
        parse_config(raw)


def test_severity_range_is_the_models():
    (severity,) = ScenarioParams.describe()
    raw = {**_experiment(), "scenario": [{"preset": "pandemic", "severity": severity["high"]}]}
    parse_config(raw)
    raw["scenario"][0]["severity"] = severity["high"] + 0.5
    with pytest.raises(ConfigError, match="severity"):
        parse_config(raw)


def test_an_undocumented_key_stops_the_generator(monkeypatch):
    monkeypatch.setattr(
        config_module, "_EXPERIMENT_KEYS", (*config_module._EXPERIMENT_KEYS, "workers")
    )
    with pytest.raises(docs.StaleSchemaError, match=r"\[experiment\].*workers"):
        docs.configs_markdown()


def test_command_writes_and_checks_the_file(tmp_path, capsys, text):
    out = tmp_path / "configs.md"
    assert main(["docs", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == text
    assert main(["docs", "--check", "--out", str(out)]) == 0
    out.write_text(text.replace("Score cut-off", "Cut-off"), encoding="utf-8")
    assert main(["docs", "--check", "--out", str(out)]) == 1
    assert "out of date: run python -m experiments docs" in capsys.readouterr().out


def test_the_domain_notes_the_reports_cite_ship_with_the_code():
    """Validation criteria, calibration sources and configs cite DOMAIN.md: the copy in
    docs/ is the team's current one (checked where the team's notes are at hand)."""
    root = Path(__file__).resolve().parents[1]
    shipped = root / "docs" / "DOMAIN.md"
    assert shipped.is_file()
    team = root.parent / "shared" / "DOMAIN.md"
    if team.is_file():
        assert shipped.read_text(encoding="utf-8") == team.read_text(encoding="utf-8")
