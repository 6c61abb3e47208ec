"""The per-agent Mesa reference (benchmarks/mesa_reference.py) against CreditEconomy."""

import math
import statistics

import mesa
import pandas as pd
import pytest

from benchmarks.mesa_reference import BorrowerAgent, LenderAgent, Loan, PerAgentEconomy
from model import EXTRA_COLUMNS, METRIC_COLUMNS, CreditEconomy, RiskPolicy

# Agreement settings: small enough for the test budget, large enough that the seed-to-seed
# spread is a few tenths of a point of overdue rate.
N_BORROWERS, BURN_IN, MONTHS = 5000, 30, 30
SEEDS = (11, 12, 13, 14)


def test_columns_agents_and_determinism():
    eco = PerAgentEconomy(300, "severe_recession", "balanced", seed=5, burn_in=6)
    borrowers = eco.agents_by_type[BorrowerAgent]
    assert len(borrowers) == 300
    assert len(eco.agents_by_type[LenderAgent]) == 1
    agent = borrowers[0]
    assert isinstance(agent, mesa.Agent)
    for name in ("income", "savings", "habit", "literacy", "willingness"):
        assert type(getattr(agent, name)) is float
    assert type(agent.employed) is bool and type(agent.segment) is int
    assert any(isinstance(loan, Loan) for b in borrowers for loan in b.loans)

    df = eco.run(8)
    assert list(df.columns) == [*METRIC_COLUMNS, *EXTRA_COLUMNS]
    assert len(df) == 8 and df["month"].tolist() == list(range(8))
    assert not df.isna().any().any()
    assert (df["active_loans"] > 0).all()
    again = PerAgentEconomy(300, "severe_recession", "balanced", seed=5, burn_in=6).run(8)
    pd.testing.assert_frame_equal(df, again)
    other = PerAgentEconomy(300, "severe_recession", "balanced", seed=6, burn_in=6).run(8)
    assert not df["overdue_rate"].equals(other["overdue_rate"])


def test_same_initial_population_as_credit_economy():
    ref = PerAgentEconomy(200, seed=9, burn_in=0)
    vec = CreditEconomy(200, seed=9, burn_in=0)
    agents = sorted(ref.borrowers, key=lambda a: a.unique_id)
    assert [a.base_income for a in agents] == vec.state.base_income.tolist()
    assert [a.score_error[0] for a in agents] == vec.score_error[0].tolist()
    assert ref.quality_center == pytest.approx(vec._quality_center, rel=1e-6)
    assert ref.quality_scale == pytest.approx(vec._quality_scale, rel=1e-6)


def test_money_identity_per_lender():
    """Balance change = originations + interest + fees - repayments - write-offs - waived."""
    eco = PerAgentEconomy(400, "severe_recession", ["balanced", "aggressive"], seed=2, burn_in=12)
    opening = [lender.balance for lender in eco.lenders]
    eco.run(12)
    for lender, start in zip(eco.lenders, opening, strict=True):
        flows = pd.DataFrame(lender.history)
        change = (
            flows.originations
            + flows.interest_income
            + flows.fee_income
            - flows.repayments
            - flows.writeoffs
            - flows.waived
        ).sum()
        assert lender.balance - start == pytest.approx(change, rel=1e-9, abs=1e-3)


def test_two_lenders_hold_one_loan_each_at_most():
    eco = PerAgentEconomy(400, "baseline", ["balanced", "conservative"], seed=4, burn_in=12)
    df = eco.run(6)
    assert len(df) == 6
    assert all(len(b.loans) == 2 for b in eco.borrowers)
    assert all(
        loan is None or loan.lender.index == j
        for b in eco.borrowers
        for j, loan in enumerate(b.loans)
    )
    assert sum(len(lender.loans) for lender in eco.lenders) == df["active_loans"].iloc[-1]


def test_dynamic_cutoff_rule_tightens():
    policy = RiskPolicy.preset("aggressive", dynamic_overdue_target=0.01, dynamic_step=10.0)
    eco = PerAgentEconomy(400, "severe_recession", policy, seed=1, burn_in=6)
    df = eco.run(6)
    assert df["cutoff"].iloc[-1] > policy.score_cutoff


def _summary(cls, scenario, seed):
    df = cls(N_BORROWERS, scenario, "balanced", seed=seed, burn_in=BURN_IN).run(MONTHS)
    return (
        float(df["overdue_rate"].mean()),
        float(df["cum_net_loss"].iloc[-1] / df["originations"].sum()),
    )


@pytest.fixture(scope="module")
def agreement_runs():
    runs = {}
    for scenario in ("baseline", "severe_recession"):
        for cls in (CreditEconomy, PerAgentEconomy):
            runs[scenario, cls.__name__] = [_summary(cls, scenario, s) for s in SEEDS]
    return runs


def _mean_se(values):
    return statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))


@pytest.mark.parametrize("scenario", ["baseline", "severe_recession"])
@pytest.mark.parametrize(
    ("metric", "column", "floor"),
    [("mean overdue rate", 0, 0.002), ("cum net loss / originations", 1, 0.002)],
)
def test_agrees_with_credit_economy(agreement_runs, scenario, metric, column, floor):
    """Means over seeds agree within 3 combined standard errors (plus a small floor)."""
    vec = [run[column] for run in agreement_runs[scenario, "CreditEconomy"]]
    ref = [run[column] for run in agreement_runs[scenario, "PerAgentEconomy"]]
    (m_vec, se_vec), (m_ref, se_ref) = _mean_se(vec), _mean_se(ref)
    tolerance = 3 * math.hypot(se_vec, se_ref) + floor
    print(
        f"\n{scenario} {metric}: CreditEconomy {m_vec:.4%} (se {se_vec:.4%}), "
        f"PerAgentEconomy {m_ref:.4%} (se {se_ref:.4%}), diff {m_ref - m_vec:+.4%}, "
        f"tolerance {tolerance:.4%}"
    )
    assert abs(m_ref - m_vec) < tolerance


class _Recorder:
    """Wraps a numpy Generator and keeps every array it draws."""

    def __init__(self, gen):
        self.gen, self.draws = gen, []

    def random(self, size=None):
        self.draws.append(self.gen.random(size))
        return self.draws[-1]

    def standard_normal(self, size=None):
        self.draws.append(self.gen.standard_normal(size))
        return self.draws[-1]


class _Replay:
    """Stands in for ``model.random``: serves given uniforms and normals in order."""

    def __init__(self, uniforms=(), normals=()):
        self.uniforms, self.normals = list(uniforms), list(normals)

    def random(self):
        return float(self.uniforms.pop(0))

    def gauss(self, mu, sigma):
        return mu + sigma * float(self.normals.pop(0))


@pytest.mark.parametrize("scenario", ["baseline", "severe_recession"])
def test_same_draws_give_the_same_month(scenario):
    """From one state, with CreditEconomy's own draws, the agents' rules reproduce its month."""
    eco = CreditEconomy(3000, scenario, "balanced", seed=21, burn_in=24)
    eco.run(12)
    ref = PerAgentEconomy.from_credit_economy(eco)
    eco.streams = {name: _Recorder(gen) for name, gen in eco.streams.items()}
    eco.step()
    draws = {name: rec.draws for name, rec in eco.streams.items()}
    (z,), (u_labour,), (u_onset, u_duration), (e,) = (
        draws["macro"],
        draws["labour"],
        draws["illness"],
        draws["income"],
    )
    (u_pay,), (u_contact,), (u_apply, _, need) = (
        draws["repayment"],
        draws["relief"],
        draws["applications"],
    )

    # One month of PerAgentEconomy._advance, each agent's rules fed the same numbers.
    ref._set_month_conditions()
    ref.common_shock = float(z)
    for lender in ref.lenders:
        lender.open_month(ref.macro.policy_rate)
    ref._labour_market_rates()
    for i, agent in enumerate(ref.borrowers):
        ref.random = _Replay([u_labour[i]])
        agent.labour_market()
        ref.random = _Replay([u_onset[i], u_duration[i]])
        fell_ill = agent.illness()
        ref.random = _Replay(normals=[e[i]])
        agent.earn_income()
        cash, protected = agent.spending_needs(fell_ill)
        due = agent.accrue_interest()
        ref.random = _Replay([u_pay[0, i]])
        paid, remaining = agent.pay_loans(cash, protected, due)
        repaid_any = agent.settle_loans(due, paid)
        agent.settle_spending(remaining)
        agent.missed = sum(paid) < sum(due) - 1e-6
        agent.distressed = agent.missed or remaining < protected
        agent.pay_collection_costs()
        ref.random = _Replay([u_contact[i]])
        agent.ask_for_relief()
        agent.write_off()
        agent.age_recoveries()
        ref.random = _Replay([u_apply[i]], [need[i]])
        agent.apply_for_loan(repaid_any)
    for lender in ref.lenders:
        lender.fund(ref.month)
    ref._close_month(record=True)

    s, book = eco.state, eco.book
    for name in ("employed", "ill_months", "income", "savings", "habit", "record_damaged_until"):
        assert [getattr(a, name) for a in ref.borrowers] == pytest.approx(
            getattr(s, name).tolist(), rel=1e-9, abs=1e-6
        ), name
    for field in ("balance", "arrears", "dpd", "months_left", "instalment"):
        mine = [getattr(a.loans[0], field) if a.loans[0] else 0 for a in ref.borrowers]
        theirs = (getattr(book, field)[0] * book.active[0]).tolist()
        assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-6), field
    assert [a.wo_balance[0] for a in ref.borrowers] == pytest.approx(
        book.wo_balance[0].tolist(), rel=1e-9, abs=1e-6
    )
    row_vec, row_ref = eco.metrics().iloc[-1], ref.metrics().iloc[-1]
    assert row_vec["writeoffs"] > 0 and row_vec["relief_granted"] > 0 and row_vec["npl_rate"] > 0
    for column in [*METRIC_COLUMNS, *EXTRA_COLUMNS]:
        assert row_ref[column] == pytest.approx(row_vec[column], rel=1e-9, abs=1e-6), column
