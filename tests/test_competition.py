"""Competition between lenders: share lost by tightening, adverse selection, the share rule."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from model import CreditEconomy, RiskPolicy
from model.lender import Lender
from model.market import MarketRules

#: Applicants remember a refusal and turn to the other lender (approval odds learned).
LEARNING = {"rejection_penalty": 3.0, "rejection_memory": 12, "reapply_share": 0.8}


def _market(second: RiskPolicy, seed: int = 21, rules: dict | None = None) -> CreditEconomy:
    first = RiskPolicy.preset("balanced").replace(name="A")
    return CreditEconomy(
        8000, "baseline", [first, second], seed=seed, burn_in=24, market=rules or LEARNING
    )


def _share(eco: CreditEconomy, lender: int) -> float:
    hist = eco.lender_history()
    lent = hist.pivot(index="month", columns="lender", values="originations").sum()
    return float(lent[lender] / lent.sum())


def _loss_at(eco: CreditEconomy, lender: int, age: int) -> float:
    """Mean cumulative write-off rate of the lender's vintages at ``age`` months on book."""
    v = eco.lender_vintage_table()
    v = v[(v.lender == lender) & (v.months_on_book == age)]
    return float(v.cum_writeoff_rate.mean())


@pytest.fixture(scope="module")
def pair():
    """Two markets on the same borrowers: B like A, and B tightened by 60 points."""
    same = _market(RiskPolicy.preset("balanced").replace(name="B"))
    tight = _market(RiskPolicy.preset("balanced").replace(name="B", score_cutoff=660.0))
    same.run(30)
    tight.run(30)
    return same, tight


def test_a_lender_that_tightens_loses_market_share_to_the_one_that_does_not(pair):
    same, tight = pair
    assert _share(same, 1) == pytest.approx(0.5, abs=0.05)  # twins split the market
    assert _share(tight, 1) < _share(same, 1) - 0.05
    assert _share(tight, 0) > _share(same, 0) + 0.05


def test_refused_applicants_try_the_other_lender_the_same_month(pair):
    """With re-application on, the applicants B refuses become A's loans."""
    same, tight = pair

    def a_loans(eco):
        hist = eco.lender_history()
        return hist.loc[hist.lender == 0, "approvals"].sum()

    assert a_loans(tight) > a_loans(same) * 1.1
    off = _market(
        RiskPolicy.preset("balanced").replace(name="B", score_cutoff=660.0),
        rules={**LEARNING, "reapply_share": 0.0},
    )
    off.run(30)
    assert a_loans(off) < a_loans(same) * 1.05  # without it, the refused wait for next time


def test_lender_vintages_weight_back_to_the_markets_curves(pair):
    same, _ = pair
    v, total = same.lender_vintage_table(), same.vintage_table()
    tape = same.loan_tape()
    for vintage in (0, 6):
        lent = tape[tape.vintage == vintage].groupby("lender").amount.sum()
        age = 29 - vintage
        mine = v[(v.vintage == vintage) & (v.months_on_book == age)].set_index("lender")
        weighted = (mine.cum_writeoff_rate * lent).sum() / lent.sum()
        market = total[(total.vintage == vintage) & (total.months_on_book == age)]
        assert weighted == pytest.approx(market.cum_writeoff_rate.iloc[0], rel=1e-9)


# ------------------------------------------------------------- the share rule
def _lender(**levers) -> Lender:
    model = mesa.Model(seed=0)
    model.month = 0
    return Lender(model, 0, RiskPolicy.preset("balanced", **levers), 10, MarketRules())


def test_the_share_rule_eases_a_step_a_month_below_target_and_back_above():
    lender = _lender(share_target=0.5, competition_months=4)
    for expected in (0.25, 0.5, 0.75, 1.0, 1.0):
        lender._compete(0.2)
        assert lender.easing == pytest.approx(expected)
    assert lender.cutoff == pytest.approx(600.0 - 60.0)
    plain = _lender().annual_rates(0.03)
    assert lender.annual_rates(0.03) == pytest.approx(plain - 0.03)
    for share in (0.9, 0.9, 0.9):  # the 3-month average climbs over the target
        lender._compete(share)
    assert lender.easing < 1.0


def test_the_share_rule_watches_a_three_month_average_of_the_share():
    """The share rule compares the mean share of the last three months with its target
    (7.17, 7.19.6): one good month after two poor ones does not stop the easing."""
    lender = _lender(share_target=0.5, competition_months=4)
    for share in (0.2, 0.2, 0.9):  # mean 0.43: still below the target
        lender._compete(share)
    assert lender.easing == pytest.approx(0.75)
    lender._compete(0.9)  # 0.2, 0.9, 0.9: mean 0.67, above it
    assert lender.easing == pytest.approx(0.5)


def test_without_a_target_the_lender_never_eases():
    lender = _lender()
    for _ in range(5):
        lender._compete(0.0)
    assert lender.easing == 0.0 and lender.cutoff == 600.0
    assert RiskPolicy.preset("balanced", share_target=0.0).share_target is None


def test_a_lender_chasing_share_takes_it_by_easing_price_and_cut_off():
    chaser = RiskPolicy.preset("conservative").replace(name="B", share_target=0.6)
    calm = RiskPolicy.preset("conservative").replace(name="B")

    def run(b):
        eco = CreditEconomy(
            8000,
            "baseline",
            [RiskPolicy.preset("balanced").replace(name="A"), b],
            seed=22,
            burn_in=24,
            market={**LEARNING, "price_sensitivity": 10.0},
        )
        eco.run(24)
        return eco

    chasing, still = run(chaser), run(calm)
    assert _share(chasing, 1) > _share(still, 1) + 0.05
    hist = chasing.lender_history()
    cutoffs = hist[hist.lender == 1].cutoff.to_numpy()
    assert cutoffs.min() < 640.0 and np.all(cutoffs >= 640.0 - 60.0)
    # DOMAIN.md fact 6: chasing volume by loosening screening adds risky loans.
    assert _loss_at(chasing, 1, 12) > _loss_at(still, 1, 12)


def test_a_refused_applicant_reapplies_only_to_another_lender_where_they_hold_no_loan():
    eco = CreditEconomy(
        4000,
        "severe_recession",
        ["conservative", "balanced", "aggressive"],
        seed=23,
        burn_in=12,
        market={"reapply_share": 1.0},
    )
    calls = []
    original = eco._apply_to_chosen

    def spy(applicants, target, m):
        free = ~eco.book.active[np.maximum(target, 0), applicants]
        refused = original(applicants, target, m)
        calls.append((m.number, applicants.copy(), target.copy(), free, refused))
        return refused

    eco._apply_to_chosen = spy
    eco.run(6)
    rounds = {}
    for month, applicants, target, free, refused in calls:
        rounds.setdefault(month, []).append((applicants, target, free, refused))
    seen_second = 0
    for pair in rounds.values():
        (first, first_target, _, first_refused) = pair[0]
        if len(pair) == 1:
            continue
        second, second_target, second_free, _ = pair[1]
        seen_second += second.size
        where = {b: k for k, b in enumerate(first)}
        k = np.array([where[b] for b in second])
        assert first_refused[k].all()  # only the refused try again
        assert np.all(second_target != first_target[k])  # never the lender that refused
        chosen = second_target >= 0
        assert second_free[chosen].all()  # never a lender holding a loan of theirs
    assert seen_second > 0


def test_a_lender_that_cannot_lend_holds_its_easing():
    lender = _lender(share_target=0.5, competition_months=4)
    lender._compete(0.0)
    lender.failed = True
    for _ in range(3):
        lender._compete(0.0)
    assert lender.easing == pytest.approx(0.25)


def test_rates_in_force_follow_easing_and_the_policy_rate_asked_again():
    """A lender asked its rates twice in a month, easing or the policy rate moved between."""
    lender = _lender(share_target=0.5, competition_months=4)
    plain = lender.annual_rates(0.03).copy()
    lender._compete(0.2)  # easing 0.25: a quarter of the 3-point margin cut
    np.testing.assert_allclose(lender.annual_rates(0.03), plain - 0.0075)
    np.testing.assert_allclose(lender.annual_rates(0.05), plain + 0.02 - 0.0075)
    for share in (0.9, 0.9, 0.9):  # back above the target: easing steps back to 0
        lender._compete(share)
    assert lender.easing == 0.0
    np.testing.assert_allclose(lender.annual_rates(0.03), plain)
    with pytest.raises(ValueError):  # the lender's own prices: read-only
        lender.annual_rates(0.03)[0] = 1.0
