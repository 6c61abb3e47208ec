"""Macro scenarios: monthly paths of unemployment, wages, prices, rates and illness.

Every macro series is declared once, in :data:`SERIES` (name, kind, bounds, unit,
baseline value, meaning, and the metric column that records it). The scenario's
fields, :data:`SERIES_BOUNDS`, :class:`MacroState`, the checks on a path, the knot
keys of a config's ``[[scenario]]`` table and ``docs/configs.md`` are all read from it,
so adding a macro variable is one entry (and the rule that uses it).

A :class:`MacroScenario` holds one value per month for each path. Presets are built
from knots ``(month, value)`` interpolated linearly (flat beyond the last knot);
``severity`` scales a preset's deviation from the baseline path, so ``severity=0`` is
the baseline and ``severity=2`` doubles the shock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

import numpy as np

from model._checks import check_number
from model.params import Parameters, lever

#: Kind of a series a scenario holds month by month: bounded, written as knots in
#: configs, scaled by ``severity``.
PATH = "path"
#: Kind of a level compounded month by month from a path of annual growth rates
#: (1.0 at month 0).
INDEX = "index"


@dataclass(frozen=True)
class Series:
    """One macro series, declared once in :data:`SERIES`.

    Attributes:
        name: Field name (of :class:`MacroScenario`, and of :class:`MacroState` if
            ``state``) and knot key of a config's ``[[scenario]]`` table (paths).
        kind: :data:`PATH` or :data:`INDEX`.
        label: Short name for charts, tables and docs.
        unit: Unit, in words.
        description: One line: what the series is and what it drives.
        low: Smallest allowed value of a path.
        high: Largest allowed value of a path.
        baseline: The baseline preset's (flat) value of a path; other presets and
            custom paths keep it for the paths they do not give.
        source: For an index: the path of annual growth rates it compounds.
        state: Whether the month's conditions (:class:`MacroState`) carry the series.
        column: The monthly metric (``model.metrics``) that records the month's value
            (None: not recorded).
    """

    name: str
    kind: str
    label: str
    unit: str
    description: str
    low: float | None = None
    high: float | None = None
    baseline: float | None = None
    source: str | None = None
    state: bool = False
    column: str | None = None


#: Every macro series, in the order of :data:`SERIES_BOUNDS` (paths) and of
#: :class:`MacroState`'s fields (``state`` series).
SERIES: tuple[Series, ...] = (
    Series(
        "unemployment",
        PATH,
        "Unemployment rate",
        "share of the labour force",
        "The scenario's unemployment rate; drives job loss and re-employment, the "
        "income of self-employed and young borrowers, hours while it rises, and "
        "precautionary saving.",
        low=0.0,
        high=0.6,
        baseline=0.042,
        state=True,
        column="scenario_unemployment",
    ),
    Series(
        "wage_growth",
        PATH,
        "Wage growth",
        "annual rate",
        "Nominal wage growth (compounded into wage_index).",
        low=-0.5,
        high=1.0,
        baseline=0.025,
    ),
    Series(
        "wage_index",
        INDEX,
        "Wage level",
        "index, 1 at month 0",
        "Nominal wage level: scales incomes, benefits and medical costs.",
        source="wage_growth",
        state=True,
        column="wage_index",
    ),
    Series(
        "inflation",
        PATH,
        "Inflation",
        "annual rate",
        "Consumer-price inflation (compounded into price_index).",
        low=-0.5,
        high=1.0,
        baseline=0.025,
    ),
    Series(
        "price_index",
        INDEX,
        "Price level",
        "index, 1 at month 0",
        "Consumer-price level: scales essential spending.",
        source="inflation",
        state=True,
        column="price_index",
    ),
    Series(
        "policy_rate",
        PATH,
        "Policy rate",
        "annual rate",
        "Central-bank rate: the lenders' funding cost and loan prices follow it.",
        low=-0.05,
        high=1.0,
        baseline=0.035,
        state=True,
        column="policy_rate",
    ),
    Series(
        "illness_factor",
        PATH,
        "Illness factor",
        "multiple of the baseline incidence",
        "Multiplier on the population's monthly illness rate.",
        low=0.0,
        high=20.0,
        baseline=1.0,
        state=True,
        column="illness_factor",
    ),
)
#: The series by name.
SERIES_BY_NAME: dict[str, Series] = {s.name: s for s in SERIES}
#: Paths a scenario holds, with the range each value must lie in.
SERIES_BOUNDS: dict[str, tuple[float, float]] = {
    s.name: (s.low, s.high) for s in SERIES if s.kind == PATH
}


@dataclass(frozen=True)
class ScenarioParams(Parameters):
    """Levers of a scenario that experiments sweep (``scenario.<name>``).

    What each means, its unit and range: :meth:`describe` (and ``docs/configs.md``).
    """

    severity: float = lever(
        1.0,
        label="Shock severity",
        unit="multiple of the shock",
        low=0,
        high=5,
        step=0.1,
        typical=(0, 3),
        group="scenario",
        description="Scale on the scenario's deviation from the baseline path: 0 = the "
        "baseline, 1 = as published (or as the knots say), 2 = twice the shock.",
    )
    OWNER: ClassVar[str] = "scenario"


Knots = Sequence[tuple[float, float]]

_BASELINE: dict[str, Knots] = {s.name: [(0, s.baseline)] for s in SERIES if s.kind == PATH}


@dataclass(frozen=True)
class StochasticParams(Parameters):
    """Parameters of the stochastic generator (:func:`stochastic_paths`), as config keys.

    A ``[[scenario]]`` table's ``stochastic = { paths = N, ... }`` takes them. The
    defaults are the US estimates of :func:`stochastic_paths`; what each means, its unit
    and range: :meth:`describe` (and ``docs/configs.md``).
    """

    recession_probability: float = lever(
        0.0132,
        label="Recession probability",
        unit="probability per month",
        low=0,
        high=1,
        typical=(0, 0.1),
        group="stochastic",
        description="Chance that a recession starts in a month of expansion (US 1954-2019: "
        "9 NBER recessions in 684 months of expansion, a mean expansion of 76 months).",
    )
    recession_months: float = lever(
        11.2,
        label="Mean recession length",
        unit="months",
        low=1,
        high=120,
        typical=(1, 36),
        group="stochastic",
        description="Mean length of a recession; each month of recession ends it with "
        "probability 1/recession_months (US 1954-2019: 101 NBER recession months in 9).",
    )
    recession_rise: float = lever(
        0.0023,
        label="Unemployment rise in recession",
        unit="share of the labour force per month",
        low=0,
        high=0.05,
        typical=(0, 0.01),
        group="stochastic",
        description="Mean monthly rise of unemployment in a recession; each recession draws "
        "its own rise around it (US 1954-2019: 0.23 pp a month, 0.08 pp across recessions).",
    )
    volatility: float = lever(
        1.0,
        label="Volatility",
        unit="multiple of the fitted s.d.",
        low=0,
        high=5,
        typical=(0, 3),
        group="stochastic",
        description="Scale on every random shock of the generator: 0 leaves the regime "
        "switches and each recession's mean rise only, 1 is as fitted.",
    )
    OWNER: ClassVar[str] = "stochastic scenario"


# The generator's fitted constants (see stochastic_paths): monthly, shares and annual rates.
#: Expansion: share of the gap to the start rate of unemployment closed each month.
_U_REVERSION = 0.0151
#: Expansion: s.d. of the monthly change of unemployment.
_U_EXPANSION_SD = 0.00155
#: Recession: s.d. across recessions of the mean monthly rise.
_U_RISE_SD = 0.00078
#: Recession: s.d. of the monthly change around the recession's mean rise.
_U_RECESSION_SD = 0.00202
#: Policy rate: share of the gap to its start value closed each month.
_RATE_REVERSION = 0.00462
#: Policy rate: cut per unit rise of unemployment in the same month.
_RATE_ON_UNEMPLOYMENT = 0.292
#: Policy rate: s.d. of the monthly change.
_RATE_SD = 0.00187
#: Inflation: AR(1) persistence and monthly s.d. (the model's own).
_INFLATION_PERSISTENCE, _INFLATION_SD = 0.9, 0.002
#: Wage growth: fall per unit rise of unemployment over its start value (the model's own).
_WAGE_ON_GAP = 0.5


def _regimes(uniform: np.ndarray, params: StochasticParams) -> np.ndarray:
    """Recession months of a two-state Markov chain that starts in expansion at month 0."""
    exit_probability = 1.0 / params.recession_months
    recession = np.zeros(uniform.size, dtype=bool)
    for t in range(1, uniform.size):
        p = exit_probability if recession[t - 1] else params.recession_probability
        recession[t] = (uniform[t] >= p) if recession[t - 1] else (uniform[t] < p)
    return recession


def _recession_rises(recession: np.ndarray, z: np.ndarray, params: StochasticParams) -> np.ndarray:
    """Each month's mean rise of unemployment: its recession's draw, fixed at its start."""
    starts = recession & ~np.concatenate(([False], recession[:-1]))
    months = np.arange(recession.size)
    last_start = np.maximum.accumulate(np.where(starts, months, 0))
    rise = params.recession_rise + params.volatility * _U_RISE_SD * z
    return np.maximum(rise[last_start], 0.0)


def _unemployment_path(
    u0: float, recession: np.ndarray, rise: np.ndarray, e: np.ndarray
) -> np.ndarray:
    """Unemployment from ``u0``: reverting in expansion, rising by ``rise`` in recession.

    ``e`` holds the month's shocks (N(0, 1) times the volatility).
    """
    u = np.full(e.size, u0)
    low, high = SERIES_BOUNDS["unemployment"]
    for t in range(1, e.size):
        if recession[t]:
            du = rise[t] + _U_RECESSION_SD * e[t]
        else:
            du = -_U_REVERSION * (u[t - 1] - u0) + _U_EXPANSION_SD * e[t]
        u[t] = min(max(u[t - 1] + du, low), high)
    return u


def _rate_path(r0: float, u: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The policy rate from ``r0``: reverting, and cut as unemployment ``u`` rises."""
    rate = np.full(u.size, r0)
    low, high = SERIES_BOUNDS["policy_rate"]
    for t in range(1, u.size):
        dr = -_RATE_REVERSION * (rate[t - 1] - r0)
        dr += -_RATE_ON_UNEMPLOYMENT * (u[t] - u[t - 1]) + _RATE_SD * e[t]
        rate[t] = min(max(rate[t - 1] + dr, 0.0, low), high)
    return rate


def _inflation_path(i0: float, e: np.ndarray) -> np.ndarray:
    """Inflation: AR(1) around its start value ``i0``, within its bounds."""
    inflation = np.full(e.size, i0)
    for t in range(1, e.size):
        inflation[t] = i0 + _INFLATION_PERSISTENCE * (inflation[t - 1] - i0) + _INFLATION_SD * e[t]
    return np.clip(inflation, *SERIES_BOUNDS["inflation"])


def stochastic_paths(
    months: int, rng: np.random.Generator, params: StochasticParams
) -> dict[str, np.ndarray]:
    """Draw one path of every macro path series from a regime-switching model of the US.

    The process, month by month from the baseline conditions at month 0:

    - Regime: a two-state Markov chain, expansion and recession. A recession starts with
      ``recession_probability`` a month and ends with ``1 / recession_months``.
    - Unemployment ``u``: in expansion it reverts to its start value ``u0``,
      ``du = -0.0151 (u - u0) + 0.00155 e``; in recession it rises,
      ``du = rise + 0.00202 e``, with ``rise`` drawn for each recession,
      ``N(recession_rise, 0.00078)`` floored at 0.
    - Policy rate ``r``: ``dr = -0.00462 (r - r0) - 0.292 du + 0.00187 e``, floored at 0
      (rates are cut as unemployment rises).
    - Inflation: AR(1) around its start value, persistence 0.9, s.d. 0.002; wage growth
      ``w0 - 0.5 (u - u0)``; the illness factor keeps its baseline.

    Every ``e`` is an independent N(0, 1) draw times ``volatility``. Draws come in a fixed
    shape whatever the regimes, so paths of the same seed under other parameters are
    paired. Values are kept within each series' bounds (:data:`SERIES_BOUNDS`).

    Source of the fit: BLS unemployment rate (LNS14000000, FRED UNRATE) and the effective
    federal funds rate (FRED FEDFUNDS), monthly; regimes are the NBER recession months
    (from the month after each peak to the trough). Unemployment: least squares on
    1954-07 to 2019-12 (684 months of expansion, 101 of recession in 9 recessions); its
    expansion attractor (3.4%) is replaced by the start value so that a path without a
    recession stays near the baseline. Policy rate: least squares on 1985-2019 (after the
    Volcker disinflation), re-centred on its start value likewise. Inflation and wages
    are the model's own rules (no fit).

    Args:
        months: Length of the paths.
        rng: The path's random generator.
        params: The generator's parameters.

    Returns:
        One array per path series of :data:`SERIES_BOUNDS`, ``months`` values each.
    """
    start = {name: float(knots[0][1]) for name, knots in _BASELINE.items()}
    uniform = rng.random(months)
    z = rng.standard_normal((4, months))
    recession = _regimes(uniform, params)
    rise = _recession_rises(recession, z[3], params)
    z = z[:3] * params.volatility
    u = _unemployment_path(start["unemployment"], recession, rise, z[0])
    paths = {name: np.full(months, value) for name, value in start.items()}
    paths.update(
        unemployment=u,
        policy_rate=_rate_path(start["policy_rate"], u, z[1]),
        inflation=_inflation_path(start["inflation"], z[2]),
        wage_growth=np.clip(
            start["wage_growth"] - _WAGE_ON_GAP * (u - start["unemployment"]),
            *SERIES_BOUNDS["wage_growth"],
        ),
    )
    return paths


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


_STATE = tuple(s for s in SERIES if s.state)
_RECORDED = tuple(s for s in _STATE if s.column is not None)


class MacroState(NamedTuple("_MacroStateFields", [(s.name, float) for s in _STATE])):
    """The macro conditions of one month: a float per series of :data:`SERIES` with ``state``.

    Fields, in order: ``unemployment``, ``wage_index``, ``price_index``, ``policy_rate``,
    ``illness_factor``.
    """

    __slots__ = ()

    def columns(self) -> dict[str, float]:
        """The month's values of the recorded series, by metric column (``Series.column``)."""
        return {s.column: getattr(self, s.name) for s in _RECORDED}


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


def _index_of(series: Series) -> Callable[[MacroScenario], np.ndarray]:
    """The rule of an index series: its source path's growth compounded month by month."""

    def index(self: MacroScenario) -> np.ndarray:
        return _index_from_growth(getattr(self, series.source))

    index.__doc__ = f"{series.description} One value per month, 1.0 at month 0."
    return index


def _series_fields(cls: type) -> type:
    """Class decorator (under ``@dataclass``): the scenario's series, from :data:`SERIES`.

    Each path becomes a field after ``name`` (a read-only array, one value per month);
    each index a cached property that compounds its source path.
    """
    for series in SERIES:
        if series.kind == PATH:
            cls.__annotations__[series.name] = "np.ndarray"
            setattr(cls, series.name, field(repr=False))
        else:
            index = cached_property(_index_of(series))
            index.__set_name__(cls, series.name)
            setattr(cls, series.name, index)
    return cls


@dataclass(frozen=True, eq=False)
@_series_fields
class MacroScenario:
    """Monthly macro paths that drive the economy.

    Besides ``name`` (the label used in results), a scenario has one read-only array
    per series of :data:`SERIES`, one value per month: a field per path
    (``scenario.unemployment``, a keyword of the constructor) and a cached property per
    index (``scenario.wage_index``). What each series means, its unit and range:
    :data:`SERIES` (and ``docs/configs.md``).
    """

    name: str

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
        return int(getattr(self, next(iter(SERIES_BOUNDS))).size)

    def unemployment_rise(self, month: int, window: int) -> float:
        """The rise of unemployment over the ``window`` months up to ``month`` (0 if it fell).

        Reads the path as :meth:`state` does: months past the end repeat the last month,
        burn-in months (before 0) month 0, so the burn-in sees no rise.
        """
        last = self.months - 1
        now = float(self.unemployment[min(max(month, 0), last)])
        before = float(self.unemployment[min(max(month - window, 0), last)])
        return max(now - before, 0.0)

    def state(self, month: int) -> MacroState:
        """Conditions of ``month``.

        Months past the end repeat the last month's values; months before 0 (the
        burn-in) repeat month 0's, with the indices (wage and price levels) growing into
        month 0 at month 0's rates, so the economy enters month 0 in a steady state with
        growth.
        """
        t = min(max(month, 0), self.months - 1)
        extra = month - t
        values = {}
        for series in _STATE:
            if series.kind == PATH:
                values[series.name] = float(getattr(self, series.name)[t])
            else:
                growth = getattr(self, series.source)[t]
                values[series.name] = float(
                    getattr(self, series.name)[t] * (1 + growth) ** (extra / 12)
                )
        return MacroState(**values)

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
        severity = ScenarioParams(severity=severity).severity  # checked as declared
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
        recession_probability: float | None = None,
        name: str = "stochastic",
        params: StochasticParams | None = None,
    ) -> MacroScenario:
        """Draw a random path from the regime-switching model :func:`stochastic_paths`.

        Month 0 holds the baseline conditions, so every path of a family starts where the
        baseline preset does (and all share one burn-in); the draws start at month 1.

        Args:
            months: Length of the path.
            seed: Seed of the path (an int or a ``SeedSequence``): the same seed and
                parameters give the same path.
            recession_probability: Shortcut for ``params.recession_probability``.
            name: The scenario's name.
            params: The generator's parameters (default: as fitted, :class:`StochasticParams`).

        Raises:
            ValueError: For months or parameters out of range.
        """
        months = check_number("months", months, low=1, high=1200, integer=True)
        params = params or StochasticParams()
        if recession_probability is not None:
            params = params.replace(recession_probability=recession_probability)
        return cls(name=name, **stochastic_paths(months, np.random.default_rng(seed), params))

    def to_dict(self) -> dict[str, Any]:
        """Return the paths as plain lists (for manifests)."""
        return {"name": self.name, **{s: getattr(self, s).tolist() for s in SERIES_BOUNDS}}
