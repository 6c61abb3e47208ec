"""Charts: sizes and formats, bands, markers, labels, styles, and safe writing of figures/."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.text import Text
from PIL import Image
from results_factory import config_text, write_results

from experiments import charts
from experiments.analysis import t_interval
from experiments.cli import main
from experiments.config import ChartSpec, ConfigError, parse_config
from experiments.style import style_context

TWO_BY_TWO = """
[[scenario]]
preset = "baseline"
[[scenario]]
preset = "severe_recession"
[[policy]]
preset = "conservative"
[[policy]]
name = "loose"
preset = "balanced"
"""


#: A small chart set for the tests of writing figures (drawing all is slow at 300 dpi).
FEW = '[[chart]]\nkind = "frontier"\n[[chart]]\nkind = "timeseries"\nmetric = "npl_rate"\n'


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


@pytest.fixture
def low_dpi(monkeypatch):
    """Figures at 40 dpi: writing figures/ safely does not depend on the resolution."""
    monkeypatch.setattr(charts, "DPI", 40)


def _folder(tmp_path: Path, body: str = TWO_BY_TWO + FEW, name: str = "out", **kw) -> Path:
    folder = tmp_path / name
    write_results(folder, config_text(body, **kw))
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.is_symlink()
    }


def _texts(figures) -> list[str]:
    return [
        t.get_text()
        for fig in figures
        for t in fig.findobj(Text)
        if t.get_text() and t.get_visible()
    ]


def _draw(res, spec):
    with style_context(res.config.style, res.config.rcparams):
        return charts.DRAWERS[spec.kind](res, spec)


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# ------------------------------------------------------------------ sizes, formats
def test_figures_are_png_at_300_dpi_and_pdf_at_most_6_7_inches_wide(tmp_path):
    scenarios = ("baseline", "stagflation", "pandemic")
    policies = ("conservative", "balanced", "aggressive")
    body = "".join(f'[[scenario]]\npreset = "{s}"\n' for s in scenarios)
    body += "".join(f'[[policy]]\npreset = "{p}"\n' for p in policies)
    body += '[[chart]]\nkind = "timeseries"\nmetric = "npl_rate"\n[[chart]]\nkind = "rollrate"\n'
    folder = _folder(tmp_path, body)
    paths = charts.draw_all(folder)
    pngs = [p for p in paths if p.suffix == ".png"]
    assert len(pngs) == len([p for p in paths if p.suffix == ".pdf"]) > 0
    for png in pngs:
        with Image.open(png) as image:
            width, height = image.size
            dpi = image.info["dpi"]
        assert width <= 2010 and height <= 2800, (png.name, image.size)
        assert dpi == pytest.approx((300, 300), abs=0.5)
        pdf = png.with_suffix(".pdf").read_bytes()
        assert pdf.startswith(b"%PDF")
        box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        assert float(box.group(1)) <= 6.7 * 72 + 0.1
        assert float(box.group(1)) == pytest.approx(width / 300 * 72, abs=0.5)
    # 3 x 3 scenario/policy panels (9) do not fit one figure: two pages, each bounded.
    names = sorted(p.name for p in pngs)
    assert names == ["01_timeseries_npl_rate.png", "02_rollrate_p1.png", "02_rollrate_p2.png"]


def test_figures_are_the_same_bytes_when_redrawn(tmp_path, low_dpi):
    folder = _folder(tmp_path)
    charts.draw_all(folder)
    first = _digests(folder / "figures")
    charts.draw_all(folder)
    assert _digests(folder / "figures") == first


# ------------------------------------------------------------------ what is drawn
def test_timeseries_line_is_the_mean_and_the_band_the_t_interval(tmp_path):
    body = '[[policy]]\npreset = "balanced"\n'
    folder = _folder(tmp_path, body, replications=5)
    res = charts.load_results(folder)
    (fig,) = _draw(res, ChartSpec("timeseries", metric="overdue_rate"))
    ax = fig.axes[0]
    ts = res.tables["timeseries"]
    for month in (0, 4, 11):
        values = ts.loc[ts["month"] == month, "overdue_rate"].to_numpy()
        mean, low, high = t_interval(values)
        line = ax.get_lines()[0]
        assert line.get_ydata()[month] == pytest.approx(mean, rel=1e-12)
        (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        vertices = band.get_paths()[0].vertices
        at = sorted(set(vertices[np.isclose(vertices[:, 0], month), 1]))
        assert at == pytest.approx([low, high], rel=1e-12)
    legend = fig.legends[0].get_title().get_text()
    assert "mean and 95% CI over 5 replications" in legend


def test_percentile_band_needs_20_replications_and_is_the_5_95_range(tmp_path):
    chart = '[[chart]]\nkind = "timeseries"\nmetric = "npl_rate"\nband = "percentile"\n'
    with pytest.raises(ConfigError, match="band 'percentile' needs replications >= 20"):
        parse_config(tomllib.loads(config_text(chart, replications=19)))
    folder = _folder(tmp_path, chart, replications=20)
    res = charts.load_results(folder)
    (fig,) = _draw(res, res.config.charts[0])
    ax = fig.axes[0]
    values = res.tables["timeseries"].query("month == 2")["npl_rate"].to_numpy()
    vertices = next(c for c in ax.collections if isinstance(c, PolyCollection)).get_paths()[0]
    at = sorted(set(vertices.vertices[np.isclose(vertices.vertices[:, 0], 2), 1]))
    assert at == pytest.approx(list(np.quantile(values, [0.05, 0.95])), rel=1e-12)
    assert ax.get_lines()[0].get_ydata()[2] == pytest.approx(np.median(values))
    assert "median and 5-95% of runs" in fig.legends[0].get_title().get_text()


SWEPT = TWO_BY_TWO + '[sweep]\n"policy.max_dti" = [0.3, 0.5, 0.7]\n'


def test_frontier_has_one_marker_per_sweep_point_and_policy(tmp_path):
    folder = _folder(tmp_path, SWEPT)
    res = charts.load_results(folder)
    (fig,) = _draw(res, ChartSpec("frontier"))
    ax = fig.axes[0]  # baseline
    assert [c.get_label() for c in ax.containers] == ["Conservative", "Loose"]
    lines = [c.lines[0] for c in ax.containers]
    summary = res.summary[res.summary["scenario"] == "baseline"]
    for line, policy in zip(lines, ("conservative", "loose"), strict=True):
        means = (
            summary[summary["policy"] == policy].groupby("policy.max_dti").mean(numeric_only=True)
        )
        assert list(line.get_xdata()) == pytest.approx(list(means["approval_rate"]))
        assert list(line.get_ydata()) == pytest.approx(list(means["bad_debt_loss_rate"]))
    # the ends of each policy's path are labelled with the swept value
    assert {"30%", "70%"} <= {t.get_text() for t in ax.texts}


def test_lines_at_the_same_value_are_set_side_by_side(tmp_path):
    res = charts.load_results(_folder(tmp_path, SWEPT))
    (fig,) = _draw(res, ChartSpec("sweep", metric="profit", x="policy.max_dti"))
    xs = [c.lines[0].get_xdata() for c in fig.axes[0].containers]
    assert len(xs) == 2
    assert np.allclose(np.mean(xs, axis=0), [0.3, 0.5, 0.7])  # centred on the swept values
    assert np.all(np.abs(xs[0] - xs[1]) > 0.01)  # but not on top of each other
    (fig,) = _draw(res, ChartSpec("frontier"))  # 3 points: CI bars on every marker
    assert all(c.has_xerr and c.has_yerr for c in fig.axes[0].containers)


def test_a_matplotlib_style_sheet_may_be_named(tmp_path):
    import matplotlib.style

    text = config_text(FEW).replace("seed = 3\n", 'seed = 3\nstyle = "seaborn-v0_8-paper"\n')
    write_results(tmp_path / "out", text)
    res = charts.load_results(tmp_path / "out")
    with style_context(res.config.style, res.config.rcparams):
        size = matplotlib.rcParams["axes.labelsize"]
        assert not matplotlib.rcParams["text.parse_math"]
    assert size == matplotlib.style.library["seaborn-v0_8-paper"]["axes.labelsize"]


def test_labels_come_from_the_name_table_not_identifiers(tmp_path):
    body = SWEPT.replace('"policy.max_dti" = [0.3, 0.5, 0.7]', '"policy.max_dti" = [0.3, 0.5]')
    body += '"scenario.severity" = [0.5, 1.0]\n'
    body += '[metrics]\nloss_per_approval = "bad_debt_loss / approvals"\n'
    folder = _folder(tmp_path, body)
    res = charts.load_results(folder)
    figures = [f for s in charts.default_charts(res.config) for f in _draw(res, s)]
    texts = _texts(figures)
    raw = [t for t in texts if re.search(r"[a-z]_[a-z]|\bpolicy\.|\bscenario\.", t)]
    assert raw == []
    assert "Max. debt-to-income (%)" in texts
    assert "Severe recession" in texts and "Loss per approval" in texts


def test_names_with_dollars_and_latex_are_drawn_as_written(tmp_path):
    odd = r"cheap $x^2$ \frac{ 50% & #1"
    body = (
        '[[scenario]]\nname = "$$ boom"\npreset = "baseline"\n'
        f'[[policy]]\nname = "{odd.replace(chr(92), chr(92) * 2)}"\npreset = "balanced"\n' + FEW
    )
    folder = _folder(tmp_path, body)
    assert main(["charts", str(folder)]) == 0
    res = charts.load_results(folder)
    texts = _texts(_draw(res, ChartSpec("frontier")))
    assert odd in texts and "$$ boom" in texts


def test_sampled_designs_draw_one_marker_per_point_with_a_true_legend(tmp_path):
    body = TWO_BY_TWO + (
        '[sample]\nmethod = "lhs"\nn = 7\n[sample.ranges]\n'
        '"policy.score_cutoff" = [560, 680]\n"policy.max_dti" = [0.3, 0.6]\n'
    )
    folder = _folder(tmp_path, body, replications=2)
    res = charts.load_results(folder)
    (fig,) = _draw(res, ChartSpec("sweep", metric="profit", x="policy.score_cutoff"))
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["Conservative", "Loose"]
    assert "one dot per sampled point" in legend.get_title().get_text()
    dots = fig.axes[0].collections
    assert [len(c.get_offsets()) for c in dots] == [7, 7]
    (fig,) = _draw(res, ChartSpec("frontier"))
    marker_lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 7]
    assert len(marker_lines) == 2
    (fig,) = _draw(res, ChartSpec("timeseries", metric="overdue_rate"))
    assert "pooled" in fig.legends[0].get_title().get_text()
    assert not [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    (fig,) = _draw(res, ChartSpec("summary", metric="profit"))  # pooled points: no CI bars
    assert fig.axes[0].containers and not any(c.has_xerr for c in fig.axes[0].containers)
    assert "mean of all runs of 7 sampled points pooled" in fig.legends[0].get_title().get_text()


def test_too_many_lines_split_by_policy_and_too_many_panels_split_into_pages(tmp_path):
    sweep = '[sweep]\n"policy.max_dti" = [0.2, 0.3, 0.4, 0.5, 0.6]\n'
    folder = _folder(tmp_path, TWO_BY_TWO + sweep, name="a")
    res = charts.load_results(folder)
    # 2 policies x 5 points = 10 lines > 8: a panel per scenario and policy, a line per point
    (fig,) = _draw(res, ChartSpec("timeseries", metric="overdue_rate"))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4 and all(len(ax.get_lines()) == 5 for ax in visible)
    assert "Baseline / Conservative" in _texts([fig])
    assert not [c for c in visible[0].collections if isinstance(c, PolyCollection)]
    scenarios = "".join(f'[[scenario]]\nname = "s{k}"\npreset = "baseline"\n' for k in range(7))
    res = charts.load_results(_folder(tmp_path, scenarios, name="b"))
    figures = _draw(res, ChartSpec("timeseries", metric="npl_rate"))
    assert [sum(ax.get_visible() for ax in f.axes) for f in figures] == [4, 3]  # even pages
    assert figures[0].get_suptitle().endswith("(1 of 2)")


def test_a_true_false_sweep_is_drawn_as_two_categories(tmp_path):
    body = TWO_BY_TWO + '[sweep]\n"population.borrow_to_repay" = [false, true]\n'
    res = charts.load_results(_folder(tmp_path, body))
    spec = ChartSpec("sweep", metric="peak_overdue_rate", x="population.borrow_to_repay")
    (fig,) = _draw(res, spec)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["off", "on"]
    assert all(line.get_linestyle() == "None" for line in ax.get_lines())


def test_a_long_heatmap_title_wraps_to_fit_inside_the_figure(tmp_path):
    # severity_sweep.toml's heatmap: one panel (4.5 in), a title wider than the figure.
    body = (
        '[[scenario]]\npreset = "severe_recession"\n[[policy]]\npreset = "balanced"\n'
        '[sweep]\n"scenario.severity" = [0.0, 1.0, 2.0]\n"policy.score_cutoff" = [560, 640]\n'
    )
    res = charts.load_results(_folder(tmp_path, body, replications=2))
    spec = ChartSpec("sweep", "bad_debt_loss_rate", "scenario.severity", "policy.score_cutoff")
    (fig,) = _draw(res, spec)
    fig.canvas.draw()
    title = fig._suptitle
    box, page = title.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    words = "Mean bad-debt loss rate (of lending) by shock severity and score cut-off"
    assert " ".join(title.get_text().split()) == words and "\n" in title.get_text()


def test_derived_metrics_are_charted(tmp_path):
    body = TWO_BY_TWO + '[metrics]\nloss_per_approval = "bad_debt_loss / approvals"\n'
    folder = _folder(tmp_path, body)
    res = charts.load_results(folder)
    specs = charts.default_charts(res.config)
    assert ChartSpec("summary", metric="loss_per_approval") in specs
    (fig,) = _draw(res, ChartSpec("summary", metric="loss_per_approval"))
    ts = res.tables["timeseries"]
    approvals = ts.groupby("run_id")["approvals"].sum()
    expected = res.summary.set_index("run_id")["bad_debt_loss"] / approvals
    cell = res.summary.set_index("run_id").assign(v=expected)
    want = cell.query("scenario == 'baseline' and policy == 'loose'")["v"].mean()
    dots = next(c for c in fig.axes[0].containers if c.get_label() == "Baseline").lines[0]
    assert dots.get_xdata()[1] == pytest.approx(want)


# ------------------------------------------------------------------ style
@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ('[experiment]\nstyle = "nope"', "style must be one of default, paper"),
        ('[style]\n"font.sise" = 8', "unknown key 'font.sise' (did you mean 'font.size'?)"),
        ('[style]\n"figure.dpi" = 100', "'figure.dpi' cannot be set"),
        ('[style]\n"text.usetex" = true', "'text.usetex' cannot be set"),
        ('[style]\n"lines.linewidth" = "thick"', "config [style] 'lines.linewidth'"),
    ],
)
def test_bad_style_is_one_line_and_writes_nothing(table, fragment, tmp_path, capsys):
    text = config_text('[[policy]]\npreset = "balanced"\n')
    if table.startswith("[experiment]"):
        text = text.replace("seed = 3\n", "seed = 3\n" + table.split("\n", 1)[1] + "\n")
    else:
        text += table + "\n"
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    _one_line_error(capsys, fragment)
    assert not out.exists()


def test_style_preset_and_table_apply_to_the_figures_only(tmp_path):
    body = '[[policy]]\npreset = "balanced"\n[style]\n"axes.titleweight" = "bold"\n' + FEW
    text = config_text(body).replace("seed = 3\n", 'seed = 3\nstyle = "paper"\n')
    folder = tmp_path / "out"
    write_results(folder, text)
    res = charts.load_results(folder)
    assert res.config.style == "paper" and res.config.to_dict()["style"]
    before = dict(matplotlib.rcParams)
    (fig,) = _draw(res, ChartSpec("timeseries", metric="npl_rate"))
    title = fig.axes[0].title
    assert title.get_fontweight() == "bold" and title.get_fontfamily() == ["serif"]
    assert not fig.axes[0].spines["top"].get_visible()
    assert dict(matplotlib.rcParams) == before
    assert charts.draw_all(folder)


# ------------------------------------------------------------------ safe writing
def test_charts_never_delete_or_replace_files_they_did_not_write(tmp_path, capsys, low_dpi):
    folder = _folder(tmp_path)
    figures = folder / "figures"
    figures.mkdir()
    (figures / "notes.txt").write_text("mine")
    (figures / "old_plot.png").write_bytes(b"mine too")
    assert main(["charts", str(folder)]) == 0
    assert (figures / "notes.txt").read_text() == "mine"
    assert (figures / "old_plot.png").read_bytes() == b"mine too"
    record = json.loads((figures / charts.MANIFEST).read_text())["files"]
    assert "notes.txt" not in record and sorted(record) == [
        "01_frontier.pdf",
        "01_frontier.png",
        "02_timeseries_npl_rate.pdf",
        "02_timeseries_npl_rate.png",
    ]
    # A figure the user replaced is not the tool's any more: refused, nothing changes.
    (figures / "01_frontier.png").write_bytes(b"edited by hand")
    before = _digests(figures)
    assert main(["charts", str(folder)]) == 2
    _one_line_error(capsys, "01_frontier.png", "was not written by charts")
    assert _digests(figures) == before
    assert not list(figures.glob(".*"))


def test_symbolic_links_are_never_followed(tmp_path, capsys, low_dpi):
    folder = _folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep")
    (folder / "figures").symlink_to(elsewhere, target_is_directory=True)
    assert main(["charts", str(folder)]) == 2
    _one_line_error(capsys, "is a symbolic link")
    assert [p.name for p in elsewhere.iterdir()] == ["precious.txt"]
    (folder / "figures").unlink()
    assert main(["charts", str(folder)]) == 0
    # a figure replaced by a link to a file elsewhere: refused, the file untouched
    target = folder / "figures" / "01_frontier.png"
    target.unlink()
    target.symlink_to(elsewhere / "precious.txt")
    assert main(["charts", str(folder)]) == 2
    _one_line_error(capsys, "01_frontier.png")
    assert (elsewhere / "precious.txt").read_text() == "keep"


def test_figures_no_longer_drawn_are_removed_only_when_unchanged(tmp_path, low_dpi):
    folder = _folder(tmp_path)
    charts.draw_all(folder)
    figures = folder / "figures"
    (figures / "02_timeseries_npl_rate.png").write_bytes(b"user's now")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (figures / "02_timeseries_npl_rate.pdf").unlink()
    (figures / "02_timeseries_npl_rate.pdf").symlink_to(outside)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"]["chart"] = [{"kind": "frontier"}]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    paths = charts.draw_all(folder)
    assert sorted(p.name for p in paths) == ["01_frontier.pdf", "01_frontier.png"]
    left = sorted(p.name for p in figures.iterdir())
    assert left == [
        "01_frontier.pdf",
        "01_frontier.png",
        "02_timeseries_npl_rate.pdf",
        "02_timeseries_npl_rate.png",
        charts.MANIFEST,
    ]
    assert outside.read_text() == "keep"


@pytest.mark.parametrize("damage", ["truncated", "missing", "manifest", "column"])
def test_a_damaged_folder_is_one_line_and_leaves_the_figures(damage, tmp_path, capsys, low_dpi):
    folder = _folder(tmp_path)
    charts.draw_all(folder)
    before = _digests(folder / "figures")
    if damage == "truncated":
        data = (folder / "timeseries.parquet").read_bytes()
        (folder / "timeseries.parquet").write_bytes(data[: len(data) // 2])
        fragments = ("damaged", "timeseries.parquet")
    elif damage == "missing":
        (folder / "timeseries.parquet").unlink()
        fragments = ("missing", "timeseries.parquet")
    elif damage == "manifest":
        (folder / "manifest.json").write_text('{"config": ')
        fragments = ("damaged", "manifest.json")
    else:
        frame = pd.read_parquet(folder / "summary.parquet").drop(columns="approval_rate")
        frame.to_parquet(folder / "summary.parquet")
        fragments = ("summary.parquet", "approval_rate")
    assert main(["charts", str(folder)]) == 2
    _one_line_error(capsys, *fragments)
    assert _digests(folder / "figures") == before


def test_a_failure_while_drawing_changes_nothing_and_leaves_no_temporary_file(
    tmp_path, monkeypatch, low_dpi
):
    folder = _folder(tmp_path)
    charts.draw_all(folder)
    figures = folder / "figures"
    before = _digests(figures)

    def broken(res, spec):
        raise RuntimeError("boom")

    monkeypatch.setitem(charts.DRAWERS, "timeseries", broken)
    with pytest.raises(RuntimeError, match="boom"):
        charts.draw_all(folder)
    assert _digests(figures) == before
    assert sorted(p.name for p in figures.iterdir() if p.name.startswith(".")) == []


def test_an_interrupted_swap_is_recognised_by_the_next_call(tmp_path, monkeypatch, low_dpi):
    folder = _folder(tmp_path)
    charts.draw_all(folder)
    # new contents (another style), swap killed after two renames
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"]["experiment"]["style"] = "paper"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    calls = {"n": 0}
    real = os.replace

    def dying(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(charts.os, "replace", dying)
    with pytest.raises(KeyboardInterrupt):
        charts.draw_all(folder)
    monkeypatch.setattr(charts.os, "replace", real)
    assert not [p for p in (folder / "figures").iterdir() if p.name.endswith(".tmp")]
    paths = charts.draw_all(folder)  # half old, half new: all still the tool's own
    assert paths and all(p.exists() for p in paths)


def test_charts_of_a_folder_without_runs_write_nothing(tmp_path):
    folder = _folder(tmp_path)
    frame = pd.read_parquet(folder / "summary.parquet").iloc[:0]
    frame.to_parquet(folder / "summary.parquet")
    assert charts.draw_all(folder) == []
    assert not (folder / "figures").exists()


def test_remove_figures_deletes_only_what_the_tool_wrote(tmp_path, low_dpi):
    folder = _folder(tmp_path)
    charts.draw_all(folder)
    (folder / "figures" / "mine.txt").write_text("x")
    removed = charts.remove_figures(folder)
    assert removed == 4
    assert [p.name for p in (folder / "figures").iterdir()] == ["mine.txt"]
