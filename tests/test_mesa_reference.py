"""The per-agent Mesa reference (benchmarks/mesa_reference.py) against CreditEconomy."""

import math
import statistics

import mesa
import numpy as np
import pandas as pd
import pytest

from benchmarks.mesa_reference import BorrowerAgent, LenderAgent, Loan, PerAgentEconomy
from model import EXTRA_COLUMNS, METRIC_COLUMNS, CreditEconomy, RiskPolicy
from model.draws import normal_quantile

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


def _replay_month(eco, ref, draws, reverse=False):
    """One month of ``ref`` (PerAgentEconomy._advance), each agent's rules fed ``eco``'s draws.

    The two phases of the month step the agents in index order, or in reverse order.
    Returns the number of applications to repay made in the month.
    """
    (z,), (u_labour,), (u_onset,), (e,), (u_pay,), (u_apply,) = (
        draws["macro"],
        draws["labour"],
        draws["illness"],
        draws["income"],
        draws["repayment"],
        draws["applications"],
    )
    u_duration, choice, u_need, u_contact = (
        draws["illness_duration"],
        draws["lender_choice"],
        draws["loan_need"],
        draws["relief_contact"],
    )
    need = normal_quantile(u_need)  # CreditEconomy draws the need as a normal quantile
    order = list(enumerate(ref.borrowers))
    if reverse:
        order.reverse()
    ref._set_month_conditions()
    ref.common_shock = float(z)
    for lender in ref.lenders:
        lender.open_month(ref.macro.policy_rate)
    ref._labour_market_rates()
    for i, agent in order:  # phase 1: BorrowerAgent.step_dues
        agent.choice = agent.need = None
        ref.random = _Replay([u_labour[i]])
        agent.labour_market()
        ref.random = _Replay([u_onset[i], u_duration[i]])
        fell_ill = agent.illness()
        ref.random = _Replay(normals=[e[i]])
        agent.earn_income()
        agent.cash, agent.protected = agent.spending_needs(fell_ill)
        agent.due = agent.accrue_interest()
        ref.random = _Replay([choice[i]], [need[i]])
        agent.borrow_to_repay()
    applied_to_repay = sum(lender.accounts["applications"] for lender in ref.lenders)
    for lender in ref.lenders:
        lender.fund(ref.month, to_repay=True)
    for i, agent in order:  # phase 2: BorrowerAgent.step_pay
        # One willingness draw per loan held, in lender order.
        ref.random = _Replay([u_pay[j, i] for j, loan in enumerate(agent.loans) if loan])
        paid, remaining = agent.pay_loans(agent.cash, agent.protected, agent.due)
        repaid_any = agent.settle_loans(agent.due, paid)
        agent.settle_spending(remaining)
        agent.missed = sum(paid) < sum(agent.due) - 1e-6
        agent.distressed = agent.missed or remaining < agent.protected
        agent.pay_collection_costs()
        ref.random = _Replay([u_contact[i]])
        agent.ask_for_relief()
        agent.write_off()
        agent.age_recoveries()
        # The lender choice and the need are the month's draws, shared with phase 1.
        ref.random = _Replay([u_apply[i], choice[i]], [need[i]])
        agent.apply_for_loan(repaid_any)
    for lender in ref.lenders:
        lender.fund(ref.month)
    ref._close_month(record=True)
    return applied_to_repay


def _assert_same_state(eco, ref):
    s, book = eco.state, eco.book
    for name in ("employed", "ill_months", "income", "savings", "habit", "record_damaged_until"):
        assert [getattr(a, name) for a in ref.borrowers] == pytest.approx(
            getattr(s, name).tolist(), rel=1e-9, abs=1e-6
        ), name
    for j in range(len(eco.lenders)):
        assert [a.loans[j] is not None for a in ref.borrowers] == book.active[j].tolist()
        for field in Loan.__slots__[1:]:
            mine = [float(getattr(a.loans[j], field)) if a.loans[j] else 0.0 for a in ref.borrowers]
            theirs = (getattr(book, field)[j] * book.active[j]).astype(float).tolist()
            assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-6), (j, field)
        assert [a.wo_balance[j] for a in ref.borrowers] == pytest.approx(
            book.wo_balance[j].tolist(), rel=1e-9, abs=1e-6
        )
        mine, theirs = ref.lenders[j].history[-1], eco.lenders[j].history[-1]
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            assert mine[key] == pytest.approx(value, rel=1e-9, abs=1e-6), (j, key)
    row_vec, row_ref = eco.metrics().iloc[-1], ref.metrics().iloc[-1]
    for column in [*METRIC_COLUMNS, *EXTRA_COLUMNS]:
        assert row_ref[column] == pytest.approx(row_vec[column], rel=1e-9, abs=1e-6), column


def _step_recording(eco):
    """Step ``eco`` one month; return every array each stream drew, by stream.

    The random-access streams give every borrower's draw of the month (whether or not
    the month asked for it).
    """
    month, everyone = eco.month, np.arange(eco.n_borrowers)
    eco.streams = {name: _Recorder(gen) for name, gen in eco.streams.items()}
    eco.step()
    draws = {name: rec.draws for name, rec in eco.streams.items()}
    draws.update({name: draw(month, everyone) for name, draw in eco.keyed.items()})
    return draws


@pytest.mark.parametrize("scenario", ["baseline", "severe_recession"])
def test_same_draws_give_the_same_month(scenario):
    """From one state, with CreditEconomy's own draws, the agents' rules reproduce its month."""
    eco = CreditEconomy(3000, scenario, "balanced", seed=22, burn_in=24)
    eco.run(12)
    ref = PerAgentEconomy.from_credit_economy(eco)
    draws = _step_recording(eco)
    assert _replay_month(eco, ref, draws) == 0  # one lender: no borrowing to repay
    _assert_same_state(eco, ref)
    row = eco.metrics().iloc[-1]
    assert row["writeoffs"] > 0 and row["relief_granted"] > 0 and row["npl_rate"] > 0


# Two lenders in a severe recession, month 18: dozens of borrowers short of their
# dues apply at the other lender to repay, and a few are funded (checked below).
TWO_LENDERS = ("aggressive", "balanced")


def _two_lender_economy():
    eco = CreditEconomy(3000, "severe_recession", TWO_LENDERS, seed=22, burn_in=24)
    eco.run(18)  # the next month, several loans to repay are made at one lender
    return eco


def _capture_loans_to_repay(eco):
    """Record, per lender, the loans to repay that ``eco`` makes while it steps.

    They are the loans lent by ``CreditEconomy._apply`` with an ``at_least`` floor.
    Returns the (lenders, borrowers) mask, filled in as the economy steps.
    """
    mask = np.zeros_like(eco.book.active)
    apply = eco._apply

    def recording(lender, idx, macro, at_least=None):
        lent = apply(lender, idx, macro, at_least)
        if at_least is not None:
            mask[lender.index, idx[lent > 0]] = True
        return lent

    eco._apply = recording
    return mask


def _bind_funding(eco):
    """Cut one lender's funding limit so the month's loans to repay no longer all fit.

    Which loans those are is learnt from a twin economy; the limit leaves room for all but
    one unit of their total, so the lowest-scored one is refused (best score first).
    Returns the number of loans to repay expected.
    """
    twin = _two_lender_economy()
    new = _capture_loans_to_repay(twin)
    twin.step()
    j = int(new.sum(axis=1).argmax())
    assert new[j].sum() >= 2
    book, lender = eco.book, eco.lenders[j]
    penalty_monthly = lender.policy.penalty_rate / 12
    accrued = book.balance[j] * (1.0 + book.rate[j]) + book.arrears[j] * penalty_monthly
    lender.funding_limit = float(accrued.sum()) + float(twin.book.principal[j, new[j]].sum()) - 1
    return int(new.sum()) - 1


@pytest.mark.parametrize(
    ("reverse", "binding"),
    [(False, False), (True, False), (False, True)],
    ids=["index_order", "reverse_order", "funding_binds"],
)
def test_same_draws_give_the_same_month_two_lenders(reverse, binding):
    """Two lenders, borrowing to repay included; the activation order does not matter."""
    eco = _two_lender_economy()
    expected = _bind_funding(eco) if binding else None
    ref = PerAgentEconomy.from_credit_economy(eco)
    made = _capture_loans_to_repay(eco)
    draws = _step_recording(eco)
    applied_to_repay = _replay_month(eco, ref, draws, reverse=reverse)
    _assert_same_state(eco, ref)
    to_repay = int(made.sum())
    assert ref.loans_to_repay == to_repay > 0
    assert applied_to_repay > 10 * to_repay  # most are refused
    if binding:
        assert to_repay == expected
    row = eco.metrics().iloc[-1]
    assert row["writeoffs"] > 0 and row["relief_granted"] > 0 and row["approvals"] > to_repay


def test_application_to_repay_asks_for_the_shortfall_and_shares_the_draws():
    """Short of dues: apply at the free lender for max(usual need, shortfall); the month's
    lender choice and need draw are reused by the ordinary application."""
    eco = PerAgentEconomy(50, "baseline", ["balanced", "balanced"], seed=3, burn_in=0)
    agent = next(a for a in eco.borrowers if a.loans == [None, None])
    asked = []
    for lender in eco.lenders:
        lender.screen = lambda borrower, score, wanted, *_, j=lender.index: asked.append(
            (j, wanted)
        )
    p = eco.params
    usual = p.loan_need_months * math.exp(-0.5 * p.loan_need_dispersion**2) * agent.smoothed_income
    shortfall = 2 * usual  # larger than the usual need, so it sets the amount asked
    agent.loans[0] = Loan(eco.lenders[0], 10_000.0, 0.01, 0, eco.month)
    agent.cash, agent.protected, agent.due = 1000.0, 0.0, [1000.0 + shortfall, 0.0]
    agent.choice = agent.need = None
    eco.random = _Replay([0.2], [0.0])  # choice 0.2: lender 0 first (held), so lender 1
    agent.borrow_to_repay()
    assert asked == [(1, pytest.approx(shortfall))]
    eco.random = _Replay([0.0])  # the apply draw only: no new choice or need
    agent.apply_for_loan(repaid_any=True)
    assert asked[1] == (1, pytest.approx(usual))
