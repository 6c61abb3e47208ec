"""Export a comparison table (:func:`experiments.analysis.compare`) as CSV, Markdown or LaTeX.

CSV is the long table itself, numbers unrounded, identifiers as stored (for scripts).
Markdown and LaTeX are for reading and for papers: one block per scenario / policy /
sweep point, metrics and names from the name table (:mod:`experiments.labels`), each
mean with its 95% t-interval and each difference with its paired interval, shares as %
and their differences in percentage points. LaTeX is a ``booktabs`` ``tabular`` with
every name escaped, so it compiles whatever the scenario and policy names hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from experiments.analysis import group_keys
from experiments.labels import NameTable, display_names, format_value, latex_escape

#: Output formats of :func:`render`.
FORMATS = ("csv", "md", "latex")

_ITEM_TITLES = {
    "policy": "policy",
    "scenario": "scenario",
    "point": "sweep point",
    "lender": "lender",
}


def _interval(mean: float, low: float, high: float, unit: str | None, diff: bool) -> str:
    text = format_value(mean, unit, diff)
    if pd.isna(low) or pd.isna(high):
        return text
    return f"{text} [{format_value(low, unit, diff)}, {format_value(high, unit, diff)}]"


def _rows(
    table: pd.DataFrame,
    by: str,
    params: Sequence[str],
    names: NameTable,
    shown: Mapping[str, Mapping[str, str]],
) -> tuple[list[str], list[tuple[str, list[list[str]]]], str]:
    """Header, blocks of (heading, rows) and the baseline's display name."""
    item_col = by
    keys = group_keys(by, params, per_lender="lender" in table.columns)
    baseline = str(table["baseline"].iloc[0])

    def item_text(row: pd.Series) -> str:
        if by == "point":
            return names.point(params, [row[p] for p in params])
        return shown[by].get(row[item_col], str(row[item_col]))

    if by == "point":
        base_row = table[table["point"] == baseline].iloc[0]
        base_text = names.point(params, [base_row[p] for p in params])
    else:
        base_text = shown[by].get(baseline, baseline)
    header = [
        "Metric",
        _ITEM_TITLES[by].capitalize(),
        "n",
        "Mean [95% CI]",
        f"Difference vs {base_text} [95% CI]",
    ]
    blocks = []
    for group_key, group in table.groupby(keys, sort=False, dropna=False):
        group_key = group_key if isinstance(group_key, tuple) else (group_key,)
        parts = []
        for key, value in zip(keys, group_key, strict=True):
            if key in shown:
                parts.append(f"{names.name(key)}: {shown[key].get(value, value)}")
            else:
                parts.append(f"{names.name(key)}: {names.value(key, value)}")
        rows = []
        for metric, runs in group.groupby("metric", sort=False):
            unit = names.unit(metric)
            label = names.name(metric) if unit == "share" else names.label(metric)
            for k, (_, row) in enumerate(runs.iterrows()):
                is_base = row[item_col] == baseline
                rows.append(
                    [
                        label if k == 0 else "",
                        item_text(row),
                        str(int(row["n"])),
                        _interval(row["mean"], row["ci_low"], row["ci_high"], unit, False),
                        "(baseline)"
                        if is_base
                        else _interval(
                            row["diff"], row["diff_ci_low"], row["diff_ci_high"], unit, True
                        ),
                    ]
                )
        blocks.append(("; ".join(parts), rows))
    return header, blocks, base_text


def _note(by: str, baseline: str, raw_baseline: str) -> str:
    item = _ITEM_TITLES[by]
    return (
        f"diff = {item} - {raw_baseline} (baseline: {baseline}), paired by replication "
        "(same borrowers and shocks); intervals are 95% t-intervals over replications."
    )


def _markdown(header: list[str], blocks: list[tuple[str, list[list[str]]]], note: str) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [note, ""]
    for heading, rows in blocks:
        out += [f"**{heading}**", "", line(header), "|---|---|--:|--:|--:|"]
        out += [line(r) for r in rows]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _latex(header: list[str], blocks: list[tuple[str, list[list[str]]]], note: str) -> str:
    ncols = len(header)
    out = [
        f"% {note}",
        "% Needs \\usepackage{booktabs}.",
        "\\begin{tabular}{llrll}",
        "\\toprule",
        " & ".join(latex_escape(h) for h in header) + " \\\\",
    ]
    for heading, rows in blocks:
        out.append("\\midrule")
        out.append(f"\\multicolumn{{{ncols}}}{{l}}{{\\textit{{{latex_escape(heading)}}}}} \\\\")
        out += [" & ".join(latex_escape(c) for c in row) + " \\\\" for row in rows]
    out += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(out) + "\n"


def render(
    table: pd.DataFrame,
    fmt: str,
    by: str = "policy",
    params: Sequence[str] = (),
    names: NameTable | None = None,
) -> str:
    """A comparison table as text in ``fmt`` (one of :data:`FORMATS`).

    Args:
        table: Output of :func:`experiments.analysis.compare`.
        fmt: ``"csv"``, ``"md"`` or ``"latex"``.
        by: What the table compares (``policy``, ``scenario`` or ``point``).
        params: Swept parameter columns.
        names: Name table (with the config's derived metrics); default: the built-in one.

    Raises:
        ValueError: For an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; allowed: {', '.join(FORMATS)}")
    if fmt == "csv":
        return table.to_csv(index=False)
    if table.empty:
        return "no finished runs to compare\n" if fmt == "md" else "% no finished runs\n"
    names = names or NameTable()
    named = [k for k in ("scenario", "policy", "lender") if k in table.columns]
    shown = {k: display_names(table[k].astype(str)) for k in named}
    header, blocks, base_text = _rows(table, by, params, names, shown)
    raw = str(table["baseline"].iloc[0])
    if by == "point":
        raw = "baseline point"
    note = _note(by, base_text, raw)
    return _markdown(header, blocks, note) if fmt == "md" else _latex(header, blocks, note)
