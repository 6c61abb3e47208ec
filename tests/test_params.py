"""Levers declare themselves: label, unit, range, step and meaning in one place."""

from __future__ import annotations

import dataclasses
import re

import pytest

from model import PopulationParams, RiskPolicy
from model.macro import ScenarioParams
from model.params import Parameters, lever, slider_step, unit_kind

CLASSES = (RiskPolicy, PopulationParams, ScenarioParams)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_lever_has_a_label_a_unit_and_a_meaning(cls):
    described = cls.describe()
    assert [d["name"] for d in described] == cls.field_names()
    for d in described:
        assert d["label"] and d["unit"] and d["description"] and d["group"], d["name"]
        assert d["label"][0].isupper() and not re.search(r"[a-z]_[a-z]", d["label"]), d["label"]
        assert not re.search(r"[a-z]_[a-z]", d["unit"]), d["unit"]  # words, not identifiers
    labels = [d["label"] for d in described]
    assert len(set(labels)) == len(labels)  # no two levers read the same


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_slider_metadata_fits_the_allowed_range(cls):
    for d in cls.describe():
        if d["step"] is None:  # switches, text, tuples and checked shapes have no slider
            assert d["typical"] is None
            assert isinstance(d["default"], bool | str | tuple) or d["default"] is None
            continue
        assert d["step"] > 0
        assert d["low"] is not None and d["high"] is not None, d["name"]
        if d["typical"] is not None:
            low, high = d["typical"]
            assert d["low"] <= low < high <= d["high"], d["name"]
        if d["integer"]:
            assert d["step"] == (d["multiple"] or 1)


def test_describe_carries_units_kinds_and_steps():
    policy = {d["name"]: d for d in RiskPolicy.describe()}
    assert policy["max_dti"]["kind"] == "share" and policy["max_dti"]["low_open"]
    assert policy["score_cutoff"]["kind"] == "points" and policy["score_cutoff"]["step"] == 5
    assert policy["writeoff_dpd"]["step"] == policy["writeoff_dpd"]["multiple"] == 30
    assert policy["dynamic_target"]["typical"] == (0, 0.1)
    assert policy["relief_enabled"]["kind"] == "bool" and policy["relief_enabled"]["unit"]
    assert policy["provision_rates"]["length"] == 5 and policy["provision_rates"]["step"] is None
    population = {d["name"]: d for d in PopulationParams.describe()}
    assert population["oversight_rate"]["calibrated"]
    assert not policy["max_dti"]["calibrated"]


@pytest.mark.parametrize(
    ("unit", "default", "kind"),
    [
        ("share of income", 0.4, "share"),
        ("annual rate", 0.1, "share"),
        ("probability a month", 0.1, "share"),
        ("score points", 600.0, "points"),
        ("currency per loan", 60.0, "currency"),
        ("months of income", 4.0, "months"),
        ("days past due", 120, "days"),
        ("on/off", True, "bool"),
        ("log s.d.", 0.4, "log s.d."),
    ],
)
def test_unit_kind_reads_the_start_of_the_unit(unit, default, kind):
    assert unit_kind(unit, default) == kind


def test_slider_step_defaults():
    @dataclasses.dataclass(frozen=True)
    class Demo(Parameters):
        share: float = lever(0.4, low=0, high=1, description="A share.")
        wide: float = lever(100.0, low=0, high=550, description="Points.")
        days: int = lever(120, low=90, high=720, integer=True, multiple=30, description="D.")
        count: int = lever(3, low=0, high=10, integer=True, description="A count.")
        narrow: float = lever(0.02, low=0, high=1, typical=(0, 0.1), description="Rare.")
        given: float = lever(2.0, low=0, high=36, step=0.5, description="Given.")
        switch: bool = lever(True, description="A switch.")

    steps = {d["name"]: d["step"] for d in Demo.describe()}
    assert steps == {
        "share": 0.01,
        "wide": 5.0,
        "days": 30,
        "count": 1,
        "narrow": 0.001,
        "given": 0.5,
        "switch": None,
    }
    units = {d["name"]: d["unit"] for d in Demo.describe()}
    assert units["switch"] == "on/off"
    assert slider_step({"low": 0, "high": 3, "length": 3}) is None
