"""Macro scenarios: monthly paths of unemployment, wages, prices, rates and illness.

A :class:`MacroScenario` holds one value per month for each series. Presets are
built from knots ``(month, value)`` interpolated linearly (flat beyond the last
knot); ``severity`` scales a preset's deviation from the baseline path, so
``severity=0`` is the baseline and ``severity=2`` doubles the shock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

import numpy as np

from model._checks import check_number

#: Series a scenario holds, with the range each value must lie in (annual rates).
SERIES_BOUNDS: dict[str, tuple[float, float]] = {
    "unemployment": (0.0, 0.6),
    "wage_growth": (-0.5, 1.0),
    "inflation": (-0.5, 1.0),
    "policy_rate": (-0.05, 1.0),
    "illness_factor": (0.0, 20.0),
}

Knots = Sequence[tuple[float, float]]

_BASELINE: dict[str, Knots] = {
    "unemployment": [(0, 0.042)],
    "wage_growth": [(0, 0.025)],
    "inflation": [(0, 0.025)],
    "policy_rate": [(0, 0.035)],
    "illness_factor": [(0, 1.0)],
}

#: US unemployment rate (%), monthly, January 2007 - December 2012 (BLS LNS14000000).
_US_UNEMPLOYMENT_2007_2012 = (
    *(4.6, 4.5, 4.4, 4.5, 4.4, 4.6, 4.6, 4.6, 4.7, 4.7, 4.7, 5.0),
    *(5.0, 4.8, 5.1, 5.0, 5.4, 5.5, 5.8, 6.1, 6.2, 6.6, 6.9, 7.4),
    *(7.7, 8.2, 8.6, 8.9, 9.4, 9.5, 9.4, 9.7, 9.8, 10.1, 10.0, 10.0),
    *(9.7, 9.8, 9.9, 9.9, 9.6, 9.4, 9.4, 9.5, 9.5, 9.4, 9.8, 9.3),
    *(9.1, 9.0, 9.0, 9.1, 9.0, 9.1, 9.0, 9.0, 9.0, 8.8, 8.6, 8.5),
    *(8.3, 8.3, 8.2, 8.2, 8.2, 8.2, 8.2, 8.1, 7.8, 7.8, 7.7, 7.9),
)

# Deviations from the baseline knots, per preset (series not named keep the baseline).
_PRESET_KNOTS: dict[str, dict[str, Knots]] = {
    "baseline": {},
    "mild_recession": {
        "unemployment": [(0, 0.042), (3, 0.042), (8, 0.058), (12, 0.065), (24, 0.060), (48, 0.047)],
        "wage_growth": [(0, 0.025), (6, 0.01), (24, 0.02), (36, 0.025)],
        "policy_rate": [(0, 0.035), (12, 0.02), (36, 0.03)],
    },
    # US 2025 severely adverse: +5.9 pp to a 10% peak over 7 quarters, slow recovery.
    "severe_recession": {
        "unemployment": [
            (0, 0.042),
            (3, 0.042),
            (9, 0.068),
            (15, 0.087),
            (24, 0.100),
            (36, 0.092),
            (60, 0.065),
        ],
        "wage_growth": [(0, 0.025), (9, -0.01), (27, 0.0), (42, 0.025)],
        "inflation": [(0, 0.025), (12, 0.015), (36, 0.021)],
        "policy_rate": [(0, 0.035), (9, 0.005), (36, 0.005), (60, 0.02)],
    },
    # EU 2025 adverse as a stagflation template: inflation 5.0, 3.5, 1.9% in years 1-3,
    # unemployment +6.1 pp over three years, rates up.
    "stagflation": {
        "unemployment": [(0, 0.042), (3, 0.042), (15, 0.075), (36, 0.103), (60, 0.085)],
        "wage_growth": [(0, 0.025), (6, 0.02), (36, 0.02), (48, 0.025)],
        "inflation": [(0, 0.025), (3, 0.05), (12, 0.05), (24, 0.035), (36, 0.019)],
        "policy_rate": [(0, 0.035), (12, 0.07), (36, 0.05), (60, 0.035)],
    },
    # US 2020: unemployment jumps within two months to ~19% (V), recovers within two years;
    # illness incidence rises for half a year; small businesses are hit.
    "pandemic": {
        "unemployment": [(0, 0.042), (2, 0.042), (4, 0.19), (6, 0.15), (12, 0.09), (24, 0.05)],
        "wage_growth": [(0, 0.025), (3, -0.02), (12, 0.025)],
        "inflation": [(0, 0.025), (4, 0.005), (15, 0.03), (24, 0.025)],
        "policy_rate": [(0, 0.035), (3, 0.0025), (24, 0.0025), (36, 0.015)],
        "illness_factor": [(0, 1.0), (2, 1.0), (3, 4.0), (8, 2.0), (14, 1.0)],
    },
    # The US 2007-12 path, month 0 = January 2007, for replaying the card-loss cycle. Sources:
    # unemployment BLS series LNS14000000 (seasonally adjusted; the 2009 values of the
    # September 2009 vintage, peak 10.1% in October 2009); federal funds effective rate
    # (FRB H.15, monthly averages); CPI-U 12-month inflation and average hourly earnings
    # growth (BLS), as knots at their turning points.
    "us_2007": {
        "unemployment": [(m, u / 100) for m, u in enumerate(_US_UNEMPLOYMENT_2007_2012)],
        "wage_growth": [(0, 0.037), (20, 0.037), (30, 0.025), (40, 0.018), (71, 0.018)],
        "inflation": [
            (0, 0.021),
            (11, 0.041),
            (18, 0.056),
            (23, 0.001),
            (30, -0.021),
            (35, 0.027),
            (42, 0.011),
            (56, 0.039),
            (71, 0.017),
        ],
        "policy_rate": [
            (0, 0.0525),
            (8, 0.0525),
            (11, 0.0424),
            (13, 0.0298),
            (16, 0.0198),
            (20, 0.0181),
            (21, 0.0097),
            (23, 0.0016),
            (71, 0.0015),
        ],
    },
}

_DESCRIPTIONS: dict[str, str] = {
    "baseline": "unemployment flat at 4.2%, inflation and wage growth 2.5%",
    "mild_recession": "unemployment 4.2% -> 6.5% over 9 months, gentle recovery",
    "severe_recession": "US severely adverse: unemployment 4.2% -> 10% over 7 quarters, rates cut",
    "stagflation": "EU adverse: inflation 5% then 3.5%, unemployment +6 pp over 3 years, rates up",
    "pandemic": "unemployment jumps to 19% within two months, V recovery, illness x4",
    "us_2007": "US January 2007 - December 2012 as it happened: unemployment 4.6% -> 10.1% "
    "(October 2009) -> 7.9%, rates cut to zero",
}


class MacroState(NamedTuple):
    """The macro conditions of one month."""

    unemployment: float
    wage_index: float
    price_index: float
    policy_rate: float
    illness_factor: float


def interpolate_knots(name: str, knots: Knots, months: int) -> np.ndarray:
    """Interpolate ``(month, value)`` knots to one value per month.

    Linear between knots, flat before the first and after the last.

    Raises:
        ValueError: If the knots are empty, malformed, unsorted or out of range.
    """
    low, high = SERIES_BOUNDS[name]
    if isinstance(knots, str | bytes) or not isinstance(knots, Sequence) or len(knots) == 0:
        raise ValueError(f"{name} must be a non-empty list of [month, value] pairs, got {knots!r}")
    xs, ys = [], []
    for k, pair in enumerate(knots):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"{name}[{k}] must be a [month, value] pair, got {pair!r}")
        xs.append(check_number(f"{name}[{k}] month", pair[0], low=0, high=10_000))
        ys.append(check_number(f"{name}[{k}] value", pair[1], low=low, high=high))
    if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
        raise ValueError(f"{name} knot months must be strictly increasing, got {xs}")
    return np.interp(np.arange(months, dtype=float), xs, ys)


def _index_from_growth(annual_growth: np.ndarray) -> np.ndarray:
    """Monthly level index (1.0 at month 0) from annual growth rates."""
    monthly = (1.0 + annual_growth) ** (1.0 / 12.0)
    index = np.ones_like(annual_growth)
    index[1:] = np.cumprod(monthly[:-1])
    return index


@dataclass(frozen=True, eq=False)
class MacroScenario:
    """Monthly macro paths that drive the economy.

    Attributes:
        name: Label used in results.
        unemployment: Unemployment rate per month (share of the labour force).
        wage_growth: Annual nominal wage growth per month.
        inflation: Annual consumer-price inflation per month.
        policy_rate: Annual central-bank rate per month (drives funding cost).
        illness_factor: Multiplier on the baseline illness incidence per month.
    """

    name: str
    unemployment: np.ndarray = field(repr=False)
    wage_growth: np.ndarray = field(repr=False)
    inflation: np.ndarray = field(repr=False)
    policy_rate: np.ndarray = field(repr=False)
    illness_factor: np.ndarray = field(repr=False)

    PRESETS: ClassVar[tuple[str, ...]] = tuple(_PRESET_KNOTS)
    DESCRIPTIONS: ClassVar[dict[str, str]] = _DESCRIPTIONS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"scenario name must be a non-empty string, got {self.name!r}")
        length = None
        for series, (low, high) in SERIES_BOUNDS.items():
            values = np.array(getattr(self, series), dtype=float)
            if values.ndim != 1 or values.size == 0:
                raise ValueError(f"{series} must be a non-empty 1-d sequence of monthly values")
            if not np.all(np.isfinite(values)) or values.min() < low or values.max() > high:
                raise ValueError(f"{series} values must be finite and in [{low}, {high}]")
            if length is not None and values.size != length:
                raise ValueError(f"{series} has {values.size} months, other series have {length}")
            length = values.size
            values.setflags(write=False)
            object.__setattr__(self, series, values)

    @property
    def months(self) -> int:
        """Number of months in the path."""
        return int(self.unemployment.size)

    @cached_property
    def wage_index(self) -> np.ndarray:
        """Nominal wage level per month (1.0 at month 0)."""
        return _index_from_growth(self.wage_growth)

    @cached_property
    def price_index(self) -> np.ndarray:
        """Consumer-price level per month (1.0 at month 0)."""
        return _index_from_growth(self.inflation)

    def state(self, month: int) -> MacroState:
        """Conditions of ``month``.

        Months past the end repeat the last month's rates; months before 0 (the
        burn-in) repeat month 0's, with wage and price levels growing into month 0 at
        month 0's rates, so the economy enters month 0 in a steady state with growth.
        """
        t = min(max(month, 0), self.months - 1)
        extra = month - t
        return MacroState(
            unemployment=float(self.unemployment[t]),
            wage_index=float(self.wage_index[t] * (1 + self.wage_growth[t]) ** (extra / 12)),
            price_index=float(self.price_index[t] * (1 + self.inflation[t]) ** (extra / 12)),
            policy_rate=float(self.policy_rate[t]),
            illness_factor=float(self.illness_factor[t]),
        )

    @classmethod
    def names(cls) -> list[str]:
        """Return the preset names."""
        return list(cls.PRESETS)

    @classmethod
    def preset(cls, name: str, months: int = 60, severity: float = 1.0) -> MacroScenario:
        """Return a named preset over ``months`` months.

        Args:
            name: One of :meth:`names`.
            months: Length of the path.
            severity: Scale on the preset's deviation from the baseline path
                (0 = baseline, 1 = as published, 2 = twice the shock).

        Raises:
            ValueError: For an unknown preset, or months/severity out of range.
        """
        if not isinstance(name, str) or name not in _PRESET_KNOTS:
            raise ValueError(f"unknown scenario preset {name!r}; allowed: {', '.join(cls.PRESETS)}")
        months = check_number("months", months, low=1, high=1200, integer=True)
        severity = check_number("severity", severity, low=0, high=5)
        paths: dict[str, np.ndarray] = {}
        for series, (low, high) in SERIES_BOUNDS.items():
            base = interpolate_knots(series, _BASELINE[series], months)
            shocked = interpolate_knots(
                series, _PRESET_KNOTS[name].get(series, _BASELINE[series]), months
            )
            paths[series] = np.clip(base + severity * (shocked - base), low, high)
        label = name if severity == 1.0 else f"{name}@{severity:g}"
        return cls(name=label, **paths)

    @classmethod
    def from_knots(cls, name: str, months: int, **series_knots: Knots) -> MacroScenario:
        """Build a custom path from ``(month, value)`` knots, interpolated linearly.

        Series not given follow the baseline preset.

        Example:
            ``MacroScenario.from_knots("v", 60, unemployment=[(0, .05), (3, .12), (15, .06)])``

        Raises:
            ValueError: For an unknown series name or malformed knots.
        """
        months = check_number("months", months, low=1, high=1200, integer=True)
        for key in series_knots:
            if key not in SERIES_BOUNDS:
                raise ValueError(
                    f"unknown scenario series {key!r}; allowed: {', '.join(SERIES_BOUNDS)}"
                )
        paths = {
            series: interpolate_knots(series, series_knots.get(series, _BASELINE[series]), months)
            for series in SERIES_BOUNDS
        }
        return cls(name=name, **paths)

    @classmethod
    def stochastic(
        cls,
        months: int = 60,
        seed: int | np.random.SeedSequence | None = 0,
        recession_probability: float = 1 / 96,
        name: str = "stochastic",
    ) -> MacroScenario:
        """Draw a random path: expansions with recessions arriving at random.

        Each month of expansion a recession starts with ``recession_probability``;
        it lasts 6-24 months, raises unemployment by 2-8 percentage points, cuts
        wage growth and the policy rate; recovery closes half the gap in about a
        year. Inflation follows an AR(1) around 2.5%.

        Raises:
            ValueError: For months or probability out of range.
        """
        months = check_number("months", months, low=1, high=1200, integer=True)
        p = check_number("recession_probability", recession_probability, low=0, high=1)
        rng = np.random.default_rng(seed)
        u = np.empty(months)
        wage = np.empty(months)
        infl = np.empty(months)
        rate = np.empty(months)
        u_star, level, pi = 0.042, 0.042, 0.025
        remaining, rise = 0, 0.0
        for t in range(months):
            if remaining == 0 and rng.random() < p:
                remaining = int(rng.integers(6, 25))
                rise = float(rng.uniform(0.02, 0.08)) / remaining
            if remaining > 0:
                level += rise
                remaining -= 1
            else:
                level += (u_star - level) * 0.055
            pi = 0.025 + 0.9 * (pi - 0.025) + rng.normal(0, 0.002)
            u[t] = level
            infl[t] = pi
            gap = level - u_star
            wage[t] = 0.03 - 0.5 * gap
            rate[t] = max(0.0025, 0.035 + 1.5 * (pi - 0.025) - 1.0 * gap)
        return cls(
            name=name,
            unemployment=np.clip(u, 0.0, 0.6),
            wage_growth=wage,
            inflation=np.clip(infl, -0.5, 1.0),
            policy_rate=rate,
            illness_factor=np.ones(months),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the paths as plain lists (for manifests)."""
        return {"name": self.name, **{s: getattr(self, s).tolist() for s in SERIES_BOUNDS}}
