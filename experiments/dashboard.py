"""Interactive dashboard: watch a lending market month by month, in the browser.

Serve it with ``python -m experiments dashboard`` (or ``solara run experiments.dashboard``).
The page is built on Mesa's SolaraViz machinery: Mesa's ``ModelController`` gives
the Reset / Play / Step buttons and re-creates the model from the controls on
Reset, and every view redraws on Mesa's ``update_counter`` as the model steps.

The model behind the page is :class:`DashboardModel`, a small ``mesa.Model``
that owns one :class:`~model.CreditEconomy`, or two in side-by-side mode: two
policies on the same seed and scenario, hence the same borrowers and shocks. In
market mode it owns one economy of several competing lenders (each a preset and a
funding kind) under market rules, and the market view follows each lender: its
overdue rate, capital ratio, balance and funding line, and market share, with its
failure marked. It builds its economies as ``python -m experiments run`` builds the
runs of a config (:mod:`experiments.dashboard_config`), so the runs can be exported
as CSVs of their metrics and a TOML config that reproduces them. Each chart is drawn
by a plain function of the model (``chart_*``), so the views can be checked without
a browser.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mesa
import numpy as np
import pandas as pd
import solara
import solara.lab
import solara.server.settings

# Mesa 3.3's own ComponentsView (not used here) trips solara's hook check on import.
warnings.filterwarnings("ignore", message=".*ComponentsView: `use_state`", category=UserWarning)
from mesa.visualization.solara_viz import ModelController  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from experiments import dashboard_svg as svg  # noqa: E402
from experiments.config import ExperimentConfig  # noqa: E402
from experiments.dashboard_config import (  # noqa: E402
    CUSTOM,
    DEFAULT_APR_CAP,
    DEFAULT_KNOTS,
    DEFAULT_LENDERS,
    LEVER_CONTROLS,
    LEVERS,
    MARKET_CONTROLS,
    MARKET_SIZES,
    Lender,
    LeverControl,
    config_toml,
    default_rules,
    knots_text,
    lenders_csv,
    lever_control,
    market_lenders,
    market_rules,
    market_spec,
    metrics_csv,
    overrides,
    parse_knots,
    preset_levers,
    settings_config,
)
from experiments.dashboard_svg import Mark, Series  # noqa: E402
from experiments.design import build_design, build_economy, replication_seeds  # noqa: E402
from experiments.labels import NameTable, with_unit  # noqa: E402
from model import CreditEconomy, MacroScenario, RiskPolicy, release_freed_memory  # noqa: E402
from model.market import FUNDING_KINDS  # noqa: E402

# Solara's "runs on Solara" banner is drawn over the page's bottom right corner, on top
# of whatever scrolls there (the borrower table); the page has its own footer instead.
solara.server.settings.theme.show_banner = False

#: Months a dashboard run lasts (the scenario presets settle by month 60).
HORIZON = 120
#: Borrowers followed in the table.
N_SAMPLED = 8
#: Initial values of the controls (keyword arguments of ``DashboardModel``).
DEFAULT_PARAMS: dict[str, Any] = {
    "n_borrowers": 20_000,
    "scenario": "severe_recession",
    "severity": 1.0,
    "knots": DEFAULT_KNOTS,
    "policy_a": "balanced",
    "levers_a": preset_levers("balanced"),
    "compare": True,
    "policy_b": "aggressive",
    "levers_b": preset_levers("aggressive"),
    "seed": 7,
    "market": False,
    "lenders": DEFAULT_LENDERS[:3],
    "rules": default_rules(),
}

_COLORS = {"overdue_rate": "#1f77b4", "overdue_rate_30": "#ff7f0e", "npl_rate": "#d62728"}
_DASHES = ("", "7 4")  # policy A solid, policy B dashed
_POLICY_COLORS = ("#1f77b4", "#d62728")
#: Colours of the market's lenders, in order.
_LENDER_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")
#: How an investor-funded lender's funding line is drawn (in its colour).
_FUNDING_DASH = "2 3"
_NAMES = NameTable()
_BUCKETS = (
    ("share_1_30", "1-30 DPD", "#fdd49e"),
    ("share_31_60", "31-60", "#fc8d59"),
    ("share_61_90", "61-90", "#d7301f"),
    ("share_90_plus", "90+", "#7f0000"),
)


def full_levers(preset: str, levers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every exposed lever: the preset's values, overridden by ``levers``, typed as the preset's.

    Raises:
        ValueError: For a lever the dashboard does not expose.
    """
    base = preset_levers(preset)
    given = dict(levers or {})
    unknown = set(given) - set(base)
    if unknown:
        raise ValueError(f"unknown lever(s) {', '.join(sorted(unknown))}; allowed: {LEVERS}")
    return {k: type(v)(given.get(k, v)) for k, v in base.items()}


class DashboardModel(mesa.Model):
    """One or two credit economies on the same seed and scenario, or one market, stepped.

    The economies are the runs of the experiment config :attr:`config` (replication
    0), built as ``python -m experiments run`` builds them.

    Args:
        n_borrowers: Borrowers per economy.
        scenario: Macro scenario preset name, or ``"custom"`` for ``knots``.
        severity: Scale of the scenario's shock around the baseline (0 = baseline,
            1 = as published or as the knots say).
        knots: Unemployment knots ``(month, rate)`` of the custom scenario, or their
            text (``"0:4.2%, 6:8%"``, see :func:`~experiments.dashboard_config.parse_knots`).
        policy_a: Policy preset of lender A.
        levers_a: Lender A's exposed levers (see ``LEVERS``) overriding the preset;
            missing ones keep the preset's value. A ``dynamic_target`` of 0
            switches the dynamic tightening off.
        compare: Whether to run a second economy with policy B.
        policy_b: Policy preset of lender B (side-by-side mode).
        levers_b: Lender B's levers, as ``levers_a``.
        seed: Experiment seed; both economies run on replication 0's seed
            (:attr:`run_seed`), as a config with this ``seed`` would.
        market: Whether to run one market of ``lenders`` under ``rules`` instead of
            policy A (and B).
        lenders: The market's lenders (2 to 5), each ``(preset, funding)``: a policy
            preset and ``"stable"`` or ``"investors"``.
        rules: The market rules the dashboard exposes (``MARKET_RULES``) overriding
            :func:`~experiments.dashboard_config.default_rules`; an ``apr_cap`` of None
            is no cap.
        horizon: Months after which the run stops.

    Raises:
        ValueError: For an unknown lever or market rule, or a bad lender or value
            (one line); ``TypeError`` for a value of the wrong type.
    """

    def __init__(
        self,
        n_borrowers: int = DEFAULT_PARAMS["n_borrowers"],
        scenario: str = DEFAULT_PARAMS["scenario"],
        severity: float = DEFAULT_PARAMS["severity"],
        knots: Sequence[tuple[float, float]] | str = DEFAULT_KNOTS,
        policy_a: str = DEFAULT_PARAMS["policy_a"],
        levers_a: Mapping[str, Any] | None = None,
        compare: bool = DEFAULT_PARAMS["compare"],
        policy_b: str = DEFAULT_PARAMS["policy_b"],
        levers_b: Mapping[str, Any] | None = None,
        seed: int = DEFAULT_PARAMS["seed"],
        market: bool = DEFAULT_PARAMS["market"],
        lenders: Sequence[Lender] = DEFAULT_PARAMS["lenders"],
        rules: Mapping[str, Any] | None = None,
        horizon: int = HORIZON,
    ) -> None:
        super().__init__(seed=int(seed))
        if isinstance(knots, str):
            knots = parse_knots(knots)
        self.params: dict[str, Any] = {
            "n_borrowers": int(n_borrowers),
            "scenario": scenario,
            "severity": float(severity),
            "knots": tuple((m, float(v)) for m, v in knots),
            "policy_a": policy_a,
            "levers_a": full_levers(policy_a, levers_a),
            "compare": bool(compare),
            "policy_b": policy_b,
            "levers_b": full_levers(policy_b, levers_b),
            "seed": int(seed),
            "market": bool(market),
            "lenders": market_lenders(lenders),
            "rules": market_rules(rules),
        }
        self.horizon = int(horizon)
        self.config, labels = self._settings_config()
        runs = build_design(self.config)  # one run per policy (or the market), replication 0
        #: The seed the economies run on (replication 0's, from the experiment seed).
        self.run_seed: int = runs[0].seed
        self.economies: dict[str, CreditEconomy] = {}
        self.policy_names: dict[str, str] = {}  # display label -> the config's policy name
        for run, label in zip(runs, labels, strict=True):
            self.economies[label] = build_economy(self.config, run)  # as a sweep's run
            self.policy_names[label] = run.policy
        self.scenario: MacroScenario = self.first.scenario
        self.sampled = self._sample_borrowers(int(seed))
        self._cache: dict[str, tuple[int, Any]] = {}

    def _settings_config(self) -> tuple[ExperimentConfig, list[str]]:
        """The experiment config of the settings, and a display label per run."""
        p = self.params
        common = {
            "n_borrowers": p["n_borrowers"],
            "scenario": p["scenario"],
            "severity": p["severity"],
            "knots": p["knots"],
            "seed": p["seed"],
            "months": self.horizon,
        }
        if p["market"]:
            spec = market_spec(p["lenders"], p["rules"])
            config = settings_config(**common, market=spec)
            return config, [f"market ({len(spec.lenders)} lenders)"]
        sides = [("A", p["policy_a"], p["levers_a"])]
        if p["compare"]:
            sides.append(("B", p["policy_b"], p["levers_b"]))
        config = settings_config(**common, policies=[(pre, lev) for _, pre, lev in sides])
        labels = [
            f"{side}: {preset}{' (edited)' if overrides(preset, levers) else ''}"
            for side, preset, levers in sides
        ]
        return config, labels

    @property
    def month(self) -> int:
        """Months simulated so far."""
        return self.first.month

    @property
    def first(self) -> CreditEconomy:
        """The economy of policy A."""
        return next(iter(self.economies.values()))

    def _sample_borrowers(self, seed: int) -> list[int]:
        """Borrowers to follow: mostly holders of a loan at month 0, half overspenders."""
        rng = np.random.default_rng(seed)
        eco = self.first
        has_loan = eco.book.active.any(axis=0)
        overspenders = np.flatnonzero(has_loan & eco.state.overspender)
        others = np.flatnonzero(has_loan & ~eco.state.overspender)
        picks = [
            rng.permutation(overspenders)[: N_SAMPLED // 2],
            rng.permutation(others)[: N_SAMPLED - 2 - min(N_SAMPLED // 2, overspenders.size)],
        ]
        chosen = {int(i) for part in picks for i in part}
        while len(chosen) < min(N_SAMPLED, eco.n_borrowers):
            chosen.add(int(rng.integers(eco.n_borrowers)))
        return sorted(int(i) for i in chosen)

    def step(self) -> None:
        """Advance every economy one month; stop at the horizon."""
        for eco in self.economies.values():
            eco.step()
        if self.month >= self.horizon:
            self.running = False

    def _this_month(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``, computed once a month (the charts share it)."""
        hit = self._cache.get(key)
        if hit is None or hit[0] != self.month:
            hit = self._cache[key] = (self.month, make())
        return hit[1]

    def frames(self) -> dict[str, pd.DataFrame]:
        """Recorded monthly metrics of each economy, by policy label."""
        return self._this_month(
            "frames", lambda: {label: eco.metrics() for label, eco in self.economies.items()}
        )

    @property
    def lender_names(self) -> list[str]:
        """The lenders of the (first) economy, by their policies' names."""
        return [lender.policy.name for lender in self.first.lenders]

    def lender_history(self) -> pd.DataFrame:
        """Each lender's monthly metrics in the (first) economy: the market's in market mode.

        As :meth:`model.CreditEconomy.lender_history`: one row per lender and month, with
        ``failed``, ``balance_share`` and ``origination_share``.
        """
        return self._this_month("lenders", self.first.lender_history)

    def failures(self) -> dict[str, int]:
        """The month each failed lender failed in, by lender name (none: not failed)."""
        history = self.lender_history()
        failed = history[history["failed"]]
        return {str(k): int(v) for k, v in failed.groupby("lender_name")["month"].min().items()}

    def lender_table(self) -> pd.DataFrame:
        """Each lender now: funding, market share (of the balance), capital ratio, failure."""
        history, failures = self.lender_history(), self.failures()
        rows = []
        for lender in self.first.lenders:
            name = lender.policy.name
            own = history[history["lender_name"] == name]
            now = own.iloc[-1] if len(own) else None
            rows.append(
                {
                    "lender": name,
                    "funding": lender.policy.funding,
                    "market share": "" if now is None else f"{now['balance_share']:.1%}",
                    "capital ratio": ""
                    if now is None or name in failures
                    else "no book"
                    if np.isnan(now["capital_ratio"])
                    else f"{now['capital_ratio']:.1%}",
                    "failed": f"month {failures[name]}" if name in failures else "no",
                }
            )
        return pd.DataFrame(rows)

    def borrower_table(self) -> pd.DataFrame:
        """The followed borrowers now: income, savings, debt, DPD and status."""
        rows = []
        economies = list(self.economies.values())
        for i in self.sampled:
            b = economies[0].borrower(i)
            row = {
                "borrower": i,
                "segment": b.segment.replace("_", "-"),
                "employed": "yes" if b.employed else "no",
                "income": f"{b.income:,.0f}",
                "savings": f"{b.savings:,.0f}",
                "debt": f"{b.debt:,.0f}",
                "DPD": b.dpd,
                "status": b.status,
            }
            if len(economies) > 1:
                other = economies[1].borrower(i)
                row.update({"debt (B)": f"{other.debt:,.0f}", "DPD (B)": other.dpd})
                row["status (B)"] = other.status
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> list[tuple[str, str]]:
        """Headline figures of the latest month, one (label, text) pair each."""
        frames = self.frames()
        if not any(len(f) for f in frames.values()):
            return [("month", "0 (press Step or Play)")]

        def each(column: str, fmt: Callable[[float], str]) -> str:
            return " / ".join(fmt(f[column].iloc[-1]) for f in frames.values() if len(f))

        return [
            ("month", str(self.month)),
            ("unemployment", f"{frames[next(iter(frames))]['unemployment_rate'].iloc[-1]:.1%}"),
            ("overdue 1+", each("overdue_rate", lambda v: f"{v:.1%}")),
            ("NPL 90+", each("npl_rate", lambda v: f"{v:.1%}")),
            ("cum. loss", each("cum_net_loss", amount)),
            ("provisions", each("provisions", amount)),
            ("capital", each("capital", amount)),
        ]


def amount(value: float) -> str:
    """A money amount in a headline: ``4.5m``, ``38.2k`` or ``950``."""
    size = abs(value)
    if size >= 999_950:
        return f"{value / 1e6:,.1f}m"
    if size >= 999.5:
        return f"{value / 1e3:,.1f}k"
    return f"{value:,.0f}"


# ---------------------------------------------------------------------- charts
def _x_max(model: DashboardModel) -> int:
    return max(12, model.month)


def _policy_series(model: DashboardModel, column: str) -> list[Series]:
    """One curve of ``column`` per policy: A solid blue, B dashed red."""
    return [
        Series(label, frame["month"], frame[column], _POLICY_COLORS[k], _DASHES[k])
        for k, (label, frame) in enumerate(model.frames().items())
    ]


def chart_unemployment(model: DashboardModel) -> str:
    """Unemployment among the borrowers against the scenario's path."""
    frame = model.frames()[next(iter(model.economies))]
    series = [
        Series("scenario", frame["month"], frame["scenario_unemployment"], "#7f7f7f", "2 3"),
        Series("borrowers", frame["month"], frame["unemployment_rate"], "#2ca02c"),
    ]
    return svg.chart("unemployment", "Unemployment", series, svg.percent, x_max=_x_max(model))


def chart_overdue(model: DashboardModel) -> str:
    """Overdue rates (1+ and 30+ DPD) and the NPL rate (90+ DPD), share of active loans."""
    columns = {"overdue_rate": "1+ DPD", "overdue_rate_30": "30+ DPD", "npl_rate": "NPL (90+)"}
    frames = model.frames()
    series = [
        Series(f"{name}, {label}", frame["month"], frame[column], _COLORS[column], _DASHES[k])
        for k, (label, frame) in enumerate(frames.items())
        for column, name in columns.items()
    ]
    legend = [(name, _COLORS[column], "") for column, name in columns.items()]
    if len(frames) > 1:
        legend += [("A", "#444", _DASHES[0]), ("B", "#444", _DASHES[1])]
    return svg.chart(
        "overdue",
        "Overdue and NPL rates (share of active loans)",
        series,
        svg.percent,
        x_max=_x_max(model),
        legend=legend,
    )


def _bucket_chart(model: DashboardModel, label: str) -> str:
    frame = model.frames()[label]
    series = [Series(name, frame["month"], frame[c], color) for c, name, color in _BUCKETS]
    title = "DPD buckets, share of active loans"
    if len(model.economies) > 1:
        title += f" ({label.split(':')[0]})"
    key = "buckets" if label == next(iter(model.economies)) else "buckets_b"
    return svg.chart(key, title, series, svg.percent, x_max=_x_max(model), stacked=True)


def chart_buckets(model: DashboardModel) -> str:
    """Share of active loans in each overdue DPD bucket, stacked (current = the rest)."""
    return _bucket_chart(model, next(iter(model.economies)))


def chart_buckets_b(model: DashboardModel) -> str:
    """The DPD buckets of policy B (side-by-side mode only)."""
    return _bucket_chart(model, list(model.economies)[-1])


def _policy_chart(
    model: DashboardModel,
    column: str,
    title: str,
    fmt: Callable[..., Any] = svg.money,
    integer: bool = False,
) -> str:
    series = _policy_series(model, column)
    return svg.chart(column, title, series, fmt, x_max=_x_max(model), integer=integer)


def chart_writeoffs(model: DashboardModel) -> str:
    """Balance written off each month."""
    return _policy_chart(model, "writeoffs", "Write-offs per month")


def chart_cum_loss(model: DashboardModel) -> str:
    """Cumulative bad-debt loss (write-offs net of recoveries)."""
    return _policy_chart(model, "cum_net_loss", "Cumulative bad-debt loss (net of recoveries)")


def chart_provisions(model: DashboardModel) -> str:
    """The lender's loss allowance (provisions) against its book."""
    return _policy_chart(model, "provisions", "Loss allowance (provisions)")


def chart_approvals(model: DashboardModel) -> str:
    """Approved applications per month."""
    return _policy_chart(model, "approvals", "Approvals per month", svg.count, integer=True)


def chart_originations(model: DashboardModel) -> str:
    """Amount lent in new loans per month."""
    return _policy_chart(model, "originations", "Originations per month (amount lent)")


def chart_profit(model: DashboardModel) -> str:
    """The lender's monthly profit."""
    return _policy_chart(model, "profit", "Lender profit per month")


def chart_capital(model: DashboardModel) -> str:
    """The lender's capital (equity)."""
    return _policy_chart(model, "capital", "Lender capital")


def _lender_title(text: str, unit: str | None) -> str:
    """A market chart's title: a registry label with its unit, by lender."""
    return f"{with_unit(text, unit)}, by lender"


def _lender_lines(
    model: DashboardModel, column: str, until_failure: bool = False
) -> tuple[list[Series], list[Mark]]:
    """One curve of ``column`` per lender, and a mark at each failed lender's failure.

    Args:
        model: The dashboard model (market mode).
        column: A column of :meth:`DashboardModel.lender_history`.
        until_failure: End a failed lender's curve at its failure month.
    """
    history, failures = model.lender_history(), model.failures()
    series, marks = [], []
    for k, name in enumerate(model.lender_names):
        own = history[history["lender_name"] == name]
        if until_failure and name in failures:
            own = own[own["month"] <= failures[name]]
        color = _LENDER_COLORS[k % len(_LENDER_COLORS)]
        series.append(Series(name, own["month"], own[column], color))
        if name in failures:
            at = own.loc[own["month"] == failures[name], column]
            marks.append(Mark(name, failures[name], float(at.iloc[0]), color))
    return series, marks


def _lender_chart(
    model: DashboardModel, column: str, until_failure: bool = False, unit: str | None = None
) -> str:
    series, marks = _lender_lines(model, column, until_failure)
    title = _lender_title(_NAMES.name(column), unit or _NAMES.unit(column))
    return svg.chart(
        f"lender_{column}", title, series, svg.percent, x_max=_x_max(model), marks=marks
    )


def chart_lender_overdue(model: DashboardModel) -> str:
    """Each lender's overdue rate (1+ DPD), its failure marked."""
    return _lender_chart(model, "overdue_rate")


def chart_lender_capital(model: DashboardModel) -> str:
    """Each lender's capital ratio, up to its failure (a failed lender's ratio means nothing)."""
    return _lender_chart(model, "capital_ratio", until_failure=True)


def chart_lender_share(model: DashboardModel) -> str:
    """Each lender's market share: its share of the market's balance."""
    return _lender_chart(model, "balance_share", unit="share")  # a share of the market's


def chart_lender_balance(model: DashboardModel) -> str:
    """Each lender's balance and, for an investor-funded lender, its funding line (dotted)."""
    series, marks = _lender_lines(model, "balance")
    history, lines = model.lender_history(), []
    for s, lender in zip(series, model.first.lenders, strict=True):
        if lender.policy.funding == "investors":
            own = history[history["lender_name"] == s.label]
            label = f"{s.label}, funding line"
            lines.append(Series(label, own["month"], own["funding_line"], s.color, _FUNDING_DASH))
    legend = [(s.label, s.color, "") for s in series]
    if lines:
        legend.append(("investors' funding line", "#444", _FUNDING_DASH))
    text = f"{_NAMES.name('balance')} and {_NAMES.name('funding_line').lower()}"
    return svg.chart(
        "lender_balance",
        _lender_title(text, _NAMES.unit("balance")),
        [*series, *lines],
        svg.money,
        x_max=_x_max(model),
        legend=legend,
        marks=marks,
    )


#: The market view: per-lender charts (market mode only).
MARKET_CHARTS: tuple[Callable[[DashboardModel], str], ...] = (
    chart_lender_share,
    chart_lender_overdue,
    chart_lender_capital,
    chart_lender_balance,
)

#: The charts of the page, in reading order.
CHARTS: tuple[Callable[[DashboardModel], str], ...] = (
    chart_unemployment,
    chart_overdue,
    chart_buckets,
    chart_writeoffs,
    chart_cum_loss,
    chart_provisions,
    chart_approvals,
    chart_originations,
    chart_profit,
    chart_capital,
)


def charts_for(model: DashboardModel) -> list[Callable[[DashboardModel], str]]:
    """The charts shown for ``model``.

    Policy B's DPD buckets in side-by-side mode; in market mode the market view after
    the unemployment chart, the others showing the market's totals.
    """
    charts = list(CHARTS)
    if len(model.economies) > 1:
        charts.insert(charts.index(chart_buckets) + 1, chart_buckets_b)
    if model.params["market"]:
        charts[1:1] = MARKET_CHARTS
    return charts


# ------------------------------------------------------------------ components
# The components take the model's reactive variable, not the model: a component keeps
# the arguments of its first render for its lifetime (in solara's auto-subscribe
# context), which would keep the first model alive after every Reset.
ModelVar = solara.Reactive[DashboardModel]


@solara.component
def Chart(model_var: ModelVar, draw: Callable[[DashboardModel], str]) -> None:
    """One chart, redrawn when the model steps or is replaced."""
    update_counter.get()
    model = model_var.value
    with solara.Card(margin=0, classes=["chart-card"]):
        solara.HTML(tag="div", unsafe_innerHTML=draw(model), classes=[draw.__name__])


@solara.component
def Summary(model_var: ModelVar) -> None:
    """Headline numbers of the latest month (the market's totals in market mode)."""
    update_counter.get()
    model = model_var.value
    labels = list(model.economies)
    with solara.Row(gap="8px", style={"flex-wrap": "wrap", "align-items": "stretch"}):
        for key, text in model.summary():
            with solara.Card(margin=0, style={"min-width": "120px", "padding": "4px 12px"}):
                solara.Text(key, style={"font-size": "12px", "color": "#666"})
                solara.Div(children=[text], style={"font-size": "18px", "font-weight": "bold"})
    if len(labels) > 1:
        solara.Text(
            f"Side by side: {labels[0]} (solid) / {labels[1]} (dashed); "
            "same seed, borrowers and shocks.",
            style={"font-size": "13px"},
        )
    if model.params["market"]:
        LenderSummary(model_var)


@solara.component
def LenderSummary(model_var: ModelVar) -> None:
    """Each lender of the market now: market share, capital ratio, failed or not."""
    update_counter.get()
    table = model_var.value.lender_table()
    with solara.Card(margin=0):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=table.to_html(index=False, classes="lenders", border=0),
            classes=["lender-table"],
        )
        solara.Text(
            "Market share: of the market's balance. Totals above and in the charts "
            "without 'by lender' are the market's.",
            style={"font-size": "12px", "color": "#666"},
        )


@solara.component
def BorrowerTable(model_var: ModelVar) -> None:
    """The followed borrowers, refreshed every month."""
    update_counter.get()
    table = model_var.value.borrower_table()
    with solara.Card("Borrowers to follow", margin=0):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=table.to_html(index=False, classes="borrowers", border=0),
            classes=["borrowers-scroll"],  # scrolls sideways in a narrow window
        )


@solara.component
def Export(model_var: ModelVar) -> None:
    """Downloads of the current runs: monthly metrics (CSV) and the config that reproduces them."""
    update_counter.get()
    model = model_var.value
    # Made once: a new function at every month would cancel a download under way.
    csv, lenders, toml = solara.use_memo(
        lambda: (
            lambda: metrics_csv(model_var.value),
            lambda: lenders_csv(model_var.value),
            lambda: config_toml(model_var.value),
        ),
        [],
    )
    with solara.Card("Export the runs", margin=0):
        if model.month < 1:
            solara.Text("Step at least one month to export.", style={"font-size": "12px"})
            return
        name = model.config.name
        with solara.Row(gap="8px", style={"flex-wrap": "wrap"}):
            solara.FileDownload(
                csv,
                filename=f"{name}_metrics.csv",
                label="metrics (CSV)",
                mime_type="text/csv",
            )
            if model.params["market"]:
                solara.FileDownload(
                    lenders,
                    filename=f"{name}_lenders.csv",
                    label="lenders (CSV)",
                    mime_type="text/csv",
                )
            solara.FileDownload(
                toml,
                filename=f"{name}.toml",
                label="config (TOML)",
                mime_type="application/toml",
            )
        months = f"{model.month} month{'s' if model.month > 1 else ''}"
        solara.Text(
            f"The {months} so far; python -m experiments run CONFIG reproduces them.",
            style={"font-size": "12px"},
        )


_CSS = """
.borrowers { border-collapse: collapse; font-size: 13px; width: 100%; }
.borrowers th, .borrowers td {
  padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd;
}
.borrowers th { background: #f3f3f3; }
.borrowers td { white-space: nowrap; }
.lenders { border-collapse: collapse; font-size: 13px; }
.lenders th, .lenders td { padding: 2px 12px; text-align: right; border-bottom: 1px solid #ddd; }
.lenders th { background: #f3f3f3; }
.lenders td:first-child, .lenders th:first-child { text-align: left; }
.borrowers-scroll, .lender-table { overflow-x: auto; }
.chart-card .v-card__text, .chart-card { padding: 4px !important; }
.dash-grid { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 8px; }
.dash-grid .table-beside { grid-column: span 2; }  /* beside a lone chart in the last row */
.dash-grid .table-below { grid-column: 1 / -1; }
@media (max-width: 1250px) {
  .dash-grid { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .dash-grid .table-beside { grid-column: 1 / -1; }
}
@media (max-width: 700px) { .dash-grid { grid-template-columns: minmax(0, 1fr); } }
.dash-footer { color: #777; font-size: 12px; text-align: right; padding: 4px 8px 12px; }
.policy-tabs .v-tab { text-transform: none; font-size: 15px; }
"""


#: The severity slider (its range and step as ``ScenarioParams`` declares them).
SEVERITY = lever_control("scenario", "severity")
#: The population size slider (a setting of the dashboard, not a lever).
BORROWERS = LeverControl("n_borrowers", "borrowers", low=1_000, high=50_000, step=1_000, fmt="{:,}")
#: The slider of the market's number of lenders.
LENDERS = LeverControl("lenders", "lenders", low=MARKET_SIZES[0], high=MARKET_SIZES[1])


def _slider(
    control: LeverControl,
    value: float,
    on_value: Callable[[Any], None],
    disabled: bool = False,
    text: str | None = None,
) -> None:
    """A slider over ``control``'s range, titled ``text`` (default: the control's)."""
    title = f"{text or control.text}: {control.shown(value)}"
    if isinstance(value, int):
        solara.SliderInt(
            title,
            value=value,
            min=int(control.low),
            max=int(control.high),
            step=int(control.step),
            on_value=on_value,
            disabled=disabled,
        )
    else:  # sliders step in binary floats (0.45000000000000007): rounded
        solara.SliderFloat(
            title,
            value=value,
            min=control.low,
            max=control.high,
            step=control.step,
            on_value=lambda v: on_value(round(float(v), 4)),
            disabled=disabled,
        )


def _setter(params: solara.Reactive[dict[str, Any]], name: str) -> Callable[[Any], None]:
    def set_(value: Any) -> None:
        params.set({**params.value, name: value})

    return set_


@solara.component
def PolicyControls(params: solara.Reactive[dict[str, Any]], side: str) -> None:
    """The preset and levers of policy ``side`` (``"a"`` or ``"b"``); idle in market mode."""
    p = params.value
    preset_key, levers_key = f"policy_{side}", f"levers_{side}"
    levers = p[levers_key]
    disabled = p["market"] or (side == "b" and not p["compare"])

    def set_preset(name: str) -> None:
        params.set({**params.value, preset_key: name, levers_key: preset_levers(name)})

    def set_lever(name: str) -> Callable[[Any], None]:
        def set_(value: Any) -> None:
            now = params.value
            params.set({**now, levers_key: {**now[levers_key], name: value}})

        return set_

    solara.Select(
        "policy preset",
        value=p[preset_key],
        values=RiskPolicy.names(),
        on_value=set_preset,
        disabled=disabled,
    )
    for control in LEVER_CONTROLS:  # label, range, step and format: the lever's declaration
        if control.switch:
            solara.Checkbox(
                label=control.text,
                value=levers[control.name],
                on_value=set_lever(control.name),
                disabled=disabled,
            )
        else:
            _slider(control, levers[control.name], set_lever(control.name), disabled=disabled)


@solara.component
def MarketControls(params: solara.Reactive[dict[str, Any]]) -> None:
    """The market mode: the lenders (preset and funding each) and the market rules."""
    p = params.value
    disabled = not p["market"]
    solara.Checkbox(
        label="run a market of lenders instead",
        value=p["market"],
        on_value=_setter(params, "market"),
    )

    def set_count(count: int) -> None:
        now = params.value["lenders"]
        params.set({**params.value, "lenders": (*now, *DEFAULT_LENDERS[len(now) :])[:count]})

    def set_lender(k: int, part: int) -> Callable[[str], None]:
        def set_(value: str) -> None:
            lenders = [list(lender) for lender in params.value["lenders"]]
            lenders[k][part] = value
            params.set({**params.value, "lenders": tuple(tuple(x) for x in lenders)})

        return set_

    _slider(LENDERS, len(p["lenders"]), set_count, disabled=disabled)
    for k, (preset, funding) in enumerate(p["lenders"]):
        with solara.Row(gap="8px"):
            solara.Select(
                f"L{k + 1} preset",
                value=preset,
                values=RiskPolicy.names(),
                on_value=set_lender(k, 0),
                disabled=disabled,
            )
            solara.Select(
                f"L{k + 1} funding",
                value=funding,
                values=list(FUNDING_KINDS),
                on_value=set_lender(k, 1),
                disabled=disabled,
            )
    MarketRuleControls(params, disabled)


@solara.component
def MarketRuleControls(params: solara.Reactive[dict[str, Any]], disabled: bool) -> None:
    """The market rules the dashboard exposes; the APR cap is switched on and off."""
    rules = params.value["rules"]
    cap, set_cap = solara.use_state(rules["apr_cap"] or DEFAULT_APR_CAP)  # kept while off

    def set_rule(name: str) -> Callable[[Any], None]:
        def set_(value: Any) -> None:
            if name == "apr_cap" and value is not None:
                set_cap(value)
            params.set({**params.value, "rules": {**params.value["rules"], name: value}})

        return set_

    for control in MARKET_CONTROLS:  # label, range, step and format: the rule's declaration
        name = control.name
        if control.switch:
            solara.Checkbox(
                label=control.text, value=rules[name], on_value=set_rule(name), disabled=disabled
            )
        elif name == "apr_cap":
            capped = rules[name] is not None
            solara.Checkbox(
                label="cap the APR",
                value=capped,
                on_value=lambda on: set_rule("apr_cap")(cap if on else None),
                disabled=disabled,
            )
            _slider(control, cap, set_rule(name), disabled=disabled or not capped)
        else:  # the strategic default needs a failed lender's book left uncollected
            idle = name == "strategic_default" and rules["collect_after_failure"]
            _slider(control, rules[name], set_rule(name), disabled=disabled or idle)


@solara.component
def ScenarioControls(params: solara.Reactive[dict[str, Any]]) -> None:
    """The scenario preset or custom unemployment knots, and the severity."""
    p = params.value
    text, set_text = solara.use_state(knots_text(p["knots"]))
    error, set_error = solara.use_state("")

    def set_knots(value: str | None) -> None:
        set_text(value or "")
        try:
            knots = parse_knots(value or "")
        except ValueError as exc:
            set_error(str(exc))
            return
        set_error("")
        params.set({**params.value, "knots": knots})

    solara.Select(
        "scenario preset",
        value=p["scenario"],
        values=[*MacroScenario.names(), CUSTOM],
        on_value=_setter(params, "scenario"),
    )
    if p["scenario"] == CUSTOM:
        solara.InputText(
            "unemployment knots, month:rate",
            value=text,
            on_value=set_knots,
            error=error or False,
            message="linear between knots, flat after the last; Enter to apply",
        )
    _slider(
        SEVERITY,
        p["severity"],
        _setter(params, "severity"),
        text="severity (1 = as published)"
        if p["scenario"] != CUSTOM
        else "severity (1 = as given)",
    )


@solara.component
def Controls(params: solara.Reactive[dict[str, Any]], pending: bool) -> None:
    """The scenario, policies, side-by-side, market and population controls."""
    p = params.value
    with solara.Div():  # always there, so the cards below keep their place (and state)
        if pending:
            solara.Warning("Settings changed: press Reset to apply them.", dense=True)
    with solara.Card("Scenario", margin=0):
        ScenarioControls(params)
    with solara.Card("Lenders", margin=0), solara.lab.Tabs(grow=True):
        with solara.lab.Tab("Policy A"):
            PolicyControls(params, "a")
        with solara.lab.Tab("Policy B"):
            solara.Checkbox(
                label="run policy B side by side",
                value=p["compare"],
                on_value=_setter(params, "compare"),
                disabled=p["market"],
            )
            PolicyControls(params, "b")
        with solara.lab.Tab("Market"):
            MarketControls(params)
    with solara.Card("Population", margin=0):
        _slider(BORROWERS, p["n_borrowers"], _setter(params, "n_borrowers"))
        solara.InputInt(
            "seed",
            value=p["seed"],
            on_value=lambda v: _setter(params, "seed")(max(0, int(v or 0))),
        )
        run_seed = replication_seeds(p["seed"], 1)[0]
        solara.Text(
            f"Experiment seed; the runs use replication 0's seed {run_seed}. "
            "Changes apply on Reset.",
            style={"font-size": "12px"},
        )


def _free_memory() -> None:
    """Collect the economies a Reset let go and give their memory back to the system."""
    gc.collect()
    release_freed_memory()


@solara.component
def Page() -> None:
    """The dashboard page: controls in the sidebar, views in the main area."""
    # The model is made here, not passed to use_reactive: the hook would keep its
    # first value alive (as a memo dependency) after every Reset.
    model = solara.use_reactive(None)
    if model.value is None:
        model.value = DashboardModel(**DEFAULT_PARAMS)
    params = solara.use_reactive(dict(DEFAULT_PARAMS))
    months_per_step = solara.use_reactive(1)
    play_interval = solara.use_reactive(150)
    use_threads = solara.use_reactive(False)
    current: DashboardModel = model.value
    shown = solara.use_ref(id(current))

    def free_replaced_model() -> None:
        if shown.current != id(current):  # a Reset replaced the model
            shown.current = id(current)
            _free_memory()

    solara.use_effect(free_replaced_model, [id(current)])
    solara.Style(_CSS)
    solara.Title("creditabm dashboard")
    with solara.AppBar():
        solara.AppBarTitle("creditabm: consumer lending under a macro scenario")
    with solara.Sidebar(), solara.Column(gap="8px"):
        with solara.Card("Run", margin=0):
            ModelController(
                model,
                model_parameters=params,
                play_interval=play_interval,
                render_interval=months_per_step,
                use_threads=use_threads,
            )
            solara.SliderInt(
                f"months per step: {months_per_step.value}",
                value=months_per_step,
                min=1,
                max=12,
            )
        Export(model)
        Controls(params, pending=params.value != current.params)
    with solara.Column(gap="8px", style={"padding": "8px"}):
        Summary(model)
        charts = charts_for(current)
        with solara.Div(classes=["dash-grid"]):
            for draw in charts:
                Chart(model, draw)
            # The table fills the last row: beside a lone chart, or the whole row.
            with solara.Div(classes=["table-beside" if len(charts) % 3 == 1 else "table-below"]):
                BorrowerTable(model)
        solara.Div(
            children=["creditabm dashboard, built on Mesa and Solara"], classes=["dash-footer"]
        )


page = Page
