"""Borrower population: parameters and the initial state arrays (structure of arrays)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from model._checks import check_known_fields, check_number

#: Borrower segments, in the order of every per-segment parameter.
SEGMENTS = ("salaried", "self_employed", "young")


def _check_triple(name: str, value: Any, low: float, high: float) -> tuple[float, float, float]:
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(
            f"{name} must be 3 numbers (salaried, self_employed, young), got {value!r}"
        )
    return tuple(check_number(f"{name}[{i}]", v, low=low, high=high) for i, v in enumerate(value))


@dataclass(frozen=True)
class PopulationParams:
    """Parameters of the borrower population (per-segment ones in ``SEGMENTS`` order).

    Money is in currency units per month at month-0 prices.

    Attributes:
        segment_shares: Shares of salaried, self-employed / small business, young.
        median_income: Median monthly income per segment.
        income_dispersion: Standard deviation of log permanent income.
        income_shock_sd: Monthly transitory log-income shock s.d. per segment.
        income_common_share: Share (rho) of the shock variance that is common to all
            borrowers in a month (one-factor model); 0 = purely idiosyncratic.
        business_cycle_beta: Income loss per point of unemployment above month 0.
        job_loss_relative: Relative job-loss hazard per segment.
        job_finding_relative: Relative re-employment hazard per segment.
        job_finding_rate: Monthly re-employment hazard at month-0 unemployment.
        replacement_ratio: Unemployment benefit as a share of the lost income.
        benefit_months: Months the benefit is paid; then ``assistance_ratio`` applies.
        assistance_ratio: Income of the long-term unemployed, share of the lost income.
        illness_rate: Monthly probability of falling ill (scaled by the scenario).
        illness_months: Mean duration of an illness, months.
        illness_income_loss: Share of income lost while ill.
        illness_cost: One-off medical cost at onset, in months of income.
        essentials_share: Mean essential spending, share of permanent income.
        essentials_spread: Half-width of the uniform spread of the essentials share.
        discretionary_share: Discretionary habit target, share of income.
        income_smoothing: Weight of this month's income in the smoothed (usual) income.
        habit_adjustment: Monthly speed at which the habit moves toward its target.
        habit_protected: Share of the habit a borrower keeps spending before paying debt.
        overspender_share: Share of over-spenders per segment (spend ahead of income).
        overspender_extra: Extra discretionary share of over-spenders.
        savings_months: Mean savings buffer target, months of income (0 = no buffer).
        savings_spread: S.d. of log buffer target.
        savings_spend_down: Monthly share of savings above the buffer target spent.
        low_willingness_share: Share of borrowers with low willingness to pay.
        low_willingness: Monthly probability that a low-willingness borrower pays when able.
        oversight_rate: Monthly probability that a borrower of average literacy forgets a
            payment they could make (scaled by ``1.5 - literacy``; pre-due reminders cut it).
        misreport_share: Share of applicants who overstate income.
        misreport_factor: Mean overstatement of those who do (0.3 = +30%).
        apply_rate: Monthly probability a borrower applies to a lender where they hold no loan.
        distress_apply_multiplier: Multiplier on ``apply_rate`` for borrowers in distress.
        reborrow_probability: Probability of applying again when a loan is repaid.
        loan_need_months: Mean loan amount wanted, months of smoothed income (log-normal).
        loan_need_dispersion: S.d. of the log loan amount wanted (0 = everyone wants the mean).
        borrow_to_repay: Whether borrowers short of this month's dues apply at another lender
            to repay (with several lenders).
    """

    segment_shares: tuple[float, float, float] = (0.6, 0.25, 0.15)
    median_income: tuple[float, float, float] = (6000.0, 6500.0, 3500.0)
    income_dispersion: float = 0.45
    income_shock_sd: tuple[float, float, float] = (0.05, 0.25, 0.12)
    income_common_share: float = 0.0
    business_cycle_beta: tuple[float, float, float] = (0.0, 2.5, 0.8)
    job_loss_relative: tuple[float, float, float] = (0.8, 1.3, 1.8)
    job_finding_relative: tuple[float, float, float] = (1.0, 0.8, 1.1)
    job_finding_rate: float = 0.25
    replacement_ratio: float = 0.5
    benefit_months: int = 6
    assistance_ratio: float = 0.2
    illness_rate: float = 0.004
    illness_months: float = 3.0
    illness_income_loss: float = 0.4
    illness_cost: float = 0.5
    essentials_share: float = 0.45
    essentials_spread: float = 0.1
    discretionary_share: float = 0.3
    income_smoothing: float = 0.15
    habit_adjustment: float = 0.1
    habit_protected: float = 0.5
    overspender_share: tuple[float, float, float] = (0.08, 0.1, 0.3)
    overspender_extra: float = 0.15
    savings_months: float = 2.0
    savings_spread: float = 0.8
    savings_spend_down: float = 0.2
    low_willingness_share: float = 0.03
    low_willingness: float = 0.6
    oversight_rate: float = 0.03
    misreport_share: float = 0.25
    misreport_factor: float = 0.5
    apply_rate: float = 0.03
    distress_apply_multiplier: float = 3.0
    reborrow_probability: float = 0.5
    loan_need_months: float = 2.7
    loan_need_dispersion: float = 0.5
    borrow_to_repay: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        shares = _check_triple("segment_shares", self.segment_shares, 0, 1)
        if abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"segment_shares must sum to 1, got {shares}")
        set_(self, "segment_shares", shares)
        triples = {
            "median_income": (1, 1e7),
            "income_shock_sd": (0, 2),
            "business_cycle_beta": (0, 20),
            "job_loss_relative": (0, 10),
            "job_finding_relative": (0, 10),
            "overspender_share": (0, 1),
        }
        for name, (low, high) in triples.items():
            set_(self, name, _check_triple(name, getattr(self, name), low, high))
        scalars = {
            "income_dispersion": (0, 3, False),
            "income_common_share": (0, 1, False),
            "job_finding_rate": (0, 1, False),
            "replacement_ratio": (0, 1, False),
            "benefit_months": (0, 120, True),
            "assistance_ratio": (0, 1, False),
            "illness_rate": (0, 1, False),
            "illness_months": (1, 60, False),
            "illness_income_loss": (0, 1, False),
            "illness_cost": (0, 24, False),
            "essentials_share": (0, 1.5, False),
            "essentials_spread": (0, 0.5, False),
            "discretionary_share": (0, 1.5, False),
            "income_smoothing": (0, 1, False),
            "habit_adjustment": (0, 1, False),
            "habit_protected": (0, 1, False),
            "overspender_extra": (0, 1, False),
            "savings_months": (0, 120, False),
            "savings_spread": (0, 3, False),
            "savings_spend_down": (0, 1, False),
            "low_willingness_share": (0, 1, False),
            "low_willingness": (0, 1, False),
            "oversight_rate": (0, 1, False),
            "misreport_share": (0, 1, False),
            "misreport_factor": (0, 5, False),
            "apply_rate": (0, 1, False),
            "distress_apply_multiplier": (0, 100, False),
            "reborrow_probability": (0, 1, False),
            "loan_need_months": (0, 60, False),
            "loan_need_dispersion": (0, 3, False),
        }
        for name, (low, high, integer) in scalars.items():
            set_(
                self,
                name,
                check_number(name, getattr(self, name), low=low, high=high, integer=integer),
            )
        if not isinstance(self.borrow_to_repay, bool):
            raise TypeError(f"borrow_to_repay must be true or false, got {self.borrow_to_repay!r}")
        if self.essentials_spread > self.essentials_share:
            raise ValueError(
                f"essentials_spread must be <= essentials_share ({self.essentials_share}), "
                f"got {self.essentials_spread}"
            )

    @classmethod
    def field_names(cls) -> list[str]:
        """Return the names of every population parameter."""
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes: Any) -> PopulationParams:
        """Return a copy with some parameters changed (validated).

        Raises:
            ValueError: For an unknown parameter or a value out of range.
        """
        check_known_fields("population", type(self), changes)
        return dataclasses.replace(self, **changes)


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
    buffer_target = (
        params.savings_months
        * np.exp(params.savings_spread * rng.standard_normal(n) - params.savings_spread**2 / 2)
        * np.where(young, 0.5, 1.0)
        * np.where(overspender, 0.3, 1.0)
        * (0.6 + 0.8 * literacy)
    )
    savings = buffer_target * base_income * rng.uniform(0.3, 1.2, n)
    low_will = rng.random(n) < params.low_willingness_share
    oversight = np.clip(params.oversight_rate * (1.5 - literacy), 0.0, 1.0)
    willingness = np.where(low_will, params.low_willingness, 1.0) * (1.0 - oversight)
    misreport = 1.0 + (rng.random(n) < params.misreport_share) * rng.exponential(
        params.misreport_factor, n
    )
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
        apply_base=(
            params.apply_rate
            * np.where(young, 1.5, 1.0)
            * np.where(overspender, 2.0, 1.0)
            * (1.3 - 0.6 * literacy)
        ),
    )
