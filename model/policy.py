"""The lender's risk policy: every lever in one frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from model._checks import check_known_fields, check_number

#: Allowed range of each numeric lever: (low, high, integer, low end excluded).
_BOUNDS: dict[str, tuple[float, float, bool, bool]] = {
    "score_cutoff": (300, 850, False, False),
    "score_noise": (0, 5, False, False),
    "max_dti": (0, 1, False, True),
    "max_loan_to_income": (0, 36, False, True),
    "term_months": (1, 60, True, False),
    "base_margin": (0, 1, False, False),
    "tier_spread": (0, 0.5, False, False),
    "late_fee": (0, 1, False, False),
    "penalty_rate": (0, 2, False, False),
    "writeoff_dpd": (90, 720, True, False),
    "collection_intensity": (0, 1, False, False),
    "relief_extension_months": (0, 36, True, False),
    "relief_rate_cut": (0, 1, False, False),
    "relief_waiver": (0, 1, False, False),
    "dynamic_step": (0, 200, False, False),
    "dynamic_max_tightening": (0, 550, False, False),
    "funding_limit_per_borrower": (0, 1e9, False, False),
    "funding_spread": (0, 1, False, False),
    "capital_ratio": (0, 1, False, True),
    "acquisition_cost": (0, 1e6, False, False),
    "servicing_cost": (0, 1e6, False, False),
}

#: Graded collection stages, by DPD bucket 1-30, 31-60, 61-90, 90+.
COLLECTION_STAGES = ("reminder", "phone", "agency", "legal")
#: DPD buckets of the loss allowance (provision matrix).
PROVISION_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


@dataclass(frozen=True)
class RiskPolicy:
    """A lender's risk policy.

    Build one from a preset and derive variants with :meth:`replace`::

        RiskPolicy.preset("conservative").replace(score_cutoff=660)

    Every field is checked when the policy is made; a bad value raises
    ``ValueError``/``TypeError`` naming the field and the allowed range.

    Attributes:
        name: Label used in results.
        score_cutoff: Minimum observed credit score (300-850 scale) to approve.
        score_noise: Standard deviation of the lender's score error, relative to the
            spread of true creditworthiness (0 = the lender sees true risk).
        max_dti: Cap on total monthly instalments over reported monthly income.
        max_loan_to_income: Cap on the loan amount, in months of reported income.
        term_months: Term of new loans, in months.
        base_margin: Annual margin over the funding rate for the best tier.
        tier_spread: Extra annual margin per risk tier (four tiers, A to D).
        late_fee: Late fee per missed month, as a share of the instalment.
        penalty_rate: Extra annual interest charged on arrears.
        writeoff_dpd: Days past due at which a loan is written off (multiple of 30).
        collection_intensity: Effort of graded collection, 0 (none) to 1 (full);
            scales both the effect and the cost of every stage.
        collection_costs: Monthly cost per account of the reminder, phone, agency
            and legal stages at full intensity.
        relief_enabled: Whether borrowers in temporary trouble who ask get relief.
        relief_extension_months: Months added to the term when relief is granted.
        relief_rate_cut: Share by which the loan's interest rate is cut on relief.
        relief_waiver: Share of the arrears waived on relief.
        dynamic_overdue_target: Overdue rate (1+ DPD) above which the cut-off is
            tightened month by month; None switches the rule off.
        dynamic_step: Points added to (or removed from) the cut-off per month.
        dynamic_max_tightening: Largest total tightening, in score points.
        funding_limit_per_borrower: Funding line: the largest loan book, per borrower
            in the economy, the lender can fund.
        funding_spread: Annual spread of the lender's funding over the policy rate.
        capital_ratio: Initial equity as a share of the funding line.
        sees_other_loans: Whether screening sees the applicant's loans at other lenders
            (a shared credit bureau); if not, the debt-to-income test and the score count
            only this lender's own loans, and multi-borrowing goes unseen.
        acquisition_cost: Operating cost per new loan.
        servicing_cost: Operating cost per open loan per month (staff, systems, funding
            operations), the lender's fixed-like cost of running the book.
        provision_rates: Loss allowance (expected credit loss) held against the balance
            of loans current, 1-30, 31-60, 61-90 and 90+ DPD, as shares of the balance
            (a provision matrix; IFRS 9 stages 1, 1, 2, 2, 3). Profit is charged with
            the month's change in the allowance.
    """

    name: str = "balanced"
    score_cutoff: float = 600.0
    score_noise: float = 0.5
    max_dti: float = 0.45
    max_loan_to_income: float = 4.0
    term_months: int = 12
    base_margin: float = 0.10
    tier_spread: float = 0.05
    late_fee: float = 0.05
    penalty_rate: float = 0.18
    writeoff_dpd: int = 180
    collection_intensity: float = 0.6
    collection_costs: tuple[float, float, float, float] = (5.0, 30.0, 100.0, 200.0)
    relief_enabled: bool = True
    relief_extension_months: int = 6
    relief_rate_cut: float = 0.3
    relief_waiver: float = 0.2
    dynamic_overdue_target: float | None = None
    dynamic_step: float = 10.0
    dynamic_max_tightening: float = 120.0
    funding_limit_per_borrower: float = 10_000.0
    funding_spread: float = 0.02
    capital_ratio: float = 0.12
    sees_other_loans: bool = True
    acquisition_cost: float = 60.0
    servicing_cost: float = 35.0
    provision_rates: tuple[float, float, float, float, float] = (0.025, 0.15, 0.40, 0.55, 0.65)

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

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        set_ = object.__setattr__
        for name, (low, high, integer, low_open) in _BOUNDS.items():
            value = check_number(
                name, getattr(self, name), low=low, high=high, integer=integer, low_open=low_open
            )
            set_(self, name, value)
        if self.writeoff_dpd % 30:
            raise ValueError(
                f"writeoff_dpd must be a multiple of 30 in [90, 720], got {self.writeoff_dpd}"
            )
        costs = self.collection_costs
        if not isinstance(costs, tuple | list) or len(costs) != len(COLLECTION_STAGES):
            raise ValueError(
                "collection_costs must be 4 numbers (reminder, phone, agency, legal), "
                f"got {costs!r}"
            )
        set_(
            self,
            "collection_costs",
            tuple(
                check_number(f"collection_costs[{i}]", c, low=0, high=1e6)
                for i, c in enumerate(costs)
            ),
        )
        rates = self.provision_rates
        if not isinstance(rates, tuple | list) or len(rates) != len(PROVISION_BUCKETS):
            raise ValueError(
                "provision_rates must be 5 numbers (current, 1-30, 31-60, 61-90, 90+ DPD), "
                f"got {rates!r}"
            )
        set_(
            self,
            "provision_rates",
            tuple(
                check_number(f"provision_rates[{i}]", r, low=0, high=1) for i, r in enumerate(rates)
            ),
        )
        for flag in ("relief_enabled", "sees_other_loans"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.dynamic_overdue_target is not None:
            target = check_number(
                "dynamic_overdue_target", self.dynamic_overdue_target, low=0, high=1, low_open=True
            )
            set_(self, "dynamic_overdue_target", target)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RiskPolicy:
        """Return a named preset, optionally with fields overridden.

        Args:
            name: One of :meth:`names` (``conservative``, ``balanced``, ``aggressive``).
            **overrides: Any policy field, e.g. ``score_cutoff=620``.

        Raises:
            ValueError: For an unknown preset or field, or a value out of range.
        """
        if not isinstance(name, str) or name not in cls.PRESETS:
            raise ValueError(f"unknown policy preset {name!r}; allowed: {', '.join(cls.PRESETS)}")
        fields = {"name": name, **cls.PRESETS[name]}
        check_known_fields("policy", cls, overrides)
        fields.update(overrides)
        return cls(**fields)

    @classmethod
    def names(cls) -> list[str]:
        """Return the preset names."""
        return list(cls.PRESETS)

    @classmethod
    def field_names(cls) -> list[str]:
        """Return the names of every lever (the fields a config may set)."""
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes: Any) -> RiskPolicy:
        """Return a copy with some fields changed (validated like a new policy).

        Raises:
            ValueError: For an unknown field or a value out of range.
        """
        check_known_fields("policy", type(self), changes)
        return dataclasses.replace(self, **changes)

    def annual_rate(self, tier: int, policy_rate: float) -> float:
        """Annual interest rate charged to risk tier ``tier`` (0 = A ... 3 = D)."""
        return policy_rate + self.funding_spread + self.base_margin + self.tier_spread * tier
