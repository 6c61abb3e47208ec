"""The lender agent: screening, sizing, pricing, graded collection, relief, write-off, accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import mesa
import numpy as np

from model._agent_ids import MODEL_IDS
from model.loans import DEFAULT_DPD_MONTHS, LoanBook, annuity_factor
from model.metrics import FLOW_FIELDS, book_measures, derive
from model.policy import RiskPolicy

if TYPE_CHECKING:
    from model.economy import CreditEconomy

#: Effect of each collection stage (by bucket current, 1-30, 31-60, 61-90, 90+) at full
#: intensity on the chance a reluctant borrower pays: it closes this share of the gap to 1.
#: On current loans the reminder stage is a pre-due reminder.
STAGE_PAY_EFFECT = np.array([0.8, 0.6, 0.7, 0.8, 0.85])
#: Share of the protected discretionary spending a borrower under collection gives up to pay.
STAGE_SQUEEZE = np.array([0.0, 0.3, 0.5, 0.7, 0.8])
#: Cost of a pre-due reminder on a current loan, as a share of the reminder stage's cost.
PREDUE_REMINDER_SHARE = 0.05
#: Score points lost while the credit record shows a 90+ DPD default.
DAMAGED_RECORD_PENALTY = 150.0
#: Months a 90+ DPD default stays on the credit record (refused or penalised meanwhile).
RECORD_MONTHS = 36
#: Chance per month, at full collection intensity, that the collection team reaches a
#: borrower in trouble who did not ask for relief.
RELIEF_REACH = 0.3
#: Smallest loan worth making.
MIN_LOAN = 300.0
#: Observed-score lower bounds of tiers A, B, C (below C is D).
TIER_BOUNDS = (700.0, 650.0, 600.0)


class CollectionPressure(NamedTuple):
    """A lender's collection stages this month, kept sparse: most slots are at stage 0.

    Current and closed slots (DPD 0) are at stage 0 (``base_effect``, ``base_squeeze``);
    only the overdue slots are listed.

    Attributes:
        overdue: Borrower indices of the overdue slots.
        pay_effect: Share of a reluctant borrower's gap to certain payment that
            collection closes, at ``overdue``.
        squeeze: Share of protected spending the borrower gives up to pay, at ``overdue``.
        base_effect: Pay effect at stage 0 (the pre-due reminder).
        base_squeeze: Squeeze at stage 0.
    """

    overdue: np.ndarray
    pay_effect: np.ndarray
    squeeze: np.ndarray
    base_effect: float
    base_squeeze: float

    def dense(self, n_borrowers: int) -> tuple[np.ndarray, np.ndarray]:
        """``(pay_effect, squeeze)`` as arrays over all ``n_borrowers`` slots."""
        effect = np.full(n_borrowers, self.base_effect)
        squeeze = np.full(n_borrowers, self.base_squeeze)
        effect[self.overdue] = self.pay_effect
        squeeze[self.overdue] = self.squeeze
        return effect, squeeze


class Lender(mesa.Agent):
    """A lender: holds a :class:`RiskPolicy` and its slice of the loan book.

    Attributes:
        index: Row of the loan book holding this lender's loans.
        policy: The risk policy.
        tightening: Score points currently added to the cut-off by the dynamic rule.
        capital: Equity: initial capital plus profit since month 0 (the burn-in's is not
            counted).
        provisions: Loss allowance held against the book at the end of the last month
            (``policy.provision_rates`` times the balance in each DPD bucket).
        funding_limit: Largest loan book the lender can fund.
        accounts: This month's flows (``model.metrics.FLOW_FIELDS``), reset every month;
            only the lender's own methods book them.
        history: One dict of accounts per recorded month.
    """

    _ids = MODEL_IDS  # weakly keyed: a finished economy can be freed

    def __init__(
        self, model: CreditEconomy, index: int, policy: RiskPolicy, n_borrowers: int
    ) -> None:
        super().__init__(model)
        self.index = index
        self.policy = policy
        self.tightening = 0.0
        self.funding_limit = policy.funding_limit_per_borrower * n_borrowers
        self.capital = 0.0
        self.cum_net_loss = 0.0
        self.provisions = 0.0
        self.reset_capital()
        self.accounts: dict[str, float] = dict.fromkeys(FLOW_FIELDS, 0.0)
        self.history: list[dict[str, float]] = []

    @property
    def cutoff(self) -> float:
        """Score cut-off in force: the policy's plus the dynamic tightening."""
        return self.policy.score_cutoff + self.tightening

    def reset_capital(self) -> None:
        """Set capital back to the initial equity and the loss count to 0 (end of burn-in)."""
        self.capital = self.policy.capital_ratio * self.funding_limit
        self.cum_net_loss = 0.0

    def open_month(self, book: LoanBook, policy_rate: float) -> None:
        """Reset the month's flows; charge funding and servicing cost on the opening book."""
        self.accounts = dict.fromkeys(FLOW_FIELDS, 0.0)
        opening = float(book.balance[self.index].sum())
        self.accounts["funding_cost"] = opening * (policy_rate + self.policy.funding_spread) / 12
        open_loans = int(np.count_nonzero(book.active[self.index]))
        self.accounts["servicing_cost"] = open_loans * self.policy.servicing_cost

    def collection_pressure(self, book: LoanBook) -> CollectionPressure:
        """This lender's collection stage on every slot, for the coming payments."""
        intensity = self.policy.collection_intensity
        effect, squeeze = STAGE_PAY_EFFECT * intensity, STAGE_SQUEEZE * intensity
        dpd = book.dpd[self.index]
        overdue = np.flatnonzero(dpd != 0)
        bucket = np.minimum(dpd[overdue], DEFAULT_DPD_MONTHS)
        return CollectionPressure(
            overdue, effect[bucket], squeeze[bucket], float(effect[0]), float(squeeze[0])
        )

    def accrue(self, book: LoanBook) -> np.ndarray:
        """Accrue the month's interest on this lender's loans and book it; return what is due."""
        interest, due = book.due(self.index, self.policy.penalty_rate / 12)
        self.accounts["interest_income"] += float(interest.sum())
        return due

    def settle(
        self, book: LoanBook, due: np.ndarray, paid: np.ndarray, new_since: int | None
    ) -> np.ndarray:
        """Book the month's payments on this lender's loans; return the loans repaid in full.

        Args:
            book: The loan book.
            due: Amount due per borrower (from :meth:`accrue`).
            paid: Amount paid per borrower.
            new_since: Vintage of loans made this month before payments (they owe nothing
                yet and do not age), or None.
        """
        _, fees, repaid = book.settle(self.index, due, paid, self.policy.late_fee, new_since)
        self.accounts["fee_income"] += float(fees.sum())
        self.accounts["repayments"] += float(paid.sum())
        return repaid

    def receive_recoveries(self, amount: float) -> None:
        """Book cash recovered on written-off debt."""
        self.accounts["recoveries"] += float(amount)

    def collect(self, book: LoanBook) -> None:
        """Run graded collection: count the cost by stage (pre-due reminders on current loans)."""
        j = self.index
        counts = book.bucket_counts(j)
        costs = np.asarray(self.policy.collection_costs)
        cost = counts[1:] @ costs + counts[0] * costs[0] * PREDUE_REMINDER_SHARE
        self.accounts["collection_cost"] += float(cost * self.policy.collection_intensity)

    @property
    def relief_reach(self) -> float:
        """Chance the collection team reaches a borrower in trouble who did not ask."""
        return RELIEF_REACH * self.policy.collection_intensity

    def relief_candidates(self, book: LoanBook) -> np.ndarray:
        """Borrowers whose loan here qualifies for relief: 1-90 DPD, never relieved before."""
        if not self.policy.relief_enabled:
            return np.empty(0, np.intp)
        j = self.index
        dpd = book.dpd[j]
        idx = np.flatnonzero((dpd >= 1) & (dpd <= 3))  # only open loans have DPD
        return idx[~book.relieved[j, idx]]

    def grant_relief(self, book: LoanBook, borrowers: np.ndarray) -> None:
        """Restructure the loans of ``borrowers`` on the policy's relief terms and book it."""
        p = self.policy
        waived = book.grant_relief(
            self.index, borrowers, p.relief_waiver, p.relief_rate_cut, p.relief_extension_months
        )
        self.accounts["waived"] += float(waived.sum())
        self.accounts["relief_granted"] += float(borrowers.size)

    def write_off(self, book: LoanBook) -> tuple[np.ndarray, np.ndarray]:
        """Write off this lender's loans at the policy's DPD and book the loss.

        Returns:
            ``(borrowers, amounts)`` of the loans written off.
        """
        hit, amount = book.write_off(self.index, self.policy.writeoff_dpd // 30)
        self.accounts["writeoffs"] += float(amount.sum())
        return hit, amount

    def score(self, quality: np.ndarray, error: np.ndarray, damaged: np.ndarray) -> np.ndarray:
        """Observed score (300-850) from standardised true quality and this lender's error."""
        raw = 620.0 + 60.0 * (quality + self.policy.score_noise * error)
        return np.clip(raw - DAMAGED_RECORD_PENALTY * damaged, 300.0, 850.0)

    def originate(
        self,
        book: LoanBook,
        applicants: np.ndarray,
        score: np.ndarray,
        wanted: np.ndarray,
        reported_income: np.ndarray,
        debt_service: np.ndarray,
        policy_rate: float,
        month: int,
        to_repay: bool = False,
    ) -> np.ndarray:
        """Screen, size, price and fund applications; open the approved loans.

        Approve when the observed score clears the cut-off, the loan fits the
        debt-to-income cap (with existing instalments) and the loan-to-income cap,
        and funding remains (best scores first when funding binds).

        Args:
            book: The loan book.
            applicants: Borrower indices applying to this lender.
            score: Their observed scores.
            wanted: Loan amounts they ask for.
            reported_income: Their reported monthly incomes.
            debt_service: Their existing monthly instalments (all lenders).
            policy_rate: This month's policy rate.
            month: Month number (the loans' vintage).
            to_repay: Whether these are applications to repay another lender (counted
                also in ``applications_to_repay`` and ``approvals_to_repay``).

        Returns:
            The amounts lent per applicant (0 where refused).
        """
        p = self.policy
        j = self.index
        self.accounts["applications"] += applicants.size
        tier = sum((score < bound).astype(np.int8) for bound in TIER_BOUNDS)
        annual = np.array([p.annual_rate(k, policy_rate) for k in range(4)])
        monthly = annual[tier] / 12
        factor = np.array([annuity_factor(r / 12, p.term_months) for r in annual])[tier]
        room = p.max_dti * reported_income - debt_service
        amount = np.minimum(wanted, p.max_loan_to_income * reported_income)
        amount = np.minimum(amount, np.maximum(room, 0.0) * factor)
        approve = (score >= self.cutoff) & (amount >= MIN_LOAN)
        capacity = self.funding_limit - float(book.balance[j].sum())
        if approve.any() and amount[approve].sum() > capacity:
            order = np.flatnonzero(approve)[np.argsort(-score[approve], kind="stable")]
            fits = np.cumsum(amount[order]) <= capacity
            approve[:] = False
            approve[order[fits]] = True
        lent = np.where(approve, amount, 0.0)
        chosen = applicants[approve]
        book.originate(
            j, chosen, lent[approve], monthly[approve], p.term_months, tier[approve], month
        )
        self.accounts["approvals"] += chosen.size
        if to_repay:
            self.accounts["applications_to_repay"] += applicants.size
            self.accounts["approvals_to_repay"] += chosen.size
        self.accounts["originations"] += float(lent.sum())
        self.accounts["acquisition_cost"] += chosen.size * p.acquisition_cost
        return lent

    def close_month(self, book: LoanBook, record: bool) -> dict[str, float]:
        """Close the accounts: provisions, profit, capital, book state and the dynamic rule.

        The loss allowance is set to ``provision_rates`` times the balance in each DPD
        bucket; the provision charge is its change over the month. Profit = interest +
        fees + recoveries - write-offs - waived - provision charge - funding cost -
        collection cost - acquisition cost - servicing cost.

        Returns:
            The month's row of this lender's metrics (appended to ``history`` when
            ``record``); ratios are filled by ``model.metrics.derive``.
        """
        a = self.accounts
        j = self.index
        provisions = float(np.dot(self.policy.provision_rates, book.balance_by_bucket(j)))
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
        row = {**a, **book_measures(book, j)}
        row["capital"] = self.capital
        row["provisions"] = provisions
        row["cutoff"] = self.cutoff
        self.cum_net_loss += a["writeoffs"] - a["recoveries"]
        row["cum_net_loss"] = self.cum_net_loss
        derive(row)
        self._tighten(row["overdue_rate"])
        if record:
            self.history.append(row)
        return row

    def _tighten(self, overdue_rate: float) -> None:
        """The dynamic rule: move the cut-off by one step toward the overdue target."""
        target = self.policy.dynamic_overdue_target
        if target is None:
            return
        step = self.policy.dynamic_step
        if overdue_rate > target:
            self.tightening = min(self.tightening + step, self.policy.dynamic_max_tightening)
        else:
            self.tightening = max(self.tightening - step, 0.0)
