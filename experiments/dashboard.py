"""Interactive dashboard: watch a lending market month by month, in the browser.

Serve it with ``python -m experiments dashboard`` (or ``solara run experiments.dashboard``).
The page is built on Mesa's SolaraViz machinery: Mesa's ``ModelController`` gives
the Reset / Play / Step buttons and re-creates the model from the controls on
Reset, and every view redraws on Mesa's ``update_counter`` as the model steps.

The model behind the page is :class:`DashboardModel`, a small ``mesa.Model``
that owns one :class:`~model.CreditEconomy`, or two in side-by-side mode: two
policies on the same seed and scenario, hence the same borrowers and shocks.
Each chart is drawn by a plain function of the model (``draw_*``), so the views
can be checked without a browser.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import mesa
import numpy as np
import pandas as pd
import solara

# Mesa 3.3's own ComponentsView (not used here) trips solara's hook check on import.
warnings.filterwarnings("ignore", message=".*ComponentsView: `use_state`", category=UserWarning)
from mesa.visualization.solara_viz import ModelController  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from experiments import dashboard_svg as svg  # noqa: E402
from experiments.dashboard_svg import Series  # noqa: E402
from model import CreditEconomy, MacroScenario, RiskPolicy  # noqa: E402

#: Months a dashboard run lasts (the scenario presets settle by month 60).
HORIZON = 120
#: Borrowers followed in the table.
N_SAMPLED = 8
#: The policy levers the page exposes (RiskPolicy field names).
LEVERS = (
    "score_cutoff",
    "max_dti",
    "max_loan_to_income",
    "collection_intensity",
    "relief_enabled",
    "writeoff_dpd",
)
#: Initial values of the controls (keyword arguments of ``DashboardModel``).
DEFAULT_PARAMS: dict[str, Any] = {
    "n_borrowers": 20_000,
    "scenario": "severe_recession",
    "severity": 1.0,
    "policy": "balanced",
    **{name: getattr(RiskPolicy.preset("balanced"), name) for name in LEVERS},
    "dynamic_target": 0.0,
    "compare": True,
    "policy_b": "aggressive",
    "seed": 7,
}

_COLORS = {"overdue_rate": "#1f77b4", "overdue_rate_30": "#ff7f0e", "npl_rate": "#d62728"}
_DASHES = ("", "7 4")  # policy A solid, policy B dashed
_POLICY_COLORS = ("#1f77b4", "#d62728")
_BUCKETS = (
    ("share_1_30", "1-30 DPD", "#fdd49e"),
    ("share_31_60", "31-60", "#fc8d59"),
    ("share_61_90", "61-90", "#d7301f"),
    ("share_90_plus", "90+", "#7f0000"),
)


def preset_levers(name: str) -> dict[str, Any]:
    """Return the values of the exposed levers in policy preset ``name``."""
    policy = RiskPolicy.preset(name)
    return {lever: getattr(policy, lever) for lever in LEVERS}


class DashboardModel(mesa.Model):
    """One or two credit economies on the same seed and scenario, stepped together.

    Args:
        n_borrowers: Borrowers per economy.
        scenario: Macro scenario preset name.
        severity: Scale of the scenario's shock (0 = baseline, 1 = as published).
        policy: Policy preset of lender A; the lever arguments override it (None
            keeps the preset's value).
        score_cutoff: Lender A's score cut-off.
        max_dti: Lender A's debt-to-income cap.
        max_loan_to_income: Lender A's largest loan, in months of income.
        collection_intensity: Lender A's collection effort, 0 to 1.
        relief_enabled: Whether lender A grants repayment relief.
        writeoff_dpd: Days past due at which lender A writes a loan off.
        dynamic_target: Overdue rate above which lender A tightens its cut-off
            month by month; 0 switches the rule off.
        compare: Whether to run a second economy with policy ``policy_b``.
        policy_b: Policy preset of lender B (side-by-side mode).
        seed: Seed of both economies (same borrowers and shocks).
        horizon: Months after which the run stops.
    """

    def __init__(
        self,
        n_borrowers: int = DEFAULT_PARAMS["n_borrowers"],
        scenario: str = DEFAULT_PARAMS["scenario"],
        severity: float = DEFAULT_PARAMS["severity"],
        policy: str = DEFAULT_PARAMS["policy"],
        score_cutoff: float | None = None,
        max_dti: float | None = None,
        max_loan_to_income: float | None = None,
        collection_intensity: float | None = None,
        relief_enabled: bool | None = None,
        writeoff_dpd: int | None = None,
        dynamic_target: float = DEFAULT_PARAMS["dynamic_target"],
        compare: bool = DEFAULT_PARAMS["compare"],
        policy_b: str = DEFAULT_PARAMS["policy_b"],
        seed: int = DEFAULT_PARAMS["seed"],
        horizon: int = HORIZON,
    ) -> None:
        super().__init__(seed=int(seed))
        given = {
            "score_cutoff": score_cutoff,
            "max_dti": max_dti,
            "max_loan_to_income": max_loan_to_income,
            "collection_intensity": collection_intensity,
            "relief_enabled": relief_enabled,
            "writeoff_dpd": writeoff_dpd,
        }
        levers = {k: v for k, v in given.items() if v is not None}
        levers = {**preset_levers(policy), **levers}
        self.params = {
            "n_borrowers": int(n_borrowers),
            "scenario": scenario,
            "severity": float(severity),
            "policy": policy,
            "score_cutoff": float(levers["score_cutoff"]),
            "max_dti": float(levers["max_dti"]),
            "max_loan_to_income": float(levers["max_loan_to_income"]),
            "collection_intensity": float(levers["collection_intensity"]),
            "relief_enabled": bool(levers["relief_enabled"]),
            "writeoff_dpd": int(levers["writeoff_dpd"]),
            "dynamic_target": float(dynamic_target),
            "compare": bool(compare),
            "policy_b": policy_b,
            "seed": int(seed),
        }
        self.horizon = int(horizon)
        self.scenario = MacroScenario.preset(scenario, months=self.horizon, severity=severity)
        levers = {name: self.params[name] for name in LEVERS}
        edited = levers != preset_levers(policy) or dynamic_target > 0
        policy_a = RiskPolicy.preset(
            policy,
            **levers,
            dynamic_overdue_target=float(dynamic_target) if dynamic_target > 0 else None,
        )
        policies = {f"A: {policy}{' (edited)' if edited else ''}": policy_a}
        if compare:
            policies[f"B: {policy_b}"] = RiskPolicy.preset(policy_b)
        self.economies: dict[str, CreditEconomy] = {
            label: CreditEconomy(
                n_borrowers=int(n_borrowers), scenario=self.scenario, policy=p, seed=int(seed)
            )
            for label, p in policies.items()
        }
        self.sampled = self._sample_borrowers(int(seed))
        self._frames: tuple[int, dict[str, pd.DataFrame]] | None = None

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

    def frames(self) -> dict[str, pd.DataFrame]:
        """Recorded monthly metrics of each economy, by policy label."""
        if self._frames is None or self._frames[0] != self.month:
            self._frames = (
                self.month,
                {label: eco.metrics() for label, eco in self.economies.items()},
            )
        return self._frames[1]

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
    """The charts shown for ``model`` (policy B's DPD buckets in side-by-side mode)."""
    charts = list(CHARTS)
    if len(model.economies) > 1:
        charts.insert(charts.index(chart_buckets) + 1, chart_buckets_b)
    return charts


# ------------------------------------------------------------------ components
@solara.component
def Chart(model: DashboardModel, draw: Callable[[DashboardModel], str]) -> None:
    """One chart, redrawn when the model steps or is replaced."""
    update_counter.get()
    with solara.Card(margin=0, classes=["chart-card"]):
        solara.HTML(tag="div", unsafe_innerHTML=draw(model), classes=[draw.__name__])


@solara.component
def Summary(model: DashboardModel) -> None:
    """Headline numbers of the latest month."""
    update_counter.get()
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


@solara.component
def BorrowerTable(model: DashboardModel) -> None:
    """The followed borrowers, refreshed every month."""
    update_counter.get()
    table = model.borrower_table()
    with solara.Card("Borrowers to follow", margin=0):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=table.to_html(index=False, classes="borrowers", border=0),
        )


_GRID = {
    "display": "grid",
    "grid-template-columns": "repeat(3, minmax(0, 1fr))",
    "gap": "8px",
}
_CSS = """
.borrowers { border-collapse: collapse; font-size: 13px; width: 100%; }
.borrowers th, .borrowers td {
  padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd;
}
.borrowers th { background: #f3f3f3; }
.borrowers td { white-space: nowrap; }
.chart-card .v-card__text, .chart-card { padding: 4px !important; }
"""


#: Policy A's lever sliders: name, label, format of the value, min, max, step.
_LEVER_SLIDERS: tuple[tuple[str, str, str, float, float, float], ...] = (
    ("score_cutoff", "score cut-off", "{:.0f}", 450, 750, 5),
    ("max_dti", "debt-to-income cap", "{:.0%}", 0.15, 0.8, 0.05),
    ("max_loan_to_income", "max loan, months of income", "{:.1f}", 1, 12, 0.5),
    ("collection_intensity", "collection intensity", "{:.1f}", 0, 1, 0.1),
    ("writeoff_dpd", "write-off at DPD", "{:.0f}", 90, 360, 30),
    ("dynamic_target", "dynamic tightening above overdue", "{:.0%}", 0, 0.2, 0.01),
)


@solara.component
def Controls(params: solara.Reactive[dict[str, Any]], pending: bool) -> None:
    """The scenario, policy, side-by-side and population controls."""
    p = params.value

    def set_(name: str, digits: int | None = None) -> Callable[[Any], None]:
        def setter(value: Any) -> None:
            if digits is not None:  # sliders step in binary floats: 0.45000000000000007
                value = round(float(value), digits)
            params.set({**params.value, name: value})

        return setter

    def set_preset(name: str) -> None:
        params.set({**params.value, "policy": name, **preset_levers(name)})

    def slider(name: str, label: str, fmt: str, low: float, high: float, step: float) -> None:
        value = p[name]
        text = "off" if name == "dynamic_target" and value == 0 else fmt.format(value)
        if isinstance(DEFAULT_PARAMS[name], int):
            solara.SliderInt(
                f"{label}: {text}",
                value=value,
                min=int(low),
                max=int(high),
                step=int(step),
                on_value=set_(name),
            )
        else:
            solara.SliderFloat(
                f"{label}: {text}",
                value=value,
                min=low,
                max=high,
                step=step,
                on_value=set_(name, 4),
            )

    if pending:
        solara.Warning("Settings changed: press Reset to apply them.", dense=True)
    with solara.Card("Scenario", margin=0):
        solara.Select(
            "scenario preset",
            value=p["scenario"],
            values=MacroScenario.names(),
            on_value=set_("scenario"),
        )
        slider("severity", "severity (1 = as published)", "{:.1f}", 0, 3, 0.1)
    with solara.Card("Policy A", margin=0):
        solara.Select(
            "policy preset", value=p["policy"], values=RiskPolicy.names(), on_value=set_preset
        )
        for spec in _LEVER_SLIDERS:
            slider(*spec)
        solara.Checkbox(
            label="repayment relief", value=p["relief_enabled"], on_value=set_("relief_enabled")
        )
    with solara.Card("Side by side", margin=0):
        solara.Checkbox(label="compare with policy B", value=p["compare"], on_value=set_("compare"))
        solara.Select(
            "policy B preset",
            value=p["policy_b"],
            values=RiskPolicy.names(),
            on_value=set_("policy_b"),
            disabled=not p["compare"],
        )
        solara.Text("Policy B keeps its preset's levers.", style={"font-size": "12px"})
    with solara.Card("Population", margin=0):
        slider("n_borrowers", "borrowers", "{:,}", 1_000, 50_000, 1_000)
        solara.InputInt(
            "seed", value=p["seed"], on_value=lambda v: set_("seed")(max(0, int(v or 0)))
        )
        solara.Text("Changes apply on Reset.", style={"font-size": "12px"})


@solara.component
def Page() -> None:
    """The dashboard page: controls in the sidebar, views in the main area."""
    initial = solara.use_memo(lambda: DashboardModel(**DEFAULT_PARAMS), [])
    model = solara.use_reactive(initial)
    params = solara.use_reactive(dict(DEFAULT_PARAMS))
    months_per_step = solara.use_reactive(1)
    play_interval = solara.use_reactive(150)
    use_threads = solara.use_reactive(False)
    current = model.value
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
        Controls(params, pending=params.value != current.params)
    with solara.Column(gap="8px", style={"padding": "8px"}):
        Summary(current)
        charts = charts_for(current)
        with solara.Div(style=_GRID):
            for draw in charts:
                Chart(current, draw)
            # The table fills the last row: beside a lone chart, or the whole row.
            span = "span 2" if len(charts) % 3 == 1 else "1 / -1"
            with solara.Div(style={"grid-column": span}):
                BorrowerTable(current)


page = Page
