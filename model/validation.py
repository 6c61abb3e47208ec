"""Validation against theory: the one-factor (Vasicek) limit of the economy.

If each borrower misses a payment when a latent variable ``sqrt(rho)*Z +
sqrt(1-rho)*e_i`` falls below ``Phi^-1(pd)``, the fraction missing in a large
portfolio has the Vasicek distribution
``P(X <= x) = Phi((sqrt(1-rho)*Phi^-1(x) - Phi^-1(pd)) / sqrt(rho))``.
:func:`one_factor_default_fractions` configures the real :class:`CreditEconomy`
(its borrower, income, loan and repayment code) so that this holds exactly, and
returns the simulated fractions; :func:`vasicek_cdf` gives the theory.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from model._checks import check_number
from model.economy import CreditEconomy
from model.loans import annuity_payment
from model.macro import MacroScenario
from model.policy import RiskPolicy
from model.population import PopulationParams

#: Monthly income shock s.d. of the homogeneous population.
SHOCK_SD = 0.2
#: Loan amount, in months of income, and the policy's flat annual rate.
LOAN_MONTHS = 2.0


def vasicek_cdf(x: np.ndarray | float, rho: float, pd: float) -> np.ndarray:
    """CDF of the large-portfolio default fraction in the one-factor model."""
    x = np.clip(np.asarray(x, dtype=float), 1e-300, 1 - 1e-16)
    z = (np.sqrt(1 - rho) * stats.norm.ppf(x) - stats.norm.ppf(pd)) / np.sqrt(rho)
    return stats.norm.cdf(z)


def vasicek_quantile(q: float, rho: float, pd: float) -> float:
    """Quantile ``q`` of the large-portfolio default fraction in the one-factor model."""
    z = (stats.norm.ppf(pd) + np.sqrt(rho) * stats.norm.ppf(q)) / np.sqrt(1 - rho)
    return float(stats.norm.cdf(z))


def homogeneous_setup(rho: float, pd: float) -> tuple[PopulationParams, RiskPolicy, MacroScenario]:
    """Population, policy and scenario under which the economy is a one-factor model.

    Every borrower is salaried with the same income, no savings buffer, no
    discretionary habit, no illness, no job loss, no misreporting and full
    willingness to pay; each applies for the same loan at the same price in month
    0. Essentials are set so that the first instalment is missed exactly when the
    month's income driver ``sqrt(rho)*Z + sqrt(1-rho)*e`` is below ``Phi^-1(pd)``.

    Returns:
        ``(population, policy, scenario)`` for :class:`CreditEconomy`.
    """
    income = 5000.0
    policy = RiskPolicy(
        name="one_factor",
        score_cutoff=300.0,
        score_noise=0.0,
        max_dti=1.0,
        max_loan_to_income=36.0,
        tier_spread=0.0,
        collection_intensity=0.0,
        relief_enabled=False,
        funding_limit_per_borrower=1e9,
    )
    rate = policy.annual_rate(0, 0.0) / 12
    instalment = float(
        annuity_payment(np.array([LOAN_MONTHS * income]), np.array([rate]), np.array([12]))[0]
    )
    threshold = stats.norm.ppf(pd)
    # Missed iff income * exp(sd*X - sd^2/2) - essentials < instalment.
    essentials = income * np.exp(SHOCK_SD * threshold - SHOCK_SD**2 / 2) - instalment
    if essentials <= 0:
        raise ValueError(f"pd={pd} is too high for the homogeneous set-up (essentials <= 0)")
    population = PopulationParams(
        segment_shares=(1.0, 0.0, 0.0),
        median_income=(income, income, income),
        income_dispersion=0.0,
        income_shock_sd=(SHOCK_SD, SHOCK_SD, SHOCK_SD),
        income_common_share=rho,
        business_cycle_beta=(0.0, 0.0, 0.0),
        illness_rate=0.0,
        essentials_share=essentials / income,
        essentials_spread=0.0,
        discretionary_share=0.0,
        overspender_share=(0.0, 0.0, 0.0),
        savings_months=0.0,
        savings_spend_down=1.0,
        income_smoothing=0.0,
        low_willingness_share=0.0,
        oversight_rate=0.0,
        misreport_share=0.0,
        apply_rate=1.0,
        loan_need_months=LOAN_MONTHS,
        loan_need_dispersion=0.0,
    )
    flat = [(0, 0.0)]
    scenario = MacroScenario.from_knots(
        "one_factor", 2, unemployment=flat, wage_growth=flat, inflation=flat, policy_rate=flat
    )
    return population, policy, scenario


def one_factor_default_fractions(
    rho: float, pd: float, n_borrowers: int, draws: int, seed: int
) -> np.ndarray:
    """Simulate the fraction of borrowers missing their first payment, per common-factor draw.

    Each draw builds a :class:`CreditEconomy` in the homogeneous set-up of
    :func:`homogeneous_setup` (its own seed, spawned from ``seed``), steps month 0
    (everyone who applies borrows) and month 1 (the first instalment falls due,
    with one common factor Z), and records the share of loans that missed it.

    Args:
        rho: Asset correlation (share of the income-shock variance that is common), in (0, 1).
        pd: Unconditional probability of missing, in (0, 0.5].
        n_borrowers: Borrowers per draw.
        draws: Number of draws of the common factor.
        seed: Seed of the whole experiment.

    Returns:
        Array of ``draws`` missed fractions.

    Raises:
        ValueError: For arguments out of range.
    """
    rho = check_number("rho", rho, low=0, high=1, low_open=True)
    if rho >= 1:
        raise ValueError(f"rho must be in (0, 1), got {rho}")
    pd = check_number("pd", pd, low=0, high=0.5, low_open=True)
    n_borrowers = check_number("n_borrowers", n_borrowers, low=1, high=10**7, integer=True)
    draws = check_number("draws", draws, low=1, high=10**6, integer=True)
    seed = check_number("seed", seed, low=0, integer=True)
    population, policy, scenario = homogeneous_setup(rho, pd)
    fractions = np.empty(draws)
    for k, child in enumerate(np.random.SeedSequence(seed).spawn(draws)):
        eco = CreditEconomy(
            n_borrowers, scenario, policy, seed=child, population=population, burn_in=0
        )
        eco.step()
        with_loan = eco.book.active[0].copy()
        eco.step()
        fractions[k] = np.count_nonzero(eco.book.dpd[0][with_loan] == 1) / max(
            np.count_nonzero(with_loan), 1
        )
    return fractions


def implied_asset_correlation(
    default_rates: np.ndarray, exposures: np.ndarray | float | None = None
) -> float:
    """The asset correlation of the Vasicek distribution with these rates' mean and variance.

    Method of moments: in the one-factor model ``E[X^2] = Phi2(k, k; rho)`` with
    ``k = Phi^-1(pd)``, so ``rho`` solves ``Phi2(k, k; rho) - pd^2 = var(X)``. With finite
    portfolios (``exposures``: loans behind each rate) the binomial variance
    ``pd (1 - pd) / n`` is taken off first.

    Args:
        default_rates: Observed default (or loss) rates of equal periods.
        exposures: Loans behind each rate (a number or one per rate); None: infinite.

    Returns:
        The implied correlation in [0, 1) (0 when the variance is no more than noise).

    Raises:
        ValueError: With fewer than 2 rates or a mean outside (0, 1).
    """
    x = np.asarray(default_rates, dtype=float)
    if x.size < 2:
        raise ValueError("default_rates needs at least 2 values")
    pd = float(x.mean())
    if not 0 < pd < 1:
        raise ValueError(f"the mean default rate must be in (0, 1), got {pd}")
    var = float(x.var(ddof=1))
    if exposures is not None:
        var -= float(np.mean(pd * (1 - pd) / np.asarray(exposures, dtype=float)))
    if var <= 0:
        return 0.0
    k = stats.norm.ppf(pd)

    def excess(rho: float) -> float:
        cov = [[1.0, rho], [rho, 1.0]]
        joint = stats.multivariate_normal(mean=[0.0, 0.0], cov=cov).cdf([k, k])
        return joint - pd * pd - var

    high = 0.999
    if excess(high) < 0:
        return high
    from scipy.optimize import brentq

    return float(brentq(excess, 1e-9, high, xtol=1e-6))
