"""Loss distribution and economic capital of a stochastic run (``python -m experiments risk DIR``).

A results folder run with a stochastic scenario family (``[[scenario]] stochastic =
{ paths = N }``) holds one run per path, policy, sweep point and replication. For each
policy (and family and sweep point) this module takes the runs over paths (and
replications) as draws of the loss distribution and reports:

- the cumulative net loss rate over the horizon: ``cum_net_loss`` at the last month
  over the book at month 0 (the exposure the month-0 capital is held against), and
  the peak overdue rate (1+ DPD);
- value at risk and expected shortfall of the loss rate at 95, 99 and 99.9%, with 95%
  bootstrap (percentile) intervals, seeded by the experiment seed;
- the probability that a lender's capital ratio falls below its ``min_capital_ratio``
  in some month, and that a lender fails, with Clopper-Pearson 95% intervals;
- economic capital (99.9% VaR minus expected loss) beside the capital held at month 0,
  both as shares of the month-0 book;
- the asset correlation implied by the yearly write-off rates (write-offs in a year over
  the year's mean balance, every year of every path): a Vasicek distribution fitted by
  maximum likelihood, and by moments net of binomial noise
  (:func:`model.validation.implied_asset_correlation`), beside the Basel retail range
  and the Basel "other retail" correlation at the fitted PD.

:func:`analyse` is the pure core (run tables in, risk table out);
:func:`analyse_results` reads a folder and :func:`write` leaves ``risk.csv``,
``risk.md`` and the charts (loss histogram with VaR and ES per policy, exceedance
curves) in it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from experiments import store
from experiments.config import ConfigError, ExperimentConfig, parse_config
from experiments.design import build_design, model_inputs
from experiments.labels import NameTable, display_names
from model.validation import implied_asset_correlation

#: Confidence levels of VaR and ES.
LEVELS = (0.95, 0.99, 0.999)
#: Bootstrap resamples of the VaR and ES intervals.
BOOTSTRAP = 1000
#: Basel IRB asset correlations of "other retail" exposures, at high and low PD.
BASEL_RETAIL = (0.03, 0.16)
#: Files written into the results folder.
CSV = "risk.csv"
MARKDOWN = "risk.md"


# ---------------------------------------------------------------- risk measures
def value_at_risk(losses: np.ndarray, level: float) -> float:
    """The ``level`` quantile of the losses: the smallest loss with ``F(loss) >= level``."""
    return float(_tail_measures(np.sort(np.asarray(losses, float))[None, :], level)[0][0])


def expected_shortfall(losses: np.ndarray, level: float) -> float:
    """Mean loss in the worst ``1 - level`` of the distribution (Acerbi-Tasche).

    The worst ``n (1 - level)`` losses, the last one weighted by its fraction; with fewer
    than ``1 / (1 - level)`` losses, the largest.
    """
    return float(_tail_measures(np.sort(np.asarray(losses, float))[None, :], level)[1][0])


def _tail_measures(ordered: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """VaR and ES at ``level`` of each row of ``ordered`` (rows sorted ascending)."""
    n = ordered.shape[1]
    var = ordered[:, max(int(np.ceil(round(n * level, 9))) - 1, 0)]
    tail = max(round(n * (1 - level), 9), 1.0)  # observations in the tail
    whole = int(np.floor(tail))
    total = ordered[:, n - whole :].sum(axis=1)
    if tail > whole:
        total = total + (tail - whole) * ordered[:, n - whole - 1]
    return var, total / tail


def bootstrap_tail(
    losses: np.ndarray, levels: Sequence[float] = LEVELS, n_boot: int = BOOTSTRAP, seed: int = 0
) -> pd.DataFrame:
    """VaR and ES at each level with 95% percentile-bootstrap intervals.

    Returns:
        One row per level: ``level``, ``var``, ``var_low``, ``var_high``, ``es``,
        ``es_low``, ``es_high``.
    """
    x = np.sort(np.asarray(losses, float))
    rng = np.random.default_rng(seed)
    resampled = np.sort(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)
    rows = []
    for level in levels:
        var, es = _tail_measures(x[None, :], level)
        boot_var, boot_es = _tail_measures(resampled, level)
        rows.append(
            {
                "level": level,
                "var": var[0],
                "var_low": np.quantile(boot_var, 0.025),
                "var_high": np.quantile(boot_var, 0.975),
                "es": es[0],
                "es_low": np.quantile(boot_es, 0.025),
                "es_high": np.quantile(boot_es, 0.975),
            }
        )
    return pd.DataFrame(rows)


def fit_vasicek(rates: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood Vasicek ``(pd, rho)`` of default rates in (0, 1).

    If ``X`` is Vasicek, ``Phi^-1(X)`` is normal with mean ``Phi^-1(pd)/sqrt(1-rho)``
    and variance ``rho/(1-rho)``, so the fit is the normal fit of the probits.

    Raises:
        ValueError: With fewer than 2 rates in (0, 1).
    """
    x = np.asarray(rates, float)
    x = x[(x > 0) & (x < 1)]
    if x.size < 2:
        raise ValueError("a Vasicek fit needs at least 2 rates in (0, 1)")
    y = stats.norm.ppf(x)
    variance = float(y.var())
    rho = variance / (1 + variance)
    return float(stats.norm.cdf(y.mean() * np.sqrt(1 - rho))), rho


def basel_retail_correlation(pd_: float) -> float:
    """Basel IRB correlation of "other retail" exposures at probability of default ``pd_``."""
    weight = (1 - np.exp(-35 * pd_)) / (1 - np.exp(-35))
    return float(BASEL_RETAIL[0] * weight + BASEL_RETAIL[1] * (1 - weight))


def binomial_interval(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a probability from ``hits`` in ``n`` trials."""
    alpha = 1 - confidence
    low = stats.beta.ppf(alpha / 2, hits, n - hits + 1) if hits > 0 else 0.0
    high = stats.beta.ppf(1 - alpha / 2, hits + 1, n - hits) if hits < n else 1.0
    return float(low), float(high)


# ------------------------------------------------------------------ the runs
def families(config: ExperimentConfig) -> dict[str, str]:
    """The stochastic family of each path scenario (``loss/p0001`` -> ``loss``)."""
    return {s.name: s.name.rsplit("/", 1)[0] for s in config.scenarios if s.stochastic is not None}


def run_table(
    config: ExperimentConfig,
    summary: pd.DataFrame,
    timeseries: pd.DataFrame,
    lenders: pd.DataFrame,
) -> pd.DataFrame:
    """One row per run of a stochastic family: its loss, peak overdue, capital events.

    Columns: ``run_id``, ``family``, ``policy``, ``replication``, the swept parameters,
    ``loss_rate``, ``peak_overdue_rate``, ``capital_held`` (capital over the book at month
    0), ``breach`` (a lender's capital ratio below its ``min_capital_ratio`` in some month)
    and ``failed`` (a lender failed).
    """
    family_of = families(config)
    runs = summary[summary["scenario"].isin(family_of)].copy()
    runs["family"] = runs["scenario"].map(family_of)
    ts = timeseries[timeseries["run_id"].isin(runs["run_id"])].sort_values(["run_id", "month"])
    by_run = ts.groupby("run_id")
    start, end = by_run.first(), by_run.last()
    book = start["balance"].where(start["balance"] > 0)
    runs["loss_rate"] = runs["run_id"].map(end["cum_net_loss"] / book)
    runs["capital_held"] = runs["run_id"].map(start["capital"] / book)
    events = _capital_events(config, lenders[lenders["run_id"].isin(runs["run_id"])])
    runs = runs.join(events, on="run_id")
    keep = ["run_id", "family", "scenario", "policy", "replication", *config.params]
    measures = ["loss_rate", "peak_overdue_rate", "capital_held", "breach", "failed"]
    return runs[keep + measures].reset_index(drop=True)


def _capital_events(config: ExperimentConfig, lenders: pd.DataFrame) -> pd.DataFrame:
    """Per run: whether a lender's capital ratio fell below its minimum, and whether one failed."""
    minimum = {}
    for spec in build_design(config):
        policy = model_inputs(config, spec).policy
        for p in policy if isinstance(policy, list) else [policy]:
            minimum[(spec.run_id, p.name)] = p.min_capital_ratio
    keys = list(zip(lenders["run_id"], lenders["lender_name"], strict=True))
    floor = np.array([minimum[k] for k in keys], dtype=float)
    breach = lenders["capital_ratio"].to_numpy(float) < floor
    frame = pd.DataFrame(
        {"run_id": lenders["run_id"], "breach": breach, "failed": lenders["failed"].astype(bool)}
    )
    return frame.groupby("run_id")[["breach", "failed"]].any()


def yearly_writeoff_rates(timeseries: pd.DataFrame, run_ids: Sequence[str]) -> pd.DataFrame:
    """Write-offs of each whole year of each run over the year's mean balance, and its loans."""
    ts = timeseries[timeseries["run_id"].isin(run_ids)].assign(year=lambda f: f["month"] // 12)
    whole = ts.groupby(["run_id", "year"])["month"].transform("size") == 12
    yearly = (
        ts[whole]
        .groupby(["run_id", "year"], as_index=False)
        .agg(
            writeoffs=("writeoffs", "sum"),
            balance=("balance", "mean"),
            loans=("active_loans", "mean"),
        )
    )
    yearly["rate"] = yearly["writeoffs"] / yearly["balance"].where(yearly["balance"] > 0)
    return yearly[["run_id", "year", "rate", "loans"]]


# ------------------------------------------------------------------ the analysis
def analyse(
    runs: pd.DataFrame,
    yearly: pd.DataFrame,
    groups: Sequence[str] = ("family", "policy"),
    seed: int = 0,
    levels: Sequence[float] = LEVELS,
    n_boot: int = BOOTSTRAP,
) -> pd.DataFrame:
    """The risk table: one row per group of runs (by default per family and policy).

    Args:
        runs: :func:`run_table` (one row per run).
        yearly: :func:`yearly_writeoff_rates` of the same runs.
        groups: Columns of ``runs`` whose values make a group.
        seed: Seed of the bootstrap (the same resamples for every group: paired).
        levels: Confidence levels of VaR and ES.
        n_boot: Bootstrap resamples.

    Returns:
        Per group: ``runs``, loss statistics (``expected_loss``, ``loss_sd``,
        ``var_<level>``, ``es_<level>`` and their ``_low``/``_high`` bounds, levels as
        ``95``, ``99``, ``99.9``), peak overdue (mean, 99%), ``capital_held``,
        ``economic_capital``, the breach and failure probabilities with intervals, and the
        Vasicek fit (``vasicek_pd``, ``vasicek_rho``, ``rho_moments``, ``basel_rho``).
    """
    rows = []
    for key, frame in runs.groupby(list(groups), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(groups, key, strict=True))
        losses = frame["loss_rate"].dropna().to_numpy(float)
        row.update(runs=len(frame), expected_loss=losses.mean(), loss_sd=losses.std(ddof=1))
        for t in bootstrap_tail(losses, levels, n_boot, seed).itertuples(index=False):
            tag = f"{t.level * 100:g}"
            for name in ("var", "var_low", "var_high", "es", "es_low", "es_high"):
                part = name.split("_")
                row["_".join([part[0], tag, *part[1:]])] = getattr(t, name)
        peak = frame["peak_overdue_rate"].to_numpy(float)
        row.update(peak_overdue_mean=peak.mean(), peak_overdue_99=np.quantile(peak, 0.99))
        top = f"{max(levels) * 100:g}"
        row.update(
            capital_held=frame["capital_held"].mean(),
            economic_capital=row[f"var_{top}"] - row["expected_loss"],
        )
        row.update(_probabilities(frame))
        row.update(_correlation(yearly[yearly["run_id"].isin(frame["run_id"])]))
        rows.append(row)
    return pd.DataFrame(rows)


def _probabilities(frame: pd.DataFrame) -> dict[str, float]:
    """Share of runs with a capital breach, and with a failure, with 95% intervals."""
    out: dict[str, float] = {}
    for name in ("breach", "failed"):
        hits, n = int(frame[name].sum()), len(frame)
        low, high = binomial_interval(hits, n)
        out.update({f"p_{name}": hits / n, f"p_{name}_low": low, f"p_{name}_high": high})
    return out


def _correlation(yearly: pd.DataFrame) -> dict[str, float]:
    """Vasicek fits of the yearly write-off rates (NaN where they cannot be fitted).

    Both fits read the rates in (0, 1): a year whose write-offs exceed its mean balance (a
    book running off, as after a failure) is no default rate, and one such year would
    otherwise set the moments' variance alone.
    """
    rates = yearly["rate"].dropna()
    rates = rates[(rates > 0) & (rates < 1)]
    try:
        pd_, rho = fit_vasicek(rates.to_numpy())
        moments = implied_asset_correlation(rates.to_numpy(), yearly.loc[rates.index, "loans"])
    except ValueError:
        return dict.fromkeys(("vasicek_pd", "vasicek_rho", "rho_moments", "basel_rho"), np.nan)
    return {
        "vasicek_pd": pd_,
        "vasicek_rho": rho,
        "rho_moments": moments,
        "basel_rho": basel_retail_correlation(pd_),
    }


@dataclass
class RiskResult:
    """The risk table of a results folder, with what is needed to report and draw it."""

    config: ExperimentConfig
    table: pd.DataFrame
    runs: pd.DataFrame
    groups: list[str]
    notes: list[str] = field(default_factory=list)


def analyse_results(folder: Path | str) -> RiskResult:
    """The risk table of a results folder run with a stochastic scenario family.

    Raises:
        ConfigError: If the folder has no stochastic family, or no finished run of one.
    """
    folder = Path(folder)
    config = parse_config(store.read_manifest(folder)["config"])
    if not families(config):
        raise ConfigError(
            f"argument dir: '{folder}' has no stochastic scenarios; risk needs a run of a "
            "config with [[scenario]] stochastic = { paths = N } (e.g. "
            "experiments/configs/loss_distribution.toml)"
        )
    summary = store.read_table(folder, "summary")
    timeseries = store.read_table(folder, "timeseries")
    lenders = store.read_table(
        folder, "lender_timeseries", ["run_id", "lender_name", "capital_ratio", "failed"]
    )
    runs = run_table(config, summary, timeseries, lenders)
    if runs.empty:
        raise ConfigError(f"argument dir: '{folder}' holds no finished run of a stochastic path")
    groups = ["family", "policy", *config.params]
    yearly = yearly_writeoff_rates(timeseries, runs["run_id"])
    table = analyse(runs, yearly, groups, seed=config.seed)
    return RiskResult(config, table, runs, groups, _notes(config, runs, table))


def _notes(config: ExperimentConfig, runs: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    notes = []
    others = [s.name for s in config.scenarios if s.stochastic is None]
    if others:
        notes.append(f"Scenarios not drawn by the generator are left out: {', '.join(others)}.")
    smallest = int(table["runs"].min())
    thin = [q for q in LEVELS if smallest * (1 - q) < 10]
    if thin:
        shown = ", ".join(f"{q:.1%}" for q in thin)
        notes.append(
            f"At {shown}, fewer than 10 of the {smallest} runs of a group lie beyond the VaR: "
            "the estimate rests on the few worst paths (see its interval)."
        )
    if runs["loss_rate"].isna().any():
        notes.append("Runs without a book at month 0 have no loss rate and are left out.")
    return notes


# ------------------------------------------------------------------ report
def _label(row: pd.Series, groups: Sequence[str]) -> str:
    return " / ".join(f"{row[g]}" if g in ("family", "policy") else f"{g}={row[g]}" for g in groups)


def _pct(value: float, digits: int = 2) -> str:
    return "NaN" if not np.isfinite(value) else f"{value * 100:.{digits}f}%"


def _with_interval(row: pd.Series, name: str) -> str:
    return f"{_pct(row[name])} [{_pct(row[name + '_low'])}, {_pct(row[name + '_high'])}]"


def format_markdown(result: RiskResult) -> str:
    """The report ``risk.md``: the design, then the loss, capital and correlation tables."""
    config, table = result.config, result.table
    tags = [f"{q * 100:g}" for q in LEVELS]
    lines = [
        f"# Loss distribution and economic capital: {config.name}",
        "",
        f"{int(table['runs'].sum())} runs: stochastic paths x {config.replications} "
        f"replication(s) per policy, {config.borrowers:,} borrowers, {config.months} months. "
        "Loss rate: cumulative net loss over the horizon / the book at month 0. Intervals: "
        f"95%, bootstrap ({BOOTSTRAP} resamples, seed {config.seed}) for VaR and ES, "
        "Clopper-Pearson for probabilities.",
        "",
        *[f"Note: {note}" for note in result.notes],
        "",
        "## Loss rate",
        "",
        "| group | runs | expected loss | "
        + " | ".join(f"VaR {t}% | ES {t}%" for t in tags)
        + " |",
        "|---|---:|---:|" + "---:|" * (2 * len(tags)),
    ]
    for _, row in table.iterrows():
        cells = [_with_interval(row, f"{kind}_{t}") for t in tags for kind in ("var", "es")]
        head = f"| {_label(row, result.groups)} | {row['runs']} | {_pct(row['expected_loss'])} | "
        lines.append(head + " | ".join(cells) + " |")
    lines += [
        "",
        "## Capital",
        "",
        f"Economic capital: VaR {tags[-1]}% minus expected loss; capital held: equity over the "
        "book at month 0; both shares of the month-0 book. Breach: a lender's capital ratio "
        "below its min_capital_ratio in some month; fail: a lender's equity reaches zero.",
        "",
        "| group | capital held | economic capital | P(breach) | P(fail) | peak overdue: mean "
        "| peak overdue: 99% |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for _, row in table.iterrows():
        lines.append(
            f"| {_label(row, result.groups)} | {_pct(row['capital_held'])} | "
            f"{_pct(row['economic_capital'])} | {_with_interval(row, 'p_breach')} | "
            f"{_with_interval(row, 'p_failed')} | {_pct(row['peak_overdue_mean'])} | "
            f"{_pct(row['peak_overdue_99'])} |"
        )
    return "\n".join(lines + _correlation_lines(result)) + "\n"


def _correlation_lines(result: RiskResult) -> list[str]:
    lines = [
        "",
        "## Implied asset correlation",
        "",
        "Vasicek fits of the yearly write-off rates (write-offs in a year / the year's mean "
        "balance, every whole year of every run, the rates in (0, 1): a year whose write-offs "
        "exceed its mean balance is a book running off): maximum likelihood, and moments net of "
        f"binomial noise. Basel retail: {BASEL_RETAIL[0]:g}-{BASEL_RETAIL[1]:g} for other "
        "retail (the last column at the fitted PD), 0.04 for qualifying revolving, 0.15 for "
        "mortgages.",
        "",
        "| group | fitted PD | rho (ML) | rho (moments) | Basel other retail at PD |",
        "|---|---:|---:|---:|---:|",
    ]
    for _, row in result.table.iterrows():
        lines.append(
            f"| {_label(row, result.groups)} | {_pct(row['vasicek_pd'])} | "
            f"{row['vasicek_rho']:.4f} | {row['rho_moments']:.4f} | {row['basel_rho']:.4f} |"
        )
    return lines


# ------------------------------------------------------------------ charts
#: The loss axis of the charts.
_LOSS_AXIS = "Cumulative net loss (% of the month-0 book)"


def draw(result: RiskResult, folder: Path | str) -> list[Path]:
    """The loss histograms with VaR and ES marked, and the exceedance curves (PNG and PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.charts import save_figure
    from experiments.style import style_context

    out = Path(folder) / store.FIGURES_DIR
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with style_context(result.config.style, result.config.rcparams):
        for name, make in (("risk_loss_histogram", _histograms), ("risk_exceedance", _exceedance)):
            paths += save_figure(make(result, plt), out, name)
    return paths


def _shown_label(result: RiskResult) -> Callable[[pd.Series], str]:
    """How a chart names a group (risk.md keeps the config's names).

    Families and policies by their display names (:func:`~experiments.labels.display_names`),
    swept levers by the name table (``Max. debt-to-income = 45%``).
    """
    names, config = NameTable(), result.config
    shown = {
        "family": display_names(families(config).values()),
        "policy": display_names(p.name for p in config.policies),
    }

    def label(row: pd.Series) -> str:
        return " / ".join(
            shown[g].get(row[g], str(row[g])) if g in shown else names.point([g], [row[g]])
            for g in result.groups
        )

    return label


def _groups(result: RiskResult) -> list[tuple[str, np.ndarray, pd.Series]]:
    """Chart label, loss rates and risk row of each group, in table order."""
    out = []
    label = _shown_label(result)
    runs = result.runs.groupby(result.groups, sort=False, dropna=False)
    for (_, frame), (_, row) in zip(runs, result.table.iterrows(), strict=True):
        out.append((label(row), frame["loss_rate"].dropna().to_numpy(), row))
    return out


def _histograms(result: RiskResult, plt: object) -> object:
    groups = _groups(result)
    cols = min(len(groups), 3)
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(  # type: ignore[attr-defined]
        rows, cols, figsize=(6.7, 2.3 * rows + 0.6), squeeze=False, layout="constrained"
    )
    colours = ("tab:orange", "tab:red", "tab:purple")
    for ax, (label, losses, row) in zip(axes.flat, groups, strict=False):
        ax.hist(losses * 100, bins=min(60, max(10, losses.size // 15)), color="0.7")
        for q, colour in zip(LEVELS, colours, strict=True):
            tag = f"{q * 100:g}"
            ax.axvline(row[f"var_{tag}"] * 100, color=colour, label=f"VaR {tag}%")
            ax.axvline(row[f"es_{tag}"] * 100, color=colour, linestyle="--", label=f"ES {tag}%")
        ax.set_title(textwrap.fill(label, int(14 * 6.7 / cols)))  # a panel's width
        ax.set_xlabel(textwrap.fill(_LOSS_AXIS, int(14 * 6.7 / cols)))
        ax.set_ylabel("Paths")
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center", ncols=6)
    return fig


def _exceedance(result: RiskResult, plt: object) -> object:
    from matplotlib import ticker

    fig, ax = plt.subplots(figsize=(6.7, 3.2), layout="constrained")  # type: ignore[attr-defined]
    for label, losses, _ in _groups(result):
        x = np.sort(losses)
        exceed = 1 - np.arange(1, x.size + 1) / x.size
        ax.step(x[:-1] * 100, exceed[:-1], where="post", label=label)
    for q in LEVELS:
        ax.axhline(1 - q, color="0.5", linewidth=0.6, linestyle=":")
    ax.set_yscale("log")
    # Plain tick labels (1, 0.1, 0.01): the charts draw text with mathtext off, so the log
    # axis's default labels would show as written, "$\\mathdefault{10^{-1}}$".
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(_LOSS_AXIS)
    ax.set_ylabel("Probability of a larger loss")
    ax.legend()
    return fig


def write(result: RiskResult, folder: Path | str) -> list[Path]:
    """Write ``risk.csv``, ``risk.md`` and the charts; return their paths."""
    folder = Path(folder)
    store.atomic_write_text(folder / CSV, result.table.to_csv(index=False))
    store.atomic_write_text(folder / MARKDOWN, format_markdown(result))
    return [folder / CSV, folder / MARKDOWN, *draw(result, folder)]
