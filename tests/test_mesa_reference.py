"""The per-agent Mesa reference (benchmarks/mesa_reference.py) against CreditEconomy.

Default suite: the agents and their determinism, the money and capital identities, the
loan tape, and the exact replay of one month (a ``CreditEconomy`` state copied into
agents, fed that economy's own draws) with one and two lenders. Marked slow (run with
``python -m pytest -m slow``): the statistical agreement over seeds at equal settings.

The replay tests do not rely on calibrated outcomes: each steps a twin economy until a
month exercises what the case needs (write-offs, relief, borrowing to repay, ...).
"""

import math
import statistics
from collections.abc import Callable
from types import SimpleNamespace

import mesa
import numpy as np
import pandas as pd
import pytest

from benchmarks.mesa_reference import (
    BOOK_FIELDS,
    MIN_CYCLE_FACTOR,
    BorrowerAgent,
    LenderAgent,
    Loan,
    PerAgentEconomy,
    RecordedDraws,
    speedup,
)
from model import EXTRA_COLUMNS, METRIC_COLUMNS, CreditEconomy, RiskPolicy, loans
from model import borrowers as rules
from model.lender import Lender
from model.loan_book import LOAN_FIELDS
from model.loans import PAYMENT_ORDERS, LoanBook, RedefaultCohorts
from model.macro import MacroState
from model.metrics import FLOW_FIELDS
from model.population import BorrowerState
from model.tape import COLUMNS

TOLERANCE = {"rel": 1e-9, "abs": 1e-6}


# ------------------------------------------------------------------- the agents
def test_agents_loans_columns_and_determinism():
    eco = PerAgentEconomy(300, "severe_recession", "balanced", seed=5, burn_in=6)
    borrowers = eco.agents_by_type[BorrowerAgent]
    assert len(borrowers) == 300 and len(eco.agents_by_type[LenderAgent]) == 1
    agent = borrowers[0]
    assert isinstance(agent, mesa.Agent) and isinstance(eco.lenders[0], Lender)
    for name in ("income", "savings", "habit", "literacy", "willingness"):
        assert type(getattr(agent, name)) is float
    assert type(agent.employed) is bool and type(agent.segment) is int
    assert any(isinstance(loan, Loan) for b in borrowers for loan in b.loans)

    df = eco.run(8)
    assert list(df.columns) == [*METRIC_COLUMNS, *EXTRA_COLUMNS]
    assert df["month"].tolist() == list(range(8)) and eco.steps == 8
    assert not df.isna().any().any() and (df["active_loans"] > 0).all()
    again = PerAgentEconomy(300, "severe_recession", "balanced", seed=5, burn_in=6).run(8)
    pd.testing.assert_frame_equal(df, again, check_exact=True)
    other = PerAgentEconomy(300, "severe_recession", "balanced", seed=6, burn_in=6).run(8)
    assert not df["overdue_rate"].equals(other["overdue_rate"])


def test_same_initial_population_as_credit_economy():
    ref = PerAgentEconomy(200, seed=9, burn_in=0)
    vec = CreditEconomy(200, seed=9, burn_in=0)
    for name in BorrowerState.__slots__:
        assert [getattr(a, name) for a in ref.borrowers] == getattr(vec.state, name).tolist()
    assert [a.score_error[0] for a in ref.borrowers] == vec.score_error[0].tolist()
    assert (ref.quality_center, ref.quality_scale) == (vec._quality_center, vec._quality_scale)


def test_a_loan_has_every_field_of_the_loan_book():
    scratch = {"borrower", "open", "due", "paid"}  # its key and flag, the month's amounts
    assert set(BOOK_FIELDS) == set(LOAN_FIELDS) - scratch | {"active"}
    assert set(BOOK_FIELDS) <= set(Loan.__slots__)


def test_money_and_capital_identities_per_lender():
    """Per lender and month: balance change = originations + interest + fees - repayments -
    write-offs - waived; capital change = profit - dividends; provisions change = charge."""
    eco = PerAgentEconomy(400, "severe_recession", ["balanced", "aggressive"], seed=2, burn_in=12)
    opening = [(lender.balance, lender.capital, lender.provisions) for lender in eco.lenders]
    eco.run(12)
    paid_dividends = []
    for lender, (balance, capital, provisions) in zip(eco.lenders, opening, strict=True):
        flows = pd.DataFrame(lender.history)
        change = (
            flows.originations
            + flows.interest_income
            + flows.fee_income
            - flows.repayments
            - flows.writeoffs
            - flows.waived
        )
        assert lender.balance - balance == pytest.approx(change.sum(), rel=1e-9, abs=1e-3)
        assert flows.balance.iloc[-1] == pytest.approx(lender.balance, rel=1e-12)
        capital_before = np.r_[capital, flows.capital.to_numpy()[:-1]]
        np.testing.assert_allclose(
            flows.capital - capital_before, flows.profit - flows.dividends, atol=1e-6
        )
        provisions_before = np.r_[provisions, flows.provisions.to_numpy()[:-1]]
        np.testing.assert_allclose(
            flows.provisions - provisions_before, flows.provision_charge, atol=1e-6
        )
        paid_dividends.append(bool((flows.dividends > 0).any()))
    assert any(paid_dividends)  # the identity's dividend term is exercised


def test_loan_tape_accounts_for_every_loan():
    eco = PerAgentEconomy(400, "severe_recession", ["balanced", "aggressive"], seed=3, burn_in=12)
    df = eco.run(10)
    tape = eco.loan_tape()
    assert list(tape.columns) == list(COLUMNS)
    assert tape["loan_id"].tolist() == list(range(len(tape)))
    is_open = ~tape["status"].isin(["closed", "written_off"])
    assert is_open.sum() == df["active_loans"].iloc[-1]
    assert tape.loc[is_open, "balance"].sum() == pytest.approx(df["balance"].iloc[-1])
    written_off = tape["status"] == "written_off"
    assert tape.loc[written_off, "written_off"].sum() == pytest.approx(df["writeoffs"].sum())
    assert (tape.loc[~is_open, "closed_month"] >= 0).all()
    assert tape.loc[is_open, "closed_month"].isna().all()
    assert tape["seasoned"].any() and not tape["seasoned"].all()
    assert tape["recovered"].sum() <= df["recoveries"].sum() + 1e-6


def test_two_lenders_hold_one_loan_each_at_most():
    eco = PerAgentEconomy(400, "baseline", ["balanced", "conservative"], seed=4, burn_in=12)
    df = eco.run(6)
    for borrower in eco.borrowers:
        assert len(borrower.loans) == 2
        for j, loan in enumerate(borrower.loans):
            assert loan is None or (loan.lender.index == j and loan.active)
            assert (loan is not None) == (borrower.index in eco.lenders[j].loans)
    assert sum(len(lender.loans) for lender in eco.lenders) == df["active_loans"].iloc[-1]


def test_speedup_reports_both_timings():
    result = speedup(n_borrowers=200, months=2)
    assert result["seconds_per_agent"] > 0 and result["seconds_vectorized"] > 0
    assert result["ratio"] == result["seconds_per_agent"] / result["seconds_vectorized"]


# ------------------------------------------------------- one loan, two codes
MONTH, WINDOW = 30, 12


def _loan_cases(n):
    """``n`` loan states (consistent with a contract or not), policies and payments.

    Drawn at random, often at the edges: months left around maturity, months since
    relief around the re-default window's edge, no arrears or fees, payments of nothing
    or of everything due; both payment orders.
    """
    rng = np.random.default_rng(0)
    policies = [
        RiskPolicy().replace(
            late_fee=rng.uniform(0, 0.2),
            penalty_rate=rng.uniform(0, 0.5),
            payment_order=PAYMENT_ORDERS[k % 2],
            probation_months=int(rng.integers(1, 13)),
            relief_waiver=rng.uniform(0, 1),
            relief_rate_cut=rng.uniform(0, 1),
            relief_extension_months=int(rng.integers(0, 13)),
        )
        for k in range(16)
    ]
    for _ in range(n):
        months = rng.integers(0, 2 * WINDOW)
        arrears = rng.choice([0.0, rng.uniform(0, 3000)])
        fees_due = rng.choice([0.0, rng.uniform(0, 200)])
        state = {
            "balance": rng.uniform(0, 5000) + arrears + fees_due,
            "arrears": arrears,
            "fees_due": fees_due,
            "rate": rng.uniform(0, 0.05),
            "instalment": rng.choice([0.0, rng.uniform(1, 1000)]),
            "months_left": int(rng.choice([0, 1, 2, 12])),
            "dpd": int(rng.integers(0, 8)),
            "forborne": bool(rng.random() < 0.6),
            "regular": int(rng.integers(0, 12)),
            "redefaulted": bool(rng.random() < 0.15),
            "relief_month": MONTH - int(rng.choice([WINDOW - 1, WINDOW, WINDOW + 1, months])),
        }
        yield state, policies[rng.integers(16)], rng.choice([0.0, 1.0, rng.uniform(0, 1)])


def _pair(state, policy):
    """The same loan as a one-slot LoanBook and as a reference Loan (with its lender)."""
    fields = {name: value for name, value in state.items() if name != "active"}
    book = LoanBook.from_dense(np.ones((1, 1), bool), **fields)
    lender = SimpleNamespace(
        index=0,
        policy=policy,
        accounts=dict.fromkeys(FLOW_FIELDS, 0.0),
        fees_first=policy.payment_order == "fees_first",
    )
    fields = {name: getattr(book, name)[0, 0].item() for name in BOOK_FIELDS}
    return book, Loan(lender, 0, **fields)


def _close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def _assert_same_loan(book, loan, case):
    for name in BOOK_FIELDS:
        theirs = getattr(book, name)[0, 0].item()
        assert _close(getattr(loan, name), theirs), (name, case)


def test_loan_month_matches_the_loan_book():
    """Falling due and settling one loan: ``Loan`` and the model's row kernels agree."""
    settled = 0
    for case in _loan_cases(2000):
        state, policy, share = case
        book, loan = _pair(state, policy)
        penalty = policy.penalty_rate / 12
        accrued = loans.fall_due(book, 0, penalty)
        due = book.due[0]
        mine_accrued, mine_due = loan.fall_due(penalty)
        assert _close(mine_accrued, accrued) and _close(mine_due, due[0]), case
        _assert_same_loan(book, loan, case)
        if due[0] <= 0:  # a loan owing nothing is not settled (``_settle_row``)
            continue
        paid = share * due
        book.paid[0] = paid
        theirs_cohorts, mine_cohorts = (RedefaultCohorts(1, 0, 2 * MONTH, WINDOW) for _ in "ab")
        done = loans.settle(
            book,
            0,
            late_fee=policy.late_fee,
            payment_order=policy.payment_order,
            probation_months=policy.probation_months,
            month=MONTH,
            redefaults=theirs_cohorts,
        )
        assert loan.settle(float(paid[0]), MONTH, mine_cohorts) == (0 in done.repaid), case
        _assert_same_loan(book, loan, case)
        a = loan.lender.accounts
        assert _close(a["fee_income"], done.fees), case
        assert _close(a["current_balance"], done.current_balance), case
        assert _close(a["newly_delinquent_balance"], done.newly_delinquent), case
        assert a["redefaults"] == done.redefaulted.size, case
        np.testing.assert_array_equal(mine_cohorts.redefaults, theirs_cohorts.redefaults)
        settled += 1
    assert settled > 1000


def test_relief_matches_the_loan_book():
    for case in _loan_cases(300):
        state, policy, _ = case
        book, loan = _pair(state, policy)
        (waived,) = loans.restructure(
            book,
            0,
            np.array([0]),
            waiver=policy.relief_waiver,
            rate_cut=policy.relief_rate_cut,
            extension=policy.relief_extension_months,
            month=MONTH,
        )
        assert _close(loan.restructure(MONTH), waived), case
        _assert_same_loan(book, loan, case)


@pytest.mark.parametrize(
    ("unemployment", "population"),
    [
        (0.0, {}),  # falling fast: the job-loss floor binds
        (0.55, {"income_common_share": 0.3, "illness_months": 1.0}),  # the income floor binds
    ],
    ids=["recovery", "depression"],
)
def test_first_pass_rules_at_extreme_conditions(unemployment, population):
    """Labour market, illness, income and spending needs of the agents against the model's
    array rules on the same state and draws, two months, at conditions no replay reaches."""
    ref = PerAgentEconomy(2000, "baseline", seed=4, population=population, burn_in=0)
    p, n, start = ref.params, ref.n_borrowers, ref.start_unemployment
    state = BorrowerState(
        **{
            name: np.array([getattr(a, name) for a in ref.borrowers], ref.field_dtypes[name])
            for name in BorrowerState.__slots__
        }
    )
    macro = MacroState(unemployment, 1.02, 1.03, 0.01, illness_factor=5.0)
    ref.scenario = SimpleNamespace(
        state=lambda month: macro, unemployment_rise=lambda month, window: 0.01
    )
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(2):
        draws = {
            "macro": rng.standard_normal(),
            "labour": rng.random(n),
            "illness": rng.random(n),
            "illness_duration": rng.random(n),
            "income": rng.standard_normal(n),
        }
        working = np.bincount(state.segment[state.employed], minlength=3)
        table = rules.labour_market(state, unemployment, start, p, draws["labour"])
        losses.append(float(table[3:] @ working / working.sum()))  # the aggregate loss rate
        duration = draws["illness_duration"].__getitem__
        fell_ill = rules.illness(state, p, macro.illness_factor, draws["illness"], duration)
        gap, cut = max(unemployment - start, 0.0), p.hours_cut * 0.01
        rules.income(state, p, macro, gap, cut, draws["macro"], draws["income"])
        cash, protected = rules.spending_needs(state, p, macro, fell_ill)
        ref.draws = RecordedDraws(draws)
        ref._begin_month()
        ref.hazards = ref._labour_hazards()
        mine_ill = []
        for agent in ref.borrowers:
            agent.labour_market()
            mine_ill.append(agent.illness())
            agent.earn_income()
            agent.spending_needs(mine_ill[-1])
        assert mine_ill == fell_ill.tolist()
        for name in ("employed", "months_unemployed", "ill_months", "income", "smoothed_income"):
            _assert_close([getattr(a, name) for a in ref.borrowers], getattr(state, name), name)
        _assert_close([a.cash for a in ref.borrowers], cash, "cash")
        _assert_close([a.protected for a in ref.borrowers], protected, "protected")
    if unemployment < start:
        floor = p.min_job_loss_share * p.job_finding_rate * start
        assert losses == pytest.approx([floor, floor])
    else:
        gap = unemployment - start
        assert (state.employed & (1.0 - state.cycle_beta * gap < MIN_CYCLE_FACTOR)).any()
    assert fell_ill.any() and (state.ill_months > 0).any()


class _CountingDraws:
    """Draws that count what was asked: every uniform is 0.5, every normal 0."""

    def __init__(self):
        self.asked = []

    def uniform(self, stream, borrower, lender=0):
        self.asked.append(stream)
        return 0.5

    def normal(self, stream, borrower):
        self.asked.append(stream)
        return 0.0


def test_applications_of_a_month_share_its_draws():
    """Short of the dues: apply at a free lender for max(usual need, shortfall); the
    ordinary application of the month reuses the taste, need and term draws."""
    eco = PerAgentEconomy(50, "baseline", ["balanced", "balanced"], seed=3, burn_in=0)
    agent = next(a for a in eco.borrowers if a.loans == [None, None])
    eco.macro = eco.scenario.state(eco.month)
    eco.draws = draws = _CountingDraws()
    p = eco.params
    usual = p.loan_need_months * math.exp(-0.5 * p.loan_need_dispersion**2) * agent.smoothed_income
    agent.loans[0] = Loan(eco.lenders[0], agent.index, balance=1000.0, instalment=100.0)
    agent.cash, agent.protected, agent.due = 1000.0, 0.0, [1000.0 + 2 * usual, 0.0]
    agent._month_draws = {}
    agent.borrow_to_repay()  # a loan at lender 0: lender 1 is the only free one
    agent.apply_at(agent.choose_lender())
    first, second = eco.lenders[1].pending
    assert first.wanted == pytest.approx(2 * usual) and second.wanted == pytest.approx(usual)
    assert first.term_draw == second.term_draw and first.score == second.score
    assert sorted(draws.asked) == ["lender_taste", "lender_taste", "loan_need", "loan_term"]


# ------------------------------------------------------------ the exact replay
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


def _step_recording(eco, step=None):
    """Step ``eco`` one month (with ``step``, default ``eco.step``); return what each
    stream drew (``RecordedDraws``' input).

    Each sequential stream draws once a month; the random-access streams give every
    borrower's draw of the month (whether or not the month asked for it).
    """
    month = eco.month
    eco.streams = {name: _Recorder(gen) for name, gen in eco.streams.items()}
    (step or eco.step)()
    draws = {}
    for name, recorder in eco.streams.items():
        assert len(recorder.draws) <= 1, name
        if recorder.draws:
            draws[name] = np.asarray(recorder.draws[0])
    eco.streams = {name: recorder.gen for name, recorder in eco.streams.items()}
    draws.update({name: draw(month, np.arange(draw.n_draws)) for name, draw in eco.keyed.items()})
    return draws


class _Reversed:
    """Stands in for an AgentSet's ``random``: "shuffles" into reverse creation order."""

    @staticmethod
    def shuffle(items):
        items.reverse()


def _replay(eco, order="shuffled", months=1):
    """Copy ``eco`` into agents; step both ``months`` months, the agents fed ``eco``'s
    draws of each month."""
    ref = PerAgentEconomy.from_credit_economy(eco, seed=7)
    if order == "reversed":
        for agent_type in (BorrowerAgent, LenderAgent):
            ref.agents_by_type[agent_type].random = _Reversed()
    for _ in range(months):
        ref.draws = RecordedDraws(_step_recording(eco))
        ref.step()
    return ref


def _assert_close(mine, theirs, what):
    mine, theirs = np.asarray(mine, float), np.asarray(theirs, float)
    np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-6, err_msg=str(what))


def _assert_same_month(eco, ref, eco_ids=None):
    """State, loans, recoveries, loan tape, lenders, cohorts and metrics agree.

    ``eco_ids`` maps ``eco``'s loan ids to the reference's (default: the same).
    """
    eco_ids = eco_ids or (lambda ids: np.asarray(ids))
    state = eco.state
    for name in BorrowerState.__slots__:
        _assert_close([getattr(agent, name) for agent in ref.borrowers], getattr(state, name), name)
    book = eco.book
    for j in range(len(eco.lenders)):
        held = [agent.loans[j] is not None for agent in ref.borrowers]
        assert held == book.active[j].tolist(), j
        slots = np.flatnonzero(book.active[j])
        loans = [ref.borrowers[i].loans[j] for i in slots]
        relieved = book.relieved[j, slots]
        for name in BOOK_FIELDS:
            mine = np.array([getattr(loan, name) for loan in loans], float)
            theirs = getattr(book, name)[j, slots]
            if name == "loan_id":
                theirs = eco_ids(theirs)
            if name == "relief_month":  # a slot keeps an earlier loan's until relief
                mine, theirs = mine[relieved], theirs[relieved]
            _assert_close(mine, theirs, (j, name))
    rows = sorted(
        (loan.loan_id, loan.lender.index, agent.index, loan.closed_month, loan.horizon, loan.owed)
        for agent in ref.borrowers
        for loan in agent.recoveries
    )
    rec = eco.recoveries
    theirs = sorted(
        zip(
            eco_ids(rec.loan_id).tolist(),
            rec.lender.tolist(),
            rec.borrower.tolist(),
            rec.written_off.tolist(),
            rec.horizon.tolist(),
            rec.owed.tolist(),
            strict=True,
        )
    )
    assert [r[:5] for r in rows] == [r[:5] for r in theirs]
    _assert_close([r[5] for r in rows], [r[5] for r in theirs], "owed")
    mine_tape = ref.loan_tape().set_index("loan_id")
    theirs_tape = eco.loan_tape()
    theirs_tape["loan_id"] = eco_ids(theirs_tape["loan_id"])
    theirs_tape = theirs_tape.set_index("loan_id").loc[mine_tape.index]
    pd.testing.assert_frame_equal(mine_tape, theirs_tape, check_dtype=False, rtol=1e-9, atol=1e-6)
    for mine, theirs in zip(ref.lenders, eco.lenders, strict=True):
        assert mine.history[-1].keys() == theirs.history[-1].keys()
        for key, value in theirs.history[-1].items():
            assert mine.history[-1][key] == pytest.approx(value, **TOLERANCE), (mine.index, key)
        for name in ("tightening", "capital", "failed", "provisions", "cum_net_loss", "_book"):
            assert getattr(mine, name) == pytest.approx(getattr(theirs, name), **TOLERANCE), name
        assert list(mine._flows) == pytest.approx(list(theirs._flows), **TOLERANCE)
    for name in ("granted", "redefaults"):
        mine, theirs = getattr(ref.relief_cohorts, name), getattr(eco.relief_cohorts, name)
        np.testing.assert_array_equal(mine, theirs)
    pd.testing.assert_frame_equal(ref.metrics(), eco.metrics(), rtol=1e-9, atol=1e-6)


class _RecordingEconomy(CreditEconomy):
    """A ``CreditEconomy`` keeping every month's draws (``draws_by_month``), burn-in too."""

    def step(self):
        if not hasattr(self, "draws_by_month"):
            self.draws_by_month = {}
        month = self.month
        self.draws_by_month[month] = _step_recording(self, super().step)


@pytest.mark.parametrize(
    ("scenario", "policies"),
    [
        ("baseline", ["balanced"]),
        ("severe_recession", ["balanced", "aggressive"]),
        # relief that waives all arrears settles (and closes) matured loans
        ("severe_recession", [RiskPolicy.preset("balanced", relief_waiver=1.0, term_months=3)]),
    ],
    ids=["one_lender", "two_lenders", "settling_relief"],
)
def test_a_whole_run_replays_exactly(scenario, policies):
    """Fed a CreditEconomy's draws every month, burn-in and end of burn-in included, the
    agents reproduce the whole run."""
    n, burn_in, months = 1500, 24, 24
    eco = _RecordingEconomy(n, scenario, policies, seed=31, burn_in=burn_in)
    eco_ids = _documented_ids(eco)
    eco.run(months)
    recorded = eco.draws_by_month
    ref = PerAgentEconomy(
        n, scenario, policies, seed=31, burn_in=burn_in, draws=lambda m: RecordedDraws(recorded[m])
    )
    ref.run(months)
    _assert_same_month(eco, ref, eco_ids)
    assert ref.steps == eco.steps == months


def _documented_ids(eco):
    """At month 0: a map of ``eco``'s loan ids to the ids its tape documents (the loans
    open at month 0 first, in order; the loans closed in the burn-in dropped, -1).

    The identity if ``LoanTape.drop_closed`` dropped the loans closed in the burn-in.
    """
    size, opened = len(eco.tape), np.sort(eco.book.loan_id[eco.book.active])

    def documented(ids):
        ids = np.asarray(ids, np.int64)
        out = np.full(ids.shape, -1, np.int64)
        later = ids >= size
        out[later] = ids[later] - size + opened.size
        early = np.flatnonzero((ids >= 0) & ~later)
        at = np.searchsorted(opened, ids[early]).clip(max=max(opened.size - 1, 0))
        found = opened[at] == ids[early]
        out[early[found]] = at[found]
        return out

    return documented


def test_loan_tape_at_month_0_holds_the_open_loans_only():
    """As ``model.tape`` documents: the loans closed in the burn-in are dropped."""
    ref = PerAgentEconomy(400, "baseline", "balanced", seed=31, burn_in=24)
    assert sorted(ref.tape) == list(range(sum(len(lender.loans) for lender in ref.lenders)))
    assert all(loan.active for loan in ref.tape.values())


def test_credit_economy_tape_at_month_0_holds_the_open_loans_only():
    """At the end of the burn-in the tape keeps the loans open then, as the reference's does."""
    eco = CreditEconomy(400, "baseline", "balanced", seed=31, burn_in=24)
    assert len(eco.tape) == np.count_nonzero(eco.book.active)


N_REPLAY, BURN_IN_REPLAY = 3000, 24


def _economy_before(policies, scenario, wanted: Callable[[CreditEconomy], bool], first=6):
    """A ``CreditEconomy`` at the start of the first month from ``first`` whose step
    satisfies ``wanted`` (a test on the economy just after the month; ``expiring`` holds
    the number of written-off loans the month took past their recovery horizon)."""
    twin = CreditEconomy(N_REPLAY, scenario, policies, seed=22, burn_in=BURN_IN_REPLAY)
    twin.run(first)
    for lender in twin.lenders:
        _record_floor(lender)
    for _ in range(36):
        month, rec = twin.month, twin.recoveries
        twin.expiring = np.count_nonzero(month + 1 - rec.written_off >= rec.horizon)
        for lender in twin.lenders:
            lender.floor_bound = False
        twin.step()
        if wanted(twin):
            eco = CreditEconomy(N_REPLAY, scenario, policies, seed=22, burn_in=BURN_IN_REPLAY)
            eco.run(month)
            return eco
    pytest.fail(f"no month from {first} to {twin.month - 1} exercises the case")


def _record_floor(lender):
    """Note in ``lender.floor_bound`` when the approval floor loosens the cut-off."""
    cutoff_for = lender.cutoff_for

    def recording(score):
        cutoff = cutoff_for(score)
        lender.floor_bound = lender.floor_bound or cutoff < lender.cutoff
        return cutoff

    lender.cutoff_for = recording


def _last_row(eco):
    return eco.metrics().iloc[-1]


def _services(twin, expiry=True):
    """The month had write-offs, relief, re-defaults and 90+ DPD loans, and (``expiry``)
    written-off loans reached their recovery horizon."""
    row = _last_row(twin)
    keys = ("writeoffs", "relief_granted", "redefaults", "npl_rate")
    return all(row[k] > 0 for k in keys) and (twin.expiring > 0 or not expiry)


#: One lender with a term mix, arrears paid before fees, a dynamic rule tight enough to
#: hit its approval floor, and written-off loans pursued for 6 months (so some expire).
VARIANT = RiskPolicy.preset("balanced").replace(
    name="variant",
    term_mix=((3, 0.2), (12, 0.5), (36, 0.3)),
    payment_order="arrears_first",
    dynamic_target=0.004,
    recovery_months=6,
)


@pytest.mark.parametrize(
    ("scenario", "policy"), [("baseline", "balanced"), ("severe_recession", VARIANT)]
)
def test_same_draws_give_the_same_month_one_lender(scenario, policy):
    """From one state, with CreditEconomy's own draws, the agents reproduce its months
    (the first one chosen for what it exercises, then two more)."""

    def wanted(twin):
        if policy is VARIANT:
            return _services(twin) and twin.lenders[0].floor_bound
        return _services(twin, expiry=False)  # recoveries pursued for 36 months

    eco = _economy_before([policy], scenario, wanted)
    first = eco.month
    ref = _replay(eco, months=3)
    _assert_same_month(eco, ref)
    if policy is VARIANT:
        assert ref.lenders[0].tightening > 0
        terms = {loan.term for loan in ref.tape.values() if loan.vintage >= first}
        assert len(terms) > 1


#: Two lenders: a bank, and a platform blind to other lenders' loans with a term mix and
#: a 12-month recovery horizon; equal collection intensity, so payment order ties are
#: broken at random.
P2P = RiskPolicy.preset("aggressive").replace(
    name="p2p",
    collection_intensity=0.6,
    sees_other_loans=False,
    term_mix=((6, 0.5), (24, 0.5)),
    recovery_months=12,
)
TWO_LENDERS = ["balanced", P2P]


def _two_lender_month(twin):
    """Write-offs, relief, dividends, and at least two loans to repay at one lender."""
    history = twin.lender_history()
    last = history[history["month"] == history["month"].max()]
    return (
        _services(twin)
        and _last_row(twin)["dividends"] > 0
        and last["approvals_to_repay"].max() >= 2
    )


@pytest.fixture(scope="module")
def two_lender_month():
    """The month (number of months to run) the two-lender cases replay."""
    return _economy_before(TWO_LENDERS, "severe_recession", _two_lender_month).month


def _two_lender_economy(month):
    eco = CreditEconomy(N_REPLAY, "severe_recession", TWO_LENDERS, seed=22, burn_in=24)
    eco.run(month)
    return eco


def _capture_loans_to_repay(eco):
    """The (lenders, borrowers) mask of the loans to repay ``eco`` makes while it steps."""
    mask = np.zeros_like(eco.book.active)
    apply_round = eco._apply_round

    def recording(applicants, target, m, at_least=None):
        lent = apply_round(applicants, target, m, at_least)
        if at_least is not None:
            mask[target[lent > 0], applicants[lent > 0]] = True
        return lent

    eco._apply_round = recording
    return mask


def _bind_funding(eco, month):
    """Cut a lender's funding limit so the month's loans to repay no longer all fit.

    Which loans those are, and the lender's balance when it decides, come from a twin;
    the limit leaves room for all but one unit of them, so the lowest-scored one is
    refused (best score first). Returns the lender's index.
    """
    twin = _two_lender_economy(month)
    made = _capture_loans_to_repay(twin)
    balance = {}
    borrow_to_repay = twin._borrow_to_repay

    def noting_balances(m):
        balance.update({j: float(twin.book.balance[j].sum()) for j in range(2)})
        borrow_to_repay(m)

    twin._borrow_to_repay = noting_balances
    twin.step()
    j = int(made.sum(axis=1).argmax())
    lent = float(twin.book.principal[j, made[j]].sum())
    eco.lenders[j].funding_limit = eco.lenders[j].funding_line = balance[j] + lent - 1.0
    return j, int(made[j].sum())


@pytest.mark.parametrize("case", ["shuffled", "reversed", "funding_binds", "capital_binds"])
def test_same_draws_give_the_same_month_two_lenders(two_lender_month, case):
    """Two lenders, borrowing to repay included, in any activation order (``shuffled``
    replays three months, the others one).

    ``funding_binds``: one lender cannot fund all its loans to repay (best score first).
    ``capital_binds``: one lender starts the month below its minimum capital ratio (it
    stops lending, and applicants choose the other) with no loss allowance held, so the
    month's provisions charge wipes out its equity and it fails.
    """
    eco = _two_lender_economy(two_lender_month)
    both_current = np.count_nonzero(eco.book.active.all(axis=0) & (eco.book.dpd == 0).all(axis=0))
    assert both_current > 0  # equal collection stages: the tie-break orders the payments
    if case == "funding_binds":
        j, to_repay = _bind_funding(eco, two_lender_month)
    if case == "capital_binds":
        eco.lenders[1].capital, eco.lenders[1].provisions = 1.0, 0.0
        assert not eco.lenders[1].can_lend
    made = _capture_loans_to_repay(eco)
    months = 3 if case == "shuffled" else 1
    ref = _replay(eco, order="reversed" if case == "reversed" else "shuffled", months=months)
    _assert_same_month(eco, ref)
    rows = [lender.history[-1] for lender in ref.lenders]
    replayed = [row for lender in ref.lenders for row in lender.history[-months:]]
    assert sum(row["approvals_to_repay"] for row in replayed) == made.sum()
    if case == "funding_binds":
        assert rows[j]["approvals_to_repay"] == to_repay - 1
    if case == "capital_binds":
        # applicants go to the lender that lends
        assert rows[1]["approvals"] == rows[1]["applications"] == 0 < rows[0]["applications"]
        assert ref.lenders[1].failed and rows[1]["failed_lenders"] == 1
    else:
        assert made.sum() > 0


# ------------------------------------------------------- statistical agreement
# Paired runs: with the same seed both models start from the same population and score
# errors, and only the monthly draws differ. Small enough for the slow suite, with enough
# seeds that the spread of the paired differences is estimated with 7 degrees of freedom.
N_BORROWERS, BURN_IN, MONTHS = 1500, 24, 24
SEEDS = tuple(range(11, 19))
#: t quantile (two-sided 99%, 7 degrees of freedom) on the paired differences' s.e.
T_99 = 3.5
CONFIGS = {
    "baseline": ("baseline", "balanced"),
    "severe": ("severe_recession", "balanced"),
    "two lenders": ("severe_recession", ["balanced", "aggressive"]),
}
#: Compared per run: a value of the run's frame, and a floor on the tolerance.
AGREEMENT = {
    "mean overdue rate": (lambda df: df["overdue_rate"].mean(), 0.002),
    "cum net loss / originations": (
        lambda df: df["cum_net_loss"].iloc[-1] / df["originations"].sum(),
        0.002,
    ),
    "mean new-delinquency rate": (lambda df: df["new_delinquency_rate"].mean(), 0.002),
    "mean forborne share": (lambda df: df["forborne_share"].mean(), 0.002),
    "approval rate": (lambda df: df["approvals"].sum() / df["applications"].sum(), 0.005),
}


@pytest.fixture(scope="module")
def agreement_runs():
    runs = {}
    for config, (scenario, policy) in CONFIGS.items():
        for cls in (CreditEconomy, PerAgentEconomy):
            runs[config, cls.__name__] = [
                cls(N_BORROWERS, scenario, policy, seed=seed, burn_in=BURN_IN).run(MONTHS)
                for seed in SEEDS
            ]
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("metric", list(AGREEMENT))
def test_agrees_with_credit_economy(agreement_runs, config, metric):
    """The mean paired difference is within 3.5 of its standard errors (plus a floor)."""
    value, floor = AGREEMENT[metric]
    vec = [value(df) for df in agreement_runs[config, "CreditEconomy"]]
    ref = [value(df) for df in agreement_runs[config, "PerAgentEconomy"]]
    diff = [r - v for r, v in zip(ref, vec, strict=True)]
    mean, se = statistics.fmean(diff), statistics.stdev(diff) / math.sqrt(len(diff))
    tolerance = T_99 * se + floor
    print(
        f"\n{config} {metric}: CreditEconomy {statistics.fmean(vec):.4%}, PerAgentEconomy "
        f"{statistics.fmean(ref):.4%}, paired diff {mean:+.4%} (se {se:.4%}), "
        f"tolerance {tolerance:.4%}"
    )
    assert abs(mean) < tolerance


@pytest.mark.parametrize(
    ("kwargs", "lever"),
    [
        ({"market": {"reapply_share": 0.5}}, "reapply_share"),
        ({"policy": ["balanced", RiskPolicy.preset("balanced", share_target=0.5)]}, "share_target"),
    ],
)
def test_the_reference_refuses_rules_it_does_not_write(kwargs, lever):
    """It would silently diverge from the model: it says so instead."""
    args = {"n_borrowers": 50, "seed": 1, "burn_in": 0, **kwargs}
    with pytest.raises(ValueError, match=lever):
        PerAgentEconomy(**args)
