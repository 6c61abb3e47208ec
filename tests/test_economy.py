import gc
import os
import weakref

import mesa
import numpy as np
import pandas as pd
import pytest

from model import (
    EXTRA_COLUMNS,
    METRIC_COLUMNS,
    Borrower,
    CreditEconomy,
    Lender,
    MacroScenario,
    RiskPolicy,
    loans,
)
from model import borrowers as model_borrowers
from model import economy as model_economy
from model.lender import RECORD_MONTHS
from model.loans import MONEY_TOLERANCE

CONTRACT_COLUMNS = [
    "month",
    "unemployment_rate",
    "active_loans",
    "balance",
    "overdue_rate",
    "overdue_rate_30",
    "npl_rate",
    "overdue_balance_rate",
    "applications",
    "approvals",
    "approval_rate",
    "originations",
    "writeoffs",
    "recoveries",
    "net_loss",
    "cum_net_loss",
    "interest_income",
    "fee_income",
    "funding_cost",
    "collection_cost",
    "profit",
    "relief_granted",
]


def test_public_api_contract():
    eco = CreditEconomy(
        n_borrowers=1000, scenario="severe_recession", policy="balanced", seed=7, burn_in=12
    )
    assert isinstance(eco, mesa.Model)
    df = eco.run(months=6)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert list(df.columns) == [*METRIC_COLUMNS, *EXTRA_COLUMNS]
    assert df["month"].tolist() == list(range(6))
    b = eco.borrower(0)
    assert isinstance(b, Borrower) and isinstance(b, mesa.Agent)
    for attr in ("income", "savings", "employed", "dpd", "segment", "debt", "status", "loans"):
        getattr(b, attr)
    assert eco.borrower(0) is b
    assert isinstance(eco.lenders, list) and isinstance(eco.lenders[0], Lender)
    assert isinstance(eco.lenders[0].policy, RiskPolicy)
    assert eco.steps == 6


def test_step_advances_one_month_and_records_it(tiny_economy):
    tiny_economy.step()
    tiny_economy.step()
    df = tiny_economy.metrics()
    assert len(df) == 2 and tiny_economy.month == 2


def test_same_seed_is_bit_identical_and_different_seeds_differ():
    a = CreditEconomy(2000, "pandemic", "aggressive", seed=11, burn_in=12).run(18)
    b = CreditEconomy(2000, "pandemic", "aggressive", seed=11, burn_in=12).run(18)
    c = CreditEconomy(2000, "pandemic", "aggressive", seed=12, burn_in=12).run(18)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not a["overdue_rate"].equals(c["overdue_rate"])


def test_policies_on_the_same_seed_see_the_same_borrowers_and_shocks():
    econ = [
        CreditEconomy(3000, "severe_recession", p, seed=5, burn_in=12)
        for p in ("conservative", "aggressive")
    ]
    for eco in econ:
        eco.run(24)
    s0, s1 = econ[0].state, econ[1].state
    np.testing.assert_array_equal(s0.employed, s1.employed)
    np.testing.assert_array_equal(s0.income, s1.income)
    np.testing.assert_array_equal(s0.ill_months, s1.ill_months)
    np.testing.assert_array_equal(s0.base_income, s1.base_income)
    assert econ[0].metrics()["unemployment_rate"].equals(econ[1].metrics()["unemployment_rate"])


def test_simulated_unemployment_tracks_the_scenario():
    eco = CreditEconomy(20000, "severe_recession", seed=1, burn_in=12)
    df = eco.run(60)
    gap = (df["unemployment_rate"] - df["scenario_unemployment"]).abs()
    assert gap.max() < 0.006
    pandemic = CreditEconomy(20000, "pandemic", seed=1, burn_in=12).run(12)
    assert pandemic["unemployment_rate"].iloc[4] > 0.16


def _steps():
    """Unemployment 4.2% at month 0, 5.2% at month 1, 9.2% from month 2: at month 2 the
    gap over month 0 is 5 points and the rise over one month 4."""
    return MacroScenario.from_knots(
        "steps", 5, unemployment=[(0, 0.042), (1, 0.052), (2, 0.092), (4, 0.092)]
    )


def test_the_economy_cuts_the_hours_of_the_employed_by_the_rise_of_unemployment():
    calm = {"income_shock_sd": (0.0, 0.0, 0.0), "illness_rate": 0.0}
    calm.update(hours_cut=1.5, hours_window=1)
    eco = CreditEconomy(2000, _steps(), seed=3, burn_in=2, population=calm)
    ratios = []
    for month in range(4):  # the burn-in ran in the constructor
        eco.step()
        s = eco.state
        salaried = s.employed & (s.segment == 0)  # no cyclical loss of their own
        wage = eco.scenario.state(month).wage_index
        ratios.append(s.income[salaried] / (s.base_income[salaried] * wage))
    for month, rise in ((0, 0.0), (1, 0.01), (2, 0.04), (3, 0.0)):  # month 3: high, flat
        np.testing.assert_allclose(ratios[month], 1.0 - 1.5 * rise, rtol=1e-9)


def test_the_economy_saves_for_precaution_by_the_gap_of_unemployment():
    """The habit moves toward its target less precautionary_saving x the gap over month 0
    (not the month's rise), from the habit and usual income the month had."""
    population = {"precautionary_saving": 1.0, "hours_window": 1}
    eco = CreditEconomy(2000, _steps(), seed=3, burn_in=2, population=population)
    eco.step()
    eco.step()  # months 0 and 1
    habit = eco.state.habit.copy()
    eco.step()  # month 2: a gap of 5 points, a rise of 4
    s, adjustment = eco.state, eco.params.habit_adjustment
    target = np.maximum(s.disc_share - 1.0 * 0.05, 0.0) * s.smoothed_income
    np.testing.assert_allclose(s.habit, habit + (target - habit) * adjustment, rtol=1e-9)


def test_book_starts_seasoned_not_empty():
    eco = CreditEconomy(5000, "baseline", seed=2)
    ages = eco.book.age[eco.book.active]
    assert ages.min() < 2 and ages.max() >= 9  # loans of all ages at month 0
    df = eco.run(24)
    assert df["active_loans"].iloc[0] > 0.85 * df["active_loans"].iloc[12:].mean()
    assert df["writeoffs"].iloc[:3].sum() > 0


def test_several_lenders_and_multi_borrowing():
    eco = CreditEconomy(4000, "severe_recession", ["balanced", "aggressive"], seed=3, burn_in=24)
    eco.run(12)
    assert len(eco.lenders) == 2 and eco.lenders[1].policy.name == "aggressive"
    both = eco.book.active.all(axis=0)
    assert both.any()  # some borrowers hold loans at both lenders
    hist = eco.lender_history()
    assert set(hist["lender"]) == {0, 1} and len(hist) == 24
    row = eco.metrics().iloc[-1]
    assert row["approvals"] == hist[hist.month == 11]["approvals"].sum()


def test_custom_scenario_object_and_population_dict():
    sc = MacroScenario.from_knots("v", 24, unemployment=[(0, 0.05), (3, 0.12), (15, 0.06)])
    eco = CreditEconomy(
        2000,
        sc,
        RiskPolicy.preset("conservative"),
        seed=1,
        burn_in=6,
        population={"savings_months": 0.5},
    )
    df = eco.run(24)
    assert df["unemployment_rate"].iloc[3] > 0.09


def test_run_longer_than_a_preset_extends_it():
    df = CreditEconomy(500, "baseline", seed=1, burn_in=0).run(80)
    assert len(df) == 80


@pytest.mark.parametrize(
    ("kwargs", "exc", "fragment"),
    [
        ({"n_borrowers": -5}, ValueError, "n_borrowers"),
        ({"n_borrowers": 10.5}, TypeError, "n_borrowers"),
        ({"n_borrowers": 10**12}, ValueError, "n_borrowers"),
        ({"scenario": "depression"}, ValueError, "unknown scenario preset"),
        ({"scenario": 3}, TypeError, "scenario"),
        ({"policy": "reckless"}, ValueError, "unknown policy preset"),
        ({"policy": []}, TypeError, "policy"),
        ({"policy": [1]}, TypeError, "policy"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": "abc"}, TypeError, "seed"),
        ({"burn_in": -1}, ValueError, "burn_in"),
        ({"population": {"savings_mnths": 1}}, ValueError, "unknown population field"),
        ({"population": {"segment_shares": (0.5, 0.5, 0.5)}}, ValueError, "summing to 1"),
        ({"population": 5}, TypeError, "population"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, exc, fragment):
    args = {"n_borrowers": 100, "seed": 1, "burn_in": 0, **kwargs}
    with pytest.raises(exc) as err:
        CreditEconomy(**args)
    assert fragment in str(err.value)


def test_bad_run_and_borrower_arguments(tiny_economy):
    with pytest.raises(ValueError, match="months"):
        tiny_economy.run(-1)
    with pytest.raises(ValueError, match="index"):
        tiny_economy.borrower(500)


def test_roll_rate_and_vintage_tables():
    eco = CreditEconomy(5000, "severe_recession", seed=4, burn_in=24)
    eco.run(36)
    roll = eco.roll_rate_table()
    assert roll.shape == (5, 7)
    np.testing.assert_allclose(roll.sum(axis=1), 1.0)
    assert roll.loc["90+", "written_off"] > roll.loc["current", "written_off"]
    assert roll.loc["current", "current"] > 0.8
    vint = eco.vintage_table()
    assert {"vintage", "months_on_book", "cum_writeoff_rate"} <= set(vint.columns)
    first = vint[vint.vintage == 0]["cum_writeoff_rate"].to_numpy()
    assert np.all(np.diff(first) >= 0) and first[-1] > 0


def test_dynamic_rule_tightens_cutoff_when_the_flow_passes_target():
    pol = RiskPolicy.preset("aggressive", dynamic_target=0.02, dynamic_step=10)
    eco = CreditEconomy(3000, "severe_recession", pol, seed=1, burn_in=12)
    df = eco.run(24)
    assert df["cutoff"].max() > pol.score_cutoff
    static = CreditEconomy(
        3000, "severe_recession", pol.replace(dynamic_target=None), seed=1, burn_in=12
    ).run(24)
    assert (static["cutoff"] == pol.score_cutoff).all()
    assert df["approvals"].sum() < static["approvals"].sum()


def test_borrowing_to_repay_happens_with_several_lenders_and_can_be_switched_off():
    pol = RiskPolicy.preset("balanced", sees_other_loans=False)
    lenders = [pol, pol.replace(name="second")]
    on = CreditEconomy(4000, "severe_recession", lenders, seed=2, burn_in=24).run(12)
    off = CreditEconomy(
        4000,
        "severe_recession",
        lenders,
        seed=2,
        burn_in=24,
        population={"borrow_to_repay": False},
    ).run(12)
    assert on["applications"].sum() > off["applications"].sum()
    assert not on["overdue_rate"].equals(off["overdue_rate"])
    single = [
        CreditEconomy(
            2000, "baseline", "balanced", seed=3, burn_in=12, population={"borrow_to_repay": flag}
        ).run(6)
        for flag in (True, False)
    ]
    pd.testing.assert_frame_equal(*single)  # one lender: nowhere else to borrow


def test_lenders_blind_to_other_loans_let_borrowers_stack_debt():
    def stacked(sees: bool) -> int:
        pol = RiskPolicy.preset("aggressive", sees_other_loans=sees)
        eco = CreditEconomy(4000, "baseline", [pol, pol.replace(name="b")], seed=4, burn_in=36)
        return int(eco.book.active.all(axis=0).sum())

    assert stacked(False) > stacked(True)


def test_applications_to_repay_are_counted_apart():
    """Borrowing to repay is counted in its own columns (and within applications/approvals)."""
    loose = RiskPolicy.preset("aggressive", sees_other_loans=False)
    eco = CreditEconomy(
        3000, "severe_recession", [loose, loose.replace(name="b")], seed=2, burn_in=12,
        population={"borrow_to_repay": True},
    )  # fmt: skip
    made = []
    apply_round = eco._apply_round

    def recording(applicants, target, m, at_least=None):
        lent = apply_round(applicants, target, m, at_least)
        if at_least is not None:
            made.append((int((target >= 0).sum()), int((lent > 0).sum())))
        return lent

    eco._apply_round = recording
    df = eco.run(24)
    assert df["applications_to_repay"].sum() == sum(a for a, _ in made) > 0
    assert df["approvals_to_repay"].sum() == sum(f for _, f in made) > 0
    assert (df["approvals_to_repay"] <= df["applications_to_repay"]).all()
    assert (df["applications_to_repay"] <= df["applications"]).all()
    one = CreditEconomy(1000, "severe_recession", "balanced", seed=2, burn_in=12).run(6)
    assert (one["applications_to_repay"] == 0).all() and (one["approvals_to_repay"] == 0).all()


def _recording_rounds(eco):
    """Record every application round of ``eco``: (applicants, amounts lent, to repay?)."""
    rounds, apply_round = [], eco._apply_round

    def recording(applicants, target, m, at_least=None):
        lent = apply_round(applicants, target, m, at_least)
        rounds.append((applicants.copy(), lent.copy(), at_least is not None))
        return lent

    eco._apply_round = recording
    return rounds


def _lent_to(rounds, n, to_repay):
    lent = np.zeros(n)
    for who, amounts, kind in rounds:
        if kind == to_repay:
            np.add.at(lent, who, amounts)
    return lent


def _watch_cash(eco, rule, read):
    """Wrap the month's ``rule`` to keep ``read(m)`` before and after it, what its rounds lent
    each borrower, and who missed a payment this month."""
    seen, original, rounds = [], getattr(eco, rule), _recording_rounds(eco)

    def watched(m):
        rounds.clear()
        before = read(m).copy()
        original(m)
        lent = _lent_to(rounds, before.size, to_repay=rule != "_originate")
        seen.append((before, read(m).copy(), lent, eco.state.missed.copy()))

    setattr(eco, rule, watched)
    return seen


def test_borrowing_to_repay_asks_for_at_least_the_shortfall():
    """An application to repay asks for the larger of the usual need and the shortfall (7.8).

    The usual need is the borrower's ordinary application of the month (the same keyed
    draw); where the shortfall is larger, the application asks for all of it.
    """
    loose = RiskPolicy.preset("aggressive", sees_other_loans=False)
    eco = CreditEconomy(3000, "severe_recession", [loose, loose.replace(name="b")], seed=2,
                        burn_in=12, population={"borrow_to_repay": True})  # fmt: skip
    asked, applications = [], eco._applications

    def recording(idx, m, at_least, sees_all):
        shown = applications(idx, m, at_least, sees_all)
        if at_least is not None:
            usual = applications(idx, m, None, sees_all).wanted
            asked.append((shown.wanted, at_least, usual))
        return shown

    eco._applications = recording
    eco.run(3)
    wanted, shortfall, usual = (np.concatenate(column) for column in zip(*asked, strict=True))
    assert wanted == pytest.approx(np.maximum(usual, shortfall))
    assert (shortfall > usual).any() and (usual > shortfall).any()  # each side binds


def test_borrowing_to_repay_adds_the_proceeds_to_the_months_cash():
    loose = RiskPolicy.preset("aggressive", sees_other_loans=False)
    eco = CreditEconomy(3000, "severe_recession", [loose, loose.replace(name="b")], seed=2,
                        burn_in=12, population={"borrow_to_repay": True})  # fmt: skip
    seen = _watch_cash(eco, "_borrow_to_repay", lambda m: m.cash)
    eco.run(6)
    assert sum(lent.sum() for _, _, lent, _ in seen) > 0
    for before, after, lent, _ in seen:
        assert after - before == pytest.approx(lent)


def test_those_who_borrow_to_repay_are_every_borrower_short_of_their_dues():
    """Short: dues above the cash collection leaves them (``available_cash``), by 1e-6."""
    from model import repayment

    loose = RiskPolicy.preset("aggressive", sees_other_loans=False)
    eco = CreditEconomy(3000, "severe_recession", [loose, loose.replace(name="b")], seed=2,
                        burn_in=12)  # fmt: skip
    asked, expected = [], []
    choose, borrow = eco._choose_lender, eco._borrow_to_repay

    def noting(idx, m, exclude=None):
        asked.append(idx.copy())
        return choose(idx, m, exclude)

    def borrowing(m):
        assert (m.protected >= 0).all()  # what the shortcut to the short relies on
        everyone = repayment.available_cash(eco.book, eco._squeeze, m.cash, m.protected)
        expected.append(np.flatnonzero(m.total_due - everyone > 1e-6))
        asked.clear()
        borrow(m)
        expected[-1] = (expected[-1], asked[0])

    eco._choose_lender, eco._borrow_to_repay = noting, borrowing
    eco.run(6)
    assert sum(short.size for short, _ in expected) > 0
    for short, chose in expected:
        np.testing.assert_array_equal(chose, short)


def test_new_loans_proceeds_are_kept_by_those_who_missed_a_payment_and_spent_by_others():
    loose = RiskPolicy.preset("aggressive", sees_other_loans=False)
    eco = CreditEconomy(3000, "severe_recession", [loose, loose.replace(name="b")], seed=3,
                        burn_in=12)  # fmt: skip
    seen = _watch_cash(eco, "_originate", lambda m: eco.state.savings)
    eco.run(6)
    missed = []
    for before, after, lent, missed_payment in seen:
        kept = lent * missed_payment
        assert after - before == pytest.approx(kept)
        missed.append(kept.sum())
    assert sum(missed) > 0 and sum(lent.sum() for _, _, lent, _ in seen) > sum(missed)


def test_a_borrower_who_repaid_at_any_lender_reborrows_with_the_reborrow_probability():
    policies = [RiskPolicy.preset("balanced"), RiskPolicy.preset("balanced").replace(name="b")]
    eco = CreditEconomy(3000, "baseline", policies, seed=4, burn_in=24,
                        population={"reborrow_probability": 1.0})  # fmt: skip
    found, applicants = [], model_borrowers.applicants

    def recording(state, params, repaid_any, draws):
        chosen = applicants(state, params, repaid_any, draws)
        repaid = eco._scratch.repaid  # this month's repayments, lender by lender
        found.append((repaid[1] & ~repaid[0]).sum())
        assert np.isin(np.flatnonzero(repaid.any(axis=0)), chosen).all()
        return chosen

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_borrowers, "applicants", recording)
        eco.run(6)
    assert sum(found) > 0  # some repaid at the second lender only


def test_collection_is_charged_on_the_buckets_before_relief():
    """Collection cost is booked on the buckets after settlement and before relief (3, 7.12):
    a loan relieved this month is charged at its overdue stage, not as current."""
    eco = CreditEconomy(2000, "severe_recession", "balanced", seed=1, burn_in=12)
    lender, charged, before_relief = eco.lenders[0], [], []
    collect, grant = lender.collect, model_economy.grant_relief

    def collecting(book):
        charged.append(loans.bucket_counts(book, 0))
        collect(book)

    def granting(lenders, book, at, slots, month, redefaults):
        before_relief.append((loans.bucket_counts(book, 0), int((at == 0).sum())))
        return grant(lenders, book, at, slots, month, redefaults)

    lender.collect = collecting
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_economy, "grant_relief", granting)
        eco.run(6)
    assert sum(granted for _, granted in before_relief) > 0
    for counts, (unrelieved, _) in zip(charged, before_relief, strict=True):
        assert counts.tolist() == unrelieved.tolist()


def test_the_credit_record_shows_a_default_for_36_months_from_91_dpd_or_a_write_off():
    eco = CreditEconomy(3000, "severe_recession", "aggressive", seed=9, burn_in=30)
    damaged = eco.state.record_damaged_until
    for _ in range(6):
        eco.step()
        month, book = eco.month - 1, eco.book
        late = (book.active & (book.dpd >= 4)).any(axis=0)  # 91+ DPD at month end
        defaulted = late | eco._scratch.written_off.any(axis=0)
        assert late.any() and eco._scratch.written_off.any()  # both ways, every month
        assert (damaged[defaulted] == month + 35).all()  # shown this month and 35 more
        assert (damaged[~defaulted] < month + 35).all()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_finished_economies_are_freed():
    """Mesa's class-level agent-id registry must not keep economies alive (sweeps, dashboard)."""
    eco = CreditEconomy(500, seed=1, burn_in=3)
    eco.borrower(3)
    ref = weakref.ref(eco)
    del eco
    gc.collect()
    assert ref() is None


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_memory_stays_flat_over_many_runs_in_one_process():
    def one_run(seed):
        CreditEconomy(5000, "severe_recession", seed=seed, burn_in=6).run(6)

    for seed in range(20):
        one_run(seed)
    gc.collect()
    after_20 = _rss_bytes()
    for seed in range(20, 200):
        one_run(seed)
    gc.collect()
    assert _rss_bytes() <= 1.10 * after_20


def test_the_months_arrays_are_allocated_once_and_forks_get_their_own(monkeypatch):
    """A month's per-borrower arrays are reused month after month (model.month.MonthScratch):
    allocated afresh, their memory was handed back to the system and faulted in again."""
    seen = []
    original = CreditEconomy._end_month

    def end_month(self, m):
        seen.append((id(self), m.cash, m.protected, m.total_due, m.remaining, m.repaid))
        original(self, m)

    eco = CreditEconomy(300, seed=2, burn_in=2)
    monkeypatch.setattr(CreditEconomy, "_end_month", end_month)
    eco.run(2)
    twin = eco.fork()
    twin.run(1)
    first, second, forked = seen
    assert all(a is b for a, b in zip(first[1:], second[1:], strict=True))
    assert not any(a is b for a, b in zip(first[1:], forked[1:], strict=True))


def test_a_fork_stepped_between_months_of_its_original_changes_neither():
    eco = CreditEconomy(1500, "severe_recession", seed=4, burn_in=6)
    alone = CreditEconomy(1500, "severe_recession", seed=4, burn_in=6)
    twin = eco.fork()
    for _ in range(6):
        eco.step()
        twin.step()
        alone.step()
    pd.testing.assert_frame_equal(eco.metrics(), alone.metrics(), check_exact=True)
    pd.testing.assert_frame_equal(twin.metrics(), alone.metrics(), check_exact=True)


def test_recoveries_draw_on_the_cash_left_after_the_months_payments():
    """Written-off debt is paid out of what a debtor has left after this month's dues
    (7.9): the spare cash recoveries see never exceeds cash less the payments made."""
    eco = CreditEconomy(4000, "severe_recession", "aggressive", seed=3, burn_in=24)
    seen, collect = [], eco.recoveries.collect

    def collecting(shares, available, income, remaining):
        seen.append((available.copy(), np.maximum(remaining, 0.0), eco._scratch.total_paid.copy()))
        return collect(shares, available, income, remaining)

    eco.recoveries.collect = collecting
    eco.run(6)
    assert any((paid > 0).any() for *_, paid in seen)
    for available, left_after_dues, _ in seen:
        assert (available >= 0).all()
        assert (available <= left_after_dues + 1e-9).all()


def test_applicants_report_this_months_income_scaled_by_their_misreporting():
    """The affordability test reads the income reported now (income x misreport, 7.16):
    a borrower whose pay fell this month reports the lower pay, not their usual income."""
    eco = CreditEconomy(500, "baseline", "balanced", seed=2, burn_in=3)
    eco.step()
    state, idx = eco.state, np.array([10, 20, 30])
    state.income[idx] = [100.0, 2500.0, 9000.0]
    state.smoothed_income[idx] = 5000.0
    state.misreport[idx] = [1.0, 1.5, 1.2]
    apps = eco._applications(idx, eco._begin_month(), None, True)  # (next month's)
    np.testing.assert_allclose(apps.reported, [100.0, 3750.0, 10800.0])


def test_a_default_this_month_shows_on_the_record_lenders_screen_this_month():
    """Credit records are marked before the month's originations (the schedule, 3): a
    borrower who first reaches 91+ DPD at one lender applies to another with a damaged
    record (with one lender the order cannot show: a borrower holding a loan there does
    not apply)."""
    eco = CreditEconomy(4000, "severe_recession", ["aggressive", "aggressive"], seed=5, burn_in=24)
    seen, applications = [], eco._applications

    def recording(idx, m, at_least, sees_all):
        apps = applications(idx, m, at_least, sees_all)
        if at_least is None:  # the month's originations (borrowing to repay comes earlier)
            seen.append((idx.copy(), apps.damaged.copy()))
        return apps

    eco._applications = recording
    until, fresh = eco.state.record_damaged_until, 0
    for _ in range(6):
        month, before, seen[:] = eco.month, until.copy(), []
        eco.step()
        for idx, damaged in seen:
            newly = (before[idx] < month) & (until[idx] == month + RECORD_MONTHS - 1)
            fresh += int(newly.sum())
            assert damaged[newly].all()
    assert fresh > 0  # some applied in the month they first defaulted


def test_relief_that_waives_everything_owed_closes_the_loan():
    """With the whole arrears waived (relief_waiver = 1, within the lever's range), a
    matured loan relieved owes nothing: it closes (status closed), never stays open at a
    zero balance, still charged servicing and blocking the borrower from that lender."""
    policy = RiskPolicy.preset("balanced", relief_waiver=1.0, term_months=3)
    eco = CreditEconomy(1000, "baseline", policy, seed=1)
    df = eco.run(24)
    open_ = eco.book.active
    assert (np.asarray(eco.book.balance)[open_] > MONEY_TOLERANCE).all()
    tape = eco.loan_tape()
    assert (tape.balance >= 0).all() and (tape.arrears >= 0).all()
    assert df["relief_granted"].sum() > 0
    assert ((tape.status == "closed") & tape.relieved).any()
