import dataclasses

import pytest

from model import RiskPolicy


def test_presets_exist_and_differ_in_the_expected_direction():
    assert RiskPolicy.names() == ["conservative", "balanced", "aggressive"]
    c, b, a = (RiskPolicy.preset(n) for n in RiskPolicy.names())
    assert c.score_cutoff > b.score_cutoff > a.score_cutoff
    assert c.max_dti < b.max_dti < a.max_dti
    assert c.max_loan_to_income < b.max_loan_to_income < a.max_loan_to_income
    assert c.name == "conservative"


def test_contract_levers_exist():
    names = RiskPolicy.field_names()
    for lever in (
        "score_cutoff",
        "max_dti",
        "max_loan_to_income",
        "writeoff_dpd",
        "collection_intensity",
        "relief_enabled",
        "dynamic_target",
        "min_capital_ratio",
        "payment_order",
        "probation_months",
        "term_mix",
    ):
        assert lever in names
    assert RiskPolicy().dynamic_target is None


def test_a_zero_dynamic_target_switches_the_rule_off():
    assert RiskPolicy(dynamic_target=0).dynamic_target is None
    assert RiskPolicy(dynamic_target=0.04).dynamic_target == 0.04


def test_replace_returns_validated_copy_and_policy_is_frozen():
    base = RiskPolicy.preset("conservative")
    tighter = base.replace(score_cutoff=700)
    assert tighter.score_cutoff == 700 and base.score_cutoff == 640
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.score_cutoff = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "exc", "fragment"),
    [
        ({"score_cutoff": float("nan")}, ValueError, "score_cutoff"),
        ({"score_cutoff": 900}, ValueError, "score_cutoff must be in [300, 850]"),
        ({"max_dti": -0.1}, ValueError, "max_dti"),
        ({"max_loan_to_income": 0}, ValueError, "max_loan_to_income"),
        ({"writeoff_dpd": 100}, ValueError, "multiple of 30"),
        ({"writeoff_dpd": 60}, ValueError, "writeoff_dpd"),
        ({"collection_intensity": 1.5}, ValueError, "collection_intensity"),
        ({"relief_enabled": "yes"}, TypeError, "relief_enabled"),
        ({"term_months": 2.5}, TypeError, "term_months"),
        ({"dynamic_target": -0.1}, ValueError, "dynamic_target"),
        ({"dynamic_overdue_target": 0.1}, ValueError, "renamed: use dynamic_target"),
        ({"payment_order": "oldest"}, ValueError, "fees_first, arrears_first"),
        ({"term_mix": [[3, 0.5], [12, 0.4]]}, ValueError, "term_mix"),
        ({"term_mix": [[0, 1.0]]}, ValueError, "term_mix"),
        ({"min_capital_ratio": 0.2}, ValueError, "min_capital_ratio must be <="),
        ({"score_cutof": 600}, ValueError, "unknown policy field 'score_cutof'"),
        ({"collection_costs": (1, 2)}, ValueError, "collection_costs"),
        ({"provision_rates": (0.1, 0.2)}, ValueError, "provision_rates must be 5 numbers"),
        ({"provision_rates": (0, 0, 0, 0, 1.5)}, ValueError, "provision_rates[4]"),
        ({"score_noise": "high"}, TypeError, "score_noise"),
    ],
)
def test_bad_levers_name_the_field(changes, exc, fragment):
    with pytest.raises(exc) as err:
        RiskPolicy.preset("balanced").replace(**changes)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_preset_lists_allowed():
    with pytest.raises(ValueError, match="allowed: conservative, balanced, aggressive"):
        RiskPolicy.preset("reckless")


def test_preset_accepts_overrides():
    assert RiskPolicy.preset("aggressive", writeoff_dpd=120).writeoff_dpd == 120


def test_pricing_rises_with_tier_and_policy_rate():
    p = RiskPolicy()
    rates = [p.annual_rate(t, 0.03) for t in range(4)]
    assert rates == sorted(rates) and rates[0] < rates[-1]
    assert p.annual_rate(0, 0.05) > p.annual_rate(0, 0.03)
