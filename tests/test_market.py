"""The market of lenders: choice, investor funding, failure and contagion, regulation."""

from __future__ import annotations

import functools

import mesa
import numpy as np
import pytest

from model import CreditEconomy, RiskPolicy, loans, repayment
from model.lender import Lender
from model.loans import LoanBook
from model.market import (
    MarketMemory,
    MarketRules,
    choose_applied_lenders,
    choose_lenders,
    investor_confidence,
    utilities,
)
from model.origination import TIER_BOUNDS
from model.tape import LoanTape

POLICY_RATE = 0.03


def _lender(rules=None, **levers):
    model = mesa.Model(seed=0)
    model.month = 0
    policy = RiskPolicy.preset("balanced", **levers)
    return Lender(model, 0, policy, 10, MarketRules.of(rules))


# --------------------------------------------------------------------- choice
def test_choice_shares_follow_the_logit_formula():
    """P(lender j) = exp(u_j) / sum exp(u): Gumbel taste draws give a multinomial logit."""
    n = 200_000
    utility = np.repeat(np.array([[0.0], [np.log(2.0)], [np.log(5.0)]]), n, axis=1)
    uniform = np.random.default_rng(1).random((3, n))
    choice = choose_lenders(utility, np.ones((3, n), bool), uniform)
    shares = np.bincount(choice, minlength=3) / n
    expected = np.array([1.0, 2.0, 5.0]) / 8.0
    assert shares == pytest.approx(expected, abs=4 * np.sqrt(0.25 / n))


def test_choice_is_only_among_free_lenders_and_none_when_all_are_taken():
    uniform = np.random.default_rng(2).random((3, 4))
    free = np.array(
        [[True, False, False, False], [False, True, False, False], [True, True, False, True]]
    )
    choice = choose_lenders(np.zeros((3, 4)), free, uniform)
    assert choice[2] == -1
    for k in (0, 1, 3):
        assert free[choice[k], k]


def test_price_brand_refusals_and_the_last_lender_move_utility():
    rules = MarketRules(price_sensitivity=10.0, rejection_penalty=2.0, switching_cost=1.0)
    rates, brand = np.array([0.20, 0.30]), np.array([0.0, 0.5])
    rejected = np.array([[False, True], [False, False]])
    usual = np.array([[False, False], [True, False]])
    u = utilities(rates, brand, rejected, usual, rules)
    assert u[0, 0] == pytest.approx(-2.0)  # 10 x 20%
    assert u[1, 0] == pytest.approx(0.5 - 3.0 + 1.0)  # brand, price, last lender
    assert u[0, 1] == pytest.approx(-2.0 - 2.0)  # refused recently


def _remembered(memory, idx, month, months):
    """What borrowers ``idx`` remember: refused within ``months``, and their last lender."""
    lenders = np.arange(memory.refused.shape[0])[:, None]
    return month - memory.refused[:, idx] <= months, memory.last_lender[idx][None, :] == lenders


def test_refusals_are_remembered_for_the_memory_months_and_approvals_set_the_last_lender():
    rules = MarketRules(rejection_penalty=50.0, rejection_memory=3)
    memory = MarketMemory(2, 3)
    memory.record(1, np.array([0, 2]), np.array([False, True]), month=5)
    assert memory.refused[:, 0].tolist() == [MarketMemory.NEVER, 5]
    assert memory.last_lender.tolist() == [-1, -1, 1]
    held, lends, taste = np.zeros((2, 3), bool), np.ones(2, bool), np.full((2, 3), 0.5)
    prices = np.zeros(2), np.array([0.0, 1.0])  # lender 1's brand wins, unless refused
    choose = functools.partial(choose_applied_lenders, np.arange(3), memory=memory, rules=rules)
    assert choose(month=8, rates=prices[0], brand=prices[1], held=held, lends=lends,
                  uniform=taste).tolist() == [0, 1, 1]  # fmt: skip
    assert choose(month=9, rates=prices[0], brand=prices[1], held=held, lends=lends,
                  uniform=taste).tolist() == [1, 1, 1]  # forgotten  # fmt: skip


def test_the_compiled_choice_takes_the_first_of_equal_lenders_and_checks_its_input():
    memory, rules = MarketMemory(3, 4), MarketRules()
    held = np.array([[True, False, False, False], [False] * 4, [False] * 4])
    lenders = (np.zeros(3), np.zeros(3), held, np.ones(3, bool))  # rates, brand, held, lends
    taste = np.full((3, 4), 0.5)  # equal utilities and tastes: ties everywhere
    exclude = np.array([-1, -1, 0, 1])
    got = choose_applied_lenders(np.arange(4), 0, memory, rules, *lenders, taste, exclude)
    assert got.tolist() == [1, 0, 1, 0]  # the first free lender not excluded
    with pytest.raises(ValueError, match="idx"):
        choose_applied_lenders(np.array([7]), 0, memory, rules, *lenders, taste[:, :1])
    with pytest.raises(ValueError, match="exclude"):
        choose_applied_lenders(np.arange(4), 0, memory, rules, *lenders, taste, np.array([0]))


@pytest.mark.parametrize("dtype", [np.int64, np.int16])
def test_a_rounds_answers_from_several_lenders_are_remembered_as_each_lenders_own(dtype):
    """``record`` with a lender per borrower: as one call per lender, whatever its type."""
    rng = np.random.default_rng(4)
    n_lenders, n_borrowers = 3, 40_000
    idx = np.sort(rng.choice(n_borrowers, 900, replace=False))
    lender = rng.integers(0, n_lenders, idx.size).astype(dtype)
    approved = rng.random(idx.size) < 0.4
    together, apart = MarketMemory(n_lenders, n_borrowers), MarketMemory(n_lenders, n_borrowers)
    together.record(lender, idx, approved, month=7)
    for j in range(n_lenders):
        mine = lender == j
        apart.record(j, idx[mine], approved[mine], month=7)
    np.testing.assert_array_equal(together.refused, apart.refused)
    np.testing.assert_array_equal(together.last_lender, apart.last_lender)
    assert (together.refused == 7).sum() == np.count_nonzero(~approved)


@pytest.mark.parametrize("seed", range(5))
def test_the_compiled_choice_is_the_logit_over_the_remembered_utilities_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n_lenders, n_borrowers, month = 4, 300, 20
    rules = MarketRules(price_sensitivity=8.0, rejection_penalty=0.7, rejection_memory=4,
                        switching_cost=0.4)  # fmt: skip
    memory = MarketMemory(n_lenders, n_borrowers)
    for past in range(10, month):
        lender, idx = int(rng.integers(n_lenders)), np.flatnonzero(rng.random(n_borrowers) < 0.2)
        memory.record(lender, idx, rng.random(idx.size) < 0.5, past)
    held = rng.random((n_lenders, n_borrowers)) < 0.3
    lends = np.array([True, True, False, True])
    rates, brand = rng.uniform(0.1, 0.3, n_lenders), rng.normal(0, 0.5, n_lenders)
    idx = np.sort(rng.choice(n_borrowers, 120, replace=False))
    uniform = rng.random((n_lenders, idx.size))
    exclude = rng.integers(-1, n_lenders, idx.size)
    rejected, usual = _remembered(memory, idx, month, rules.rejection_memory)
    free = ~held[:, idx] & lends[:, None] & (np.arange(n_lenders)[:, None] != exclude)
    expected = choose_lenders(utilities(rates, brand, rejected, usual, rules), free, uniform)
    got = choose_applied_lenders(idx, month, memory, rules, rates, brand, held, lends, uniform,
                                 exclude)  # fmt: skip
    np.testing.assert_array_equal(got, expected)


def test_a_cheaper_lender_wins_applicants_when_borrowers_weigh_price():
    cheap = RiskPolicy.preset("balanced").replace(name="cheap")
    dear = RiskPolicy.preset("balanced").replace(name="dear", base_margin=0.2)
    shares = {}
    for sensitivity in (0.0, 20.0):
        eco = CreditEconomy(
            4000,
            "baseline",
            [cheap, dear],
            seed=5,
            burn_in=12,
            market={"price_sensitivity": sensitivity},
        )
        df = eco.run(6)
        hist = eco.lender_history()
        apps = hist.groupby("lender_name")["applications"].sum()
        shares[sensitivity] = apps["cheap"] / apps.sum()
        assert df.applications.sum() == apps.sum()
    assert 0.45 < shares[0.0] < 0.6  # at random (the dear lender's refusals do not matter)
    # a 10-point gap is 2 units of utility (88% of free choices); borrowers holding a loan
    # at the cheap lender can only apply to the dear one, which dilutes the shift
    assert shares[20.0] > shares[0.0] + 0.1


def test_a_lender_that_cannot_lend_gets_no_applications():
    eco = CreditEconomy(3000, "baseline", ["balanced", "balanced"], seed=3, burn_in=12)
    eco.lenders[1].capital = 0.0  # below the minimum ratio: it stops lending
    eco.step()
    hist = eco.lender_history()
    assert hist.loc[hist.lender == 1, "applications"].iloc[0] == 0
    assert hist.loc[hist.lender == 0, "applications"].iloc[0] > 0


# -------------------------------------------------------------------- funding
def test_investor_confidence_closes_a_share_of_the_gap_to_its_target():
    rules = MarketRules(investor_loss_tolerance=0.2, investor_contagion=1.5, investor_speed=0.25)
    # target 1 - 0.05 / 0.2 - 1.5 x 1/3 = 0.25; from 1 a quarter of the way: 0.8125
    assert investor_confidence(1.0, 0.05, 0.0, 1 / 3, rules) == pytest.approx(0.8125)
    assert investor_confidence(0.5, 10.0, 0.0, 0.0, rules) == pytest.approx(0.375)  # target 0
    assert investor_confidence(0.5, 0.0, 0.0, 0.0, MarketRules(investor_speed=1.0)) == 1.0
    # Overdue is ignored by default; read, only its excess over the norm costs confidence.
    assert investor_confidence(1.0, 0.0, 0.4, 0.0, rules) == 1.0
    watching = MarketRules(investor_overdue_sensitivity=2.0, investor_speed=1.0)
    assert investor_confidence(1.0, 0.0, 0.05, 0.0, watching) == 1.0  # at the norm
    assert investor_confidence(1.0, 0.0, 0.25, 0.0, watching) == pytest.approx(0.6)
    # Overdue under the norm earns no confidence back: losses alone set the target (0.5).
    assert investor_confidence(1.0, 0.1, 0.0, 0.0, watching) == pytest.approx(0.5)


def test_investors_read_the_months_losses_net_of_recoveries():
    lender = _lender(funding="investors")
    month = {"balance": 1200.0, "overdue_rate": 0.0}
    lender._update_funding({**month, "writeoffs": 10.0, "recoveries": 10.0}, 0.0)
    assert lender.confidence == 1.0  # all recovered: no loss
    lender._update_funding({**month, "writeoffs": 10.0, "recoveries": 4.0}, 0.0)
    loss = 12 * (10.0 - 4.0) / 1200.0  # annualised, on the book
    assert lender.confidence == pytest.approx(
        investor_confidence(1.0, loss, 0.0, 0.0, lender.rules)
    )
    assert lender.funding_line == pytest.approx(lender.confidence * lender.funding_limit)


def _investor_funded(**market):
    """An investor-funded aggressive lender in a severe recession, with these market rules."""
    policy = RiskPolicy.preset("aggressive").replace(funding="investors")
    return CreditEconomy(3000, "severe_recession", policy, seed=4, burn_in=24, market=market)


def test_investors_who_read_overdue_shrink_the_line_before_losses_are_booked():
    def run(sensitivity):
        eco = _investor_funded(investor_overdue_sensitivity=sensitivity, investor_speed=1.0)
        return eco.run(12)

    blind, reading = run(0.0), run(3.0)
    excess = (blind.overdue_rate - MarketRules().investor_overdue_norm).clip(lower=0)
    assert (excess > 0).any()  # a severe recession lifts overdue over the norm
    assert (reading.funding_line <= blind.funding_line + 1e-6).all()
    assert (reading.funding_line < blind.funding_line - 1e-6).any()


def test_a_funding_run_stops_lending_and_costs_the_run_spread():
    eco = _investor_funded(investor_loss_tolerance=0.01, investor_speed=1.0, run_spread=0.3)
    df = eco.run(12)
    below = df.funding_line < df.balance.shift(1)  # the line at the start of next month
    assert below.iloc[:-1].any()
    month = int(np.flatnonzero(below.to_numpy()[:-1])[0]) + 1
    assert df.approvals.iloc[month] == 0  # no room under the line: nothing is lent
    lender, policy = eco.lenders[0], eco.lenders[0].policy
    row = lender.history[month]
    opening = float(df.balance.iloc[month - 1])
    line = float(df.funding_line.iloc[month - 1])
    base = opening * (df.policy_rate.iloc[month] + policy.funding_spread) / 12
    assert row["funding_cost"] == pytest.approx(base + (opening - line) * 0.3 / 12)


def test_a_stable_lender_keeps_its_line_and_a_failed_one_loses_its_investors():
    stable = RiskPolicy.preset("balanced").replace(name="bank")
    p2p = RiskPolicy.preset("balanced").replace(name="p2p", funding="investors")
    eco = CreditEconomy(3000, "severe_recession", [stable, p2p], seed=6, burn_in=12)
    eco.lenders[1].capital = -1e12
    df = eco.run(3)
    hist = eco.lender_history().set_index(["lender_name", "month"])
    assert (hist.loc["bank", "funding_line"] == eco.lenders[0].funding_limit).all()
    assert (hist.loc["p2p", "funding_line"] == 0).all() and eco.lenders[1].confidence == 0
    assert (df.failed_lenders == 1).all()


def test_peers_investors_pull_money_after_a_failure_only_with_contagion():
    policies = [
        RiskPolicy.preset("balanced").replace(name="weak", funding="investors"),
        RiskPolicy.preset("balanced").replace(name="peer", funding="investors"),
    ]
    lines = {}
    for contagion in (0.0, 2.0):
        eco = CreditEconomy(
            3000, "baseline", policies, seed=7, burn_in=12, market={"investor_contagion": contagion}
        )
        eco.lenders[0].capital = -1e12
        eco.run(4)
        lines[contagion] = eco.lenders[1].funding_line / eco.lenders[1].funding_limit
    assert lines[2.0] < lines[0.0] - 0.3


# ---------------------------------------------------------- failure, contagion
def _failed_economy(**market):
    policies = [RiskPolicy.preset("balanced").replace(name=n) for n in ("a", "b")]
    eco = CreditEconomy(4000, "baseline", policies, seed=8, burn_in=24, market=market)
    eco.lenders[0].capital = -1e12  # fails at this month's close
    return eco


def test_a_failed_lender_stops_collecting_unless_its_book_is_run_off():
    for collect in (True, False):
        eco = _failed_economy(collect_after_failure=collect)
        eco.step()
        lender = eco.lenders[0]
        assert lender.failed and lender.collecting == collect
        effect, squeeze = lender.stage_effects()
        assert (effect.any() and squeeze.any()) == collect
        df = eco.run(3)
        costs = eco.lender_history().query("lender == 0")["collection_cost"].iloc[1:]
        assert (costs > 0).all() == collect and (costs == 0).all() != collect
        assert len(df) == 4


def test_strategic_default_stops_a_share_of_the_failed_lenders_borrowers_paying():
    shares = {}
    for share in (0.0, 0.5):
        eco = _failed_economy(collect_after_failure=False, strategic_default=share)
        eco.step()
        borrowers = np.flatnonzero(eco.book.active[0])
        before = eco.state.willingness[borrowers].copy()
        eco.step()  # the month after the failure: borrowers learn of it
        after = eco.state.willingness[borrowers]
        shares[share] = np.mean((after == 0) & (before > 0))
    assert shares[0.0] == 0.0
    assert shares[0.5] == pytest.approx(0.5, abs=0.06)


def test_strategic_default_needs_collection_to_have_stopped():
    eco = _failed_economy(collect_after_failure=True, strategic_default=1.0)
    eco.step()
    borrowers = np.flatnonzero(eco.book.active[0])
    before = eco.state.willingness[borrowers].copy()
    eco.step()
    assert np.array_equal(eco.state.willingness[borrowers], before)


# ------------------------------------------------------------------ regulation
def _originate(lender, score):
    n = len(score)
    book = LoanBook(1, n)
    return lender.originate(
        book,
        LoanTape(),
        np.arange(n),
        np.asarray(score, float),
        np.full(n, 1000.0),
        np.full(n, 10_000.0),
        np.zeros(n),
        np.full(n, 0.5),
        POLICY_RATE,
        0,
    )


def test_an_apr_cap_refuses_the_tiers_priced_above_it():
    scores = [TIER_BOUNDS[0] + 10, TIER_BOUNDS[1] + 10, TIER_BOUNDS[2] + 10, TIER_BOUNDS[2] - 5]
    policy = RiskPolicy.preset("balanced", score_cutoff=500.0)
    rates = [policy.annual_rate(t, POLICY_RATE) for t in range(4)]
    cap = (rates[1] + rates[2]) / 2  # tiers A and B are under it, C and D above
    free = _originate(_lender(score_cutoff=500.0), scores)
    capped = _originate(_lender({"apr_cap": cap}, score_cutoff=500.0), scores)
    assert (free > 0).all()
    assert (capped > 0).tolist() == [True, True, False, False]


def test_collection_limits_cap_the_stage_and_the_intensity():
    full = _lender(collection_intensity=0.8)
    effect, squeeze = full.stage_effects()
    staged = _lender({"max_collection_stage": 2}, collection_intensity=0.8)
    capped_effect, capped_squeeze = staged.stage_effects()
    assert capped_effect[:3].tolist() == effect[:3].tolist()
    assert (capped_effect[3:] == effect[2]).all() and (capped_squeeze[3:] == squeeze[2]).all()
    none = _lender({"max_collection_stage": 0}, collection_intensity=0.8)
    assert not none.stage_effects()[0].any()
    soft = _lender({"max_collection_intensity": 0.4}, collection_intensity=0.8)
    assert soft.intensity == 0.4
    assert soft.stage_effects()[0] == pytest.approx(effect * 0.4 / 0.8)


def test_recoveries_on_written_off_debt_are_pursued_within_the_collection_cap(monkeypatch):
    policy = RiskPolicy.preset("balanced", collection_intensity=0.8)
    market = {"max_collection_intensity": 0.2}
    eco = CreditEconomy(3000, "severe_recession", policy, seed=5, burn_in=30, market=market)
    shares, collect = [], eco.recoveries.collect

    def recording(lender_shares, *rest):
        shares.append(list(lender_shares))
        return collect(lender_shares, *rest)

    monkeypatch.setattr(eco.recoveries, "collect", recording)
    df = eco.run(3)
    assert df.recoveries.sum() > 0 and len(shares) == 3
    capped = repayment.RECOVERY_BASE + repayment.RECOVERY_COLLECTION * 0.2
    assert shares == [[pytest.approx(capped)]] * 3


def test_a_failed_lender_that_stops_collecting_still_recovers_written_off_debt(monkeypatch):
    """Recoveries on written-off debt continue for a failed lender that no longer collects,
    at the share of its intensity in force (7.9, 7.19.3)."""
    eco = _failed_economy(collect_after_failure=False)
    eco.step()  # lender 0 fails at this close
    shares, collect = [], eco.recoveries.collect

    def recording(lender_shares, *rest):
        shares.append(list(lender_shares))
        return collect(lender_shares, *rest)

    monkeypatch.setattr(eco.recoveries, "collect", recording)
    eco.run(2)
    failed = eco.lenders[0]
    assert failed.failed and not failed.collecting
    assert [s[0] for s in shares] == [pytest.approx(repayment.recovery_share(failed.intensity))] * 2


def test_collection_limits_bind_on_the_stages_charged():
    book = LoanBook.from_dense(np.ones((1, 5), bool), balance=100.0, dpd=[[0, 1, 2, 3, 4]])
    costs = {}
    for top in (4, 1):
        lender = _lender({"max_collection_stage": top})
        lender.open_month(book, POLICY_RATE)
        lender.collect(book)
        costs[top] = lender.accounts["collection_cost"]
    assert 0 < costs[1] < costs[4]


@pytest.mark.parametrize(("target", "eases"), [(0.5, False), (0.6, True)])
def test_a_month_when_no_one_lends_is_an_equal_share_for_the_competition_rule(target, eases):
    policy = RiskPolicy.preset(
        "balanced", score_cutoff=850.0, share_target=target, competition_max_loosening=0.0
    )
    eco = CreditEconomy(2000, "baseline", [policy, policy.replace(name="b")], seed=3, burn_in=6)
    df = eco.run(6)
    assert (df.approvals == 0).all()  # no one clears the cut-off, eased or not
    # Half each: on a target of one half, below one of 0.6.
    assert [lender.easing > 0 for lender in eco.lenders] == [eases, eases]


def test_a_mandatory_bureau_shows_every_lenders_loans_to_screening(monkeypatch):
    import model.economy

    original = model.economy.originate_round
    calls = []

    def spy(lenders, book, tape, apps, *rest, **kw):
        """Note, per applicant, whether they hold a loan elsewhere and whether it counted."""
        own = np.zeros(apps.borrower.size)
        for j, lender in enumerate(lenders):
            mine = apps.lender == j
            own[mine] = loans.debt_service(book, apps.borrower[mine], lender.index)
        other = loans.debt_service(book, apps.borrower) - own
        calls.append((other > 0, apps.debt_service > 0))
        return original(lenders, book, tape, apps, *rest, **kw)

    monkeypatch.setattr(model.economy, "originate_round", spy)
    seen = {}
    for bureau in (False, True):
        calls.clear()
        policies = [RiskPolicy.preset("balanced").replace(sees_other_loans=False)] * 2
        eco = CreditEconomy(
            3000, "baseline", policies, seed=9, burn_in=12, market={"shared_bureau": bureau}
        )
        eco.run(2)
        holds = np.concatenate([c[0] for c in calls])
        counted = np.concatenate([c[1] for c in calls])
        assert holds.any()
        seen[bureau] = counted[holds].mean()
    assert seen[False] == 0.0 and seen[True] == 1.0


def test_a_regulatory_capital_floor_above_the_lenders_own_stops_lending():
    lender = _lender(min_capital_ratio=0.06)
    lender.capital, lender._book = 0.08 * 1000.0, 1000.0
    assert lender.can_lend
    strict = _lender({"regulatory_capital_ratio": 0.10}, min_capital_ratio=0.06)
    strict.capital, strict._book = 0.08 * 1000.0, 1000.0
    assert not strict.can_lend


# ------------------------------------------------------------------- pairing
def test_markets_of_the_same_size_share_borrowers_and_shocks():
    """Two markets of two lenders, different policies and rules: the same economy."""
    first = CreditEconomy(3000, "severe_recession", ["balanced", "aggressive"], seed=11, burn_in=12)
    second = CreditEconomy(
        3000,
        "severe_recession",
        ["conservative", RiskPolicy.preset("aggressive").replace(funding="investors")],
        seed=11,
        burn_in=12,
        market={"price_sensitivity": 10.0, "apr_cap": 0.24},
    )
    a, b = first.run(6), second.run(6)
    assert np.array_equal(a.unemployment_rate, b.unemployment_rate)
    assert np.array_equal(a.common_factor, b.common_factor)
    # The same borrowers meet the same shocks, one by one (not only the macro path).
    for name in ("employed", "income", "months_unemployed"):
        assert np.array_equal(getattr(first.state, name), getattr(second.state, name)), name
    assert not np.array_equal(a.approvals, b.approvals)


def test_default_market_rules_leave_a_market_unchanged():
    plain = CreditEconomy(2000, "baseline", ["balanced", "aggressive"], seed=12, burn_in=12)
    explicit = CreditEconomy(
        2000, "baseline", ["balanced", "aggressive"], seed=12, burn_in=12, market=MarketRules()
    )
    assert plain.run(4).equals(explicit.run(4))
