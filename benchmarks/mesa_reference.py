"""Per-agent reference implementation of :class:`model.CreditEconomy`, in plain Mesa.

``PerAgentEconomy`` runs the monthly rules of ``CreditEconomy`` the way a textbook Mesa
model would: every borrower is a ``mesa.Agent`` holding its own state as Python floats,
ints and bools and its loans as :class:`Loan` objects, and the agents are stepped one at
a time with ``shuffle_do``. No numpy array spans the population on the monthly path.

It exists for two reasons:

* **Speed.** :func:`speedup` times both models at equal settings, so the gain of the
  structure-of-arrays ``CreditEconomy`` is measured against an honest per-agent baseline.
* **Cross-checking the rules.** At equal settings the two models agree within sampling
  error; the draws differ (here one Python ``random.Random`` stream, Mesa's
  ``model.random``, drawn per agent when a rule needs a draw: :class:`RandomDraws`). For
  an exact check, :class:`RecordedDraws` serves the agents a ``CreditEconomy``'s own
  draws of a month: given them every month (``PerAgentEconomy(..., draws=...)``) the
  agents reproduce a whole run to rounding, burn-in included; from a state copied by
  :meth:`PerAgentEconomy.from_credit_economy`, any month, in any activation order
  (``tests/test_mesa_reference.py``).

**The month.** The rules run in the order of ``CreditEconomy.step``. The rules that
couple borrowers (the labour-market hazards, a lender's funding limit and approval floor
over its applicants, the lenders' accounts) run at model level between passes over the
borrowers:

1. Model: the month's macro conditions and common income factor; the lenders open their
   accounts; the labour-market hazards by segment (from the counts of the population).
2. ``BorrowerAgent.step_dues``: labour market, illness, income, the loans' instalments
   fall due, spending needs; with several lenders a borrower short of their dues applies
   at a lender where they hold no loan, for at least the shortfall.
3. The lenders decide on those applications (``LenderAgent.fund``); the proceeds add to
   this month's cash.
4. ``BorrowerAgent.step_pay``: dues paid (the lender pressing hardest first, ties at
   random), recoveries on written-off loans, settlement, spending and saving.
5. ``LenderAgent.service``: graded collection, relief, write-off, credit records.
6. ``BorrowerAgent.step_apply``: written-off loans past their recovery horizon dropped;
   the month's application.
7. The lenders decide on the applications and close their accounts; the market's row.

Each pass steps the agents in a fresh random order. Within a pass no agent's step
depends on another's: lenders only queue applications, and decide between passes in
borrower order, so the month's outcome does not depend on the activation order (up to
the order of floating-point sums in the lenders' accounts). Roll rates and vintage
curves (observers, not rules) are not kept.

**Shared with model/** (the same code, not a copy): the parameter classes, the module
constants and the argument checks (``resolve_inputs``); the initial population
(``init_population`` on the streams ``CreditEconomy`` seeds by name) and the quality
normalisation over it; one loan's contractual rules ``unpaid_instalments``,
``allocate_payment``, ``next_dpd``, ``annuity_payment``, ``annuity_factor``; the
borrower rules ``true_quality`` and ``asks_for_relief`` (called on a one-row
``BorrowerState``, :class:`OneBorrower`); ``pay_threshold``, ``recovery_share``,
``normal_quantile``; the lender choice's logit (``market.utilities`` and
``market.choose_lenders``, fed one borrower's column); the re-default cohorts
(``RedefaultCohorts``); and the lender:
``LenderAgent`` *is* the model's ``Lender``, so scoring, the cut-off in force and the
dynamic rule's approval floor, the capital tests, relief reach and candidates, opening
the month, graded collection, and closing the month (provisions with the forborne stage
rule, profit, capital, dividends, minimum ratio, failure, the flow-based dynamic rule,
``book_measures`` and ``derive``) run the model's own methods on the lender's loans
viewed as a ``LoanBook`` (:meth:`LenderAgent.book_view`). Market rows use ``combine``;
``run``, ``metrics`` and ``lender_history`` are ``CreditEconomy``'s.

**Written twice** (the model's code for these runs over whole arrays, with in-place
updates, masks and aggregates fused with per-borrower steps, so it cannot be called on
one agent): the per-loan glue of ``loans.fall_due``, ``loans.settle`` and
``loans.restructure`` (the numba row kernels' loop bodies); the labour-market hazards
and moves, illness, income, spending and saving, available cash, the payment order and
the willingness test, the recovery take, the application probability and which lenders
are free to choose; screening, sizing, pricing, term choice and funding order of
``Lender.originate``; the write-off and credit-record tests; the market row's economy
columns. The market's rules (``MarketRules``) apply as in the model (the APR cap, the
funding line, collection caps through ``stage_effects``, the shared bureau), except a
failed lender's borrowers defaulting strategically, which is not written here, nor are
same-month re-application (``reapply_share``) and the competition rule (``share_target``),
which it refuses. The
inline numbers of that code (0.95, 1e-6 and 1e-12 in the labour market,
the 120-month illness cap, the 0.05 income floor) are repeated here.
"""

from __future__ import annotations

import bisect
import math
import operator
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import mesa
import numpy as np
import pandas as pd

from model import borrowers as rules
from model import market as market_rules
from model._agent_ids import MODEL_IDS
from model.draws import normal_quantile, stream_seed
from model.economy import DEFAULT_BURN_IN, CreditEconomy, resolve_inputs
from model.lender import RECORD_MONTHS, Lender
from model.loans import (
    DEFAULT_DPD_MONTHS,
    MONEY_TOLERANCE,
    LoanBook,
    RedefaultCohorts,
    allocate_payment,
    annuity_factor,
    annuity_payment,
    next_dpd,
    unpaid_instalments,
)
from model.macro import MacroScenario
from model.market import MarketMemory, MarketRules
from model.metrics import combine
from model.origination import MIN_LOAN, SUBPRIME_BELOW, TIER_BOUNDS
from model.policy import RiskPolicy
from model.population import BorrowerState, PopulationParams, init_population
from model.repayment import pay_threshold, recovery_share
from model.tape import COLUMNS, DPD_BUCKETS, STATUSES, dpd_bucket_codes

SCENARIO_FOR_SPEEDUP = "severe_recession"

#: The fields of a loan in a ``model.loans.LoanBook`` (``active``: held; not its key and
#: flag, nor the month's ``due`` and ``paid``), one attribute each on a :class:`Loan`.
BOOK_FIELDS = (
    "active",
    "loan_id",
    "balance",
    "arrears",
    "fees_due",
    "principal",
    "rate",
    "instalment",
    "term",
    "months_left",
    "dpd",
    "age",
    "vintage",
    "tier",
    "relieved",
    "forborne",
    "regular",
    "redefaulted",
    "relief_month",
)
_book_fields_of = operator.attrgetter(*BOOK_FIELDS)
#: Longest illness, months (``borrowers.illness``).
MAX_ILLNESS_MONTHS = 120
#: Floor on the business-cycle factor of income (``borrowers.income``).
MIN_CYCLE_FACTOR = 0.05


# --------------------------------------------------------------------------- draws
class RandomDraws:
    """The agents' draws from one Python ``random.Random`` (Mesa's ``model.random``).

    Each draw is taken when a rule needs it, in activation order; the stream and
    borrower arguments only name the draw.
    """

    def __init__(self, rng: random.Random) -> None:
        self._random, self._gauss = rng.random, rng.gauss

    def common_factor(self) -> float:
        """The month's common income factor Z ~ N(0, 1)."""
        return self._gauss(0.0, 1.0)

    def uniform(self, stream: str, cell: int) -> float:
        """A U(0, 1) draw."""
        return self._random()

    def normal(self, stream: str, borrower: int) -> float:
        """A N(0, 1) draw."""
        return self._gauss(0.0, 1.0)


class RecordedDraws:
    """One month's draws of a ``CreditEconomy``, served to the agents by stream and index.

    Args:
        draws: Stream name (``model.draws.STREAMS`` and ``KEYED_STREAMS``) -> what it drew
            in the month: ``"macro"`` the common factor, ``"income"`` its array (one per
            borrower), the random-access streams every cell's draw of the month (one per
            borrower, or per borrower and lender: cell ``borrower * lenders + lender``).
    """

    def __init__(self, draws: Mapping[str, Any]) -> None:
        self._draws = draws

    def common_factor(self) -> float:
        """The month's common income factor."""
        return float(self._draws["macro"])

    def uniform(self, stream: str, cell: int) -> float:
        """The month's draw of ``stream`` at ``cell`` (a borrower, or a loan slot)."""
        return float(self._draws[stream][cell])

    def normal(self, stream: str, borrower: int) -> float:
        """Borrower ``borrower``'s draw of a normal stream."""
        return float(self._draws[stream][borrower])


# --------------------------------------------------------------------------- loans
class Loan:
    """One amortising instalment loan: the fields of a ``LoanBook`` slot and of a tape row.

    Besides :data:`BOOK_FIELDS`: ``lender`` (the ``LenderAgent``), ``borrower`` (its
    index), the tape's ``annual_rate`` at origination, ``status`` (open, closed or
    written_off), ``closed_month``, ``written_off``, ``recovered`` and ``waived``; after a
    write-off, ``owed`` and ``horizon`` (months pursued) of its recovery.
    """

    __slots__ = (
        *BOOK_FIELDS,
        "lender",
        "borrower",
        "annual_rate",
        "status",
        "closed_month",
        "written_off",
        "recovered",
        "waived",
        "owed",
        "horizon",
    )

    def __init__(self, lender: LenderAgent, borrower: int, **fields: Any) -> None:
        self.active, self.loan_id = True, -1
        self.balance = self.arrears = self.fees_due = self.principal = 0.0
        self.rate = self.instalment = 0.0
        self.term = self.months_left = self.dpd = self.age = self.vintage = self.tier = 0
        self.relieved = self.forborne = self.redefaulted = False
        self.regular = self.relief_month = 0
        self.lender, self.borrower = lender, borrower
        self.annual_rate, self.status, self.closed_month = 0.0, "open", -1
        self.written_off = self.recovered = self.waived = self.owed = 0.0
        self.horizon = 0
        for name, value in fields.items():
            setattr(self, name, value)

    @classmethod
    def originate(
        cls,
        lender: LenderAgent,
        borrower: int,
        loan_id: int,
        amount: float,
        monthly_rate: float,
        term: int,
        tier: int,
        month: int,
    ) -> Loan:
        """A new loan (``LoanBook.originate``, ``LoanTape.open``)."""
        return cls(
            lender,
            borrower,
            loan_id=loan_id,
            balance=amount,
            principal=amount,
            rate=monthly_rate,
            instalment=float(annuity_payment(amount, monthly_rate, term)),
            term=term,
            months_left=term,
            vintage=month,
            tier=tier,
            annual_rate=monthly_rate * 12,
        )

    def fall_due(self, penalty_monthly: float) -> tuple[float, float]:
        """5a. Interest accrues and the month's instalment falls due (``loans.fall_due``).

        Returns:
            ``(accrued, due)``: interest and penalty interest, and fees due plus arrears.
        """
        interest = (self.balance - self.fees_due) * self.rate
        charge = self.arrears * penalty_monthly
        self.balance += interest + charge
        self.fees_due += charge
        not_due = self.balance - self.fees_due - self.arrears
        if self.months_left > 1:
            self.arrears += min(self.instalment, not_due)
            self.months_left -= 1
        else:  # the final instalment, or after maturity: everything left falls due
            self.arrears += not_due
            self.months_left = 0
        self.age += 1
        return interest + charge, self.fees_due + self.arrears

    def settle(self, paid: float, month: int, cohorts: RedefaultCohorts) -> bool:
        """5d. Book a payment contractually and serve forbearance (``loans.settle``).

        The lender's month flows (fees, the current balance and what of it fell
        delinquent, re-defaults) are booked on its accounts.

        Returns:
            Whether the loan is repaid in full (to be closed).
        """
        lender = self.lender
        accounts = lender.accounts
        was_current = self.dpd == 0
        owed = self.balance
        before = unpaid_instalments(self.arrears, self.instalment)
        to_fees, to_arrears = allocate_payment(paid, self.fees_due, self.arrears, lender.fees_first)
        self.fees_due -= to_fees
        self.arrears -= to_arrears
        self.balance -= paid
        if self.arrears <= MONEY_TOLERANCE:
            self.arrears = 0.0
        if self.fees_due <= MONEY_TOLERANCE:
            self.fees_due = 0.0
        missed = self.arrears > 0.0
        if missed:
            fee = lender.policy.late_fee * self.instalment
            self.fees_due += fee
            self.balance += fee
            accounts["fee_income"] += fee
        self.dpd = next_dpd(self.dpd, before, unpaid_instalments(self.arrears, self.instalment))
        if was_current:
            accounts["current_balance"] += owed
            if self.dpd > 0:
                accounts["newly_delinquent_balance"] += owed
        if self.forborne:
            if missed:
                self.regular = 0
                if not self.redefaulted:
                    self.redefaulted = True
                    accounts["redefaults"] += 1.0
                    if month - self.relief_month <= cohorts.window:
                        cohorts.redefaults[
                            lender.index, self.relief_month - cohorts.first_month
                        ] += 1
            elif self.dpd == 0:
                self.regular += 1
                if self.regular >= lender.policy.probation_months:
                    self.forborne = False
        if self.balance <= MONEY_TOLERANCE and not missed:
            self.balance = self.fees_due = 0.0
            return True
        return False

    def restructure(self, month: int) -> float:
        """6b. Relief on the policy's terms: forbearance (``loans.restructure``).

        Returns:
            The amount waived.
        """
        p = self.lender.policy
        waived = p.relief_waiver * (self.arrears + self.fees_due)
        if self.balance - waived <= MONEY_TOLERANCE:  # settled: the lender closes the loan
            waived = self.balance
        self.balance -= waived
        self.waived += waived
        self.arrears = self.fees_due = 0.0
        self.dpd = 0
        self.rate *= 1.0 - p.relief_rate_cut
        left = max(self.months_left, 1) + p.relief_extension_months
        self.months_left = left
        self.term += p.relief_extension_months
        self.instalment = float(annuity_payment(self.balance, self.rate, left))
        self.relieved = self.forborne = True
        self.regular = 0
        self.redefaulted = False
        self.relief_month = month
        return waived

    def close(self, month: int, written_off: bool) -> None:
        """Close the loan, keeping its values at closing (``LoanTape.close``)."""
        self.active = False
        self.closed_month = month
        self.status = "written_off" if written_off else "closed"
        if written_off:
            self.written_off = self.balance

    @property
    def tape_status(self) -> str:
        """Status on the loan tape (``model.tape.STATUSES``)."""
        if not self.active:
            return self.status
        if self.forborne:
            return "forborne" if self.dpd > 0 else "probation"
        return "delinquent" if self.dpd > 0 else "current"


class Application(NamedTuple):
    """One loan application, queued at a lender until it decides (between passes)."""

    borrower: BorrowerAgent
    score: float
    wanted: float
    reported_income: float
    debt_service: float
    term_draw: float


# ------------------------------------------------------------------------- lenders
class LenderAgent(Lender):
    """The model's :class:`~model.lender.Lender`, holding its loans as :class:`Loan` objects.

    The lender's own methods run unchanged on :meth:`book_view` (its open loans as a
    ``LoanBook`` row): ``open_month``, ``collect``, ``relief_candidates``,
    ``start_capital`` and ``close_month``; so do ``score``, ``cutoff``, ``can_lend``,
    ``relief_reach`` and the approval floor ``cutoff_for``. Its loan-by-loan work is
    done here on the ``Loan`` objects: :meth:`service` (relief, write-off) and
    :meth:`fund` (screening, sizing, pricing, funding).
    """

    def __init__(
        self, model: PerAgentEconomy, index: int, policy: RiskPolicy, rules: MarketRules
    ) -> None:
        super().__init__(model, index, policy, model.n_borrowers, rules)
        #: Open loans by borrower index (at most one per borrower).
        self.loans: dict[int, Loan] = {}
        #: Applications waiting for the lender's decision.
        self.pending: list[Application] = []
        self.pay_effect: tuple[float, ...] = ()
        self.squeeze: tuple[float, ...] = ()
        self.cache_stages()
        self.recovery_share = recovery_share(self.intensity)
        self.penalty_monthly = policy.penalty_rate / 12
        self.fees_first = policy.payment_order == "fees_first"
        self.writeoff_months = policy.writeoff_dpd // 30
        self.written_off_borrowers: list[BorrowerAgent] = []

    def cache_stages(self) -> None:
        """The collection stages' effects (``Lender.stage_effects``) as Python floats
        (numpy scalars are slow on the hot path); again each month, as a failed lender
        may stop collecting."""
        pay_effect, squeeze = self.stage_effects()
        self.pay_effect, self.squeeze = tuple(pay_effect.tolist()), tuple(squeeze.tolist())

    @property
    def balance(self) -> float:
        """Balance of the open loans."""
        return sum(loan.balance for loan in self.loans.values())

    def book_view(self) -> LoanBook:
        """The open loans as this lender's row of a ``LoanBook`` (one column per loan).

        Columns follow ``self.loans`` (so a position in a result of the lender's methods
        is a position in ``list(self.loans.values())``).
        """
        loans = list(self.loans.values())
        book = LoanBook(self.index + 1, len(loans))
        columns = dict(
            zip(BOOK_FIELDS, zip(*map(_book_fields_of, loans), strict=True), strict=False)
        )
        columns.pop("active", None)  # (none if no loans)
        book.insert(self.index, np.arange(len(loans)), **columns)
        return book

    def service(self) -> None:
        """6a, 6b, 6d. Graded collection, relief and credit records, loan by loan."""
        model = self.model
        month, cohorts = model.month, model.relief_cohorts
        book = self.book_view()
        self.collect(book)
        loans = list(self.loans.values())
        reach = self.relief_reach
        for k in self.relief_candidates(book).tolist():
            loan = loans[k]
            borrower = model.borrowers[loan.borrower]
            if borrower.asks_for_relief(reach):
                self.accounts["waived"] += loan.restructure(month)
                self.accounts["relief_granted"] += 1.0
                if loan.balance == 0.0:  # settled: closed, in no re-default cohort
                    self.close_loan(loan, borrower, month)
                else:
                    cohorts.record_grants(self.index, month, 1)
        until = month + RECORD_MONTHS - 1  # shown in this month and the 35 after
        for borrower in self.written_off_borrowers:
            borrower.record_damaged_until = until
        for loan in self.loans.values():
            if loan.dpd >= DEFAULT_DPD_MONTHS:
                model.borrowers[loan.borrower].record_damaged_until = until

    def write_off_at_horizon(self) -> None:
        """6c. At the start of the month, write off the loans at the policy's DPD."""
        model = self.model
        self.written_off_borrowers = []
        for loan in list(self.loans.values()):
            if loan.dpd >= self.writeoff_months:
                borrower = model.borrowers[loan.borrower]
                self.write_off_loan(loan, borrower, model.month)
                self.written_off_borrowers.append(borrower)

    def write_off_loan(self, loan: Loan, borrower: BorrowerAgent, month: int) -> None:
        """Write the loan off; its recovery starts, on its own clock, at the borrower."""
        self.accounts["writeoffs"] += loan.balance
        if loan.relieved:
            self.accounts["writeoffs_after_relief"] += loan.balance
        loan.close(month, written_off=True)
        loan.owed, loan.horizon = loan.balance, self.policy.recovery_months
        self._remove(loan, borrower)
        borrower.recoveries.append(loan)

    def close_loan(self, loan: Loan, borrower: BorrowerAgent, month: int) -> None:
        """Close a loan repaid in full."""
        loan.close(month, written_off=False)
        self._remove(loan, borrower)

    def _remove(self, loan: Loan, borrower: BorrowerAgent) -> None:
        del self.loans[loan.borrower]
        borrower.loans[self.index] = None

    def fund(self, month: int, policy_rate: float, to_repay: bool = False) -> None:
        """7. Decide on the queued applications and open the approved loans.

        As ``Lender.originate`` on the batch of applicants: approve when the lender can
        lend, the score clears the cut-off in force (with the approval floor over the
        batch), the loan fits the debt-to-income and loan-to-income caps, and funding
        remains (best score first, equal scores in borrower order). Loans open in
        borrower order (their loan ids).
        """
        applications = sorted(self.pending, key=lambda app: app.borrower.index)
        self.pending = []
        if not applications:
            return
        p, a = self.policy, self.accounts
        a["applications"] += len(applications)
        a["applications_subprime"] += sum(app.score < SUBPRIME_BELOW for app in applications)
        if to_repay:
            a["applications_to_repay"] += len(applications)
        if not self.can_lend:
            self._remember(applications, set(), month)
            return
        cutoff = self.cutoff_for(np.array([app.score for app in applications]))
        annual = [p.annual_rate(tier, policy_rate) for tier in range(4)]
        terms, cdf = self.terms.tolist(), self.term_cdf.tolist()
        approved = []
        for app in applications:
            tier = sum(app.score < bound for bound in TIER_BOUNDS)
            k = min(bisect.bisect_right(cdf, app.term_draw), len(terms) - 1)
            factor = annuity_factor(annual[tier] / 12, terms[k])
            room = p.max_dti * app.reported_income - app.debt_service
            amount = min(app.wanted, p.max_loan_to_income * app.reported_income)
            amount = min(amount, max(room, 0.0) * factor)
            capped = self.rules.apr_cap is not None and annual[tier] > self.rules.apr_cap
            if app.score >= cutoff and amount >= MIN_LOAN and not capped:
                approved.append((app, amount, tier, terms[k]))
        capacity = self.funding_line - self.balance
        if approved and sum(amount for _, amount, _, _ in approved) > capacity:
            by_score = sorted(approved, key=lambda x: (-x[0].score, x[0].borrower.index))
            funded, total = set(), 0.0
            for app, amount, _, _ in by_score:
                total += amount
                if total > capacity:
                    break
                funded.add(app.borrower.index)
            approved = [x for x in approved if x[0].borrower.index in funded]
        self._remember(applications, {app.borrower.index for app, *_ in approved}, month)
        model = self.model
        for app, amount, tier, term in approved:
            borrower = app.borrower
            loan = Loan.originate(
                self,
                borrower.index,
                model.new_loan_id(),
                amount,
                annual[tier] / 12,
                term,
                tier,
                month,
            )
            model.tape[loan.loan_id] = loan
            self.loans[borrower.index] = loan
            borrower.receive_loan(loan, to_repay)
            a["originations"] += amount
        a["approvals"] += len(approved)
        a["approvals_subprime"] += sum(app.score < SUBPRIME_BELOW for app, *_ in approved)
        if to_repay:
            a["approvals_to_repay"] += len(approved)
        a["acquisition_cost"] += len(approved) * p.acquisition_cost

    def _remember(self, applications: list[Application], approved: set[int], month: int) -> None:
        """The applicants remember the answer: a refusal's month, or this lender as their
        last (``MarketMemory.record``)."""
        for app in applications:
            borrower = app.borrower
            if borrower.index in approved:
                borrower.last_lender = self.index
            else:
                borrower.refused_at[self.index] = month


# ----------------------------------------------------------------------- borrowers
class OneBorrower:
    """One agent's fields as a one-row ``BorrowerState`` (row 0), for the model's rules.

    Each attribute read is a one-element array of the model's dtype for that field, so a
    rule of ``model.borrowers`` called with index 0 computes what it computes for that
    row of the arrays.
    """

    __slots__ = ("_agent",)

    def __init__(self, agent: BorrowerAgent) -> None:
        self._agent = agent

    def __getattr__(self, name: str) -> np.ndarray:
        agent = self._agent
        return np.array([getattr(agent, name)], dtype=agent.model.field_dtypes[name])


class BorrowerAgent(mesa.Agent):
    """One borrower: the fields of ``BorrowerState`` as attributes, its loans, its debts.

    Attributes:
        index: Row of the borrower in ``CreditEconomy``'s arrays (creation order).
        score_error: Each lender's fixed score error for this borrower.
        loans: One slot per lender: the open loan there, or None.
        recoveries: Written-off loans still pursued (each on its own clock).
        cash, protected, due, repaid_any: The month's working values, kept between the
            passes (``model.month.Month``).
    """

    _ids = MODEL_IDS  # weakly keyed: a finished economy can be freed

    def __init__(
        self,
        model: PerAgentEconomy,
        index: int,
        fields: Mapping[str, Any],
        score_error: list[float],
    ) -> None:
        super().__init__(model)
        self.index = index
        for name, value in fields.items():
            setattr(self, name, value)
        self.score_error = score_error
        n_lenders = len(model.lenders)
        self.loans: list[Loan | None] = [None] * n_lenders
        self.recoveries: list[Loan] = []
        self.cash = self.protected = 0.0
        self.due = [0.0] * n_lenders
        self.repaid_any = False
        #: What the borrower remembers of the lenders (``model.market.MarketMemory``).
        self.refused_at = [int(MarketMemory.NEVER)] * n_lenders
        self.last_lender = -1
        self._month_draws: dict[tuple[str, int], float] = {}

    # ------------------------------------------------------------------ draws
    def _draw(self, stream: str) -> float:
        return self.model.draws.uniform(stream, self.index)

    def _month_draw(self, stream: str, cell: int | None = None) -> float:
        """The month's draw of a random-access stream: one per borrower (or ``cell``) and
        month."""
        cell = self.index if cell is None else cell
        value = self._month_draws.get((stream, cell))
        if value is None:
            value = self._month_draws[stream, cell] = self.model.draws.uniform(stream, cell)
        return value

    def _slot_draw(self, stream: str, lender: int) -> float:
        """The month's draw of a per-lender random-access stream at this borrower's slot
        with ``lender`` (cell ``index * lenders + lender``)."""
        return self._month_draw(stream, self.index * len(self.loans) + lender)

    # ------------------------------------------------------------ the passes
    def step_dues(self) -> None:
        """Pass 1: labour market, illness, income, dues, spending needs; borrow to repay."""
        self._month_draws = {}
        self.labour_market()
        fell_ill = self.illness()
        self.earn_income()
        self.fall_due()
        self.spending_needs(fell_ill)
        self.borrow_to_repay()

    def step_pay(self) -> None:
        """Pass 2: pay the dues, then recoveries; settle the loans; spend and save."""
        paid, available = self.pay_dues()
        remaining = self.cash - sum(paid)
        remaining = self.pay_recoveries(available, remaining)
        self.repaid_any = self.settle_loans(paid)
        self.missed = sum(paid) < sum(self.due) - MONEY_TOLERANCE
        self.distressed = self.missed or remaining < self.protected
        self.spend_and_save(remaining)

    def step_apply(self) -> None:
        """Pass 3 (after the lenders' servicing): drop expired recoveries; maybe apply."""
        self.expire_recoveries()
        self.apply_for_loan()

    # ------------------------------------------------------------ the rules
    def labour_market(self) -> None:
        """2. Lose or find a job at the month's hazard for the segment (``labour_market``)."""
        hazard = self.model.hazards[self.segment + 3 * self.employed]
        if self._draw("labour") < hazard:
            self.employed = not self.employed
        self.months_unemployed = 0 if self.employed else self.months_unemployed + 1

    def illness(self) -> bool:
        """3. Age an illness, or fall ill (geometric duration); True at onset (``illness``)."""
        model = self.model
        if self.ill_months > 0:
            self.ill_months -= 1
            return False
        if not self._draw("illness") < model.illness_rate:
            return False
        if model.illness_log_stay is None:
            self.ill_months = 1
        else:
            u = self._draw("illness_duration")
            duration = math.ceil(math.log1p(-u) / model.illness_log_stay)
            self.ill_months = min(max(duration, 1), MAX_ILLNESS_MONTHS)
        return True

    def earn_income(self) -> None:
        """3. Wage with idiosyncratic and common shocks, or benefit; illness cuts (``income``)."""
        model, p, macro = self.model, self.model.params, self.model.macro
        if self.employed:
            e = self.model.draws.normal("income", self.index)
            if p.income_common_share > 0:
                driver = model.idiosyncratic_weight * e + model.common_weight * model.common_factor
                log_shock = driver * self.shock_sd
            else:
                log_shock = self.shock_sd * e
            value = math.exp(log_shock - self.shock_half_var) * self.base_income * macro.wage_index
            if model.cycle_gap > 0 or model.hours_cut > 0:
                cut = 1.0 - self.cycle_beta * model.cycle_gap - model.hours_cut
                value *= max(cut, MIN_CYCLE_FACTOR)
        else:
            benefit = self.months_unemployed <= p.benefit_months
            ratio = p.replacement_ratio if benefit else p.assistance_ratio
            value = self.base_income * macro.wage_index * ratio
        if self.ill_months != 0:
            value *= 1.0 - p.illness_income_loss
        self.income = value
        weight = p.income_smoothing
        self.smoothed_income = self.smoothed_income * (1.0 - weight) + weight * value

    def fall_due(self) -> None:
        """5a. Each loan accrues interest (the lender's income) and its instalment falls due."""
        due = [0.0] * len(self.loans)
        for j, loan in enumerate(self.loans):
            if loan is not None:
                accrued, due[j] = loan.fall_due(loan.lender.penalty_monthly)
                loan.lender.accounts["interest_income"] += accrued
        self.due = due

    def spending_needs(self, fell_ill: bool) -> None:
        """4a. Cash after essentials and medical costs; the protected discretionary spending."""
        p, macro = self.model.params, self.model.macro
        cash = self.savings + self.income - self.essentials * macro.price_index
        if fell_ill:
            cash -= p.illness_cost * self.base_income * macro.wage_index
        self.cash, self.protected = cash, self.habit * self.protect_share

    def available_cash(self) -> float:
        """Cash the borrower can put to debt: the strongest collection stage squeezes the
        protected spending (``repayment.available_cash``)."""
        squeeze = 0.0
        for lender, loan in zip(self.model.lenders, self.loans, strict=True):
            stage = 0 if loan is None else min(loan.dpd, DEFAULT_DPD_MONTHS)
            squeeze = max(squeeze, lender.squeeze[stage])
        if squeeze == 0.0:
            return max(self.cash - self.protected, 0.0)
        return max(self.cash - self.protected * (1.0 - squeeze), 0.0)

    def borrow_to_repay(self) -> None:
        """5b. Short of the dues (several lenders): apply where no loan is held, for at
        least the shortfall."""
        if not self.model.borrowing_to_repay:
            return
        shortfall = sum(self.due) - self.available_cash()
        if shortfall > MONEY_TOLERANCE:
            j = self.choose_lender()
            if j is not None:
                self.apply_at(j, at_least=shortfall)

    def pay_dues(self) -> tuple[list[float], float]:
        """5c. Pay each loan due in full or with all that is left (``repayment.pay_loans``).

        Loans are paid in order of collection pressure (the lender pressing hardest
        first, ties at random); a reluctant borrower pays a loan only if its willingness
        draw passes ``pay_threshold`` at that lender's stage.

        Returns:
            ``(paid, available)``: payment per lender slot, and the cash left for debt.
        """
        available = self.available_cash()
        due = self.due
        paid = [0.0] * len(due)
        owing = [j for j, amount in enumerate(due) if amount > 0.0]
        if not owing:
            return paid, available
        effect = {}
        for j in owing:
            loan = self.loans[j]
            effect[j] = loan.lender.pay_effect[min(loan.dpd, DEFAULT_DPD_MONTHS)]
        if len(owing) > 1:  # a draw per slot, where something is due
            tie = {j: self._slot_draw("payment_order", j) for j in owing}
            owing.sort(key=lambda j: (-effect[j], tie[j]))
        willingness = self.willingness
        for j in owing:
            if self._slot_draw("repayment", j) < pay_threshold(willingness, effect[j]):
                pay = min(due[j], available)
                paid[j] = pay
                available -= pay
        return paid, available

    def pay_recoveries(self, available: float, remaining: float) -> float:
        """5c. Each written-off loan recovers its lender's share of the spare cash (at most
        the month's income), up to what it is owed and to what cash is left
        (``Recoveries.collect``).

        Returns:
            The cash remaining after recoveries.
        """
        if not self.recoveries:
            return remaining
        spare = min(available, self.income)
        for loan in self.recoveries:
            lender = loan.lender
            take = max(min(loan.owed, lender.recovery_share * spare), 0.0)
            take = min(take, max(available, 0.0))  # together never more than the cash
            available -= take
            loan.owed -= take
            loan.recovered += take
            lender.accounts["recoveries"] += take
            remaining -= take
        return remaining

    def settle_loans(self, paid: list[float]) -> bool:
        """5d. The loans book the payments; loans repaid in full close. True if any did."""
        month, cohorts = self.model.month, self.model.relief_cohorts
        repaid_any = False
        for j, loan in enumerate(self.loans):
            if loan is None:
                continue
            lender = loan.lender
            lender.accounts["repayments"] += paid[j]
            if self.due[j] > 0.0 and loan.settle(paid[j], month, cohorts):
                lender.close_loan(loan, self, month)
                repaid_any = True
        return repaid_any

    def spend_and_save(self, remaining: float) -> None:
        """4b. Spend the rest of the habit, save the rest, adapt the habit (``settle_spending``)."""
        p = self.model.params
        left = max(remaining - self.habit, 0.0)
        excess = max(left - self.buffer_target * self.smoothed_income, 0.0) * p.savings_spend_down
        self.savings = left - excess
        target = max(self.disc_share - p.precautionary_saving * self.model.cycle_gap, 0.0)
        self.habit += (target * self.smoothed_income - self.habit) * p.habit_adjustment

    def asks_for_relief(self, reach: float) -> bool:
        """6b. In temporary trouble and asking, or reached (``borrowers.asks_for_relief``)."""
        contact = self._month_draw("relief_contact")  # one a month, shared by the lenders
        return bool(rules.asks_for_relief(OneBorrower(self), self.model.params, 0, reach, contact))

    def expire_recoveries(self) -> None:
        """6e. Drop written-off loans paid off or past their horizon (``Recoveries.expire``)."""
        if self.recoveries:
            month = self.model.month
            self.recoveries = [
                loan
                for loan in self.recoveries
                if loan.owed > MONEY_TOLERANCE and month + 1 - loan.closed_month < loan.horizon
            ]

    def apply_for_loan(self) -> None:
        """7. Maybe apply (``borrowers.applicants``), at a lender where no loan is held."""
        p = self.model.params
        if self.repaid_any:
            prob = p.reborrow_probability
        elif self.distressed:
            prob = self.apply_base * p.distress_apply_multiplier
        else:
            prob = self.apply_base
        if self._draw("applications") < prob:
            j = self.choose_lender()
            if j is not None:
                self.apply_at(j)

    def choose_lender(self) -> int | None:
        """The lender to apply to, or None if a loan is held at each
        (``CreditEconomy._choose_lender``).

        The model's logit (``market.utilities`` and ``market.choose_lenders``) over the
        lenders that lend and where no loan is held, with the month's taste draw per
        lender (``lender_taste`` at cell ``index * lenders + lender``).
        """
        model = self.model
        lenders = model.lenders
        n_lenders = len(lenders)
        if n_lenders == 1:
            return None if self.loans[0] is not None else 0
        month, market = model.month, model.market
        pairs = zip(self.loans, lenders, strict=True)
        free = np.array([[loan is None and lender.can_lend] for loan, lender in pairs])
        taste = [self._slot_draw("lender_taste", j) for j in range(n_lenders)]
        rates = np.array([x.policy.annual_rate(0, model.macro.policy_rate) for x in lenders])
        brand = np.array([x.policy.brand for x in lenders])
        rejected = np.array([[month - at <= market.rejection_memory] for at in self.refused_at])
        usual = np.array([[self.last_lender == j] for j in range(n_lenders)])
        utility = market_rules.utilities(rates, brand, rejected, usual, market)
        choice = int(market_rules.choose_lenders(utility, free, np.array(taste)[:, None])[0])
        return None if choice < 0 else choice

    def apply_at(self, j: int, at_least: float | None = None) -> None:
        """Apply at lender ``j`` for the usual need, or ``at_least`` if larger (``_apply``).

        The lender scores the application now (``true_quality`` and ``Lender.score``) and
        decides between passes.
        """
        model, p = self.model, self.model.params
        lender = model.lenders[j]
        if lender.policy.sees_other_loans or model.market.shared_bureau:
            debt_service = sum(loan.instalment for loan in self.loans if loan is not None)
        else:  # only the lender's own loans, and the applicant holds none there
            debt_service = 0.0
        raw = rules.true_quality(OneBorrower(self), p, 0, debt_service, model.macro.price_index)
        quality = (raw - model.quality_center) / model.quality_scale
        damaged = self.record_damaged_until >= model.month
        score = float(lender.score(quality, self.score_error[j], damaged, p))
        sd = p.loan_need_dispersion
        need = float(normal_quantile(self._month_draw("loan_need")))
        wanted = p.loan_need_months * math.exp(sd * need - 0.5 * sd * sd) * self.smoothed_income
        if at_least is not None:
            wanted = max(wanted, at_least)
        reported = self.income * self.misreport
        term_draw = self._month_draw("loan_term")
        lender.pending.append(Application(self, score, wanted, reported, debt_service, term_draw))

    def receive_loan(self, loan: Loan, to_repay: bool) -> None:
        """Take a new loan: borrowed to repay, the proceeds add to this month's cash;
        otherwise a borrower who missed a payment keeps them, others spend them."""
        self.loans[loan.lender.index] = loan
        if to_repay:
            self.cash += loan.principal
        elif self.missed:
            self.savings += loan.principal


# ------------------------------------------------------------------------ economy
def _check_written_here(market: MarketRules, policies: Sequence[RiskPolicy]) -> None:
    """Refuse the rules this reference does not write (it would silently diverge).

    Raises:
        ValueError: For re-application or a lender's share target.
    """
    if market.reapply_share > 0:
        raise ValueError("reapply_share: same-month re-application is not written here; use 0")
    if any(p.share_target is not None for p in policies):
        raise ValueError("share_target: the competition rule is not written here; use none")


class PerAgentEconomy(mesa.Model):
    """The rules of ``CreditEconomy``, one Mesa agent per borrower (see the module doc).

    Same constructor, ``run``, ``metrics``, ``lender_history`` and ``loan_tape`` as
    :class:`model.CreditEconomy`. With the same seed it starts from the same population
    and score errors; the monthly draws differ (:attr:`draws`), unless ``draws`` gives
    them: a function of the month number returning that month's draws (e.g. a
    :class:`RecordedDraws` of a ``CreditEconomy``'s month), burn-in included.

    Attributes:
        draws: Where the agents' draws come from this month (:class:`RandomDraws` on
            Mesa's ``random`` by default; a :class:`RecordedDraws` replays a
            ``CreditEconomy``'s month).
        borrowers: The borrower agents, by index.
        lenders: The lender agents, by index.
        tape: Every loan on the loan tape, by loan id.
    """

    def __init__(
        self,
        n_borrowers: int = 10_000,
        scenario: str | MacroScenario = "baseline",
        policy: str | RiskPolicy | Sequence[str | RiskPolicy] = "balanced",
        seed: int | np.random.SeedSequence | None = None,
        *,
        population: PopulationParams | dict[str, Any] | None = None,
        burn_in: int | None = None,
        draws: Callable[[int], RandomDraws | RecordedDraws] | None = None,
        market: MarketRules | dict[str, Any] | None = None,
    ) -> None:
        inputs = resolve_inputs(n_borrowers, scenario, policy, seed, population, burn_in)
        self.market = MarketRules.of(market)
        _check_written_here(self.market, inputs.policies)
        seq, n = inputs.seeds, inputs.n_borrowers
        self.seed_entropy = seq.entropy
        super().__init__(seed=int(seq.generate_state(1)[0]))
        self.scenario, self._preset_name = inputs.scenario, inputs.preset_name
        self.params = params = inputs.population
        self.n_borrowers = n
        self.burn_in = inputs.burn_in
        self.draws: RandomDraws | RecordedDraws = RandomDraws(self.random)
        self._draws_of_month = draws
        self.start_unemployment = float(self.scenario.unemployment[0])
        self.month = -self.burn_in
        self.relief_cohorts = RedefaultCohorts(
            len(inputs.policies), -self.burn_in, self.burn_in + 60
        )
        self.tape: dict[int, Loan] = {}
        self._next_loan_id = 0
        self._rows: list[dict[str, float]] = []
        self.lenders = [LenderAgent(self, j, p, self.market) for j, p in enumerate(inputs.policies)]
        self.borrowing_to_repay = len(self.lenders) > 1 and params.borrow_to_repay
        # The population and score errors of CreditEconomy: the same streams, by name.
        state = init_population(
            params,
            n,
            self.start_unemployment,
            np.random.default_rng(stream_seed(seq, "population")),
        )
        errors = np.random.default_rng(stream_seed(seq, "screening")).standard_normal(
            (len(self.lenders), n)
        )
        raw = rules.true_quality(state, params, np.arange(n), np.zeros(n), 1.0)
        self.quality_center, self.quality_scale = float(raw.mean()), float(raw.std() or 1.0)
        self.field_dtypes = {name: getattr(state, name).dtype for name in BorrowerState.__slots__}
        columns = {name: getattr(state, name).tolist() for name in BorrowerState.__slots__}
        per_borrower = errors.T.tolist()
        self.borrowers = [
            BorrowerAgent(self, i, {name: col[i] for name, col in columns.items()}, per_borrower[i])
            for i in range(n)
        ]
        for _ in range(self.burn_in):
            self.step()
        self.steps = 0  # Mesa's step count: recorded months only
        self._start_recording()

    def _start_recording(self) -> None:
        """End of the burn-in: lenders take their capital; the tape keeps the open loans."""
        for lender in self.lenders:
            lender.start_capital(lender.book_view())
        kept = [loan for _, loan in sorted(self.tape.items()) if loan.active]
        for loan in self.tape.values():
            loan.loan_id = -1
        for new_id, loan in enumerate(kept):
            loan.loan_id = new_id
        self.tape = dict(enumerate(kept))
        self._next_loan_id = len(kept)

    @classmethod
    def from_credit_economy(cls, eco: CreditEconomy, seed: int = 0) -> PerAgentEconomy:
        """A per-agent copy of ``eco``'s current state, at the same month.

        Borrowers, open loans, written-off loans in recovery (and their tape rows),
        lenders (accounts, capital, dynamic rule), re-default cohorts and recorded rows.
        The copy's tape holds the loans it knows (open or in recovery) and the ones it
        makes. Reads ``CreditEconomy`` internals. ``seed`` seeds the copy's own draws and
        activation order.
        """
        policies = [lender.policy for lender in eco.lenders]
        ref = cls(
            eco.n_borrowers,
            eco.scenario,
            policies,
            seed,
            population=eco.params,
            burn_in=0,
            market=eco.market,
        )
        ref._preset_name = eco._preset_name
        state, book, tape = eco.state, eco.book, eco.tape
        columns = {name: getattr(state, name).tolist() for name in BorrowerState.__slots__}
        errors = eco.score_error.T.tolist()
        for i, agent in enumerate(ref.borrowers):
            for name, values in columns.items():
                setattr(agent, name, values[i])
            agent.score_error = errors[i]
        refused, last_lender = eco.memory.refused.T.tolist(), eco.memory.last_lender.tolist()
        for i, agent in enumerate(ref.borrowers):
            agent.refused_at, agent.last_lender = refused[i], last_lender[i]
        ref.tape = {}
        for lender, source in zip(ref.lenders, eco.lenders, strict=True):
            j = lender.index
            names = ("tightening", "funding_limit", "funding_line", "confidence", "capital")
            for name in (*names, "failed", "failed_at", "provisions"):
                setattr(lender, name, getattr(source, name))
            lender.cum_net_loss, lender._book = source.cum_net_loss, source._book
            lender._capital_base = source._capital_base
            lender._flows = deque(source._flows, maxlen=source._flows.maxlen)
            lender.history = list(source.history)
            for i in np.flatnonzero(book.active[j]).tolist():
                fields = {name: getattr(book, name)[j, i].item() for name in BOOK_FIELDS}
                rate = float(tape.column("rate")[fields["loan_id"]])
                waived = float(tape.column("waived")[fields["loan_id"]])
                loan = Loan(lender, i, annual_rate=rate, waived=waived, **fields)
                lender.loans[i] = loan
                ref.borrowers[i].loans[j] = loan
                ref.tape[loan.loan_id] = loan
        rec = eco.recoveries
        for k in range(len(rec)):
            lender, i = ref.lenders[int(rec.lender[k])], int(rec.borrower[k])
            loan_id = int(rec.loan_id[k])
            fields = _tape_fields(tape, loan_id) if loan_id >= 0 else {}
            loan = Loan(
                lender,
                i,
                **fields,
                active=False,
                status="written_off",
                loan_id=loan_id,
                closed_month=int(rec.written_off[k]),
                owed=float(rec.owed[k]),
                horizon=int(rec.horizon[k]),
            )
            ref.borrowers[i].recoveries.append(loan)
            if loan_id >= 0:
                ref.tape[loan_id] = loan
        source = eco.relief_cohorts
        cohorts = RedefaultCohorts(len(ref.lenders), source.first_month, 1, source.window)
        cohorts.granted, cohorts.redefaults = source.granted.copy(), source.redefaults.copy()
        ref.relief_cohorts = cohorts
        ref.quality_center, ref.quality_scale = eco._quality_center, eco._quality_scale
        ref.month, ref.steps = eco.month, eco.steps
        ref._next_loan_id = len(tape)
        ref._rows = list(eco._rows)
        return ref

    # ----------------------------------------------------------------- public API
    # The same code as CreditEconomy's (they read only ``month``, ``scenario``, ``step``,
    # ``_rows`` and the lenders' ``history``).
    run = CreditEconomy.run
    metrics = CreditEconomy.metrics
    lender_history = CreditEconomy.lender_history

    def loan_tape(self) -> pd.DataFrame:
        """One row per loan on the tape (``model.tape.COLUMNS``), as ``CreditEconomy``'s."""
        loans = [self.tape[k] for k in sorted(self.tape)]
        dpd = np.array([loan.dpd for loan in loans], np.int32)
        vintage = np.array([loan.vintage for loan in loans], np.int32)
        frame = pd.DataFrame(
            {
                "loan_id": np.array([loan.loan_id for loan in loans], np.int64),
                "lender": [loan.lender.index for loan in loans],
                "borrower": [loan.borrower for loan in loans],
                "vintage": vintage,
                "amount": [loan.principal for loan in loans],
                "rate": [loan.annual_rate for loan in loans],
                "term": [loan.term for loan in loans],
                "months_on_book": [loan.age for loan in loans],
                "balance": [loan.balance for loan in loans],
                "instalment": [loan.instalment for loan in loans],
                "arrears": [loan.arrears for loan in loans],
                "fees_due": [loan.fees_due for loan in loans],
                "dpd": dpd * 30,
                "dpd_bucket": pd.Categorical.from_codes(
                    dpd_bucket_codes(dpd), categories=list(DPD_BUCKETS)
                ),
                "status": pd.Categorical.from_codes(
                    [STATUSES.index(loan.tape_status) for loan in loans], categories=list(STATUSES)
                ),
                "seasoned": vintage < 0,
                "closed_month": pd.array(
                    [None if loan.status == "open" else loan.closed_month for loan in loans],
                    dtype="Int32",
                ),
                "written_off": [loan.written_off for loan in loans],
                "recovered": [loan.recovered for loan in loans],
                "relieved": [bool(loan.relieved) for loan in loans],
                "waived": [loan.waived for loan in loans],
            }
        )
        return frame[list(COLUMNS)]

    def new_loan_id(self) -> int:
        """The loan id of the next loan (its row on the tape)."""
        self._next_loan_id += 1
        return self._next_loan_id - 1

    # --------------------------------------------------------------- the schedule
    def step(self) -> None:
        """Advance one month (see the module doc); months before 0 are not recorded."""
        self._begin_month()
        for lender in self.lenders:
            lender.open_month(lender.book_view(), self.macro.policy_rate)
            lender.cache_stages()
            lender.write_off_at_horizon()
        self.hazards = self._labour_hazards()
        borrowers = self.agents_by_type[BorrowerAgent]
        borrowers.shuffle_do("step_dues")
        self._fund(to_repay=True)
        borrowers.shuffle_do("step_pay")
        self.agents_by_type[LenderAgent].shuffle_do("service")
        borrowers.shuffle_do("step_apply")
        self._fund(to_repay=False)
        self._close_month()

    def _begin_month(self) -> None:
        """1. The month's macro conditions and the numbers every borrower shares."""
        p = self.params
        self.macro = macro = self.scenario.state(self.month)
        if self._draws_of_month is not None:
            self.draws = self._draws_of_month(self.month)
        self.common_factor = self.draws.common_factor()
        self.relief_cohorts.grow(self.month)
        self.cycle_gap = max(macro.unemployment - self.start_unemployment, 0.0)
        self.hours_cut = p.hours_cut * self.scenario.unemployment_rise(self.month, p.hours_window)
        self.illness_rate = min(p.illness_rate * macro.illness_factor, 1.0)
        stay = 1.0 - 1.0 / p.illness_months
        self.illness_log_stay = math.log(stay) if stay > 0 else None
        rho = p.income_common_share
        self.idiosyncratic_weight, self.common_weight = math.sqrt(1.0 - rho), math.sqrt(rho)

    def _labour_hazards(self) -> list[float]:
        """2. This month's job-finding then job-loss probability per segment.

        Indexed by ``segment + 3 * employed``. Population-level, as in
        ``borrowers.labour_market``: the aggregate flows make unemployment track the
        scenario's path, spread over segments by their relative hazards.
        """
        p = self.params
        target, start = self.macro.unemployment, self.start_unemployment
        working, jobless = [0, 0, 0], [0, 0, 0]
        for b in self.borrowers:
            if b.employed:
                working[b.segment] += 1
            else:
                jobless[b.segment] += 1
        u_now = sum(jobless) / self.n_borrowers
        ratio = start / max(target, 1e-6)
        find = min(p.job_finding_rate * ratio**p.job_finding_elasticity, 0.95)
        loss = (target - u_now + find * u_now) / max(1.0 - u_now, 1e-12)
        min_loss = p.min_job_loss_share * p.job_finding_rate * start
        if loss < min_loss:
            loss = min_loss
            find = (u_now - target + loss * (1.0 - u_now)) / max(u_now, 1e-12)
        loss, find = min(max(loss, 0.0), 1.0), min(max(find, 0.0), 1.0)
        rel_loss, rel_find = p.job_loss_relative, p.job_finding_relative
        mean_loss = sum(r * w for r, w in zip(rel_loss, working, strict=True)) / max(
            sum(working), 1
        )
        mean_find = sum(r * w for r, w in zip(rel_find, jobless, strict=True)) / max(
            sum(jobless), 1
        )
        return [find * r / max(mean_find, 1e-12) for r in rel_find] + [
            loss * r / max(mean_loss, 1e-12) for r in rel_loss
        ]

    def _fund(self, to_repay: bool) -> None:
        """3, 7. The lenders decide on the queued applications, in lender order."""
        for lender in self.lenders:
            lender.fund(self.month, self.macro.policy_rate, to_repay)

    def _close_month(self) -> None:
        """8. The lenders close their accounts (``Lender.close_month``); the market's row."""
        month, macro = self.month, self.macro
        record = month >= 0
        failed = sum(lender.failed for lender in self.lenders)
        peers = max(len(self.lenders) - 1, 1)
        rows = [
            lender.close_month(
                lender.book_view(),
                record,
                self.relief_cohorts.closed_cohorts(lender.index, month),
                (failed - lender.failed) / peers,
            )
            for lender in self.lenders
        ]
        if record:
            row = combine(rows)
            row["month"] = month
            employed = sum(1 for b in self.borrowers if b.employed)
            row["unemployment_rate"] = 1.0 - employed / self.n_borrowers
            row.update(macro.columns())
            row["common_factor"] = self.common_factor
            self._rows.append(row)
        self.month += 1


def _tape_fields(tape: Any, loan_id: int) -> dict[str, Any]:
    """A closed loan's values from a ``LoanTape`` row, as :class:`Loan` fields."""
    names = {
        "vintage": "vintage",
        "principal": "amount",
        "annual_rate": "rate",
        "term": "term",
        "age": "months_on_book",
        "balance": "balance",
        "instalment": "instalment",
        "arrears": "arrears",
        "fees_due": "fees_due",
        "dpd": "dpd",
        "relieved": "relieved",
        "written_off": "written_off",
        "recovered": "recovered",
        "waived": "waived",
    }
    return {field: tape.column(column)[loan_id].item() for field, column in names.items()}


# ------------------------------------------------------------------------ speed-up
def speedup(n_borrowers: int = 5000, months: int = 24, seed: int = 1) -> dict[str, float]:
    """Time both models (construction + burn-in + run, same settings, severe recession).

    Each model first runs a tiny economy, so that one-off costs of the process (loading
    the compiled numba kernels, about 0.3 s) are charged to neither.

    Returns:
        ``seconds_vectorized`` (CreditEconomy), ``seconds_per_agent`` (PerAgentEconomy)
        and ``ratio`` = per-agent seconds / vectorized seconds.
    """
    timings = {}
    for key, cls in (("vectorized", CreditEconomy), ("per_agent", PerAgentEconomy)):
        cls(n_borrowers=50, scenario=SCENARIO_FOR_SPEEDUP, seed=seed, burn_in=2).run(1)
        start = time.perf_counter()
        cls(n_borrowers=n_borrowers, scenario=SCENARIO_FOR_SPEEDUP, seed=seed).run(months)
        timings[key] = time.perf_counter() - start
    return {
        "n_borrowers": n_borrowers,
        "months": months,
        "burn_in": DEFAULT_BURN_IN,
        "seconds_vectorized": timings["vectorized"],
        "seconds_per_agent": timings["per_agent"],
        "ratio": timings["per_agent"] / timings["vectorized"],
    }


if __name__ == "__main__":
    print(speedup())
