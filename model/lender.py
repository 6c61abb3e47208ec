"""The lender agent: screening, pricing, collection, relief, write-off, accounts and capital."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mesa
import numpy as np

from model import loans
from model._agent_ids import MODEL_IDS
from model.loans import (
    BookSummary,
    LoanBook,
    RedefaultCohorts,
    Settlement,
    annuity_factor,
)
from model.market import MarketRules, investor_confidence
from model.metrics import FLOW_FIELDS, book_measures, derive
from model.origination import (
    N_TIERS,
    Applications,
    lender_bounds,
    observed_score,
    originate_round,
    per_application,
    ration,
)
from model.policy import RiskPolicy
from model.population import PopulationParams
from model.tape import LoanTape

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
#: Months a 90+ DPD default stays on the credit record (refused or penalised meanwhile).
RECORD_MONTHS = 36
#: Chance per month, at full collection intensity, that the collection team reaches a
#: borrower in trouble who did not ask for relief.
RELIEF_REACH = 0.3
#: Months averaged by the dynamic rule's new-delinquency flow.
FLOW_MONTHS = 3
#: IFRS 9 stage of a forborne loan: stage 2 until it re-defaults (the provision rate of
#: 31-60 DPD, index 2 of ``provision_rates``), stage 3 after (90+, index 4).
FORBORNE_STAGE2, FORBORNE_STAGE3 = 2, 4


def grant_relief(
    lenders: Sequence[Lender],
    book: LoanBook,
    at: np.ndarray,
    slots: np.ndarray,
    month: int,
    redefaults: RedefaultCohorts,
) -> tuple[np.ndarray, np.ndarray]:
    """Restructure loans on their lenders' relief terms, in one pass, and book it.

    The loans are in ``slots`` of the rows of ``lenders[at]`` (``at`` non-decreasing).

    Returns:
        The amount waived on each loan, and which of them the waiver settled (nothing
        left owed): the caller closes those.
    """
    terms = [(x.index, x.policy.relief_waiver, x.policy.relief_rate_cut,
              x.policy.relief_extension_months) for x in lenders]  # fmt: skip
    index, waiver, rate_cut, extension = (per_application(t, at) for t in zip(*terms, strict=True))
    waived = loans.restructure(book, index, slots, waiver=waiver, rate_cut=rate_cut,
                               extension=extension, month=month)  # fmt: skip
    settled = book.columns["balance"][index, slots] == 0.0
    bounds = lender_bounds(at, len(lenders))
    for k, lender in enumerate(lenders):
        mine = slice(bounds[k], bounds[k + 1])
        lender.book_relief(waived[mine], month, redefaults, int(settled[mine].sum()))
    return waived, settled


def close_loans(
    book: LoanBook,
    tape: LoanTape,
    lenders: int | np.ndarray,
    borrowers: np.ndarray,
    slots: np.ndarray,
    month: int,
) -> None:
    """Close the loans of ``borrowers`` repaid in full, in ``slots`` of rows ``lenders``.

    ``lenders`` is one row for all the loans, or one per loan (every lender's at once).
    """
    tape.close(book, lenders, slots, month, written_off=False)
    book.free(lenders, slots, borrowers)


def write_off(
    lenders: Sequence[Lender], book: LoanBook, tape: LoanTape, month: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Write off every lender's loans at its policy's DPD, in one pass, and book the losses.

    ``lenders[j]`` holds row ``j`` of the book (every lender of the economy).

    Returns:
        ``(lenders, borrowers, loan_ids, amounts)`` of the loans written off (slots
        emptied), lender by lender in borrower order; ``lenders`` are rows.
    """
    rows, slots = loans.past_due(book, np.array([x.policy.writeoff_dpd // 30 for x in lenders]))
    c = book.columns
    hit, ids, amounts, relieved = (
        c[name][rows, slots] for name in ("borrower", "loan_id", "balance", "relieved")
    )  # (a dense row's key of slot i is i)
    tape.close(book, rows, slots, month, written_off=True)
    book.free(rows, slots, hit)
    bounds = lender_bounds(rows, len(lenders))
    for k, lender in enumerate(lenders):
        mine = slice(bounds[k], bounds[k + 1])
        lender.book_write_offs(amounts[mine], relieved[mine])
    return rows, hit, ids, amounts


def _profit(accounts: dict[str, float]) -> float:
    """A month's profit: income and recoveries less losses, provision charge and costs."""
    a = accounts
    return (
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


class Lender(mesa.Agent):
    """A lender: holds a :class:`RiskPolicy`, its row of the loan book and its accounts.

    Attributes:
        index: Row of the loan book holding this lender's loans.
        policy: The risk policy.
        tightening: Score points currently added to the cut-off by the dynamic rule.
        funding_limit: Largest loan book the lender can fund.
        capital: Equity (None during the burn-in): ``capital_ratio`` times the book at the
            end of the burn-in, then moved by profit and dividends.
        failed: Whether equity reached zero: the lender stops lending and its book runs
            off, collected only with the market's ``collect_after_failure`` (the default).
        provisions: Loss allowance held against the book at the end of the last month.
        cum_net_loss: Net loss since month 0.
        accounts: This month's flows (``model.metrics.FLOW_FIELDS``), reset every month;
            only the lender's own methods book them.
        history: One row of metrics per recorded month.
    """

    _ids = MODEL_IDS  # weakly keyed: a finished economy can be freed

    def __init__(
        self,
        model: CreditEconomy,
        index: int,
        policy: RiskPolicy,
        n_borrowers: int,
        rules: MarketRules | None = None,
    ) -> None:
        super().__init__(model)
        self.index = index
        self.rules = rules if rules is not None else MarketRules()
        self.adopt(policy, n_borrowers)
        self.capital: float | None = None
        self.failed = False
        self.failed_at: int | None = None
        self.provisions = 0.0
        self.cum_net_loss = 0.0
        self.accounts: dict[str, float] = dict.fromkeys(FLOW_FIELDS, 0.0)
        self.history: list[dict[str, float]] = []
        self._book = 0.0  # balance at the last close
        self._capital_base = 0.0  # what the capital ratio was first held on

    def adopt(self, policy: RiskPolicy, n_borrowers: int) -> None:
        """Take ``policy`` (at construction, or in a fork): its funding line, terms, rule."""
        self.policy = policy
        self.funding_limit = policy.funding_limit_per_borrower * n_borrowers
        self.funding_line = self.funding_limit
        self.confidence = 1.0
        self.tightening = 0.0
        self._flows: deque[float] = deque(maxlen=FLOW_MONTHS)
        self.easing = 0.0
        self._shares: deque[float] = deque(maxlen=FLOW_MONTHS)
        terms = policy.terms()
        #: The policy's loan terms (months) and the cumulative shares of its mix.
        self.terms = np.array([t for t, _ in terms], np.int16)
        self.term_cdf = np.cumsum([share for _, share in terms])
        # The rates and annuity factors in force, for a (policy rate, easing); a new
        # policy comes only through here, so it is priced afresh.
        self._prices_at: tuple[float, float] | None = None
        self._price_table: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty((0, 0)))

    @property
    def cutoff(self) -> float:
        """Score cut-off in force: the policy's, plus the dynamic tightening, less easing."""
        return (
            self.policy.score_cutoff
            + self.tightening
            - self.easing * self.policy.competition_max_loosening
        )

    def annual_rates(self, policy_rate: float) -> np.ndarray:
        """Annual rate of each risk tier (A-D) now: the policy's less the competitive cut.

        Read-only (the lender's own, shared by the month's applications).
        """
        return self.prices(policy_rate)[0]

    def prices(self, policy_rate: float) -> tuple[np.ndarray, np.ndarray]:
        """Each tier's annual rate, and the annuity factor of each (tier, term), now.

        Worked out once for a policy rate and easing (the month's applications share them);
        the arrays are read-only.
        """
        if self._prices_at != (policy_rate, self.easing):
            cut = self.easing * self.policy.competition_max_margin_cut
            annual = np.array(
                [max(self.policy.annual_rate(k, policy_rate) - cut, 0.0) for k in range(N_TIERS)]
            )
            factor = np.array(
                [[annuity_factor(r / 12, int(t)) for t in self.terms] for r in annual]
            )
            annual.flags.writeable = factor.flags.writeable = False
            self._prices_at, self._price_table = (policy_rate, self.easing), (annual, factor)
        return self._price_table

    @property
    def capital_ratio(self) -> float | None:
        """Equity over the book at the last close (None during the burn-in)."""
        if self.capital is None:
            return None
        return self.capital / self._book if self._book > 0 else float("inf")

    @property
    def can_lend(self) -> bool:
        """Whether the lender may originate: not failed, capital at or above the minimum.

        The minimum is the higher of the policy's and the market's (regulation).
        """
        ratio = self.capital_ratio
        floor = max(self.policy.min_capital_ratio, self.rules.regulatory_capital_ratio)
        return not self.failed and (ratio is None or ratio >= floor)

    def start_capital(self, book: LoanBook) -> None:
        """Hold ``capital_ratio`` times the book as equity (at the end of the burn-in).

        A lender that starts without a book (no burn-in) holds ``capital_ratio`` times its
        funding line instead, or its first month's costs would break it.
        """
        self._book = book.total("balance", self.index)
        self._capital_base = self._book if self._book > 0 else self.funding_limit
        self.capital = self.policy.capital_ratio * self._capital_base
        self.cum_net_loss = 0.0

    def open_month(self, book: LoanBook, policy_rate: float) -> None:
        """Reset the month's flows; charge funding and servicing cost on the opening book.

        The book beyond the funding line (investors who left) is funded at the market's
        ``run_spread`` on top.
        """
        self.accounts = dict.fromkeys(FLOW_FIELDS, 0.0)
        opening = book.total("balance", self.index)
        cost = opening * (policy_rate + self.policy.funding_spread) / 12
        cost += max(opening - self.funding_line, 0.0) * self.rules.run_spread / 12
        self.accounts["funding_cost"] = cost
        open_loans = int(book.n_open[self.index])
        self.accounts["servicing_cost"] = open_loans * self.policy.servicing_cost

    def stage_effects(self) -> tuple[np.ndarray, np.ndarray]:
        """This lender's collection stages by DPD bucket (current, 1-30, ..., 90+).

        Returns:
            ``(pay_effect, squeeze)``: the share of a reluctant borrower's gap to certain
            payment each stage closes, and the share of protected spending it squeezes out
            (both at the policy's collection intensity; on current loans, the pre-due
            reminder).
        """
        if not self.collecting:
            return np.zeros_like(STAGE_PAY_EFFECT), np.zeros_like(STAGE_SQUEEZE)
        intensity = self.intensity
        top = self.rules.max_collection_stage
        stage = np.minimum(np.arange(STAGE_PAY_EFFECT.size), top)  # no stage past the cap
        effect, squeeze = STAGE_PAY_EFFECT[stage] * intensity, STAGE_SQUEEZE[stage] * intensity
        if top == 0:  # not even reminders
            effect, squeeze = np.zeros_like(effect), np.zeros_like(squeeze)
        return effect, squeeze

    @property
    def collecting(self) -> bool:
        """Whether the lender collects: not failed, or the market has failed books run off."""
        return not self.failed or self.rules.collect_after_failure

    @property
    def intensity(self) -> float:
        """Collection intensity in force: the policy's, within the market's cap."""
        return min(self.policy.collection_intensity, self.rules.max_collection_intensity)

    def accrue(
        self, book: LoanBook, total_due: np.ndarray | None = None, first: bool = False
    ) -> None:
        """Accrue the month's interest on this lender's loans and book it.

        The instalments fall due; their dues go to ``total_due`` (per borrower) if given
        (``model.loans.fall_due``, as are ``first``).
        """
        penalty = self.policy.penalty_rate / 12
        interest = loans.fall_due(book, self.index, penalty, total_due, first=first)
        self.accounts["interest_income"] += interest

    def settle(
        self,
        book: LoanBook,
        month: int,
        redefaults: RedefaultCohorts,
    ) -> Settlement:
        """Book the month's payments on this lender's loans (``model.loans.settle``)."""
        p = self.policy
        done = loans.settle(
            book,
            self.index,
            late_fee=p.late_fee,
            payment_order=p.payment_order,
            probation_months=p.probation_months,
            month=month,
            redefaults=redefaults,
        )
        a = self.accounts
        a["fee_income"] += done.fees
        a["repayments"] += done.repayments
        a["redefaults"] += float(done.redefaulted.size)
        a["current_balance"] += done.current_balance
        a["newly_delinquent_balance"] += done.newly_delinquent
        return done

    def receive_recoveries(self, amount: float) -> None:
        """Book cash recovered on written-off debt."""
        self.accounts["recoveries"] += float(amount)

    def collect(self, book: LoanBook) -> None:
        """Run graded collection: count the cost by stage (pre-due reminders on current loans)."""
        top = self.rules.max_collection_stage
        if not self.collecting or top == 0:
            return
        counts = loans.bucket_counts(book, self.index)
        costs = np.asarray(self.policy.collection_costs)[np.minimum(np.arange(4), top - 1)]
        cost = counts[1:] @ costs + counts[0] * costs[0] * PREDUE_REMINDER_SHARE
        self.accounts["collection_cost"] += float(cost * self.intensity)

    @property
    def relief_reach(self) -> float:
        """Chance the collection team reaches a borrower in trouble who did not ask."""
        return RELIEF_REACH * self.intensity

    @property
    def offers_relief(self) -> bool:
        """Whether the lender grants relief: its policy's, while it collects."""
        return self.policy.relief_enabled and self.collecting

    def relief_candidates(self, book: LoanBook) -> np.ndarray:
        """Slots of the loans here that qualify for relief: 1-90 DPD, never relieved before.

        ``loans.relief_candidates`` (which finds every lender's at once) for this lender.
        """
        offers = [j == self.index and self.offers_relief for j in range(book.n_lenders)]
        return loans.relief_candidates(book, offers)[1]

    def book_relief(
        self, waived: np.ndarray, month: int, redefaults: RedefaultCohorts, settled: int = 0
    ) -> None:
        """Book relief granted on loans here (``waived``: the amount waived on each).

        The ``settled`` of them (nothing left owed, so closed) count as relief but join no
        re-default cohort: they cannot miss a payment again.
        """
        redefaults.record_grants(self.index, month, waived.size - settled)
        self.accounts["waived"] += float(waived.sum())
        self.accounts["relief_granted"] += float(waived.size)

    def book_write_offs(self, amounts: np.ndarray, relieved: np.ndarray) -> None:
        """Book the loss on loans written off here (their balances; whether once relieved)."""
        self.accounts["writeoffs"] += float(amounts.sum())
        self.accounts["writeoffs_after_relief"] += float(amounts[relieved].sum())

    def score(
        self,
        quality: np.ndarray,
        error: np.ndarray,
        damaged: np.ndarray,
        params: PopulationParams,
    ) -> np.ndarray:
        """Observed score (300-850) from standardised true quality and this lender's error."""
        return observed_score(quality, error, damaged, self.policy.score_noise, params)

    def originate(
        self,
        book: LoanBook,
        tape: LoanTape,
        applicants: np.ndarray,
        score: np.ndarray,
        wanted: np.ndarray,
        reported_income: np.ndarray,
        debt_service: np.ndarray,
        term_draw: np.ndarray,
        policy_rate: float,
        month: int,
        to_repay: bool = False,
    ) -> np.ndarray:
        """Screen, size, price and fund applications; open the approved loans.

        Approve when the lender can lend (not failed, capital at or above the minimum),
        the observed score clears the cut-off in force (the dynamic tightening never
        pushing the share passing below ``dynamic_min_approval``), the loan fits the
        debt-to-income cap (with existing instalments) and the loan-to-income cap, its
        tier's rate is within the market's APR cap, and the funding line has room (best
        scores first when funding binds).

        Args:
            book: The loan book.
            tape: The loan tape (new loans get a row).
            applicants: Borrower indices applying to this lender.
            score: Their observed scores.
            wanted: Loan amounts they ask for.
            reported_income: Their reported monthly incomes.
            debt_service: Their existing monthly instalments (the loans this lender sees).
            term_draw: One U(0,1) per applicant: the term, drawn from the policy's mix.
            policy_rate: This month's policy rate.
            month: Month number (the loans' vintage).
            to_repay: Whether these are applications to repay another lender (counted
                also in ``applications_to_repay`` and ``approvals_to_repay``).

        Returns:
            The amounts lent per applicant (0 where refused).
        """
        apps = Applications(applicants, np.zeros(applicants.size, np.int64), score, wanted,
                            reported_income, debt_service, term_draw)  # fmt: skip
        return originate_round([self], book, tape, apps, policy_rate, month, to_repay)

    def ration_to_funding(
        self, book: LoanBook, approve: np.ndarray, amount: np.ndarray, score: np.ndarray
    ) -> None:
        """Keep the approvals (``approve``, in place) the funding line has room for.

        Best scores first when funding binds; ``amount`` and ``score`` are the
        applications'.
        """
        wanted = float(amount[approve].sum())
        if wanted > self.funding_line - book.total_at_most("balance", self.index):
            # funding may bind: ration on the exact room
            ration(approve, amount, score, self.funding_line - book.total("balance", self.index))

    def book_round(
        self,
        applications: int,
        subprime: int,
        approvals: int,
        approvals_subprime: int,
        lent: float,
        to_repay: bool,
    ) -> None:
        """Book a round of applications: counts, originations and acquisition cost."""
        a = self.accounts
        a["applications"] += applications
        a["applications_subprime"] += subprime
        a["approvals"] += approvals
        a["approvals_subprime"] += approvals_subprime
        if to_repay:
            a["applications_to_repay"] += applications
            a["approvals_to_repay"] += approvals
        a["originations"] += lent
        a["acquisition_cost"] += approvals * self.policy.acquisition_cost

    def cutoff_for(self, score: np.ndarray) -> float:
        """The cut-off applied to these applicants: the floor on the share passing binds."""
        cutoff = self.cutoff
        if self.tightening <= 0 or score.size == 0:
            return cutoff
        base = np.count_nonzero(score >= self.policy.score_cutoff)
        floor = min(int(np.ceil(self.policy.dynamic_min_approval * score.size)), base)
        if floor == 0 or np.count_nonzero(score >= cutoff) >= floor:
            return cutoff
        return float(np.partition(score, score.size - floor)[score.size - floor])

    def close_month(
        self,
        book: LoanBook,
        record: bool,
        relief_cohorts: tuple[int, int] = (0, 0),
        failed_peer_share: float = 0.0,
        origination_share: float = 1.0,
    ) -> dict[str, float]:
        """Close the accounts: provisions, profit, capital, book state and the dynamic rule.

        The loss allowance is ``provision_rates`` times the balance in each DPD bucket,
        forborne loans held at stage 2 at least (stage 3 once re-defaulted); the
        provision charge is its change over the month. Profit = interest + fees +
        recoveries - write-offs - waived - provision charge - funding cost - collection
        cost - acquisition cost - servicing cost. After the burn-in, equity moves with
        profit; equity above ``capital_ratio`` times the book is paid out as dividends,
        and the lender fails when equity reaches zero.

        Args:
            book: The loan book.
            record: Whether the month is recorded (its row kept in ``history``).
            relief_cohorts: Loans relieved 12-23 months before and their re-defaults within
                12 months (``RedefaultCohorts.closed_cohorts``).
            failed_peer_share: Share of the other lenders that have failed (investors read
                it as a common signal).
            origination_share: This lender's share of the month's new lending (all
                lenders; the competition rule reads it).

        Returns:
            The month's row of this lender's metrics.
        """
        a = self.accounts
        summary = loans.summary(book, self.index)
        provisions = self._allowance(summary)
        a["provision_charge"] = provisions - self.provisions
        self.provisions = provisions
        a["profit"] = _profit(a)
        row = {**a, **book_measures(summary)}
        self._book = row["balance"]
        if self.capital is not None:
            self._move_capital(row)
        row["capital"] = self.capital or 0.0
        row["failed_lenders"] = float(self.failed)
        row["provisions"] = provisions
        row["cutoff"] = self.cutoff
        self.cum_net_loss += a["writeoffs"] - a["recoveries"]
        row["cum_net_loss"] = self.cum_net_loss
        row["cohort_relieved"], row["cohort_redefaults"] = relief_cohorts
        derive(row)  # the ratios investors read (overdue); none depends on funding
        if self.capital is not None and self.policy.funding == "investors":
            self._update_funding(row, failed_peer_share)
        row["funding_line"] = self.funding_line
        self._tighten(row)
        self._compete(origination_share)
        if record:
            self.history.append(row)
        return row

    def _allowance(self, summary: BookSummary) -> float:
        """The provision matrix; forborne loans at stage 2, stage 3 once re-defaulted.

        A forborne loan is held at least at the stage-2 rate (index 2 of
        ``provision_rates``), and at the stage-3 rate (index 4) once it has missed a
        payment since relief.
        """
        rates = np.asarray(self.policy.provision_rates)
        stage2 = np.maximum(rates[FORBORNE_STAGE2] - rates, 0.0)
        stage3 = np.maximum(rates[FORBORNE_STAGE3] - rates, 0.0)
        return float(
            rates @ summary.balances
            + stage2 @ summary.forborne_balances
            + stage3 @ summary.redefaulted_balances
        )

    def _update_funding(self, row: dict[str, float], failed_peer_share: float) -> None:
        """Investors' confidence moves with this month's losses, overdue and peers' failures.

        A failed lender's investors are gone for good (its funding line is 0).
        """
        if self.failed:
            self.confidence = self.funding_line = 0.0
            return
        balance = row["balance"]
        loss = 12 * (row["writeoffs"] - row["recoveries"]) / balance if balance > 0 else 0.0
        self.confidence = investor_confidence(
            self.confidence, max(loss, 0.0), row["overdue_rate"], failed_peer_share, self.rules
        )
        self.funding_line = self.confidence * self.funding_limit

    def _move_capital(self, row: dict[str, float]) -> None:
        self.capital += row["profit"]
        # Equity is paid out above the target ratio of the book, or of the book the lender
        # started with while the book is smaller (capital is not released by a run-off).
        target = self.policy.capital_ratio * max(row["balance"], self._capital_base)
        if self.capital > target and not self.failed:
            row["dividends"] = self.capital - target
            self.capital = target
        if self.capital <= 0 and not self.failed:
            self.failed = True
            self.failed_at = self.model.month

    def _compete(self, origination_share: float) -> None:
        """The competition rule: ease a step while the share of new lending is below target.

        Easing (0 to 1) lowers the cut-off by up to ``competition_max_loosening`` and
        every tier's rate by up to ``competition_max_margin_cut``; above the target
        (3-month average) it steps back.
        """
        target = self.policy.share_target
        if target is None or not self.can_lend:
            return  # a lender that cannot lend holds its terms: it competes for nothing
        self._shares.append(origination_share)
        share = sum(self._shares) / len(self._shares)
        step = 1.0 / self.policy.competition_months
        if share < target:
            self.easing = min(self.easing + step, 1.0)
        else:
            self.easing = max(self.easing - step, 0.0)

    def _tighten(self, row: dict[str, float]) -> None:
        """The dynamic rule: move the cut-off by one step toward the flow target."""
        target = self.policy.dynamic_target
        if target is None:
            return
        self._flows.append(row["new_delinquency_rate"])
        flow = sum(self._flows) / len(self._flows)
        step = self.policy.dynamic_step
        if flow > target:
            self.tightening = min(self.tightening + step, self.policy.dynamic_max_tightening)
        else:
            self.tightening = max(self.tightening - step, 0.0)
