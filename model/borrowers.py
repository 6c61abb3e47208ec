"""Borrower rules over whole arrays (labour market, income, spending) and the Borrower view.

Each rule is a function of the state arrays, the month's macro conditions and
the month's random draws (passed in), so it can be tested alone; the economy's
``step`` is the only place that knows their order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from model._agent_ids import MODEL_IDS
from model.draws import Draw
from model.macro import MacroState
from model.population import SEGMENTS, BorrowerState, PopulationParams

if TYPE_CHECKING:
    from model.economy import CreditEconomy


def labour_market(
    state: BorrowerState,
    target_unemployment: float,
    start_unemployment: float,
    params: PopulationParams,
    uniform: np.ndarray,
) -> tuple[float, float]:
    """Move borrowers between employment and unemployment for one month.

    The aggregate job-finding rate falls as unemployment rises; the job-loss rate
    is then set so that the expected unemployment after the month equals the
    scenario's ``target_unemployment`` (the flows track the path). Hazards are
    spread over segments by their relative rates.

    Args:
        state: Borrower state, updated in place (``employed``, ``months_unemployed``).
        target_unemployment: The scenario's unemployment rate for this month.
        start_unemployment: Month-0 unemployment (anchors the finding rate).
        params: Population parameters.
        uniform: One U(0,1) draw per borrower.

    Returns:
        The aggregate (job-loss, job-finding) probabilities used.
    """
    employed = state.employed
    n = employed.size
    n_unemployed = n - int(np.count_nonzero(employed))
    u_now = n_unemployed / n
    ratio = start_unemployment / max(target_unemployment, 1e-6)
    find = min(params.job_finding_rate * ratio**params.job_finding_elasticity, 0.95)
    loss = (target_unemployment - u_now + find * u_now) / max(1.0 - u_now, 1e-12)
    min_loss = params.min_job_loss_share * params.job_finding_rate * start_unemployment
    if loss < min_loss:
        loss = min_loss
        find = (u_now - target_unemployment + loss * (1.0 - u_now)) / max(u_now, 1e-12)
    loss, find = float(np.clip(loss, 0.0, 1.0)), float(np.clip(find, 0.0, 1.0))
    # Hazards are fixed per segment: a 6-entry table (segment x employed) does the rest.
    seg = state.segment
    in_segment = [seg == k for k in range(3)]  # int8 compares: cheaper than bincount
    working = np.array([np.count_nonzero(employed & mask) for mask in in_segment])
    jobless = np.array([np.count_nonzero(mask) for mask in in_segment]) - working
    rel_loss = np.asarray(params.job_loss_relative)
    rel_find = np.asarray(params.job_finding_relative)
    mean_loss = rel_loss @ working / max(working.sum(), 1)
    mean_find = rel_find @ jobless / max(jobless.sum(), 1)
    table = np.concatenate(
        [find * rel_find / max(mean_find, 1e-12), loss * rel_loss / max(mean_loss, 1e-12)]
    )
    p = table[seg + np.int8(3) * employed]  # int8 keys: no int64 temporary
    np.logical_xor(employed, uniform < p, out=employed)
    months = state.months_unemployed
    months += 1
    months *= ~employed
    return loss, find


def illness(
    state: BorrowerState,
    params: PopulationParams,
    illness_factor: float,
    onset_uniform: np.ndarray,
    duration_draw: Draw,
) -> np.ndarray:
    """Age ongoing illnesses and start new ones.

    Args:
        state: Borrower state, ``ill_months`` updated in place.
        params: Population parameters.
        illness_factor: The scenario's multiplier on illness incidence.
        onset_uniform: U(0,1) per borrower: falls ill when below the incidence.
        duration_draw: U(0,1) draws for given borrower indices: set a new illness's length.

    Returns:
        Boolean mask of borrowers who fell ill this month (they bear the one-off cost).
    """
    ill = state.ill_months > 0
    rate = min(params.illness_rate * illness_factor, 1.0)
    onset = ~ill & (onset_uniform < rate)
    months = state.ill_months
    months -= ill
    new = np.flatnonzero(onset)
    # Geometric duration on 1, 2, ... months with mean ``illness_months``.
    stay = 1.0 - 1.0 / params.illness_months
    if stay > 0:
        duration = np.ceil(np.log1p(-duration_draw(new)) / np.log(stay))
        months[new] = np.clip(duration, 1, 120)
    else:
        months[new] = 1
    return onset


def income(
    state: BorrowerState,
    params: PopulationParams,
    macro: MacroState,
    start_unemployment: float,
    common_shock: float,
    idiosyncratic: np.ndarray,
) -> None:
    """Set this month's income.

    Employed: permanent income x wage index x business-cycle loss x a transitory
    log-normal shock whose driver is ``sqrt(rho)*Z + sqrt(1-rho)*e`` (one-factor
    model, ``rho = income_common_share``). Unemployed: benefit at the replacement
    ratio for ``benefit_months``, then assistance. Illness cuts income.

    Args:
        state: Borrower state; ``income`` and ``smoothed_income`` updated in place.
        params: Population parameters.
        macro: This month's macro conditions.
        start_unemployment: Month-0 unemployment (the business-cycle reference).
        common_shock: This month's common factor Z ~ N(0, 1).
        idiosyncratic: One N(0, 1) draw per borrower.
    """
    rho = params.income_common_share
    if rho > 0:
        log_shock = np.sqrt(1.0 - rho) * idiosyncratic
        log_shock += np.sqrt(rho) * common_shock
        log_shock *= state.shock_sd
    else:
        log_shock = state.shock_sd * idiosyncratic
    log_shock -= state.shock_half_var
    value = np.exp(log_shock, out=log_shock)
    value *= state.base_income
    value *= macro.wage_index
    gap = max(macro.unemployment - start_unemployment, 0.0)
    if gap > 0:
        value *= np.maximum(1.0 - state.cycle_beta * gap, 0.05)
    jobless = np.flatnonzero(~state.employed)
    ratio = np.where(
        state.months_unemployed[jobless] <= params.benefit_months,
        params.replacement_ratio,
        params.assistance_ratio,
    )
    value[jobless] = state.base_income[jobless] * macro.wage_index * ratio
    value[np.flatnonzero(state.ill_months != 0)] *= 1.0 - params.illness_income_loss
    state.income = value
    weight = params.income_smoothing
    smoothed = state.smoothed_income
    smoothed *= 1.0 - weight
    smoothed += weight * value


def spending_needs(
    state: BorrowerState,
    params: PopulationParams,
    macro: MacroState,
    fell_ill: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Cash on hand after essentials, and the discretionary spending a borrower protects.

    Essentials scale with prices; falling ill costs ``illness_cost`` months of income.
    Over-spenders protect their whole habit before paying debt; others part of it.

    Returns:
        ``(cash, protected)``: savings + income - essentials - medical costs (may be
        negative), and the discretionary amount spent before debt.
    """
    cash = state.savings + state.income
    cash -= state.essentials * macro.price_index
    ill = np.flatnonzero(fell_ill)
    cash[ill] -= params.illness_cost * state.base_income[ill] * macro.wage_index
    return cash, state.habit * state.protect_share


def settle_spending(state: BorrowerState, params: PopulationParams, remaining: np.ndarray) -> None:
    """Spend the rest of the month's discretionary habit, save what is left, adapt the habit.

    The habit moves a share ``habit_adjustment`` of the way toward its target
    (``disc_share`` x smoothed income), so a fall in income bites for months.
    Savings above the buffer target are spent down at ``savings_spend_down`` a month.

    Args:
        state: Borrower state; ``savings`` and ``habit`` updated in place.
        params: Population parameters.
        remaining: Cash left after essentials and debt payments.
    """
    # After discretionary spending (the habit is never negative).
    left = np.subtract(remaining, state.habit)
    np.maximum(left, 0.0, out=left)
    excess = state.buffer_target * state.smoothed_income
    np.subtract(left, excess, out=excess)
    np.maximum(excess, 0.0, out=excess)
    excess *= params.savings_spend_down
    left -= excess
    state.savings = left
    step = state.disc_share * state.smoothed_income
    step -= state.habit
    step *= params.habit_adjustment
    state.habit += step


#: Income below this share of usual income counts as trouble (relief is for temporary
#: trouble), as do illness and unemployment within ``RECENT_JOB_LOSS_MONTHS``.
TROUBLE_INCOME_SHARE, RECENT_JOB_LOSS_MONTHS = 0.8, 12
#: Savings count toward creditworthiness up to this many months of income.
MAX_BUFFER_MONTHS = 6.0


def asks_for_relief(
    state: BorrowerState,
    params: PopulationParams,
    idx: np.ndarray,
    reach: float,
    uniform: np.ndarray,
) -> np.ndarray:
    """Which of the borrowers ``idx`` (overdue at a lender offering relief) ask for it.

    Relief is for temporary trouble: the borrower is ill, lost their job within the
    last year, or earns under 80% of their usual income. Such a borrower asks with
    probability ``relief_ask_base + relief_ask_literacy * literacy``, or is reached by the
    lender's collection team (``reach``, from ``Lender.relief_reach``).

    Args:
        state: Borrower state (read).
        params: Population parameters.
        idx: Borrower indices of the qualifying loans.
        reach: The lender's chance of reaching a borrower who does not ask.
        uniform: One U(0,1) draw per borrower in ``idx`` (this month's contact draw).

    Returns:
        Boolean mask over ``idx``.
    """
    trouble = (
        (state.ill_months[idx] > 0)
        | (~state.employed[idx] & (state.months_unemployed[idx] <= RECENT_JOB_LOSS_MONTHS))
        | (state.income[idx] < TROUBLE_INCOME_SHARE * state.smoothed_income[idx])
    )
    ask = params.relief_ask_base + params.relief_ask_literacy * state.literacy[idx]
    asks = uniform < ask + reach
    return trouble & asks


def true_quality(
    state: BorrowerState,
    params: PopulationParams,
    idx: np.ndarray,
    debt_service: np.ndarray,
    price_index: float,
) -> np.ndarray:
    """True creditworthiness of borrowers ``idx`` (unobserved by lenders), unstandardised.

    A weighted sum (``quality_weights``) of the monthly slack after essentials, protected
    spending and debt service (as a share of income), savings, willingness to pay,
    employment, over-spending, income risk, literacy and illness.
    """
    s = state
    w_slack, w_buffer, w_will, w_job, w_over, w_risk, w_literacy, w_ill = params.quality_weights
    income = np.maximum(s.smoothed_income[idx], 1.0)
    slack = (
        income
        - s.essentials[idx] * price_index
        - s.habit[idx] * s.protect_share[idx]
        - debt_service
    ) / income
    buffer = np.minimum(s.savings[idx] / income, MAX_BUFFER_MONTHS)
    return (
        w_slack * np.clip(slack, -1.0, 1.0)
        + w_buffer * buffer
        + w_will * (s.willingness[idx] - 1.0)
        + w_job * s.employed[idx]
        - w_over * s.overspender[idx]
        - w_risk * s.shock_sd[idx]
        + w_literacy * s.literacy[idx]
        - w_ill * (s.ill_months[idx] > 0)
    )


def application_probability(
    state: BorrowerState, params: PopulationParams, repaid_any: np.ndarray
) -> np.ndarray:
    """Each borrower's chance of applying for a loan this month.

    The base rate (higher for the young, over-spenders and the less literate) is
    multiplied in distress; a borrower who has just repaid a loan applies again with
    ``reborrow_probability``.
    """
    prob = state.apply_base.copy()
    distressed = np.flatnonzero(state.distressed)
    prob[distressed] *= params.distress_apply_multiplier
    prob[repaid_any] = params.reborrow_probability
    return prob


class Borrower(mesa.Agent):
    """One borrower: a view on row ``index`` of the economy's arrays.

    Reading an attribute reads the model's current state; the view holds no
    numbers of its own, so it costs nothing on the monthly hot path.
    """

    _ids = MODEL_IDS  # weakly keyed: a finished economy can be freed

    def __init__(self, model: CreditEconomy, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def _state(self) -> BorrowerState:
        return self.model.state

    @property
    def segment(self) -> str:
        """Segment name: salaried, self_employed or young."""
        return SEGMENTS[int(self._state.segment[self.index])]

    @property
    def income(self) -> float:
        """This month's income."""
        return float(self._state.income[self.index])

    @property
    def savings(self) -> float:
        """Savings buffer."""
        return float(self._state.savings[self.index])

    @property
    def employed(self) -> bool:
        """Whether the borrower has a job."""
        return bool(self._state.employed[self.index])

    @property
    def ill(self) -> bool:
        """Whether the borrower is ill this month."""
        return bool(self._state.ill_months[self.index] > 0)

    @property
    def overspender(self) -> bool:
        """Whether the borrower consumes ahead of income."""
        return bool(self._state.overspender[self.index])

    @property
    def literacy(self) -> float:
        """Financial literacy in [0, 1]."""
        return float(self._state.literacy[self.index])

    @property
    def willingness(self) -> float:
        """Monthly probability of paying a due instalment when able."""
        return float(self._state.willingness[self.index])

    @property
    def reported_income_factor(self) -> float:
        """Reported over true income (1 = honest)."""
        return float(self._state.misreport[self.index])

    @property
    def credit_damaged(self) -> bool:
        """Whether the credit record shows a 90+ DPD default."""
        return bool(self._state.record_damaged_until[self.index] >= self.model.month)

    @property
    def dpd(self) -> int:
        """Days past due of the borrower's worst loan (0 when current or no loan)."""
        return int(self.model.book.dpd[:, self.index].max()) * 30

    @property
    def debt(self) -> float:
        """Total balance owed on active loans, over all lenders."""
        return float(self.model.book.balance[:, self.index].sum())

    @property
    def loans(self) -> list[dict[str, Any]]:
        """The borrower's active loans, one dict per lender holding one."""
        return self.model.book.describe_borrower(self.index)

    @property
    def status(self) -> str:
        """``no loan``, ``current``, ``overdue`` (1-90 DPD) or ``default`` (90+ DPD)."""
        book = self.model.book
        if not book.active[:, self.index].any():
            return "no loan"
        worst = int(book.dpd[:, self.index].max())
        return "current" if worst == 0 else ("overdue" if worst < 4 else "default")

    def __repr__(self) -> str:
        return (
            f"Borrower(index={self.index}, segment={self.segment}, income={self.income:.0f}, "
            f"savings={self.savings:.0f}, employed={self.employed}, dpd={self.dpd})"
        )
