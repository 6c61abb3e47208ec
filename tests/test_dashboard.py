"""The dashboard: model wrapper, charts, page rendering, command line and a browser run."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("solara", reason="the dashboard extra is not installed")
pytest.importorskip("altair", reason="Mesa's visualization needs altair")

from experiments import dashboard as dash  # noqa: E402
from experiments.cli import main  # noqa: E402
from experiments.dashboard_svg import Series, chart, count, money, percent  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SMALL = {"n_borrowers": 2_000, "seed": 3}


def _points(svg: str, series: str) -> int:
    match = re.search(rf'data-series="{re.escape(series)}" points="([^"]*)"', svg)
    return len(match.group(1).split()) if match else 0


def test_model_steps_both_economies_on_same_borrowers():
    model = dash.DashboardModel(**SMALL, compare=True, policy_b="aggressive")
    assert list(model.economies) == ["A: balanced", "B: aggressive"]
    for _ in range(3):
        model.step()
    assert model.month == 3 and model.steps == 3
    frames = model.frames()
    assert [len(f) for f in frames.values()] == [3, 3]
    a, b = model.economies.values()
    # Same seed: same borrowers and labour-market shocks, different lending.
    assert (a.state.employed == b.state.employed).all()
    assert frames["A: balanced"]["unemployment_rate"].equals(
        frames["B: aggressive"]["unemployment_rate"]
    )
    assert not frames["A: balanced"]["approvals"].equals(frames["B: aggressive"]["approvals"])


def test_levers_override_the_preset_and_stop_at_horizon():
    model = dash.DashboardModel(
        **SMALL,
        policy="conservative",
        score_cutoff=700.0,
        relief_enabled=False,
        writeoff_dpd=120,
        dynamic_target=0.08,
        compare=False,
        scenario="pandemic",
        severity=0.5,
        horizon=2,
    )
    (label,) = model.economies
    assert label == "A: conservative (edited)"
    policy = model.first.lenders[0].policy
    assert (policy.score_cutoff, policy.relief_enabled, policy.writeoff_dpd) == (700, False, 120)
    assert policy.dynamic_overdue_target == 0.08
    assert policy.max_dti == dash.preset_levers("conservative")["max_dti"]
    assert model.scenario.name == "pandemic@0.5"
    model.step()
    assert model.running
    model.step()
    assert not model.running
    unedited = dash.DashboardModel(**SMALL, policy="aggressive", **dash.preset_levers("aggressive"))
    assert list(unedited.economies)[0] == "A: aggressive"


def test_charts_and_table_follow_the_months():
    model = dash.DashboardModel(**SMALL, compare=True)
    charts = dash.charts_for(model)
    assert len(charts) == len(dash.CHARTS) + 1
    assert all("no months yet" in draw(model) for draw in charts)
    for _ in range(4):
        model.step()
    svgs = {draw.__name__: draw(model) for draw in charts}
    for svg in svgs.values():
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert "no months yet" not in svg
    assert _points(svgs["chart_overdue"], "1+ DPD, A: balanced") == 4
    assert _points(svgs["chart_overdue"], "NPL (90+), B: aggressive") == 4
    assert svgs["chart_buckets"].count("<polygon") == 4
    table = model.borrower_table()
    assert len(table) == dash.N_SAMPLED
    assert {"income", "savings", "DPD", "status", "DPD (B)"} <= set(table.columns)
    assert set(table["status"]) <= {"no loan", "current", "overdue", "default"}
    assert dict(model.summary())["month"] == "4"
    single = dash.DashboardModel(**SMALL, compare=False)
    assert len(dash.charts_for(single)) == len(dash.CHARTS)


def test_svg_axis_formats():
    assert percent(0.025)(0.05) == "5.0%" and percent(0.05)(0.1) == "10%"
    assert percent(0.0005)(0.003) == "0.30%" and percent(2.5e-6)(5e-6) == "0.00050%"
    assert money(2.5e6)(5e6) == "5.0m" and money(2e4)(4e4) == "40k"
    assert money(0.2)(0.6) == "0.6" and money(250)(1500) == "1,500" and money(2e8)(1e9) == "1.0bn"
    assert count(2.5)(7.5) == "7.5" and count(500)(2000) == "2,000"
    assert percent(0.001)(-1e-19) == "0.0%"  # no "-0.0%" from rounding
    svg = chart("x", "T <&>", [], percent)
    assert "T &lt;&amp;&gt;" in svg and "no months yet" in svg


def _tick_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]*)</text>', svg)


_SMALL_AND_LARGE = (2.5e-6, 4e-5, 0.003, 0.03, 0.9, 7, 12, 450, 2.5e4, 3.3e6, 4e9)


@pytest.mark.parametrize(
    ("fmt", "top"),
    [(percent, top) for top in _SMALL_AND_LARGE if top <= 1]
    + [(fmt, top) for fmt in (money, count) for top in _SMALL_AND_LARGE if top < 1e9]
    + [(money, 4e9)],
)
@pytest.mark.parametrize("bottom", [0.0, -0.6])
def test_tick_labels_are_distinct_and_readable(fmt, top, bottom):
    svg = chart("x", "t", [Series("s", [0, 1, 2], [bottom * top, top / 3, top], "#000")], fmt)
    labels = _tick_labels(svg)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert all(len(label) <= 9 for label in labels), labels  # fit the 58-pixel margin
    assert not any(label.startswith("-0") and not label.strip("-0.%km") for label in labels)


def test_step_at_20k_borrowers_is_fast():
    start = time.perf_counter()
    model = dash.DashboardModel(n_borrowers=20_000, compare=True)
    built = time.perf_counter() - start
    times = []
    for _ in range(6):
        start = time.perf_counter()
        model.step()
        for draw in dash.charts_for(model):
            draw(model)
        times.append(time.perf_counter() - start)
    assert built < 10
    assert sorted(times)[len(times) // 2] < 0.5  # measured: ~0.02 s for two economies


def test_page_renders_and_steps_without_browser():
    import ipyvuetify as v
    import solara

    @solara.component
    def App():  # as solara-server does: the layout hosts the app bar and sidebar
        with solara.AppLayout():
            dash.Page()

    _box, rc = solara.render(App(), handle_error=False)
    step = rc.find(v.Btn, children=["Step"])
    step.assert_single()
    rc.find(v.Btn, children=["Reset"]).assert_single()

    chart = rc.find(solara.widgets.HTML, attributes={"class": "chart_overdue"})
    chart.assert_single()

    def overdue_chart() -> str:
        return chart.widget.unsafe_innerHTML

    assert "no months yet" in overdue_chart()
    step.widget.click()
    step.widget.click()
    overdue = overdue_chart()
    assert "no months yet" not in overdue
    assert _points(overdue, "1+ DPD, A: balanced") == 2
    rc.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_rejects_bad_arguments(capsys):
    assert main(["dashboard", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --port must be in 1-65535") and err.count("\n") == 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", "--port", str(port)]) == 2
    assert "choose another --port" in capsys.readouterr().err


@pytest.mark.timeout(90)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_browser_shows_controls_and_charts_that_move(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "experiments", "dashboard", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dashboard server did not start:\n{server.stdout.read()}")
            time.sleep(0.3)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1400})
                page.set_default_timeout(30_000)
                page.goto(url)
                overdue = page.locator('svg[data-chart="overdue"]')
                overdue.wait_for()
                for label in ("scenario preset", "policy preset", "score cut-off"):
                    assert page.get_by_text(label).first.is_visible()
                assert page.get_by_text("no months yet").first.is_visible()
                line = overdue.locator('polyline[data-series="1+ DPD, A: balanced"]')
                step = page.get_by_role("button", name="Step", exact=True)
                step.click()
                line.wait_for(state="attached")
                step.click()
                page.wait_for_function(
                    """(sel) => {
                        const l = document.querySelector(sel);
                        return l && l.getAttribute('points').trim().split(' ').length === 2;
                    }""",
                    arg='svg[data-chart="overdue"] polyline[data-series="1+ DPD, A: balanced"]',
                )
                assert page.locator(".borrowers tbody tr").count() == dash.N_SAMPLED
                page.wait_for_timeout(300)
                page.screenshot(path=tmp_path / "dashboard.png")
                target = os.environ.get("DASHBOARD_SCREENSHOT")
                if target:  # refresh the README's screenshot after a few more months
                    for _ in range(22):
                        step.click()
                        page.wait_for_timeout(250)
                    page.wait_for_timeout(1_000)
                    page.screenshot(path=target)
                # Moving a control marks the settings as pending until Reset.
                page.get_by_label("seed").fill("11")
                page.get_by_label("seed").press("Enter")
                page.get_by_text("press Reset to apply").wait_for()
                page.get_by_role("button", name="Reset", exact=True).click()
                page.get_by_text("no months yet").first.wait_for()
                assert not page.get_by_text("press Reset to apply").is_visible()
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
