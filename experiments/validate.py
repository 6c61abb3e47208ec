"""Validation report: the stylized facts of DOMAIN.md, measured, with pass/fail.

``python -m experiments validate`` runs ``experiments/configs/validation.toml`` (a
normal, resumable experiment), measures each fact from its results folder with
paired confidence intervals over replications, adds the one-factor (Vasicek)
check and a multi-lender experiment, and writes ``validation.md`` with its figures in
``figures/`` into that results folder (``results/validation/`` by default). The docs
are updated only on request: ``python -m experiments validate --update-docs`` copies the
report to ``docs/validation.md`` and its figures to ``docs/validation/``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402
from scipy import stats  # noqa: E402

from experiments import store  # noqa: E402
from experiments.analysis import t_interval  # noqa: E402
from experiments.config import ConfigError  # noqa: E402
from model import CreditEconomy, RiskPolicy  # noqa: E402
from model.validation import (  # noqa: E402
    one_factor_default_fractions,
    vasicek_cdf,
    vasicek_quantile,
)

#: Default validation config, relative to the package.
CONFIG = Path(__file__).parent / "configs" / "validation.toml"
#: Calibration targets of the validation issue.
#: The report's file name in the results folder.
REPORT = "validation.md"
BASELINE_OVERDUE = (0.03, 0.05)
BASELINE_ANNUAL_LOSS = (0.02, 0.05)
SEVERE_MULTIPLE = (1.5, 3.5)
VASICEK_CASES = ((0.1, 0.02), (0.2, 0.05), (0.3, 0.1))


@dataclass
class Fact:
    """One checked statement: what DOMAIN.md says, what the model gives, and the verdict."""

    key: str
    statement: str
    measured: str
    passed: bool


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _ci(values: np.ndarray | pd.Series, fmt=_pct) -> tuple[float, float, float, str]:
    mean, low, high = t_interval(np.asarray(values, dtype=float))
    return mean, low, high, f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"


def _times(x: float) -> str:
    return f"{x:.2f}x"


def _months(x: float) -> str:
    return f"{x:.1f}"


def run_metrics(summary: pd.DataFrame, ts: pd.DataFrame) -> pd.DataFrame:
    """Per-run metrics used by the facts, indexed by (scenario, policy, replication)."""
    grouped = ts.groupby("run_id")
    years = grouped["month"].count() / 12
    extra = pd.DataFrame(
        {
            "annual_loss_rate": grouped["net_loss"].sum() / grouped["balance"].mean() / years,
            "mean_overdue_balance_rate": grouped["overdue_balance_rate"].mean(),
            "collection_cost": grouped["collection_cost"].sum(),
        }
    )
    frame = summary.set_index("run_id").join(extra)
    return frame.set_index(["scenario", "policy", "replication"]).sort_index()


def _paired(metrics: pd.DataFrame, column: str, a: tuple[str, str], b: tuple[str, str]):
    """Values of ``column`` for cells ``a`` and ``b`` aligned by replication."""
    left = metrics.loc[a, column]
    right = metrics.loc[b, column]
    return left.align(right, join="inner")


def _mean_series(ts: pd.DataFrame, scenario: str, policy: str, column: str) -> pd.Series:
    runs = ts[(ts["scenario"] == scenario) & (ts["policy"] == policy)]
    return runs.groupby("month")[column].mean()


def _centre(series: pd.Series) -> float:
    weight = series.clip(lower=0).to_numpy()
    return float(np.average(np.arange(weight.size), weights=weight)) if weight.sum() else np.nan


def recession_facts(m: pd.DataFrame, ts: pd.DataFrame) -> list[Fact]:
    """Facts 1 and 2: baseline levels, recession multiples and lags."""
    facts = []
    base, severe, mild = (
        ("baseline", "balanced"),
        ("severe_recession", "balanced"),
        (
            "mild_recession",
            "balanced",
        ),
    )
    mean, *_, text = _ci(m.loc[base, "mean_overdue_rate"])
    facts.append(
        Fact(
            "1",
            "Baseline overdue rate (1+ DPD, by count) is in the low single digits "
            f"(calibration target {_pct(BASELINE_OVERDUE[0])}-{_pct(BASELINE_OVERDUE[1])}).",
            f"mean overdue {text}",
            BASELINE_OVERDUE[0] <= mean <= BASELINE_OVERDUE[1],
        )
    )
    mean, *_, text = _ci(m.loc[base, "annual_loss_rate"])
    facts.append(
        Fact(
            "1b",
            "Baseline annual net loss is 2-5% of balances (card charge-offs 3-4% a year).",
            f"annual net loss / mean balance {text}",
            BASELINE_ANNUAL_LOSS[0] <= mean <= BASELINE_ANNUAL_LOSS[1],
        )
    )
    ok = True
    texts = []
    for column, label in (("peak_overdue_rate", "peak overdue"), ("annual_loss_rate", "net loss")):
        s, b = _paired(m, column, severe, base)
        ratio_mean, low, _, text = _ci(s / b, _times)
        ok &= low > 1 and SEVERE_MULTIPLE[0] <= ratio_mean <= SEVERE_MULTIPLE[1]
        texts.append(f"{label} severe/baseline {text}")
    s, b = _paired(m, "annual_loss_rate", severe, mild)
    _, low, _, text = _ci(s - b)
    ok &= low > 0
    texts.append(f"severe - mild net loss {text}")
    facts.append(
        Fact(
            "2a",
            "A recession raises overdue rates and bad-debt losses, more for a severe one; a "
            f"severe recession multiplies both by about 2-3 (accepted {SEVERE_MULTIPLE[0]}-"
            f"{SEVERE_MULTIPLE[1]}x).",
            "; ".join(texts),
            bool(ok),
        )
    )
    u_gap = _mean_series(ts, *severe, "unemployment_rate") - _mean_series(
        ts, *base, "unemployment_rate"
    )
    o_gap = _mean_series(ts, *severe, "overdue_rate") - _mean_series(ts, *base, "overdue_rate")
    jobs = int(np.argmax(u_gap.to_numpy() > 0.005))
    overdue = int(np.argmax(o_gap.to_numpy() > 0.005))
    facts.append(
        Fact(
            "2b",
            "Overdue starts rising a few months after job losses do.",
            f"unemployment +0.5 pp at month {jobs}, overdue +0.5 pp at month {overdue} "
            f"(lag {overdue - jobs} months)",
            1 <= overdue - jobs <= 9,
        )
    )
    rate = lambda d: d["writeoffs"] / d["balance"]  # noqa: E731
    sev = ts[(ts.scenario == severe[0]) & (ts.policy == severe[1])].groupby("month")
    bas = ts[(ts.scenario == base[0]) & (ts.policy == base[1])].groupby("month")
    wo_gap = rate(sev[["writeoffs", "balance"]].mean()) - rate(bas[["writeoffs", "balance"]].mean())
    u_peak = int(_mean_series(ts, *severe, "unemployment_rate").idxmax())
    c_overdue, c_writeoff = _centre(o_gap), _centre(wo_gap)
    facts.append(
        Fact(
            "2c",
            "Write-offs peak after overdue (the recession's excess charge-off rate is centred "
            "later than its excess overdue rate).",
            f"centre of excess overdue month {c_overdue:.1f}, of excess charge-off rate month "
            f"{c_writeoff:.1f}; unemployment peaks at month {u_peak}",
            c_writeoff > c_overdue,
        )
    )
    return facts


def policy_facts(m: pd.DataFrame) -> list[Fact]:
    """Facts 3-6: screening frontier, collection and relief, penalty interest, noisy scores."""
    facts = []
    ok, texts = True, []
    for scenario in ("baseline", "severe_recession"):
        cells = {p: m.loc[(scenario, p)] for p in ("conservative", "balanced", "aggressive")}
        loss = {p: c["bad_debt_loss_rate"].mean() for p, c in cells.items()}
        appr = {p: c["approval_rate"].mean() for p, c in cells.items()}
        profit = {p: c["profit"].mean() for p, c in cells.items()}
        ok &= loss["conservative"] < loss["balanced"] < loss["aggressive"]
        ok &= appr["conservative"] < appr["balanced"] < appr["aggressive"]
        texts.append(
            f"{scenario}: loss rate {_pct(loss['conservative'])} / {_pct(loss['balanced'])} / "
            f"{_pct(loss['aggressive'])}, approval {_pct(appr['conservative'])} / "
            f"{_pct(appr['balanced'])} / {_pct(appr['aggressive'])}, profit "
            f"{profit['conservative'] / 1e6:.1f} / {profit['balanced'] / 1e6:.1f} / "
            f"{profit['aggressive'] / 1e6:.1f} M"
        )
    facts.append(
        Fact(
            "3",
            "Stricter screening lowers losses but also approvals and volume (conservative / "
            "balanced / aggressive); profit shows the frontier.",
            "; ".join(texts),
            bool(ok),
        )
    )
    base = "baseline"
    weak, *_, weak_text = _ci(m.loc[(base, "weak_collection"), "mean_overdue_rate"])
    strong, *_, strong_text = _ci(m.loc[(base, "strong_collection"), "mean_overdue_rate"])
    s, w = _paired(m, "mean_overdue_rate", (base, "strong_collection"), (base, "weak_collection"))
    _, _, high, diff_text = _ci(s - w)
    sc, wc = _paired(m, "collection_cost", (base, "strong_collection"), (base, "weak_collection"))
    facts.append(
        Fact(
            "4",
            "Stronger graded collection and repayment relief lower the overdue rate, from about "
            "5% to about 3% in the source, at a cost.",
            f"weak collection, no relief {weak_text}; full collection with relief {strong_text}; "
            f"paired difference {diff_text}; collection cost x{(sc / wc).mean():.1f}",
            high < 0 and 0.04 <= weak <= 0.07 and 0.025 <= strong <= 0.04,
        )
    )
    harsh, none = _paired(
        m, "mean_overdue_balance_rate", (base, "harsh_penalty"), (base, "no_penalty")
    )
    _, low, _, text = _ci(harsh - none)
    hl, nl = _paired(m, "bad_debt_loss_rate", (base, "harsh_penalty"), (base, "no_penalty"))
    _, low_loss, _, loss_text = _ci(hl - nl)
    facts.append(
        Fact(
            "5",
            "Penalty interest raises measured balances overdue and, for borrowers without "
            "capacity, losses.",
            f"overdue balance rate harsh - none {text}; loss rate harsh - none {loss_text}",
            low > 0 and low_loss > 0,
        )
    )
    noisy, clear = _paired(m, "bad_debt_loss_rate", (base, "noisy_scores"), (base, "clear_scores"))
    _, low, _, text = _ci(noisy - clear)
    na, ca = _paired(m, "approval_rate", (base, "noisy_scores"), (base, "clear_scores"))
    facts.append(
        Fact(
            "6",
            "Noisier scores (more information asymmetry) raise losses at the same cut-off.",
            f"loss rate noisy - clear {text} (approval {_pct(na.mean())} vs {_pct(ca.mean())})",
            low > 0,
        )
    )
    return facts


#: Fact 7's market: loose platforms (DOMAIN: competition loosens screening) that do not
#: see each other's loans, with a dynamic rule that tightens above 8% overdue.
MULTI_LENDER_POLICY = RiskPolicy.preset("aggressive", dynamic_target=0.055, sees_other_loans=False)
#: Credit is loose below this share of the largest tightening, tight from TIGHT_SHARE up.
LOOSE_SHARE, TIGHT_SHARE = 1 / 3, 2 / 3


def multi_lender_fact(borrowers: int, replications: int, seed: int) -> tuple[Fact, pd.DataFrame]:
    """Fact 7: borrowing at a second lender to repay, on against off, in a severe recession.

    Two loose lenders (``MULTI_LENDER_POLICY``) with no shared credit bureau (each sees
    only its own loans, as with the online platforms of the source) and a dynamic
    tightening rule; the paired runs share seeds (same borrowers and shocks) and differ
    only in whether borrowers short of their dues may borrow at the other lender to
    repay. Months are classed by the state of credit in the market without borrowing to
    repay (so the classes do not depend on the treatment): loose while its lenders'
    tightening is under a third of the largest, tight from two thirds up. The fact holds
    if borrowing to repay lowers the overdue rate while credit is loose (it hides
    distress) and raises it while credit is tight (it amplifies it), both significantly.
    """
    policy = MULTI_LENDER_POLICY
    rows = []
    for k, child in enumerate(np.random.SeedSequence(seed).spawn(replications)):
        for market, allowed in (("no borrowing to repay", False), ("borrowing to repay", True)):
            df = CreditEconomy(
                borrowers,
                "severe_recession",
                [policy, policy.replace(name="second")],
                seed=child,
                population={"borrow_to_repay": allowed},
            ).run(60)
            df["market"], df["replication"] = market, k
            rows.append(df)
    ts = pd.concat(rows, ignore_index=True)
    ts["tightening"] = (ts["cutoff"] - policy.score_cutoff) / policy.dynamic_max_tightening
    index = ["replication", "month"]
    overdue = ts.pivot_table(index=index, columns="market", values="overdue_rate")
    diff = overdue["borrowing to repay"] - overdue["no borrowing to repay"]
    tightening = ts.pivot_table(index=index, columns="market", values="tightening")
    credit = tightening["no borrowing to repay"]
    loose = diff[credit < LOOSE_SHARE].groupby("replication").mean()
    tight = diff[credit >= TIGHT_SHARE].groupby("replication").mean()
    months_loose = (credit < LOOSE_SHARE).groupby("replication").sum().mean()
    months_tight = (credit >= TIGHT_SHARE).groupby("replication").sum().mean()
    _, _, loose_high, loose_text = _ci(loose)
    _, tight_low, _, tight_text = _ci(tight)
    fact = Fact(
        "7",
        "Multi-borrowing and borrowing-to-repay hide distress for a while, then amplify it when "
        "credit tightens (two loose lenders that do not see each other's loans, with a dynamic "
        "cut-off, borrowing to repay allowed against not; months classed by the lenders' "
        "tightening without it).",
        f"overdue with - without, loose credit ({months_loose:.0f} months a run): "
        f"{loose_text}; tight credit ({months_tight:.0f} months a run): {tight_text}",
        loose_high < 0 and tight_low > 0,
    )
    return fact, ts


def vasicek_fact(seed: int, n_borrowers: int = 10_000) -> tuple[Fact, dict]:
    """The economy configured as a one-factor model against the Vasicek distribution."""
    samples, texts, ok = {}, [], True
    for rho, pd_ in VASICEK_CASES:
        f = one_factor_default_fractions(rho, pd_, n_borrowers=n_borrowers, draws=300, seed=seed)
        samples[(rho, pd_)] = f
        p = stats.kstest(f, lambda x, r=rho, q=pd_: vasicek_cdf(x, r, q)).pvalue
        ok &= p > 0.01
        texts.append(
            f"rho={rho}, pd={pd_}: mean {_pct(f.mean())}, 99% quantile {_pct(np.quantile(f, 0.99))}"
            f" (theory {_pct(vasicek_quantile(0.99, rho, pd_))}), KS p={p:.2f}"
        )
    fact = Fact(
        "V",
        "Configured as a one-factor model, the economy's default fractions follow the Vasicek "
        "distribution (KS test at 1%).",
        "; ".join(texts),
        bool(ok),
    )
    return fact, samples


def _band(ax, ts: pd.DataFrame, column: str, label: str, scale: float = 1.0) -> None:
    g = ts.groupby("month")[column]
    mid = g.median() * scale
    ax.fill_between(mid.index, g.quantile(0.05) * scale, g.quantile(0.95) * scale, alpha=0.2)
    ax.plot(mid.index, mid, label=label)


def _savefig(fig, path: Path) -> None:
    """Save ``fig`` as PNG through a temporary file renamed into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def draw_figures(ts: pd.DataFrame, m: pd.DataFrame, multi: pd.DataFrame, vasicek: dict, out: Path):
    """Write the report's figures (PNG) into ``out``; return their file names."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for scenario in ("baseline", "mild_recession", "severe_recession"):
        runs = ts[(ts.scenario == scenario) & (ts.policy == "balanced")].copy()
        runs["chargeoff"] = runs["writeoffs"] / runs["balance"] * 12
        _band(axes[0], runs, "unemployment_rate", scenario)
        _band(axes[1], runs, "overdue_rate", scenario)
        _band(axes[2], runs, "chargeoff", scenario)
    for ax, title in zip(
        axes,
        ("unemployment rate", "overdue rate (1+ DPD)", "charge-off rate (annualised)"),
        strict=True,
    ):
        ax.set_title(title)
        ax.set_xlabel("month")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Recessions, balanced lender: median and 5-95% of replications")
    fig.tight_layout()
    _savefig(fig, out / "recession.png")
    names.append("recession.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, scenario in zip(axes, ("baseline", "severe_recession"), strict=True):
        for policy in m.loc[scenario].index.get_level_values(0).unique():
            cell = m.loc[(scenario, policy)]
            ax.errorbar(
                cell["approval_rate"].mean(),
                cell["bad_debt_loss_rate"].mean(),
                xerr=cell["approval_rate"].std(),
                yerr=cell["bad_debt_loss_rate"].std(),
                fmt="o",
                label=policy,
            )
        ax.set_title(scenario)
        ax.set_xlabel("approval rate")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("bad-debt loss rate (% of originations)")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle("Policies: loss rate against approval rate (mean +- 1 s.d. of replications)")
    fig.tight_layout()
    _savefig(fig, out / "policies.png")
    names.append("policies.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for policy in ("weak_collection", "balanced", "strong_collection"):
        runs = ts[(ts.scenario == "baseline") & (ts.policy == policy)]
        _band(axes[0], runs, "overdue_rate", policy)
    axes[0].set_title("collection and relief, baseline")
    for market in ("no borrowing to repay", "borrowing to repay"):
        _band(axes[1], multi[multi.market == market], "overdue_rate", market)
    axes[1].set_title("two loose lenders blind to each other, severe recession")
    for ax in axes:
        ax.set_xlabel("month")
        ax.set_ylabel("overdue rate (1+ DPD)")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _savefig(fig, out / "collection_and_lenders.png")
    names.append("collection_and_lenders.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, len(vasicek), figsize=(4.2 * len(vasicek), 3.6))
    for ax, ((rho, pd_), f) in zip(np.atleast_1d(axes), vasicek.items(), strict=True):
        x = np.sort(f)
        ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", label="simulated")
        grid = np.linspace(1e-4, x.max(), 300)
        ax.plot(grid, vasicek_cdf(grid, rho, pd_), "--", label="Vasicek")
        ax.set_title(f"rho={rho}, pd={pd_}")
        ax.set_xlabel("share missing the first payment")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("cumulative probability")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    _savefig(fig, out / "vasicek.png")
    names.append("vasicek.png")
    plt.close(fig)
    return names


def write_report(results_dir: Path, command: str = "python -m experiments validate") -> list[Fact]:
    """Measure every fact from a finished validation results folder and write its report.

    The report is ``results_dir/validation.md``, its figures ``results_dir/figures/*.png``
    (:func:`update_docs` copies both into the docs).

    Returns:
        The facts, in report order.
    """
    doc = results_dir / REPORT
    manifest = store.read_manifest(results_dir)
    summary = store.read_table(results_dir, "summary")
    ts = store.read_table(results_dir, "timeseries")
    m = run_metrics(summary, ts)
    config = manifest["config"]["experiment"]
    facts = recession_facts(m, ts) + policy_facts(m)
    multi_fact, multi = multi_lender_fact(
        config["borrowers"], config["replications"], config["seed"]
    )
    v_fact, samples = vasicek_fact(config["seed"], min(config["borrowers"], 10_000))
    facts += [multi_fact, v_fact]
    figures = draw_figures(ts, m, multi, samples, results_dir / store.FIGURES_DIR)
    passed = sum(f.passed for f in facts)
    lines = [
        "# Validation report",
        "",
        f"Generated by `{command}` on {dt.date.today().isoformat()} from "
        f"`experiments/configs/validation.toml` ({config['borrowers']:,} borrowers, "
        f"{config['months']} months, {config['replications']} paired replications, seed "
        f"{config['seed']}; code {manifest.get('code_version', 'unknown')}).",
        "Intervals are 95% t-intervals over replications; differences and ratios are paired "
        "by replication (same borrowers and shocks).",
        "",
        f"**{passed} of {len(facts)} checks pass.**",
        "",
        "| # | Stylized fact (DOMAIN.md) | Measured | Pass |",
        "|---|---|---|---|",
    ]
    for f in facts:
        lines.append(
            f"| {f.key} | {f.statement} | {f.measured} | {'yes' if f.passed else '**no**'} |"
        )
    lines += ["", "## Figures", ""]
    lines += [f"![{name}]({store.FIGURES_DIR}/{name})" for name in figures]
    lines += [
        "",
        "Regenerate: `python -m experiments validate` (resumes the results folder if it exists;",
        "add `--force` to rerun from scratch), then `python -m experiments validate "
        "--update-docs`.",
        "",
    ]
    doc.parent.mkdir(parents=True, exist_ok=True)
    store.atomic_write_text(doc, "\n".join(lines))
    return facts


_FIGURE_LINK = re.compile(rf"!\[([^\]]*)\]\({store.FIGURES_DIR}/([^)/]+)\)")


def update_docs(results_dir: Path, doc: Path) -> list[Path]:
    """Copy a validation report and its figures from its results folder into the docs.

    The report goes to ``doc`` with its figure links pointing at ``validation/`` beside
    it, where the figures it shows are copied (each file written atomically). Nothing
    is simulated; nothing else in the docs is touched.

    Returns:
        The figure files written.

    Raises:
        ConfigError: If the results folder holds no report or a figure it shows.
    """
    source = results_dir / REPORT
    if not source.is_file():
        raise ConfigError(
            f"no validation report at '{source}'; run `python -m experiments validate` first"
        )
    text = source.read_text(encoding="utf-8")
    names = [m.group(2) for m in _FIGURE_LINK.finditer(text)]
    missing = [n for n in names if not (results_dir / store.FIGURES_DIR / n).is_file()]
    if missing:
        raise ConfigError(
            f"the validation report in '{results_dir}' shows figures/{missing[0]}, which is "
            "missing; run `python -m experiments validate` again"
        )
    folder = doc.parent / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        target = folder / name
        tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes((results_dir / store.FIGURES_DIR / name).read_bytes())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(target)
    store.atomic_write_text(doc, _FIGURE_LINK.sub(r"![\1](validation/\2)", text))
    return written
