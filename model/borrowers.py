"""Borrower rules over whole arrays (labour market, income, spending) and the Borrower view.

Each rule is a function of the state arrays, the month's macro conditions and
the month's random draws (passed in), so it can be tested alone; the economy's
``step`` is the only place that knows their order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
from numba import njit

from model._agent_ids import MODEL_IDS
from model.draws import Draw, Uniforms, draw_at, kernel_draws
from model.loans import describe_borrower
from model.macro import MacroScenario, MacroState
from model.population import SEGMENTS, BorrowerState, PopulationParams

if TYPE_CHECKING:
    from model.economy import CreditEconomy


#: Longest illness, in months.
MAX_ILLNESS_MONTHS = 120
#: Business-cycle income loss never takes an employed borrower below this share.
MIN_CYCLE_FACTOR = 0.05
#: Income below this share of usual income counts as trouble (relief is for temporary
#: trouble), as do illness and unemployment within ``RECENT_JOB_LOSS_MONTHS``.
TROUBLE_INCOME_SHARE, RECENT_JOB_LOSS_MONTHS = 0.8, 12
#: Savings count toward creditworthiness up to this many months of income.
MAX_BUFFER_MONTHS = 6.0


def labour_hazards(
    working: np.ndarray,
    jobless: np.ndarray,
    target_unemployment: float,
    start_unemployment: float,
    params: PopulationParams,
) -> np.ndarray:
    """This month's job-finding and job-loss probability per segment.

    The aggregate job-finding rate falls as unemployment rises; the job-loss rate is then
    set so that the expected unemployment after the month equals the scenario's
    ``target_unemployment`` (the flows track the path). Hazards are spread over segments
    by their relative rates.

    Args:
        working: Employed borrowers per segment (``SEGMENTS`` order).
        jobless: Unemployed borrowers per segment.
        target_unemployment: The scenario's unemployment rate for this month.
        start_unemployment: Month-0 unemployment (anchors the finding rate).
        params: Population parameters.

    Returns:
        Six probabilities: finding per segment, then loss per segment (a borrower's is
        entry ``segment + 3 * employed``).
    """
    n_unemployed, n = float(jobless.sum()), float(working.sum() + jobless.sum())
    u_now = n_unemployed / max(n, 1.0)
    ratio = start_unemployment / max(target_unemployment, 1e-6)
    find = min(params.job_finding_rate * ratio**params.job_finding_elasticity, 0.95)
    loss = (target_unemployment - u_now + find * u_now) / max(1.0 - u_now, 1e-12)
    min_loss = params.min_job_loss_share * params.job_finding_rate * start_unemployment
    if loss < min_loss:
        loss = min_loss
        find = (u_now - target_unemployment + loss * (1.0 - u_now)) / max(u_now, 1e-12)
    loss, find = float(np.clip(loss, 0.0, 1.0)), float(np.clip(find, 0.0, 1.0))
    rel_loss = np.asarray(params.job_loss_relative)
    rel_find = np.asarray(params.job_finding_relative)
    mean_loss = rel_loss @ working / max(working.sum(), 1)
    mean_find = rel_find @ jobless / max(jobless.sum(), 1)
    return np.concatenate(
        [find * rel_find / max(mean_find, 1e-12), loss * rel_loss / max(mean_loss, 1e-12)]
    )


@njit(cache=True, nogil=True)
def _employment_counts(segment, employed):
    working = np.zeros(3, np.int64)
    jobless = np.zeros(3, np.int64)
    for i in range(segment.size):
        if employed[i]:
            working[segment[i]] += 1
        else:
            jobless[segment[i]] += 1
    return working, jobless


@njit(cache=True, nogil=True)
def _move_jobs(segment, employed, months_unemployed, table, values, key, offset):
    for i in range(segment.size):
        if draw_at(values, key, offset, i) < table[segment[i] + 3 * employed[i]]:
            employed[i] = not employed[i]
        months_unemployed[i] = 0 if employed[i] else months_unemployed[i] + 1


def labour_market(
    state: BorrowerState,
    target_unemployment: float,
    start_unemployment: float,
    params: PopulationParams,
    uniform: Uniforms,
) -> np.ndarray:
    """Move borrowers between employment and unemployment for one month.

    Each borrower loses or finds a job with the probability :func:`labour_hazards` gives
    their segment, drawn against their draw of ``uniform``.

    Args:
        state: Borrower state, updated in place (``employed``, ``months_unemployed``).
        target_unemployment: The scenario's unemployment rate for this month.
        start_unemployment: Month-0 unemployment (anchors the finding rate).
        params: Population parameters.
        uniform: One U(0,1) draw per borrower (an array or a stream's address).

    Returns:
        The hazards used (see :func:`labour_hazards`).
    """
    working, jobless = _employment_counts(state.segment, state.employed)
    table = labour_hazards(working, jobless, target_unemployment, start_unemployment, params)
    draws = kernel_draws(uniform, state.segment.size)
    _move_jobs(state.segment, state.employed, state.months_unemployed, table, *draws)
    return table


@njit(cache=True, nogil=True)
def _age_illness(ill_months, rate, values, key, offset, onset):
    for i in range(ill_months.size):
        if ill_months[i] > 0:
            ill_months[i] -= 1
            onset[i] = False
        else:  # only the well draw
            onset[i] = draw_at(values, key, offset, i) < rate


def illness(
    state: BorrowerState,
    params: PopulationParams,
    illness_factor: float,
    onset_uniform: Uniforms,
    duration_draw: Draw,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Age ongoing illnesses and start new ones.

    Args:
        state: Borrower state, ``ill_months`` updated in place.
        params: Population parameters.
        illness_factor: The scenario's multiplier on illness incidence.
        onset_uniform: U(0,1) per borrower (an array or a stream's address): a borrower
            who is well falls ill when it is below the incidence.
        duration_draw: U(0,1) draws for given borrower indices: set a new illness's length.
        out: A boolean array (one per borrower) to write the result to.

    Returns:
        Boolean mask of borrowers who fell ill this month (they bear the one-off cost):
        ``out`` if given.
    """
    rate = min(params.illness_rate * illness_factor, 1.0)
    onset = np.empty(state.ill_months.size, bool) if out is None else out
    _age_illness(state.ill_months, rate, *kernel_draws(onset_uniform, onset.size), onset)
    new = np.flatnonzero(onset)
    # Geometric duration on 1, 2, ... months with mean ``illness_months``.
    stay = 1.0 - 1.0 / params.illness_months
    months = state.ill_months
    if stay > 0:
        duration = np.ceil(np.log1p(-duration_draw(new)) / np.log(stay))
        months[new] = np.clip(duration, 1, MAX_ILLNESS_MONTHS)
    else:
        months[new] = 1
    return onset


@njit(cache=True, nogil=True)
def _shock_exponent(shock_sd, shock_half_var, idiosyncratic, common, rho, out):
    own, shared = np.sqrt(1.0 - rho), np.sqrt(rho) * common
    for i in range(out.size):
        out[i] = shock_sd[i] * (own * idiosyncratic[i] + shared) - shock_half_var[i]


@njit(cache=True, nogil=True)
def _earn(
    shock,
    base_income,
    cycle_beta,
    employed,
    months_unemployed,
    ill_months,
    wage_index,
    gap,
    hours_cut,
    benefit_months,
    replacement,
    assistance,
    illness_loss,
    weight,
    income,
    smoothed,
):
    for i in range(base_income.size):
        if employed[i]:
            value = shock[i] * base_income[i] * wage_index
            if gap > 0 or hours_cut > 0:
                value *= max(1.0 - cycle_beta[i] * gap - hours_cut, MIN_CYCLE_FACTOR)
        else:
            ratio = replacement if months_unemployed[i] <= benefit_months else assistance
            value = base_income[i] * wage_index * ratio
        if ill_months[i] != 0:
            value *= 1.0 - illness_loss
        income[i] = value
        smoothed[i] = smoothed[i] * (1.0 - weight) + weight * value


def hours_cut(scenario: MacroScenario, month: int, params: PopulationParams) -> float:
    """Share of income the employed lose to shorter hours this month.

    ``hours_cut`` x the rise of the scenario's unemployment over the last
    ``hours_window`` months: firms cut hours as they cut jobs, so the loss follows the
    flow of job losses and is gone once unemployment has stopped rising for
    ``hours_window`` months, however high it stays.
    """
    return float(params.hours_cut) * scenario.unemployment_rise(month, params.hours_window)


def income(
    state: BorrowerState,
    params: PopulationParams,
    macro: MacroState,
    cycle_gap: float,
    hours_cut: float,
    common_shock: float,
    idiosyncratic: np.ndarray,
    overwrite_draws: bool = False,
) -> None:
    """Set this month's income.

    Employed: permanent income x wage index x business-cycle loss (``1 - beta x
    cycle_gap - hours_cut``, floored at ``MIN_CYCLE_FACTOR``) x a transitory
    log-normal shock whose driver is ``sqrt(rho)*Z + sqrt(1-rho)*e`` (one-factor
    model, ``rho = income_common_share``). Unemployed: benefit at the replacement
    ratio for ``benefit_months``, then assistance. Illness cuts income.

    Args:
        state: Borrower state; ``income`` and ``smoothed_income`` updated in place.
        params: Population parameters.
        macro: This month's macro conditions.
        cycle_gap: The scenario's unemployment above month 0 (0 or more).
        hours_cut: Share of income every employed borrower loses to shorter hours
            (:func:`hours_cut`).
        common_shock: This month's common factor Z ~ N(0, 1).
        idiosyncratic: One N(0, 1) draw per borrower.
        overwrite_draws: Whether ``idiosyncratic`` may be overwritten (it then holds
            each borrower's shock factor), saving a temporary array.
    """
    # The exponential is numpy's (vectorised; numba's scalar one is five times slower).
    shock = idiosyncratic if overwrite_draws else np.empty(idiosyncratic.size)
    _shock_exponent(
        state.shock_sd,
        state.shock_half_var,
        idiosyncratic,
        float(common_shock),
        float(params.income_common_share),
        shock,
    )
    np.exp(shock, out=shock)
    _earn(
        shock,
        state.base_income,
        state.cycle_beta,
        state.employed,
        state.months_unemployed,
        state.ill_months,
        float(macro.wage_index),
        max(float(cycle_gap), 0.0),  # never a pay rise
        max(float(hours_cut), 0.0),
        int(params.benefit_months),
        float(params.replacement_ratio),
        float(params.assistance_ratio),
        float(params.illness_income_loss),
        float(params.income_smoothing),
        state.income,
        state.smoothed_income,
    )


@njit(cache=True, nogil=True)
def _needs(
    savings,
    income_,
    essentials,
    habit,
    protect_share,
    fell_ill,
    base_income,
    price,
    medical,
    cash,
    protected,
):
    for i in range(savings.size):
        c = savings[i] + income_[i] - essentials[i] * price
        if fell_ill[i]:
            c -= medical * base_income[i]
        cash[i] = c
        protected[i] = habit[i] * protect_share[i]


def spending_needs(
    state: BorrowerState,
    params: PopulationParams,
    macro: MacroState,
    fell_ill: np.ndarray,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cash on hand after essentials, and the discretionary spending a borrower protects.

    Essentials scale with prices; falling ill costs ``illness_cost`` months of income.
    Over-spenders protect their whole habit before paying debt; others part of it.
    ``out`` (two arrays, one value per borrower) receives the result if given.

    Returns:
        ``(cash, protected)``: savings + income - essentials - medical costs (may be
        negative), and the discretionary amount spent before debt.
    """
    n = state.savings.size
    cash, protected = (np.empty(n), np.empty(n)) if out is None else out
    medical = float(params.illness_cost * macro.wage_index)
    _needs(
        state.savings,
        state.income,
        state.essentials,
        state.habit,
        state.protect_share,
        fell_ill,
        state.base_income,
        float(macro.price_index),
        medical,
        cash,
        protected,
    )
    return cash, protected


@njit(cache=True, nogil=True)
def _spend_and_save(
    remaining, habit, buffer_target, smoothed, disc_share, cut, spend_down, adjustment, savings
):
    for i in range(remaining.size):
        left = max(remaining[i] - habit[i], 0.0)  # after the habit (never negative)
        left -= max(left - buffer_target[i] * smoothed[i], 0.0) * spend_down
        savings[i] = left
        habit[i] += (max(disc_share[i] - cut, 0.0) * smoothed[i] - habit[i]) * adjustment


def settle_spending(
    state: BorrowerState,
    params: PopulationParams,
    remaining: np.ndarray,
    unemployment_gap: float,
) -> None:
    """Spend the rest of the month's discretionary habit, save what is left, adapt the habit.

    The habit moves a share ``habit_adjustment`` of the way toward its target
    (``disc_share`` x smoothed income), so a fall in income bites for months. While
    unemployment is above month 0, households save for precaution: the target share
    falls by ``precautionary_saving`` x the gap (not below 0). Savings above the buffer
    target are spent down at ``savings_spend_down`` a month.

    Args:
        state: Borrower state; ``savings`` and ``habit`` updated in place.
        params: Population parameters.
        remaining: Cash left after essentials and debt payments.
        unemployment_gap: The scenario's unemployment above month 0 (0 or more).
    """
    _spend_and_save(
        remaining,
        state.habit,
        state.buffer_target,
        state.smoothed_income,
        state.disc_share,
        float(params.precautionary_saving) * max(float(unemployment_gap), 0.0),
        float(params.savings_spend_down),
        float(params.habit_adjustment),
        state.savings,
    )


@njit(cache=True, nogil=True)
def _mark_distress(total_paid, total_due, remaining, protected, missed, distressed):
    for i in range(missed.size):
        missed[i] = total_paid[i] < total_due[i] - 1e-6
        distressed[i] = missed[i] or remaining[i] < protected[i]


def mark_distress(
    state: BorrowerState,
    total_paid: np.ndarray,
    total_due: np.ndarray,
    remaining: np.ndarray,
    protected: np.ndarray,
) -> None:
    """Note who missed a payment this month and who is in distress, in place.

    A borrower missed when they paid less than was due (all lenders together); they are
    distressed when they missed or were left with less than their protected spending.
    """
    _mark_distress(total_paid, total_due, remaining, protected, state.missed, state.distressed)


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
    idx: np.ndarray | int,
    debt_service: np.ndarray | float,
    price_index: float,
) -> np.ndarray | float:
    """True creditworthiness of borrowers ``idx`` (unobserved by lenders), unstandardised.

    A weighted sum (``quality_weights``) of the monthly slack after essentials, protected
    spending and debt service (as a share of income), savings, willingness to pay,
    employment, over-spending, income risk, literacy and illness.
    """
    s = state
    one = np.ndim(idx) == 0  # one borrower (the per-agent reference asks so)
    idx = np.atleast_1d(np.asarray(idx))
    debt_service = np.broadcast_to(np.asarray(debt_service, float), idx.shape)
    out = np.empty(idx.size)
    _quality(
        idx, np.ascontiguousarray(debt_service), float(price_index),
        np.asarray(params.quality_weights, float), s.smoothed_income, s.essentials, s.habit,
        s.protect_share, s.savings, s.willingness, s.employed, s.overspender, s.shock_sd,
        s.literacy, s.ill_months, out,
    )  # fmt: skip
    return out[0] if one else out


@njit(cache=True, nogil=True)
def _quality(idx, debt_service, price_index, weights, smoothed_income, essentials, habit,
             protect_share, savings, willingness, employed, overspender, shock_sd, literacy,
             ill_months, out):  # fmt: skip
    w_slack, w_buffer, w_will, w_job, w_over, w_risk, w_literacy, w_ill = weights
    for k in range(idx.size):
        i = idx[k]
        income = max(smoothed_income[i], 1.0)
        slack = (
            income - essentials[i] * price_index - habit[i] * protect_share[i] - debt_service[k]
        ) / income
        buffer = min(savings[i] / income, MAX_BUFFER_MONTHS)
        out[k] = (
            w_slack * min(max(slack, -1.0), 1.0)
            + w_buffer * buffer
            + w_will * (willingness[i] - 1.0)
            + w_job * employed[i]
            - w_over * overspender[i]
            - w_risk * shock_sd[i]
            + np.float32(w_literacy) * literacy[i]  # float32, as numpy computes it
            - w_ill * (ill_months[i] > 0)
        )


@njit(cache=True, nogil=True)
def _choose_applicants(apply_base, distressed, repaid_any, multiplier, reborrow, values, key,
                       offset, out):  # fmt: skip
    n = 0
    for i in range(apply_base.size):
        if repaid_any[i]:
            prob = reborrow
        elif distressed[i]:
            prob = apply_base[i] * multiplier
        else:
            prob = apply_base[i]
        out[n] = i  # kept if it applies: no branch on the draw (applying is rare, at random)
        n += draw_at(values, key, offset, i) < prob
    return n


def applicants(
    state: BorrowerState, params: PopulationParams, repaid_any: np.ndarray, uniform: Uniforms
) -> np.ndarray:
    """The borrowers who apply for a loan this month (indices, ascending).

    A borrower applies with their base rate (higher for the young, over-spenders and the
    less literate), multiplied in distress; one who has just repaid a loan applies again
    with ``reborrow_probability``.

    Args:
        state: Borrower state (read).
        params: Population parameters.
        repaid_any: Whether each borrower repaid a loan in full this month.
        uniform: One U(0,1) draw per borrower (an array or a stream's address): applies
            when below the probability.
    """
    out = np.empty(state.apply_base.size, np.intp)
    n = _choose_applicants(
        state.apply_base,
        state.distressed,
        repaid_any,
        float(params.distress_apply_multiplier),
        float(params.reborrow_probability),
        *kernel_draws(uniform, out.size),
        out,
    )
    return out[:n].copy()


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

    def _loan_values(self, name: str) -> list[Any]:
        """Field ``name`` of the borrower's open loans, in lender order."""
        book = self.model.book
        return [book.columns[name][j, p] for j, p in book.loans_of(self.index)]

    @property
    def dpd(self) -> int:
        """Days past due of the borrower's worst loan (0 when current or no loan)."""
        return int(max(self._loan_values("dpd"), default=0)) * 30

    @property
    def debt(self) -> float:
        """Total balance owed on active loans, over all lenders."""
        return float(sum(self._loan_values("balance")))

    @property
    def loans(self) -> list[dict[str, Any]]:
        """The borrower's active loans, one dict per lender holding one."""
        return describe_borrower(self.model.book, self.index)

    @property
    def status(self) -> str:
        """``no loan``, ``current``, ``overdue`` (1-90 DPD) or ``default`` (90+ DPD)."""
        dpd = self._loan_values("dpd")
        if not dpd:
            return "no loan"
        worst = int(max(dpd))
        return "current" if worst == 0 else ("overdue" if worst < 4 else "default")

    def __repr__(self) -> str:
        return (
            f"Borrower(index={self.index}, segment={self.segment}, income={self.income:.0f}, "
            f"savings={self.savings:.0f}, employed={self.employed}, dpd={self.dpd})"
        )
