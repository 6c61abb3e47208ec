"""The lender's risk policy: every lever in one frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from model._checks import check_known_fields, check_number

#: Graded collection stages, by DPD bucket 1-30, 31-60, 61-90, 90+.
COLLECTION_STAGES = ("reminder", "phone", "agency", "legal")


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
        acquisition_cost: Operating cost per new loan.
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
    collection_costs: tuple[float, float, float, float] = (2.0, 12.0, 40.0, 80.0)
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
    acquisition_cost: float = 60.0

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
        set_(
            self, "score_cutoff", check_number("score_cutoff", self.score_cutoff, low=300, high=850)
        )
        set_(self, "score_noise", check_number("score_noise", self.score_noise, low=0, high=5))
        set_(self, "max_dti", check_number("max_dti", self.max_dti, low=0, high=1, low_open=True))
        set_(
            self,
            "max_loan_to_income",
            check_number(
                "max_loan_to_income", self.max_loan_to_income, low=0, high=36, low_open=True
            ),
        )
        set_(
            self,
            "term_months",
            check_number("term_months", self.term_months, low=1, high=60, integer=True),
        )
        set_(self, "base_margin", check_number("base_margin", self.base_margin, low=0, high=1))
        set_(self, "tier_spread", check_number("tier_spread", self.tier_spread, low=0, high=0.5))
        set_(self, "late_fee", check_number("late_fee", self.late_fee, low=0, high=1))
        set_(self, "penalty_rate", check_number("penalty_rate", self.penalty_rate, low=0, high=2))
        wo = check_number("writeoff_dpd", self.writeoff_dpd, low=90, high=720, integer=True)
        if wo % 30:
            raise ValueError(f"writeoff_dpd must be a multiple of 30 in [90, 720], got {wo}")
        set_(self, "writeoff_dpd", wo)
        set_(
            self,
            "collection_intensity",
            check_number("collection_intensity", self.collection_intensity, low=0, high=1),
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
        if not isinstance(self.relief_enabled, bool):
            raise TypeError(f"relief_enabled must be true or false, got {self.relief_enabled!r}")
        set_(
            self,
            "relief_extension_months",
            check_number(
                "relief_extension_months",
                self.relief_extension_months,
                low=0,
                high=36,
                integer=True,
            ),
        )
        set_(
            self,
            "relief_rate_cut",
            check_number("relief_rate_cut", self.relief_rate_cut, low=0, high=1),
        )
        set_(
            self, "relief_waiver", check_number("relief_waiver", self.relief_waiver, low=0, high=1)
        )
        if self.dynamic_overdue_target is not None:
            set_(
                self,
                "dynamic_overdue_target",
                check_number(
                    "dynamic_overdue_target",
                    self.dynamic_overdue_target,
                    low=0,
                    high=1,
                    low_open=True,
                ),
            )
        set_(self, "dynamic_step", check_number("dynamic_step", self.dynamic_step, low=0, high=200))
        set_(
            self,
            "dynamic_max_tightening",
            check_number("dynamic_max_tightening", self.dynamic_max_tightening, low=0, high=550),
        )
        set_(
            self,
            "funding_limit_per_borrower",
            check_number(
                "funding_limit_per_borrower", self.funding_limit_per_borrower, low=0, high=1e9
            ),
        )
        set_(
            self,
            "funding_spread",
            check_number("funding_spread", self.funding_spread, low=0, high=1),
        )
        set_(
            self,
            "capital_ratio",
            check_number("capital_ratio", self.capital_ratio, low=0, high=1, low_open=True),
        )
        set_(
            self,
            "acquisition_cost",
            check_number("acquisition_cost", self.acquisition_cost, low=0, high=1e6),
        )

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
