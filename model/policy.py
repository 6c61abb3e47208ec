"""The lender's risk policy: every lever in one frozen dataclass that validates itself.

Each lever is declared once, with its range, unit, group and meaning in the field's
metadata (:func:`model.params.lever`); validation, config parsing, the dashboard's
controls and ``docs/configs.md`` all read that declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from model.calibrated import POLICY as FITTED
from model.loans import PAYMENT_ORDERS
from model.market import FUNDING_KINDS
from model.params import Parameters, fitted_defaults, lever

#: Graded collection stages, by DPD bucket 1-30, 31-60, 61-90, 90+.
COLLECTION_STAGES = ("reminder", "phone", "agency", "legal")
#: DPD buckets of the loss allowance (provision matrix).
PROVISION_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
#: Loan terms a term mix may use, in months.
MAX_TERM = 60


def _check_term_mix(value: Any) -> tuple[tuple[int, float], ...] | None:
    if value is None:
        return None
    message = (
        "term_mix must be a list of [months, share] pairs (months 1-60, shares >= 0 summing "
        f"to 1), e.g. [[3, 0.3], [12, 0.7]]; got {value!r}"
    )
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) == 0:
        raise ValueError(message)
    pairs = []
    for pair in value:
        if isinstance(pair, str | bytes) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise ValueError(message)
        months, share = pair
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_TERM:
            raise ValueError(message)
        if isinstance(share, bool) or not isinstance(share, int | float) or not share >= 0:
            raise ValueError(message)
        pairs.append((int(months), float(share)))
    if abs(sum(s for _, s in pairs) - 1.0) > 1e-9 or len({m for m, _ in pairs}) != len(pairs):
        raise ValueError(message)
    return tuple(pairs)


@dataclass(frozen=True)
@fitted_defaults(FITTED)
class RiskPolicy(Parameters):
    """A lender's risk policy.

    Build one from a preset and derive variants with :meth:`replace`::

        RiskPolicy.preset("conservative").replace(score_cutoff=660)

    Every lever is checked when the policy is made; a bad value raises
    ``ValueError``/``TypeError`` naming the lever and what is allowed. What each lever
    means, its unit and range: :meth:`describe` (and ``docs/configs.md``).
    """

    name: str = lever(
        "balanced", label="Policy name", group="identity", description="Label used in results."
    )
    # --- screening, sizing, pricing
    score_cutoff: float = lever(
        600.0,
        label="Score cut-off",
        step=5,
        low=300,
        high=850,
        unit="score points",
        group="screening",
        description="Minimum observed credit score (300-850 scale) to approve.",
    )
    score_noise: float = lever(
        0.5,
        label="Score noise",
        low=0,
        high=5,
        unit="s.d. of true quality",
        group="screening",
        description="Standard deviation of the lender's score error relative to the spread "
        "of true creditworthiness (0 = the lender sees true risk).",
    )
    sees_other_loans: bool = lever(
        True,
        label="Sees other loans",
        group="screening",
        description="Whether screening sees the applicant's loans at other lenders (a shared "
        "credit bureau); if not, the debt-to-income test counts only this lender's loans.",
    )
    max_dti: float = lever(
        0.45,
        label="Max. debt-to-income",
        step=0.05,
        low=0,
        high=1,
        low_open=True,
        unit="share of income",
        group="sizing",
        description="Cap on total monthly instalments over reported monthly income.",
    )
    max_loan_to_income: float = lever(
        4.0,
        label="Max. loan-to-income",
        step=0.5,
        low=0,
        high=36,
        low_open=True,
        unit="months of income",
        group="sizing",
        description="Cap on the loan amount, in months of reported income.",
    )
    term_months: int = lever(
        12,
        label="Loan term",
        low=1,
        high=MAX_TERM,
        integer=True,
        unit="months",
        group="sizing",
        description="Term of new loans (when no term_mix is given).",
    )
    term_mix: tuple[tuple[int, float], ...] | None = lever(
        None,
        label="Loan term mix",
        unit="[months, share] pairs",
        allowed=f"pairs of months in [1, {MAX_TERM}] and shares >= 0 summing to 1",
        group="sizing",
        check=_check_term_mix,
        description="Mix of loan terms, e.g. [[3, 0.2], [12, 0.5], [36, 0.3]]: each new loan "
        "draws its term with these shares (short cash loans beside instalment loans); "
        "none = every loan has term_months.",
    )
    base_margin: float = lever(
        0.10,
        label="Base margin (annual)",
        low=0,
        high=1,
        unit="annual rate",
        group="pricing",
        description="Annual margin over the funding rate for the best tier (A).",
    )
    tier_spread: float = lever(
        0.05,
        label="Tier spread (annual)",
        low=0,
        high=0.5,
        unit="annual rate",
        group="pricing",
        description="Extra annual margin per risk tier (four tiers, A to D).",
    )
    late_fee: float = lever(
        0.05,
        label="Late fee (of instalment)",
        low=0,
        high=1,
        unit="share of instalment",
        group="pricing",
        description="Late fee charged each month an instalment is left unpaid.",
    )
    penalty_rate: float = lever(
        0.18,
        label="Penalty interest (annual)",
        low=0,
        high=2,
        unit="annual rate",
        group="pricing",
        description="Penalty interest charged on arrears, on top of the contract rate.",
    )
    payment_order: str = lever(
        "fees_first",
        label="Payment order",
        choices=PAYMENT_ORDERS,
        group="collection",
        description="How a payment is applied: fees and penalty interest first, then the "
        "oldest unpaid instalment (fees_first), or arrears first (arrears_first).",
    )
    # --- collection, relief, write-off
    collection_intensity: float = lever(
        0.6,
        label="Collection intensity",
        step=0.1,
        low=0,
        high=1,
        unit="0-1",
        group="collection",
        description="Effort of graded collection, 0 (none) to 1 (full); scales both the "
        "effect and the cost of every stage.",
    )
    collection_costs: tuple[float, float, float, float] = lever(
        (5.0, 30.0, 100.0, 200.0),
        label="Collection cost by stage",
        low=0,
        high=1e6,
        length=4,
        unit="currency per account",
        group="collection",
        description="Monthly cost per account of the reminder, phone, agency and legal stages "
        "(1-30, 31-60, 61-90, 90+ DPD) at full intensity.",
    )
    relief_enabled: bool = lever(
        True,
        label="Repayment relief",
        group="relief",
        description="Whether overdue borrowers in temporary trouble who ask get relief.",
    )
    relief_extension_months: int = lever(
        6,
        label="Relief term extension",
        low=0,
        high=36,
        integer=True,
        unit="months",
        group="relief",
        description="Months added to the term on relief.",
    )
    relief_rate_cut: float = lever(
        0.3,
        label="Relief rate cut",
        low=0,
        high=1,
        unit="share of rate",
        group="relief",
        description="Share by which the loan's interest rate is cut on relief.",
    )
    relief_waiver: float = lever(
        0.2,
        label="Relief arrears waiver",
        low=0,
        high=1,
        unit="share of arrears",
        group="relief",
        description="Share of the arrears and fees due waived on relief.",
    )
    probation_months: int = lever(
        12,
        label="Forbearance probation",
        low=1,
        high=60,
        integer=True,
        unit="months",
        group="relief",
        description="Months of regular payment a relieved (forborne) loan needs before it "
        "counts as performing again (EBA forbearance probation); a miss meanwhile "
        "re-defaults it at once.",
    )
    writeoff_dpd: int = lever(
        120,
        label="Write-off at",
        low=90,
        high=720,
        integer=True,
        multiple=30,
        unit="days past due",
        group="collection",
        description="Days past due at which a loan is written off (a multiple of 30; US "
        "retail rules: 120 for closed-end instalment loans, 180 for open-end credit).",
    )
    recovery_months: int = lever(
        36,
        label="Recovery period",
        low=0,
        high=120,
        integer=True,
        unit="months",
        group="collection",
        description="Months a written-off loan is pursued for recoveries.",
    )
    # --- the dynamic rule
    dynamic_target: float | None = lever(
        None,
        label="Tightening trigger (new-delinquency flow)",
        step=0.005,
        typical=(0, 0.1),
        low=0,
        high=1,
        unit="share of current balance a month",
        group="dynamic",
        description="Target of the new-delinquency flow: the balance of loans current at the "
        "start of a month that fall 1+ DPD in it, over that current balance (a 3-month "
        "moving average). Above it the cut-off tightens a step a month, below it it loosens; "
        "none or 0 switches the rule off.",
    )
    dynamic_step: float = lever(
        10.0,
        label="Tightening step",
        low=0,
        high=200,
        unit="score points",
        group="dynamic",
        description="Points added to (or removed from) the cut-off per month.",
    )
    dynamic_max_tightening: float = lever(
        120.0,
        label="Max. tightening",
        low=0,
        high=550,
        unit="score points",
        group="dynamic",
        description="Largest total tightening.",
    )
    dynamic_min_approval: float = lever(
        0.2,
        label="Pass-rate floor while tightening",
        low=0,
        high=1,
        unit="share of applicants",
        group="dynamic",
        description="The tightening never cuts the share of applicants passing the score "
        "test below this floor (or below its share at the policy's own cut-off, if lower).",
    )
    # --- competition
    share_target: float | None = lever(
        None,
        label="Market-share target",
        step=0.05,
        typical=(0, 1),
        low=0,
        high=1,
        unit="share of the market's new lending",
        group="competition",
        description="Share of the month's new lending (all lenders) the lender aims for: "
        "below it (3-month average) it eases a step a month, lowering its cut-off and its "
        "margin, above it it eases back; none or 0 switches competing off.",
    )
    competition_months: int = lever(
        6,
        label="Months to full easing",
        low=1,
        high=60,
        integer=True,
        unit="months",
        group="competition",
        description="Months of easing steps from none to full (the step is one over this).",
    )
    competition_max_loosening: float = lever(
        60.0,
        label="Max. cut-off loosening",
        low=0,
        high=550,
        unit="score points",
        group="competition",
        description="Points taken off the cut-off at full easing.",
    )
    competition_max_margin_cut: float = lever(
        0.03,
        label="Max. margin cut",
        low=0,
        high=1,
        unit="annual rate",
        group="competition",
        description="Annual rate taken off every tier's price at full easing.",
    )
    # --- funding, costs, capital, provisions
    funding_limit_per_borrower: float = lever(
        10_000.0,
        label="Funding line",
        low=0,
        high=1e9,
        unit="currency per borrower",
        group="funding",
        description="Funding line: the largest loan book the lender can fund, per borrower in "
        "the economy.",
    )
    funding_spread: float = lever(
        0.02,
        label="Funding spread (annual)",
        low=0,
        high=1,
        unit="annual rate",
        group="funding",
        description="Annual spread of the lender's funding over the policy rate.",
    )
    funding: str = lever(
        "stable",
        label="Funding",
        choices=FUNDING_KINDS,
        group="funding",
        description="How the lender is funded: stable deposits or credit lines, or investors "
        "whose confidence moves with its losses and peers' failures (they can run).",
    )
    brand: float = lever(
        0.0,
        label="Brand pull",
        low=-100,
        high=100,
        unit="utility",
        group="funding",
        description="The lender's pull on applicants beyond price (brand, convenience), in "
        "the market's choice model.",
    )
    acquisition_cost: float = lever(
        60.0,
        label="Acquisition cost",
        low=0,
        high=1e6,
        unit="currency per loan",
        group="costs",
        description="Operating cost per new loan.",
    )
    servicing_cost: float = lever(
        35.0,
        label="Servicing cost",
        low=0,
        high=1e6,
        unit="currency per loan a month",
        group="costs",
        description="Operating cost per open loan per month.",
    )
    capital_ratio: float = lever(
        0.12,
        label="Target capital ratio",
        low=0,
        high=1,
        low_open=True,
        unit="share of the book",
        group="capital",
        description="Equity at the end of the burn-in, and the target kept after: equity "
        "above this share of the book is paid out as dividends.",
    )
    min_capital_ratio: float = lever(
        0.06,
        label="Min. capital ratio",
        low=0,
        high=1,
        unit="share of the book",
        group="capital",
        description="Below this equity over book the lender stops lending (Basel III: 8% of "
        "risk-weighted assets at a 75% retail risk weight); at zero equity it fails.",
    )
    provision_rates: tuple[float, float, float, float, float] = lever(
        (0.025, 0.15, 0.40, 0.55, 0.65),
        label="Provision rates by DPD bucket",
        low=0,
        high=1,
        length=5,
        unit="share of balance",
        group="capital",
        description="Loss allowance held against loans current, 1-30, 31-60, 61-90 and 90+ "
        "DPD (IFRS 9 stages 1, 1, 2, 2, 3); forborne loans are held at stage 2 at least, "
        "at stage 3 once they re-default. Profit is charged with the allowance's change.",
    )

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "conservative": dict(
            score_cutoff=640.0,
            max_dti=0.35,
            max_loan_to_income=3.0,
            base_margin=0.10,
            tier_spread=0.04,
            collection_intensity=0.8,
            relief_enabled=True,
        ),
        "balanced": dict(),
        "aggressive": dict(
            score_cutoff=550.0,
            max_dti=0.60,
            max_loan_to_income=6.0,
            base_margin=0.08,
            tier_spread=0.06,
            collection_intensity=0.4,
            relief_enabled=False,
        ),
    }
    DESCRIPTIONS: ClassVar[dict[str, str]] = {
        "conservative": "high cut-off (640), DTI cap 35%, loans up to 3x income, firm collection",
        "balanced": "cut-off 600, DTI cap 45%, loans up to 4x income, collection and relief",
        "aggressive": "low cut-off (550), DTI cap 60%, loans up to 6x income, light collection",
    }
    RENAMED: ClassVar[dict[str, str]] = {
        "dynamic_overdue_target": "dynamic_target (the rule now watches the new-delinquency "
        "flow, which a shrinking book cannot inflate)",
    }
    OWNER: ClassVar[str] = "policy"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dynamic_target == 0:  # configs cannot say none: 0 switches the rule off too
            object.__setattr__(self, "dynamic_target", None)
        if self.share_target == 0:  # likewise: 0 switches competing off
            object.__setattr__(self, "share_target", None)
        if self.min_capital_ratio > self.capital_ratio:
            raise ValueError(
                f"min_capital_ratio must be <= capital_ratio ({self.capital_ratio}), "
                f"got {self.min_capital_ratio}"
            )

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RiskPolicy:
        """Return a named preset, optionally with levers overridden.

        Args:
            name: One of :meth:`names` (``conservative``, ``balanced``, ``aggressive``).
            **overrides: Any lever, e.g. ``score_cutoff=620``.

        Raises:
            ValueError: For an unknown preset or lever, or a value out of range.
        """
        if not isinstance(name, str) or name not in cls.PRESETS:
            raise ValueError(f"unknown policy preset {name!r}; allowed: {', '.join(cls.PRESETS)}")
        cls.check_known(overrides)
        return cls(**{"name": name, **cls.PRESETS[name], **overrides})

    @classmethod
    def names(cls) -> list[str]:
        """Return the preset names."""
        return list(cls.PRESETS)

    def annual_rate(self, tier: int, policy_rate: float) -> float:
        """Annual interest rate charged to risk tier ``tier`` (0 = A ... 3 = D)."""
        return policy_rate + self.funding_spread + self.base_margin + self.tier_spread * tier

    def terms(self) -> tuple[tuple[int, float], ...]:
        """The loan terms and their shares (``term_mix``, or ``term_months`` alone)."""
        return self.term_mix if self.term_mix is not None else ((self.term_months, 1.0),)
