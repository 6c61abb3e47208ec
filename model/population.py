"""Borrower population: parameters and the initial state arrays (structure of arrays)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from model._checks import check_number
from model.calibrated import POPULATION as FITTED
from model.params import Parameters, fitted_defaults, lever

#: Borrower segments, in the order of every per-segment parameter.
SEGMENTS = ("salaried", "self_employed", "young")


def _check_shares(value: Any) -> tuple[float, float, float]:
    message = (
        "segment_shares must be 3 shares (salaried, self_employed, young) summing to 1, "
        f"got {value!r}"
    )
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(message)
    shares = tuple(
        check_number(f"segment_shares[{i}]", v, low=0, high=1) for i, v in enumerate(value)
    )
    if abs(sum(shares) - 1.0) > 1e-9:
        raise ValueError(message)
    return shares


@dataclass(frozen=True)
@fitted_defaults(FITTED)
class PopulationParams(Parameters):
    """Parameters of the borrower population (per-segment ones in ``SEGMENTS`` order).

    Money is in currency units per month at month-0 prices. What each parameter means,
    its unit and range: :meth:`describe` (and ``docs/configs.md``). The defaults of the
    parameters in ``model/calibrated.py`` are fitted (``python -m experiments calibrate``).
    """

    segment_shares: tuple[float, float, float] = lever(
        (0.6, 0.25, 0.15),
        unit="shares of borrowers",
        label="Segment shares",
        allowed="3 shares in [0, 1] summing to 1",
        check=_check_shares,
        group="segments",
        description="Shares of salaried, self-employed / small business, young.",
    )
    median_income: tuple[float, float, float] = lever(
        (6000.0, 6500.0, 3500.0),
        unit="currency a month",
        label="Median income by segment",
        low=1,
        high=10000000.0,
        length=3,
        group="income",
        description="Median monthly income per segment.",
    )
    income_dispersion: float = lever(
        0.45,
        unit="log s.d.",
        label="Income dispersion",
        low=0,
        high=3,
        group="income",
        description="Standard deviation of log permanent income.",
    )
    income_shock_sd: tuple[float, float, float] = lever(
        (0.05, 0.25, 0.12),
        unit="log s.d. a month",
        label="Income shock s.d. by segment",
        low=0,
        high=2,
        length=3,
        group="income",
        description="Monthly transitory log-income shock s.d. per segment.",
    )
    income_common_share: float = lever(
        0.1,
        unit="share of variance",
        label="Common share of income shocks",
        low=0,
        high=1,
        group="income",
        description="Share (rho) of the income-shock variance that is common to all "
        "borrowers in a month (one-factor model); 0 = purely idiosyncratic.",
    )
    business_cycle_beta: tuple[float, float, float] = lever(
        (0.0, 2.5, 0.8),
        unit="% of income per point",
        label="Cyclical income loss by segment",
        low=0,
        high=20,
        length=3,
        group="income",
        description="Income loss per point of unemployment above month 0.",
    )
    hours_cut: float = lever(
        1.0,
        unit="% of income per point",
        label="Hours cut per point of rising unemployment",
        low=0,
        high=20,
        group="income",
        description="Income every employed borrower loses (shorter hours, lost overtime) "
        "per unit of the rise in unemployment over the last ``hours_window`` months: "
        "hours move with the flow of job cuts, not the level of unemployment (US "
        "production workers' average weekly hours fell about 2.4%, 33.8 to 33.0, from 2007 "
        "to mid-2009, when unemployment's six-month rise peaked near 2.5 points, and were "
        "partly back, 33.4-33.5, in 2010 with unemployment near 10%; BLS CES). The size "
        "follows from those figures and the 6-month window, which is a judgement: a "
        "12-month window would give about 0.6.",
    )
    hours_window: int = lever(
        6,
        unit="months",
        label="Window of rising unemployment",
        low=1,
        high=24,
        integer=True,
        group="income",
        description="Months over which the rise in unemployment that cuts hours is measured "
        "(a judgement; see hours_cut).",
    )
    job_loss_relative: tuple[float, float, float] = lever(
        (0.8, 1.3, 1.8),
        unit="multiple of the mean",
        label="Relative job-loss hazard by segment",
        low=0,
        high=10,
        length=3,
        group="labour",
        description="Relative job-loss hazard per segment.",
    )
    job_finding_relative: tuple[float, float, float] = lever(
        (1.0, 0.8, 1.1),
        unit="multiple of the mean",
        label="Relative job-finding hazard by segment",
        low=0,
        high=10,
        length=3,
        group="labour",
        description="Relative re-employment hazard per segment.",
    )
    job_finding_rate: float = lever(
        0.25,
        unit="probability a month",
        label="Job-finding rate (monthly)",
        low=0,
        high=1,
        group="labour",
        description="Monthly re-employment hazard at month-0 unemployment.",
    )
    job_finding_elasticity: float = lever(
        0.7,
        unit="elasticity",
        label="Job-finding response",
        low=0,
        high=5,
        group="labour",
        description="Elasticity of the job-finding rate to month-0 over current unemployment "
        "(finding falls as unemployment rises).",
    )
    min_job_loss_share: float = lever(
        0.2,
        unit="share of the month-0 inflow",
        label="Job-loss floor",
        low=0,
        high=1,
        group="labour",
        description="Floor on the monthly job-loss rate, as a share of job_finding_rate x "
        "month-0 unemployment (jobs are lost even while unemployment falls).",
    )
    replacement_ratio: float = lever(
        0.5,
        unit="share of lost income",
        label="Benefit replacement ratio",
        low=0,
        high=1,
        group="labour",
        description="Unemployment benefit as a share of the lost income.",
    )
    benefit_months: int = lever(
        6,
        unit="months",
        label="Benefit duration",
        low=0,
        high=120,
        integer=True,
        group="labour",
        description="Months the benefit is paid; then ``assistance_ratio`` applies.",
    )
    assistance_ratio: float = lever(
        0.2,
        unit="share of lost income",
        label="Assistance ratio",
        low=0,
        high=1,
        group="labour",
        description="Income of the long-term unemployed, share of the lost income.",
    )
    illness_rate: float = lever(
        0.004,
        unit="probability a month",
        label="Illness rate (monthly)",
        low=0,
        high=1,
        group="illness",
        description="Monthly probability of falling ill (scaled by the scenario).",
    )
    illness_months: float = lever(
        3.0,
        unit="months",
        label="Illness duration",
        low=1,
        high=60,
        group="illness",
        description="Mean duration of an illness, months.",
    )
    illness_income_loss: float = lever(
        0.4,
        unit="share of income",
        label="Income lost while ill",
        low=0,
        high=1,
        group="illness",
        description="Share of income lost while ill.",
    )
    illness_cost: float = lever(
        0.5,
        unit="months of income",
        label="Medical cost at onset",
        low=0,
        high=24,
        group="illness",
        description="One-off medical cost at onset, in months of income.",
    )
    essentials_share: float = lever(
        0.45,
        unit="share of permanent income",
        label="Essentials share of income",
        low=0,
        high=1.5,
        group="spending",
        description="Mean essential spending, share of permanent income.",
    )
    essentials_spread: float = lever(
        0.1,
        unit="share of permanent income",
        label="Essentials spread",
        low=0,
        high=0.5,
        group="spending",
        description="Half-width of the uniform spread of the essentials share.",
    )
    discretionary_share: float = lever(
        0.3,
        unit="share of income",
        label="Discretionary share of income",
        low=0,
        high=1.5,
        group="spending",
        description="Discretionary habit target, share of income.",
    )
    income_smoothing: float = lever(
        0.15,
        unit="weight, 0-1",
        label="Income smoothing",
        low=0,
        high=1,
        group="spending",
        description="Weight of this month's income in the smoothed (usual) income.",
    )
    habit_adjustment: float = lever(
        0.1,
        unit="share of the gap a month",
        label="Habit adjustment speed",
        low=0,
        high=1,
        group="spending",
        description="Monthly speed at which the habit moves toward its target.",
    )
    habit_protected: float = lever(
        0.5,
        unit="share of the habit",
        label="Protected share of habit",
        low=0,
        high=1,
        group="spending",
        description="Share of the habit a borrower keeps spending before paying debt.",
    )
    precautionary_saving: float = lever(
        0.5,
        unit="% of income per point",
        label="Precautionary saving",
        low=0,
        high=10,
        group="spending",
        description="Cut in the discretionary spending target, as a share of income, per "
        "unit of unemployment above month 0 (0.5: 2.5% of income at +5 points; the US "
        "personal saving rate rose about 2.5 points of income while unemployment rose 5, "
        "2007-09, BEA NIPA table 2.1; part of that rise came from the 2008-09 tax rebates "
        "and stimulus, so 0.5 is an upper figure). 0 = no precautionary response.",
    )
    overspender_share: tuple[float, float, float] = lever(
        (0.08, 0.1, 0.3),
        unit="share of borrowers",
        label="Over-spender share by segment",
        low=0,
        high=1,
        length=3,
        group="spending",
        description="Share of over-spenders per segment (spend ahead of income).",
    )
    overspender_extra: float = lever(
        0.15,
        unit="share of income",
        label="Over-spenders' extra share",
        low=0,
        high=1,
        group="spending",
        description="Extra discretionary share of over-spenders.",
    )
    savings_months: float = lever(
        2.0,
        unit="months of income",
        label="Savings buffer",
        low=0,
        high=120,
        group="savings",
        description="Mean savings buffer target, months of income (0 = no buffer).",
    )
    savings_spread: float = lever(
        0.8,
        unit="log s.d.",
        label="Savings buffer spread",
        low=0,
        high=3,
        group="savings",
        description="S.d. of log buffer target.",
    )
    savings_spend_down: float = lever(
        0.2,
        unit="share of the excess a month",
        label="Savings spend-down (monthly)",
        low=0,
        high=1,
        group="savings",
        description="Monthly share of savings above the buffer target spent.",
    )
    low_willingness_share: float = lever(
        0.03,
        unit="share of borrowers",
        label="Share unwilling to pay",
        low=0,
        high=1,
        group="credit behaviour",
        description="Share of borrowers with low willingness to pay.",
    )
    low_willingness: float = lever(
        0.6,
        unit="probability a month",
        label="Payment probability if unwilling",
        low=0,
        high=1,
        group="credit behaviour",
        description="Monthly probability that a low-willingness borrower pays when able.",
    )
    oversight_rate: float = lever(
        0.03,
        unit="probability a month",
        label="Forgotten payments (monthly)",
        low=0,
        high=1,
        group="credit behaviour",
        description="Monthly probability that a borrower of average literacy forgets a "
        "payment they could make (scaled by 1.5 - literacy; pre-due reminders cut it).",
    )
    misreport_share: float = lever(
        0.25,
        unit="share of applicants",
        label="Share misreporting income",
        low=0,
        high=1,
        group="credit behaviour",
        description="Share of applicants who overstate income.",
    )
    misreport_factor: float = lever(
        0.5,
        unit="share of income",
        label="Income overstatement",
        low=0,
        high=5,
        group="credit behaviour",
        description="Mean overstatement of those who do (0.3 = +30%).",
    )
    apply_rate: float = lever(
        0.03,
        unit="probability a month",
        label="Application rate (monthly)",
        low=0,
        high=1,
        group="demand",
        description="Monthly probability a borrower applies to a lender where they hold no loan.",
    )
    distress_apply_multiplier: float = lever(
        3.0,
        unit="multiple of the application rate",
        label="Application multiplier in distress",
        low=0,
        high=100,
        group="demand",
        description="Multiplier on ``apply_rate`` for borrowers in distress.",
    )
    reborrow_probability: float = lever(
        0.5,
        unit="probability",
        label="Re-borrowing probability",
        low=0,
        high=1,
        group="demand",
        description="Probability of applying again when a loan is repaid.",
    )
    loan_need_months: float = lever(
        2.7,
        unit="months of income",
        label="Loan wanted",
        low=0,
        high=60,
        group="demand",
        description="Mean loan amount wanted, months of smoothed income (log-normal).",
    )
    loan_need_dispersion: float = lever(
        0.5,
        unit="log s.d.",
        label="Loan wanted dispersion",
        low=0,
        high=3,
        group="demand",
        description="S.d. of the log loan amount wanted (0 = everyone wants the mean).",
    )
    borrow_to_repay: bool = lever(
        True,
        label="Borrowing to repay",
        group="demand",
        description="Whether borrowers short of this month's dues apply at another lender to "
        "repay (with several lenders).",
    )

    relief_ask_base: float = lever(
        0.2,
        unit="probability a month",
        label="Relief asking at zero literacy",
        low=0,
        high=1,
        group="credit behaviour",
        description="Monthly chance that an overdue borrower in temporary trouble asks for "
        "relief, at zero literacy.",
    )
    relief_ask_literacy: float = lever(
        0.5,
        unit="probability a month",
        label="Extra relief asking at full literacy",
        low=0,
        high=1,
        group="credit behaviour",
        description="Extra chance of asking for relief at full literacy.",
    )
    quality_weights: tuple[float, ...] = lever(
        (3.0, 0.3, 4.0, 0.8, 0.5, 2.0, 0.5, 0.5),
        unit="weight per trait",
        label="Creditworthiness weights",
        low=0,
        high=100,
        length=8,
        group="screening signal",
        description="Weights of true creditworthiness on: monthly slack (income less "
        "essentials, protected spending and debt service, over income), savings in months "
        "of income (up to 6), willingness to pay - 1, employed, over-spender (-), income "
        "shock s.d. (-), literacy, ill (-).",
    )
    score_mean: float = lever(
        620.0,
        label="Mean credit score",
        low=300,
        high=850,
        unit="score points",
        group="screening signal",
        description="Score of a borrower of average true creditworthiness (300-850 scale).",
    )
    score_sd: float = lever(
        60.0,
        label="Score spread",
        low=1,
        high=300,
        unit="score points",
        group="screening signal",
        description="Score points per standard deviation of true creditworthiness.",
    )
    OWNER: ClassVar[str] = "population"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.essentials_spread > self.essentials_share:
            raise ValueError(
                f"essentials_spread must be <= essentials_share ({self.essentials_share}), "
                f"got {self.essentials_spread}"
            )


class BorrowerState:
    """Structure of arrays: one numpy array per borrower field, one row per borrower.

    Money fields are float64 (they enter the accounts); shares and flags use the
    smallest exact dtype. The last five fields are fixed per borrower and kept to
    save recomputing them every month.
    """

    __slots__ = (
        "segment",
        "base_income",
        "employed",
        "months_unemployed",
        "ill_months",
        "income",
        "smoothed_income",
        "essentials",
        "habit",
        "disc_share",
        "savings",
        "buffer_target",
        "overspender",
        "literacy",
        "willingness",
        "misreport",
        "record_damaged_until",
        "distressed",
        "missed",
        "shock_sd",
        "cycle_beta",
        "protect_share",
        "apply_base",
        "shock_half_var",
    )

    def __init__(self, **arrays: np.ndarray) -> None:
        for name in self.__slots__:
            setattr(self, name, arrays[name])

    def __len__(self) -> int:
        return int(self.segment.size)


def init_population(
    params: PopulationParams, n: int, unemployment: float, rng: np.random.Generator
) -> BorrowerState:
    """Draw ``n`` heterogeneous borrowers at month-0 conditions.

    Args:
        params: Population parameters.
        n: Number of borrowers.
        unemployment: Month-0 unemployment rate, used for the initial employment.
        rng: The population stream.

    Returns:
        The initial borrower state.
    """
    segment = rng.choice(3, size=n, p=params.segment_shares).astype(np.int8)
    median = np.asarray(params.median_income)[segment]
    base_income = median * np.exp(params.income_dispersion * rng.standard_normal(n))
    rel_loss = np.asarray(params.job_loss_relative)[segment]
    u_i = np.clip(unemployment * rel_loss / max(rel_loss.mean(), 1e-12), 0, 1)
    employed = rng.random(n) >= u_i
    overspender = rng.random(n) < np.asarray(params.overspender_share)[segment]
    young = segment == 2
    literacy = np.clip(rng.beta(4, 3, n) - 0.15 * young - 0.15 * overspender, 0, 1)
    essentials_share = params.essentials_share + params.essentials_spread * (2 * rng.random(n) - 1)
    disc_share = params.discretionary_share + params.overspender_extra * overspender
    buffer_target, savings = _savings(params, rng, base_income, young, overspender, literacy)
    willingness, misreport = _conduct(params, rng, literacy)
    start_income = base_income * np.where(employed, 1.0, params.replacement_ratio)
    return BorrowerState(
        segment=segment,
        base_income=base_income,
        employed=employed,
        months_unemployed=np.where(employed, 0, 3).astype(np.int16),
        ill_months=np.zeros(n, np.int16),
        income=start_income.copy(),
        smoothed_income=start_income.copy(),
        essentials=essentials_share * base_income,
        habit=disc_share * start_income,
        disc_share=disc_share,
        savings=savings,
        buffer_target=buffer_target,
        overspender=overspender,
        literacy=literacy.astype(np.float32),
        willingness=willingness,
        misreport=misreport,
        record_damaged_until=np.full(n, np.iinfo(np.int32).min, np.int32),
        distressed=np.zeros(n, bool),
        missed=np.zeros(n, bool),
        shock_sd=np.asarray(params.income_shock_sd)[segment],
        cycle_beta=np.asarray(params.business_cycle_beta)[segment],
        protect_share=np.where(overspender, 1.0, params.habit_protected),
        shock_half_var=0.5 * np.asarray(params.income_shock_sd)[segment] ** 2,
        apply_base=_application_rate(params, young, overspender, literacy),
    )


def _savings(
    params: PopulationParams,
    rng: np.random.Generator,
    base_income: np.ndarray,
    young: np.ndarray,
    overspender: np.ndarray,
    literacy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each borrower's savings buffer target (months of income) and starting savings."""
    n, spread = base_income.size, params.savings_spread
    buffer_target = (
        params.savings_months
        * np.exp(spread * rng.standard_normal(n) - spread**2 / 2)
        * np.where(young, 0.5, 1.0)
        * np.where(overspender, 0.3, 1.0)
        * (0.6 + 0.8 * literacy)
    )
    savings = buffer_target * base_income * rng.uniform(0.3, 1.2, n)
    return buffer_target, savings


def _conduct(
    params: PopulationParams, rng: np.random.Generator, literacy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each borrower's willingness to pay and income misreporting factor (>= 1)."""
    n = literacy.size
    low_will = rng.random(n) < params.low_willingness_share
    oversight = np.clip(params.oversight_rate * (1.5 - literacy), 0.0, 1.0)
    willingness = np.where(low_will, params.low_willingness, 1.0) * (1.0 - oversight)
    misreport = 1.0 + (rng.random(n) < params.misreport_share) * rng.exponential(
        params.misreport_factor, n
    )
    return willingness, misreport


def _application_rate(
    params: PopulationParams, young: np.ndarray, overspender: np.ndarray, literacy: np.ndarray
) -> np.ndarray:
    """Each borrower's base rate of applying: higher when young, overspending or less literate."""
    return (
        params.apply_rate
        * np.where(young, 1.5, 1.0)
        * np.where(overspender, 2.0, 1.0)
        * (1.3 - 0.6 * literacy)
    )
