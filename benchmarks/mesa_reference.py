"""Per-agent reference implementation of :class:`model.CreditEconomy`, in plain Mesa.

``PerAgentEconomy`` runs the same monthly rules as ``CreditEconomy``, but the way a
textbook Mesa model would: every borrower is a ``mesa.Agent`` holding its own state
as Python floats, ints and bools, and its own loans as small ``Loan`` objects, and the
borrowers are stepped one at a time with ``agents_by_type[...].shuffle_do(...)`` (twice a
month: see "The month in two phases" below).
No numpy array spans the population on the monthly path.

It exists for two reasons:

* **Speed.** :func:`speedup` times both models at equal settings, so the gain of the
  structure-of-arrays ``CreditEconomy`` is measured against an honest per-agent
  baseline, not guessed.
* **Cross-checking the rules.** Each rule is one method of ``BorrowerAgent`` (or of
  ``Loan`` / ``LenderAgent``), in the order of ``CreditEconomy._advance``, so this file
  doubles as a readable specification. At equal settings its mean overdue rate and
  loss rate must agree with ``CreditEconomy``'s within sampling error
  (``tests/test_mesa_reference.py``). The random draws differ (one Python
  ``random.Random`` stream, drawn per agent in activation order, and only when a rule
  needs them), so the agreement is statistical, not bit-for-bit. For an exact check,
  :meth:`PerAgentEconomy.from_credit_economy` copies a ``CreditEconomy``'s state into
  agents; fed ``CreditEconomy``'s own draws, the agents' rules reproduce its month to
  rounding (tested).

What is shared with ``model/``: the parameter classes (``PopulationParams``,
``RiskPolicy``, ``MacroScenario``), the module constants, ``annuity_factor``,
``combine_accounts``, the policy resolution and the initial population. Construction
draws the population with ``model.population.init_population`` (arrays, from the same
seed stream as ``CreditEconomy``) and converts each row into an agent; construction is
not the hot path, but it is included in the timings of :func:`speedup`.

Numbers that ``model/`` writes inline rather than as named constants cannot be imported
and are repeated here; keep them in step with ``model/``: the relief contact odds and
the trouble test (``Lender.relieve``), the true-quality weights
(``CreditEconomy._raw_quality``), the score scale (``Lender.score``), the 36-month
recovery window (``_repay_and_collect``), the 120-month illness cap, the labour-market
flow constants (``borrowers.labour_market``) and the 1e-6 rounding tolerance. The
per-borrower application base rate and protected habit share are taken from the
``init_population`` state, not recomputed (so their formulas are not repeated).

**The month in two phases.** Borrowing to repay (several lenders,
``PopulationParams.borrow_to_repay``) needs a lender's decision inside the month, before
payments, and the lender's funding limit couples the applicants (best score first).
So the borrowers are stepped twice a month, each time in a fresh random order:

1. ``BorrowerAgent.step_dues``: labour market, illness, income, spending needs,
   interest and dues; a borrower whose dues exceed the cash they can put to debt applies
   at a lender where they hold no loan, for at least the shortfall.
2. The lenders fund those applications (``LenderAgent.fund(..., to_repay=True)``); the
   proceeds add to the borrower's cash for the month.
3. ``BorrowerAgent.step_pay``: payments, settlement, spending, collection, relief,
   write-off, recoveries, and the month's ordinary application.
4. The lenders fund the ordinary applications.

Nothing a borrower does in a phase depends on another borrower's step in the same phase
(lenders only queue applications, and fund them between the phases, equal scores in
agent-id order), so given each borrower's draws the month's outcome does not depend on
the activation order (up to the order of floating-point sums in the lender accounts).
As in ``CreditEconomy``, a borrower's lender choice and loan-need draw are drawn once a
month and shared by the application to repay and the ordinary one.

Aggregate steps that are population-level in ``CreditEconomy`` stay population-level
here, computed in plain Python over the agents: the labour-market flow rates, the
quality normalisation constants, and the lender's funding limit (best score first).
Roll rates and vintage curves are not kept.

Several lenders are supported (one loan slot per lender on each borrower, payments to
the lender pressing hardest first, applications routed cyclically, borrowing at one
lender to repay another), as in ``CreditEconomy``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import mesa
import numpy as np
import pandas as pd

from model._checks import check_number
from model.draws import STREAMS
from model.economy import DEFAULT_BURN_IN, resolve_inputs
from model.lender import (
    DAMAGED_RECORD_PENALTY,
    MIN_LOAN,
    PREDUE_REMINDER_SHARE,
    RECORD_MONTHS,
    STAGE_PAY_EFFECT,
    STAGE_SQUEEZE,
    TIER_BOUNDS,
)
from model.loans import DEFAULT_DPD_MONTHS, annuity_factor
from model.macro import MacroScenario, MacroState
from model.metrics import EXTRA_COLUMNS, FLOW_FIELDS, METRIC_COLUMNS, combine, derive
from model.policy import RiskPolicy
from model.population import BorrowerState, PopulationParams, init_population
from model.repayment import RECOVERY_BASE, RECOVERY_COLLECTION

# Module constants as plain Python floats (indexing a numpy array gives numpy scalars,
# whose arithmetic is several times slower than float arithmetic).
PAY_EFFECT = tuple(float(x) for x in STAGE_PAY_EFFECT)
SQUEEZE = tuple(float(x) for x in STAGE_SQUEEZE)
#: Months a written-off balance stays in recovery (``economy.py``: ``wo_months > 36``).
RECOVERY_WINDOW = 36
#: Longest illness, months (``borrowers.illness``).
MAX_ILLNESS_MONTHS = 120
#: Dues below this are treated as paid (rounding), as in ``LoanBook.settle``.
EPS = 1e-6

SCENARIO_FOR_SPEEDUP = "severe_recession"


#: Borrower fields an agent holds, from CreditEconomy's arrays (the half variance of the
#: income shock is computed from ``shock_sd`` instead).
COPIED_FIELDS = tuple(f for f in BorrowerState.__slots__ if f != "shock_half_var")
#: Fields given to a new agent (the monthly flags start false).
INITIAL_FIELDS = tuple(f for f in COPIED_FIELDS if f not in ("distressed", "missed"))


def instalment(principal: float, monthly_rate: float, months: int) -> float:
    """Level monthly instalment repaying ``principal`` over ``months`` (``annuity_payment``)."""
    months = max(months, 1)
    if monthly_rate > 1e-12:
        return principal * monthly_rate / (1.0 - (1.0 + monthly_rate) ** (-months))
    return principal / months


# --------------------------------------------------------------------------- loans
class Loan:
    """One amortising instalment loan, held by a borrower at one lender."""

    __slots__ = (
        "lender",
        "balance",
        "arrears",
        "principal",
        "rate",
        "instalment",
        "dpd",
        "months_left",
        "age",
        "vintage",
        "tier",
        "relieved",
    )

    def __init__(
        self, lender: LenderAgent, amount: float, monthly_rate: float, tier: int, month: int
    ) -> None:
        term = lender.policy.term_months
        self.lender = lender
        self.balance = amount
        self.arrears = 0.0
        self.principal = amount
        self.rate = monthly_rate
        self.instalment = instalment(amount, monthly_rate, term)
        self.dpd = 0
        self.months_left = term
        self.age = 0
        self.vintage = month
        self.tier = tier
        self.relieved = False

    @property
    def bucket(self) -> int:
        """DPD bucket 0-4 (current, 1-30, 31-60, 61-90, 90+)."""
        return min(self.dpd, DEFAULT_DPD_MONTHS)

    def accrue(self) -> tuple[float, float]:
        """Accrue the month's interest (and penalty interest on arrears); return (interest, due).

        Due is the arrears plus the instalment, or the whole balance in the final month.
        """
        penalty_monthly = self.lender.policy.penalty_rate / 12
        interest = self.balance * self.rate + self.arrears * penalty_monthly
        self.balance += interest
        if self.months_left <= 1:
            return interest, self.balance
        return interest, min(self.balance, self.arrears + self.instalment)

    def settle(self, due: float, paid: float) -> tuple[float, bool]:
        """Book the payment: cure, or age one bucket and charge a late fee.

        Returns:
            ``(fee, repaid)``: the late fee charged and whether the loan is now repaid.
        """
        balance = max(self.balance - paid, 0.0)
        shortfall = due - paid
        missed = shortfall > EPS
        fee = self.lender.policy.late_fee * self.instalment if missed else 0.0
        balance += fee
        if missed:
            self.arrears = shortfall + fee
            self.dpd += 1
        else:
            self.arrears = 0.0
            self.dpd = 0
        if self.vintage != self.lender.model.month:  # a loan made this month does not age yet
            self.months_left = max(self.months_left - 1, 0)
            self.age += 1
        repaid = not missed and balance <= EPS
        self.balance = 0.0 if repaid else balance
        return fee, repaid

    def restructure(self) -> float:
        """Relief: waive part of the arrears, capitalise the rest, cut the rate, extend.

        Returns:
            The amount waived.
        """
        p = self.lender.policy
        waived = p.relief_waiver * self.arrears
        self.balance -= waived
        self.arrears = 0.0
        self.dpd = 0
        self.rate *= 1.0 - p.relief_rate_cut
        self.months_left = max(self.months_left, 1) + p.relief_extension_months
        self.instalment = instalment(self.balance, self.rate, self.months_left)
        self.relieved = True
        return waived


# ------------------------------------------------------------------------- lenders
class LenderAgent(mesa.Agent):
    """A lender: its policy, its loans, the month's accounts and the dynamic cut-off."""

    def __init__(self, model: PerAgentEconomy, index: int, policy: RiskPolicy) -> None:
        super().__init__(model)
        self.index = index
        self.policy = policy
        self.tightening = 0.0
        self.funding_limit = policy.funding_limit_per_borrower * model.n_borrowers
        self.capital = policy.capital_ratio * self.funding_limit
        self.cum_net_loss = 0.0
        self.provisions = 0.0  # loss allowance at the end of the last month
        self.loans: set[Loan] = set()
        self.accounts: dict[str, float] = dict.fromkeys(FLOW_FIELDS, 0.0)
        self.history: list[dict[str, float]] = []
        self.pending: list[tuple[float, BorrowerAgent, float, int]] = []
        #: Loans funded this month to borrowers short of their dues (borrowing to repay).
        self.loans_to_repay = 0
        self.monthly_rates = [0.0] * 4
        self.factors = [0.0] * 4

    @property
    def cutoff(self) -> float:
        """Score cut-off in force: the policy's plus the dynamic tightening."""
        return self.policy.score_cutoff + self.tightening

    @property
    def balance(self) -> float:
        """Total balance of this lender's active loans."""
        return sum(loan.balance for loan in self.loans)

    def reset_capital(self) -> None:
        """Set capital back to the initial equity (end of the burn-in)."""
        self.capital = self.policy.capital_ratio * self.funding_limit
        self.cum_net_loss = 0.0

    def open_month(self, policy_rate: float) -> None:
        """Reset the month's flows, charge funding and servicing cost, price the four tiers."""
        p = self.policy
        self.accounts = dict.fromkeys(FLOW_FIELDS, 0.0)
        self.accounts["funding_cost"] = self.balance * (policy_rate + p.funding_spread) / 12
        self.accounts["servicing_cost"] = len(self.loans) * p.servicing_cost
        self.pending = []
        self.loans_to_repay = 0
        for tier in range(4):
            monthly = p.annual_rate(tier, policy_rate) / 12
            self.monthly_rates[tier] = monthly
            self.factors[tier] = annuity_factor(monthly, p.term_months)

    def score(self, quality: float, error: float, damaged: bool) -> float:
        """Observed score (300-850): true quality plus this lender's error, minus the record."""
        raw = 620.0 + 60.0 * (quality + self.policy.score_noise * error)
        return min(max(raw - DAMAGED_RECORD_PENALTY * damaged, 300.0), 850.0)

    def screen(
        self,
        borrower: BorrowerAgent,
        score: float,
        wanted: float,
        reported_income: float,
        debt_service: float,
        to_repay: bool = False,
    ) -> None:
        """Screen and size one application; queue it for funding when approved."""
        p = self.policy
        self.accounts["applications"] += 1
        self.accounts["applications_to_repay"] += to_repay
        tier = sum(score < bound for bound in TIER_BOUNDS)
        room = p.max_dti * reported_income - debt_service
        amount = min(wanted, p.max_loan_to_income * reported_income)
        amount = min(amount, max(room, 0.0) * self.factors[tier])
        if score >= self.cutoff and amount >= MIN_LOAN:
            self.pending.append((score, borrower, amount, tier))

    def fund(self, month: int, to_repay: bool = False) -> None:
        """Fund the approved applications (best score first when funding binds); open loans.

        Called twice a month: within the month for applications to repay (``to_repay``:
        the proceeds go to this month's cash), and after the borrowers' month for the
        ordinary ones. Equal scores go in agent-id order (borrower order, as the stable
        sort of ``Lender.originate``), so funding does not depend on activation order.
        """
        approved = self.pending
        if not approved:
            return
        p = self.policy
        capacity = self.funding_limit - self.balance
        if sum(amount for _, _, amount, _ in approved) > capacity:
            approved = sorted(approved, key=lambda app: (-app[0], app[1].unique_id))
            funded, total = [], 0.0
            for app in approved:
                total += app[2]
                if total > capacity:
                    break
                funded.append(app)
            approved = funded
        for _, borrower, amount, tier in approved:
            loan = Loan(self, amount, self.monthly_rates[tier], tier, month)
            self.loans.add(loan)
            borrower.receive_loan(loan, to_repay)
            self.accounts["approvals"] += 1
            self.accounts["originations"] += amount
            self.accounts["acquisition_cost"] += p.acquisition_cost
        if to_repay:
            self.loans_to_repay += len(approved)
            self.accounts["approvals_to_repay"] += len(approved)
        self.pending = []

    def close_month(self, record: bool) -> dict[str, float]:
        """Provisions, profit, capital, book state and the dynamic cut-off rule."""
        a = self.accounts
        p = self.policy
        provisions = sum(p.provision_rates[loan.bucket] * loan.balance for loan in self.loans)
        a["provision_charge"] = provisions - self.provisions
        self.provisions = provisions
        a["profit"] = (
            a["interest_income"]
            + a["fee_income"]
            + a["recoveries"]
            - a["writeoffs"]
            - a["waived"]
            - a["provision_charge"]
            - a["funding_cost"]
            - a["collection_cost"]
            - a["acquisition_cost"]
            - a["servicing_cost"]
        )
        self.capital += a["profit"]
        row = {**a, **self._book_measures()}
        row["capital"] = self.capital
        row["provisions"] = provisions
        row["cutoff"] = self.cutoff
        self.cum_net_loss += a["writeoffs"] - a["recoveries"]
        row["cum_net_loss"] = self.cum_net_loss
        derive(row)
        target = p.dynamic_overdue_target
        if target is not None:
            rate = row["overdue_rate"]
            if rate > target:
                self.tightening = min(self.tightening + p.dynamic_step, p.dynamic_max_tightening)
            else:
                self.tightening = max(self.tightening - p.dynamic_step, 0.0)
        if record:
            self.history.append(row)
        return row

    def _book_measures(self) -> dict[str, float]:
        """The book metrics of this lender's loans (as ``model.metrics.book_measures``)."""
        counts = [0] * (DEFAULT_DPD_MONTHS + 1)
        overdue_balance = 0.0
        for loan in self.loans:
            counts[loan.bucket] += 1
            if loan.dpd > 0:
                overdue_balance += loan.balance
        current, m1, m2, m3, npl = counts
        return {
            "active_loans": sum(counts),
            "balance": self.balance,
            "loans_current": current,
            "loans_1_30": m1,
            "loans_31_60": m2,
            "loans_61_90": m3,
            "overdue_loans": m1 + m2 + m3 + npl,
            "overdue_loans_30": m2 + m3 + npl,
            "npl_loans": npl,
            "overdue_balance": overdue_balance,
        }


# ----------------------------------------------------------------------- borrowers
class BorrowerAgent(mesa.Agent):
    """One borrower, with its own state and loans, stepped twice a month (two phases)."""

    def __init__(self, model: PerAgentEconomy, **state: Any) -> None:
        super().__init__(model)
        self.segment: int = state["segment"]
        self.base_income: float = state["base_income"]
        self.employed: bool = state["employed"]
        self.months_unemployed: int = state["months_unemployed"]
        self.ill_months: int = state["ill_months"]
        self.income: float = state["income"]
        self.smoothed_income: float = state["smoothed_income"]
        self.essentials: float = state["essentials"]
        self.habit: float = state["habit"]
        self.disc_share: float = state["disc_share"]
        self.savings: float = state["savings"]
        self.buffer_target: float = state["buffer_target"]
        self.overspender: bool = state["overspender"]
        self.literacy: float = state["literacy"]
        self.willingness: float = state["willingness"]
        self.misreport: float = state["misreport"]
        self.record_damaged_until: int = state["record_damaged_until"]
        self.distressed = False
        self.missed = False
        self.shock_sd: float = state["shock_sd"]
        self.cycle_beta: float = state["cycle_beta"]
        #: Share of the habit spent before debt, and the base monthly application rate
        #: (fixed per borrower; from ``init_population``).
        self.protect_share: float = state["protect_share"]
        self.apply_base: float = state["apply_base"]
        self.score_error: list[float] = state["score_error"]
        n_lenders = len(model.lenders)
        #: One loan slot per lender (None when the borrower holds no loan there).
        self.loans: list[Loan | None] = [None] * n_lenders
        #: Written-off debt still in recovery, and months since its write-off, per lender.
        self.wo_balance = [0.0] * n_lenders
        self.wo_months = [0] * n_lenders
        # The month's working values, kept between the two phases of the month.
        self.cash = 0.0  # savings + income - essentials - medical (+ loans to repay)
        self.protected = 0.0  # discretionary spending kept before debt
        self.due: list[float] = [0.0] * n_lenders  # due per lender slot
        # The month's application draws, drawn when first needed and shared by the
        # application to repay and the ordinary one (CreditEconomy's month-keyed draws).
        self.choice: float | None = None
        self.need: float | None = None

    # ---------------------------------------------------------------- the month
    def step_dues(self) -> None:
        """Phase 1 of the month: income and dues; short of them, apply to borrow to repay."""
        self.choice = self.need = None
        self.labour_market()
        fell_ill = self.illness()
        self.earn_income()
        self.cash, self.protected = self.spending_needs(fell_ill)
        self.due = self.accrue_interest()
        self.borrow_to_repay()

    def step_pay(self) -> None:
        """Phase 2 of the month (after loans to repay are funded): pay, settle, apply."""
        due, protected = self.due, self.protected
        paid, remaining = self.pay_loans(self.cash, protected, due)
        repaid_any = self.settle_loans(due, paid)
        self.settle_spending(remaining)
        self.missed = sum(paid) < sum(due) - EPS
        self.distressed = self.missed or remaining < protected
        self.pay_collection_costs()
        self.ask_for_relief()
        self.write_off()
        self.age_recoveries()
        self.apply_for_loan(repaid_any)

    # ---------------------------------------------------------------- the rules
    def labour_market(self) -> None:
        """Lose or find a job at this month's segment hazards (set by the economy)."""
        model = self.model
        u = model.random.random()
        if self.employed:
            if u < model.job_loss_prob[self.segment]:
                self.employed = False
        elif u < model.job_find_prob[self.segment]:
            self.employed = True
        self.months_unemployed = 0 if self.employed else self.months_unemployed + 1

    def illness(self) -> bool:
        """Age an ongoing illness, or fall ill (geometric duration); return True at onset."""
        model = self.model
        if self.ill_months > 0:
            self.ill_months -= 1
            return False
        if model.random.random() >= model.illness_rate:
            return False
        stay = model.illness_stay
        if stay > 0:
            u = model.random.random()
            duration = max(math.ceil(math.log1p(-u) / math.log(stay)), 1)
        else:
            duration = 1
        self.ill_months = min(duration, MAX_ILLNESS_MONTHS)
        return True

    def earn_income(self) -> None:
        """Wage x cycle x transitory shock (common factor), or benefit; illness cuts it."""
        model, p, macro = self.model, self.model.params, self.model.macro
        wage = self.base_income * macro.wage_index
        if self.employed:
            rho = p.income_common_share
            e = model.random.gauss(0.0, 1.0)
            driver = math.sqrt(rho) * model.common_shock + math.sqrt(1.0 - rho) * e
            cycle = max(1.0 - self.cycle_beta * model.cycle_gap, 0.05)
            sd = self.shock_sd
            value = wage * cycle * math.exp(sd * driver - 0.5 * sd * sd)
        elif self.months_unemployed <= p.benefit_months:
            value = wage * p.replacement_ratio
        else:
            value = wage * p.assistance_ratio
        if self.ill_months > 0:
            value *= 1.0 - p.illness_income_loss
        self.income = value
        weight = p.income_smoothing
        self.smoothed_income = (1.0 - weight) * self.smoothed_income + weight * value

    def spending_needs(self, fell_ill: bool) -> tuple[float, float]:
        """Cash after essentials and medical costs, and the protected discretionary spending."""
        p, macro = self.model.params, self.model.macro
        essentials = self.essentials * macro.price_index
        medical = p.illness_cost * self.base_income * macro.wage_index if fell_ill else 0.0
        cash = self.savings + self.income - essentials - medical
        return cash, self.habit * self.protect_share

    def accrue_interest(self) -> list[float]:
        """Accrue interest on every loan (the lender's income); return the due per lender slot."""
        due = [0.0] * len(self.loans)
        for j, loan in enumerate(self.loans):
            if loan is not None:
                interest, due[j] = loan.accrue()
                loan.lender.accounts["interest_income"] += interest
        return due

    def available_cash(self, cash: float, protected: float) -> float:
        """Cash the borrower can put to debt: cash less protected spending (``available_cash``).

        The strongest collection stage among the borrower's loans (bucket at the start of
        the month) makes them give up part of the protected spending.
        """
        squeeze = 0.0
        for loan in self.loans:
            if loan is not None:
                intensity = loan.lender.policy.collection_intensity
                squeeze = max(squeeze, SQUEEZE[loan.bucket] * intensity)
        return max(cash - protected * (1.0 - squeeze), 0.0)

    def borrow_to_repay(self) -> None:
        """Short of this month's dues, apply at a lender where no loan is held.

        With several lenders (and ``borrow_to_repay``): a borrower whose total dues
        exceed the cash they can put to debt asks for their usual need or the shortfall,
        whichever is larger. The lender decides before payments (funded between the two
        phases); the proceeds add to this month's cash (``receive_loan``).
        """
        model = self.model
        if len(self.loans) < 2 or not model.params.borrow_to_repay:
            return
        shortfall = sum(self.due) - self.available_cash(self.cash, self.protected)
        if not shortfall > EPS:
            return
        j = self.free_lender()
        if j is not None:
            self.apply_at(j, at_least=shortfall)

    def pay_loans(
        self, cash: float, protected: float, due: list[float]
    ) -> tuple[list[float], float]:
        """Split spare cash between the loans (hardest-pressing lender first), then recoveries.

        Collection pressure comes from each loan's bucket at the start of the month: it
        squeezes the protected spending (the strongest stage counts) and raises the
        chance that a reluctant borrower pays. One willingness draw per loan, in lender
        order (a loan taken this month to repay owes nothing yet).
        """
        loans = self.loans
        available = self.available_cash(cash, protected)
        held = [loan for loan in loans if loan is not None]
        will = self.willingness
        rand = self.model.random.random
        effects = [PAY_EFFECT[ln.bucket] * ln.lender.policy.collection_intensity for ln in held]
        willing = [rand() < will + (1.0 - will) * effect for effect in effects]
        order = range(len(held))
        if len(held) > 1:  # stable: ties keep lender order
            order = sorted(order, key=lambda k: -effects[k])
        paid = [0.0] * len(loans)
        for k in order:
            if willing[k]:
                j = held[k].lender.index
                paid[j] = min(due[j], available)
                available -= paid[j]
        recovered = [0.0] * len(loans)
        for j, owed in enumerate(self.wo_balance):
            if owed > 0.0:
                lender = self.model.lenders[j]
                share = RECOVERY_BASE + RECOVERY_COLLECTION * lender.policy.collection_intensity
                take = min(owed, share * min(available, self.income))
                recovered[j] = take
                self.wo_balance[j] = owed - take
                available -= take
                lender.accounts["recoveries"] += take
        remaining = cash - sum(paid) - sum(recovered)
        return paid, remaining

    def settle_loans(self, due: list[float], paid: list[float]) -> bool:
        """Book payments on every loan; close those repaid. Return True if any was repaid."""
        repaid_any = False
        for j, loan in enumerate(self.loans):
            if loan is None:
                continue
            fee, repaid = loan.settle(due[j], paid[j])
            accounts = loan.lender.accounts
            accounts["fee_income"] += fee
            accounts["repayments"] += paid[j]
            if repaid:
                self.close_loan(j)
                repaid_any = True
        return repaid_any

    def settle_spending(self, remaining: float) -> None:
        """Spend the rest of the habit, save what is left, spend down excess savings, adapt."""
        p = self.model.params
        discretionary = min(max(remaining, 0.0), self.habit)
        left = max(remaining - discretionary, 0.0)
        excess = max(left - self.buffer_target * self.smoothed_income, 0.0)
        self.savings = left - p.savings_spend_down * excess
        target = self.disc_share * self.smoothed_income
        self.habit = self.habit + p.habit_adjustment * (target - self.habit)

    def pay_collection_costs(self) -> None:
        """Book the collection cost of each active loan by stage (pre-due reminder if current)."""
        for loan in self.loans:
            if loan is None:
                continue
            policy = loan.lender.policy
            costs = policy.collection_costs
            bucket = loan.bucket
            cost = costs[bucket - 1] if bucket > 0 else costs[0] * PREDUE_REMINDER_SHARE
            loan.lender.accounts["collection_cost"] += cost * policy.collection_intensity

    def in_trouble(self) -> bool:
        """Ill, unemployed for at most a year, or earning under 80% of usual income."""
        return (
            self.ill_months > 0
            or (not self.employed and self.months_unemployed <= 12)
            or self.income < 0.8 * self.smoothed_income
        )

    def ask_for_relief(self) -> None:
        """Relief on 1-90 DPD loans never relieved, for a borrower in trouble who asks."""
        contact = None
        for loan in self.loans:
            if loan is None or loan.relieved or not 1 <= loan.dpd <= 3:
                continue
            policy = loan.lender.policy
            if not policy.relief_enabled or not self.in_trouble():
                continue
            if contact is None:  # one draw per borrower, shared by its lenders
                contact = self.model.random.random()
            if contact < 0.2 + 0.5 * self.literacy + 0.3 * policy.collection_intensity:
                accounts = loan.lender.accounts
                accounts["waived"] += loan.restructure()
                accounts["relief_granted"] += 1

    def write_off(self) -> None:
        """Write off loans at the lender's write-off DPD; mark 90+ DPD on the credit record."""
        month = self.model.month
        for j, loan in enumerate(self.loans):
            if loan is None:
                continue
            if loan.dpd >= loan.lender.policy.writeoff_dpd // 30:
                amount = loan.balance
                self.wo_balance[j] += amount
                self.wo_months[j] = 0
                loan.lender.accounts["writeoffs"] += amount
                self.close_loan(j)
                if amount > 0:
                    self.record_damaged_until = month + RECORD_MONTHS
            elif loan.dpd >= DEFAULT_DPD_MONTHS:
                self.record_damaged_until = month + RECORD_MONTHS

    def age_recoveries(self) -> None:
        """Written-off debt ages in recovery; it is dropped after the recovery window."""
        for j, owed in enumerate(self.wo_balance):
            if owed > 0.0:
                self.wo_months[j] += 1
                if self.wo_months[j] > RECOVERY_WINDOW:
                    self.wo_balance[j] = 0.0

    def apply_for_loan(self, repaid_any: bool) -> None:
        """Maybe apply, to a lender where no loan is held; the lender scores and screens."""
        model, p = self.model, self.model.params
        if repaid_any:
            prob = p.reborrow_probability
        elif self.distressed:
            prob = self.apply_base * p.distress_apply_multiplier
        else:
            prob = self.apply_base
        if model.random.random() >= prob:
            return
        j = self.free_lender()
        if j is not None:
            self.apply_at(j)

    def free_lender(self) -> int | None:
        """A lender where no loan is held, or None (``CreditEconomy._free_lender``).

        The search starts at the lender drawn from the month's choice draw and goes round.
        """
        loans = self.loans
        n_lenders = len(loans)
        if n_lenders == 1:
            return None if loans[0] is not None else 0
        if self.choice is None:
            self.choice = self.model.random.random()
        first = min(int(self.choice * n_lenders), n_lenders - 1)
        for shift in range(n_lenders):
            j = (first + shift) % n_lenders
            if loans[j] is None:
                return j
        return None

    def apply_at(self, j: int, at_least: float | None = None) -> None:
        """Apply at lender ``j``, for the usual need or ``at_least`` if larger (``_apply``)."""
        model, p = self.model, self.model.params
        lender = model.lenders[j]
        if lender.policy.sees_other_loans:
            debt_service = sum(loan.instalment for loan in self.loans if loan is not None)
        else:  # the lender sees only its own loans, and the applicant holds none there
            debt_service = 0.0
        quality = (self.raw_quality(debt_service) - model.quality_center) / model.quality_scale
        damaged = self.record_damaged_until >= model.month
        score = lender.score(quality, self.score_error[j], damaged)
        if self.need is None:
            self.need = model.random.gauss(0.0, 1.0)
        sd = p.loan_need_dispersion
        wanted = (
            p.loan_need_months * math.exp(sd * self.need - 0.5 * sd * sd) * self.smoothed_income
        )
        if at_least is not None:
            wanted = max(wanted, at_least)
        reported = self.income * self.misreport
        lender.screen(self, score, wanted, reported, debt_service, at_least is not None)

    def receive_loan(self, loan: Loan, to_repay: bool = False) -> None:
        """Take a new loan, and its proceeds.

        Borrowed to repay (``to_repay``): the proceeds add to this month's cash. Otherwise
        a borrower who missed a payment keeps them to repay; others spend them.
        """
        self.loans[loan.lender.index] = loan
        if to_repay:
            self.cash += loan.principal
        elif self.missed:
            self.savings += loan.principal

    # ---------------------------------------------------------------- helpers
    def close_loan(self, j: int) -> None:
        """Remove the loan at lender ``j`` (repaid or written off)."""
        loan = self.loans[j]
        loan.lender.loans.discard(loan)
        self.loans[j] = None

    def raw_quality(self, debt_service: float, price_index: float | None = None) -> float:
        """True creditworthiness (unobserved by lenders), before normalisation."""
        if price_index is None:
            price_index = self.model.macro.price_index
        income = max(self.smoothed_income, 1.0)
        slack = (
            income - self.essentials * price_index - self.habit * self.protect_share - debt_service
        ) / income
        buffer = min(self.savings / income, 6.0)
        return (
            3.0 * min(max(slack, -1.0), 1.0)
            + 0.3 * buffer
            + 4.0 * (self.willingness - 1.0)
            + 0.8 * self.employed
            - 0.5 * self.overspender
            - 2.0 * self.shock_sd
            + 0.5 * self.literacy
            - 0.5 * (self.ill_months > 0)
        )


# ------------------------------------------------------------------------ economy
class PerAgentEconomy(mesa.Model):
    """The rules of ``CreditEconomy``, one Mesa agent per borrower (see the module doc).

    Same constructor and ``run`` as :class:`model.CreditEconomy`. With the same seed it
    starts from the same population and score errors; the monthly draws differ.
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
    ) -> None:
        inputs = resolve_inputs(n_borrowers, scenario, policy, seed, population, burn_in)
        seq = inputs.seeds
        self.seed_entropy = seq.entropy
        # Mesa's ``random`` (Python's Random) drives every monthly draw and the shuffle.
        super().__init__(seed=int(seq.generate_state(1)[0]))
        self.scenario, self._preset_name = inputs.scenario, inputs.preset_name
        self.params = inputs.population
        self.n_borrowers = inputs.n_borrowers
        self.burn_in = burn_in = inputs.burn_in
        self.start_unemployment = float(self.scenario.unemployment[0])
        self.month = -burn_in
        self._rows: list[dict[str, float]] = []
        self._set_month_conditions()

        self.lenders = [LenderAgent(self, j, p) for j, p in enumerate(inputs.policies)]
        self.borrowers = self._create_borrowers(seq)
        # Quality normalisation: mean and s.d. of raw quality at month 0 conditions.
        raw = [b.raw_quality(0.0, price_index=1.0) for b in self.borrowers]
        center = sum(raw) / len(raw)
        scale = math.sqrt(sum((r - center) ** 2 for r in raw) / len(raw))
        self.quality_center, self.quality_scale = center, scale or 1.0

        for _ in range(burn_in):
            self._advance(record=False)
        for lender in self.lenders:
            lender.reset_capital()

    def _create_borrowers(self, seq: np.random.SeedSequence) -> list[BorrowerAgent]:
        """Draw the population as ``CreditEconomy`` does (same streams) and make agents.

        The draws use ``init_population`` (numpy arrays); each row becomes one agent
        holding plain Python values. This is construction, not the monthly path.
        """
        children = seq.spawn(len(STREAMS))
        population_rng = np.random.default_rng(children[STREAMS.index("population")])
        screening_rng = np.random.default_rng(children[STREAMS.index("screening")])
        state = init_population(
            self.params, self.n_borrowers, self.start_unemployment, population_rng
        )
        errors = screening_rng.standard_normal((len(self.lenders), self.n_borrowers))
        columns = {name: getattr(state, name).tolist() for name in INITIAL_FIELDS}
        columns["score_error"] = errors.T.tolist()
        names = list(columns)
        return [
            BorrowerAgent(self, **dict(zip(names, row, strict=True)))
            for row in zip(*columns.values(), strict=True)
        ]

    @classmethod
    def from_credit_economy(cls, eco: Any, seed: int = 0) -> PerAgentEconomy:
        """A per-agent copy of ``eco``'s current state (borrowers, loans, lenders, month).

        For cross-checking rules from an identical state: stepping the copy and ``eco``
        one month differs only by the random draws. Reads ``CreditEconomy`` internals.
        """
        policies = [lender.policy for lender in eco.lenders]
        ref = cls(eco.n_borrowers, eco.scenario, policies, seed, population=eco.params, burn_in=0)
        s, book = eco.state, eco.book
        for i, agent in enumerate(ref.borrowers):
            for name in COPIED_FIELDS:
                setattr(agent, name, getattr(s, name)[i].item())
            agent.score_error = eco.score_error[:, i].tolist()
            agent.wo_balance = book.wo_balance[:, i].tolist()
            agent.wo_months = book.wo_months[:, i].tolist()
        for lender, source in zip(ref.lenders, eco.lenders, strict=True):
            j = lender.index
            lender.tightening, lender.capital = source.tightening, source.capital
            lender.provisions, lender.cum_net_loss = source.provisions, source.cum_net_loss
            lender.funding_limit = source.funding_limit
            for i in np.flatnonzero(book.active[j]).tolist():
                loan = Loan(lender, 1.0, 0.0, 0, 0)
                for name in Loan.__slots__[1:]:
                    setattr(loan, name, getattr(book, name)[j, i].item())
                lender.loans.add(loan)
                ref.borrowers[i].loans[j] = loan
        ref.quality_center, ref.quality_scale = eco._quality_center, eco._quality_scale
        ref.month = eco.month
        ref._set_month_conditions()
        return ref

    # ----------------------------------------------------------------- public API
    def step(self) -> None:
        """Advance one month and record its metrics."""
        self._advance(record=True)

    def run(self, months: int) -> pd.DataFrame:
        """Step ``months`` months and return every recorded month's metrics."""
        months = check_number("months", months, low=0, high=1200, integer=True)
        end = self.month + months
        if self._preset_name is not None and end > self.scenario.months:
            self.scenario = MacroScenario.preset(self._preset_name, months=end)
        for _ in range(months):
            self.step()
        return self.metrics()

    def metrics(self) -> pd.DataFrame:
        """Metrics of every recorded month so far, one row per month."""
        return pd.DataFrame(self._rows, columns=[*METRIC_COLUMNS, *EXTRA_COLUMNS])

    # --------------------------------------------------------------- the schedule
    @property
    def loans_to_repay(self) -> int:
        """Loans funded this month (so far) to borrowers short of their dues."""
        return sum(lender.loans_to_repay for lender in self.lenders)

    def _advance(self, record: bool) -> None:
        """One month: macro, labour-market rates, then two phases over the borrowers.

        Every borrower computes its dues (and applies to borrow to repay if short), the
        lenders fund those loans, every borrower pays and applies, the lenders fund.
        Each phase steps the borrowers in a fresh random order (see the module doc).
        """
        self._set_month_conditions()
        self.common_shock = self.random.gauss(0.0, 1.0)
        for lender in self.lenders:
            lender.open_month(self.macro.policy_rate)
        self._labour_market_rates()
        borrowers = self.agents_by_type[BorrowerAgent]
        borrowers.shuffle_do("step_dues")
        for lender in self.lenders:
            lender.fund(self.month, to_repay=True)
        borrowers.shuffle_do("step_pay")
        for lender in self.lenders:
            lender.fund(self.month)
        self._close_month(record)

    def _set_month_conditions(self) -> None:
        """This month's macro state and the numbers every borrower shares."""
        p = self.params
        # Burn-in months (< 0) repeat month 0's conditions, with wage and price levels
        # growing into month 0 (``MacroScenario.state``).
        self.macro: MacroState = self.scenario.state(self.month)
        self.cycle_gap = max(self.macro.unemployment - self.start_unemployment, 0.0)
        self.illness_rate = min(p.illness_rate * self.macro.illness_factor, 1.0)
        self.illness_stay = 1.0 - 1.0 / p.illness_months

    def _labour_market_rates(self) -> None:
        """Aggregate job-loss and job-finding rates that make unemployment track the path.

        Population-level, as in ``borrowers.labour_market``, then spread over segments by
        their relative hazards (normalised over the current employed / unemployed pools).
        """
        p = self.params
        target, u0 = self.macro.unemployment, self.start_unemployment
        n = len(self.borrowers)
        loss_rel, find_rel = p.job_loss_relative, p.job_finding_relative
        employed_rel = [loss_rel[b.segment] for b in self.borrowers if b.employed]
        unemployed_rel = [find_rel[b.segment] for b in self.borrowers if not b.employed]
        u_now = len(unemployed_rel) / n
        find = min(p.job_finding_rate * (u0 / max(target, 1e-6)) ** 0.7, 0.95)
        loss = (target - u_now + find * u_now) / max(1.0 - u_now, 1e-12)
        min_loss = 0.2 * p.job_finding_rate * u0
        if loss < min_loss:
            loss = min_loss
            find = (u_now - target + loss * (1.0 - u_now)) / max(u_now, 1e-12)
        loss, find = min(max(loss, 0.0), 1.0), min(max(find, 0.0), 1.0)
        mean_loss = sum(employed_rel) / len(employed_rel) if employed_rel else 1.0
        mean_find = sum(unemployed_rel) / len(unemployed_rel) if unemployed_rel else 1.0
        self.job_loss_prob = [loss * r / max(mean_loss, 1e-12) for r in loss_rel]
        self.job_find_prob = [find * r / max(mean_find, 1e-12) for r in find_rel]

    def _close_month(self, record: bool) -> None:
        rows = [lender.close_month(record) for lender in self.lenders]
        if record:
            row = combine(rows)
            row["month"] = self.month
            employed = sum(1 for b in self.borrowers if b.employed)
            row["unemployment_rate"] = 1.0 - employed / self.n_borrowers
            row["scenario_unemployment"] = self.macro.unemployment
            self._rows.append(row)
        self.month += 1


# ------------------------------------------------------------------------ speed-up
def speedup(n_borrowers: int = 5000, months: int = 24, seed: int = 1) -> dict[str, float]:
    """Time both models (construction + run, same settings, severe recession).

    Returns:
        ``seconds_vectorized`` (CreditEconomy), ``seconds_per_agent`` (PerAgentEconomy)
        and ``ratio`` = per-agent seconds / vectorized seconds.
    """
    from model import CreditEconomy

    timings = {}
    for key, cls in (("vectorized", CreditEconomy), ("per_agent", PerAgentEconomy)):
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
