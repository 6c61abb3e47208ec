"""Property tests over random populations, policies and scenarios (hypothesis)."""

from types import SimpleNamespace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import CreditEconomy, MacroScenario, RiskPolicy

policies = st.builds(
    lambda preset, cutoff, dti, lti, wo, coll, relief, pen, fee, target: RiskPolicy.preset(
        preset,
        score_cutoff=cutoff,
        max_dti=dti,
        max_loan_to_income=lti,
        writeoff_dpd=wo,
        collection_intensity=coll,
        relief_enabled=relief,
        penalty_rate=pen,
        late_fee=fee,
        dynamic_target=target,
    ),
    st.sampled_from(RiskPolicy.names()),
    st.floats(450, 750),
    st.floats(0.1, 1.0),
    st.floats(0.5, 12),
    st.sampled_from([90, 120, 150, 180, 360]),
    st.floats(0, 1),
    st.booleans(),
    st.floats(0, 1),
    st.floats(0, 0.5),
    st.one_of(st.none(), st.floats(0.01, 0.2)),
).flatmap(
    lambda p: st.builds(
        p.replace,
        payment_order=st.sampled_from(["fees_first", "arrears_first"]),
        term_mix=st.sampled_from([None, ((3, 0.3), (12, 0.5), (36, 0.2))]),
        probation_months=st.integers(1, 24),
        capital_ratio=st.floats(0.06, 0.3),
    )
)
scenarios = st.builds(
    lambda name, severity: MacroScenario.preset(name, months=15, severity=severity),
    st.sampled_from(MacroScenario.names()),
    st.floats(0, 3),
)
populations = st.fixed_dictionaries(
    {
        "savings_months": st.floats(0, 6),
        "income_common_share": st.floats(0, 0.9),
        "overspender_share": st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
        "misreport_share": st.floats(0, 1),
        "apply_rate": st.floats(0, 0.3),
    }
)


def _snapshot(eco):
    """The book's fields as dense (lenders, borrowers) arrays (0 where no loan)."""
    b = eco.book
    names = ("dpd", "balance", "months_left", "loan_id", "arrears", "fees_due", "instalment")
    return {"active": b.active.copy(), **{k: np.asarray(getattr(b, k)) for k in names}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies,
    second=st.one_of(st.none(), policies),
    scenario=scenarios,
    population=populations,
    seed=st.integers(0, 2**32 - 1),
)
def test_accounts_balance_and_states_stay_legal(policy, second, scenario, population, seed):
    lenders = [policy] if second is None else [policy, second.replace(name="second")]
    eco = CreditEconomy(300, scenario, lenders, seed=seed, burn_in=3, population=population)
    opening = eco.book.balance.sum(axis=1)
    for _ in range(15):
        before = _snapshot(eco)
        eco.step()
        b = SimpleNamespace(**_snapshot(eco))
        for arr in (b.balance, b.arrears, b.fees_due, eco.state.savings, eco.state.income):
            assert np.all(np.isfinite(arr)) and np.all(arr >= 0)
        assert np.all(b.balance >= b.arrears + b.fees_due - 1e-6)
        # Contractual DPD: 30 days per instalment due and unpaid before maturity; after
        # maturity the oldest unpaid instalment keeps ageing.
        unpaid = np.ceil(
            np.where(b.arrears > 1e-6, b.arrears / np.maximum(b.instalment, 1e-12) - 1e-9, 0)
        )
        running = b.active & (b.months_left > 0)
        assert np.array_equal(b.dpd[running], unpaid[running])
        matured = b.active & (b.months_left == 0)
        assert np.all(b.dpd[matured] >= (b.arrears[matured] > 1e-6))
        assert np.all(b.dpd[b.active & (b.arrears == 0)] == 0)
        # DPD moves up by at most a month.
        kept = before["active"] & (b.loan_id == before["loan_id"])
        assert np.all(b.dpd[kept] <= before["dpd"][kept] + 1)
        # Write-offs only at the policy's DPD, with that many instalments unpaid unless
        # the loan had matured.
        tape = eco.loan_tape()
        written = tape[(tape.status == "written_off") & (tape.closed_month == eco.month - 1)]
        for lender in eco.lenders:
            months = lender.policy.writeoff_dpd // 30
            rows = written[written.lender == lender.index]
            assert (rows.dpd >= 30 * months).all()
            for row in rows.itertuples():
                if before["months_left"][lender.index, row.borrower] > 1:
                    assert np.ceil(row.arrears / row.instalment - 1e-9) >= months
    df = eco.metrics()
    rates = [
        "overdue_rate",
        "overdue_rate_30",
        "npl_rate",
        "overdue_balance_rate",
        "approval_rate",
        "forborne_share",
        "overdue_rate_underlying",
        "redefault_rate",
        "new_delinquency_rate",
    ]
    assert ((df[rates] >= 0) & (df[rates] <= 1)).all().all()
    assert (df.overdue_rate_underlying >= df.overdue_rate - 1e-12).all()
    # every metric is defined, but the capital ratio without a book (equity over nothing)
    assert not df.drop(columns="capital_ratio").isna().any().any()
    assert (df["capital_ratio"].isna() == (df["balance"] == 0)).all()
    # Money identity per lender and month.
    hist = eco.lender_history()
    for lender in eco.lenders:
        h = hist[hist.lender == lender.index]
        prev = np.concatenate([[opening[lender.index]], h["balance"].to_numpy()[:-1]])
        flows = (
            h["originations"]
            + h["interest_income"]
            + h["fee_income"]
            - h["repayments"]
            - h["writeoffs"]
            - h["waived"]
        ).to_numpy()
        np.testing.assert_allclose(h["balance"].to_numpy() - prev, flows, rtol=1e-9, atol=1e-6)
        # Equity: moved by profit and dividends only; never above the target (the ratio of
        # the book, or of the book it started with while the book is smaller).
        capital = h["capital"].to_numpy()
        base = opening[lender.index] if opening[lender.index] > 0 else lender.funding_limit
        start = lender.policy.capital_ratio * base
        prev_capital = np.concatenate([[start], capital[:-1]])
        np.testing.assert_allclose(
            capital - prev_capital, (h["profit"] - h["dividends"]).to_numpy(), rtol=1e-9, atol=1e-6
        )
        alive = ~h["failed_lenders"].astype(bool).to_numpy()
        target = lender.policy.capital_ratio * np.maximum(h["balance"].to_numpy(), base)
        assert np.all(capital[alive] <= target[alive] + 1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(MacroScenario.names()[1:]))
def test_more_severe_scenario_does_not_lower_losses(seed, name):
    losses = []
    for severity in (0.5, 2.0):
        sc = MacroScenario.preset(name, months=36, severity=severity)
        df = CreditEconomy(4000, sc, "balanced", seed=seed, burn_in=24).run(36)
        losses.append(df["writeoffs"].sum() / max(df["originations"].sum(), 1.0))
    assert losses[1] >= losses[0] * 0.9  # same seed: only noise could reverse the order


@settings(max_examples=50, deadline=None)
@given(
    levels=st.lists(st.floats(0.02, 0.3), min_size=2, max_size=6),
    window=st.integers(1, 12),
    cut=st.floats(0.0, 5.0),
    month=st.integers(-5, 40),
)
def test_hours_cut_reads_only_the_past_and_the_rise(levels, window, cut, month):
    """The hours cut is cut x the rise of unemployment over the window (0 if it fell), and
    a month's cut does not depend on the path after that month."""
    from model.borrowers import hours_cut
    from model.population import PopulationParams

    knots = [(6 * k, u) for k, u in enumerate(levels)]
    months = 6 * len(levels)
    path = MacroScenario.from_knots("p", months, unemployment=knots)
    params = PopulationParams(hours_cut=cut, hours_window=window)
    value = hours_cut(path, month, params)
    u = path.unemployment
    now, before = (u[min(max(t, 0), months - 1)] for t in (month, month - window))
    assert value >= 0.0
    assert value == (cut * (now - before) if now > before else 0.0)
    if 0 <= month < months - 1:
        head = MacroScenario.from_knots("p", month + 1, unemployment=knots)
        assert hours_cut(head, month, params) == value
