"""Small SVG line and stacked-area charts for the dashboard.

The browser draws them, so redrawing every chart after every simulated month
costs the server well under a millisecond per chart (a matplotlib PNG costs
about 0.1 s per chart), and they need no JavaScript library from a CDN. A chart
may mark events on its curves (:class:`Mark`: a lender's failure), and its legend
wraps onto more rows when the entries do not fit one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
from matplotlib.ticker import MaxNLocator

WIDTH, HEIGHT = 400, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 14, 46, 30
#: Height of a legend row (a legend of several rows pushes the plot down).
_LEGEND_ROW = 13
_FONT = "font-family:Roboto,Helvetica,Arial,sans-serif"


@dataclass(frozen=True)
class Series:
    """One curve: a label, its values by month, a colour and a dash pattern."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    color: str
    dash: str = ""


@dataclass(frozen=True)
class Mark:
    """An event on a curve: a marker at ``(x, y)`` and a label, e.g. a lender's failure.

    Attributes:
        series: The label of the curve it marks (written to ``data-series``).
        x: The month of the event.
        y: The curve's value then (not finite: the marker is left out, the line kept).
        color: The curve's colour.
        text: The label drawn beside it (and written to ``data-mark``).
    """

    series: str
    x: float
    y: float
    color: str
    text: str = "failed"


def decimals(step: float) -> int:
    """Fewest decimals that write multiples of ``step`` exactly (0.25 needs 2, 20 needs 0)."""
    step = abs(float(step))
    if step == 0 or not math.isfinite(step):
        return 0
    for places in range(16):
        if abs(round(step, places) - step) <= 1e-6 * step:
            return places
    return 15


def _fixed(step: float, scale: float = 1.0, suffix: str = "") -> Callable[[float], str]:
    """Tick labels ``value / scale`` with the decimals ``step / scale`` needs, and a suffix."""
    places = decimals(step / scale)

    def label(value: float) -> str:
        if abs(value) < 1e-9 * step:  # 0, not -0.00 from a rounding error
            value = 0.0
        return f"{value / scale:,.{places}f}{suffix}"

    return label


def percent(step: float) -> Callable[[float], str]:
    """Tick formatter for shares, with as many decimals as the tick step needs."""
    return _fixed(step, 0.01, "%")


#: Units of large amounts: the smallest tick step written in the unit, its size, its suffix.
_UNITS = ((1e8, 1e9, "bn"), (1e5, 1e6, "m"), (1e3, 1e3, "k"))


def _scaled(step: float, units: tuple[tuple[float, float, str], ...]) -> Callable[[float], str]:
    for smallest, scale, suffix in units:
        if step >= smallest * (1 - 1e-9):
            return _fixed(step, scale, suffix)
    return _fixed(step)


def money(step: float) -> Callable[[float], str]:
    """Tick formatter for amounts: in billions, millions or thousands as the step allows.

    Steps of a thousand and more are written in ``k``, of 100,000 and more in ``m``,
    of 100 million and more in ``bn``; smaller steps in units (``250``, ``0.05``).
    """
    return _scaled(step, _UNITS)


def count(step: float) -> Callable[[float], str]:
    """Tick formatter for counts, in units (``2,500``, or ``0.5``) or ``m`` and ``bn``."""
    return _scaled(step, _UNITS[:2])


def _legend_rows(
    entries: Sequence[tuple[str, str, str]], width: int
) -> list[list[tuple[float, tuple[str, str, str]]]]:
    """The legend's entries placed left to right, wrapping when one would pass the plot."""
    rows: list[list[tuple[float, tuple[str, str, str]]]] = [[]]
    x = float(_LEFT)
    for entry in entries:
        if rows[-1] and x + 20 + 6.2 * len(entry[0]) > width - _RIGHT:
            rows.append([])
            x = float(_LEFT)
        rows[-1].append((x, entry))
        x += 30 + 6.2 * len(entry[0])
    return rows


def _legend(rows: Sequence[Sequence[tuple[float, tuple[str, str, str]]]], kind: str) -> list[str]:
    out = []
    for k, row in enumerate(rows):
        y = 34 + _LEGEND_ROW * k
        for x, (label, color, dash) in row:
            if kind == "area":
                out.append(
                    f'<rect x="{x:.0f}" y="{y - 5:.0f}" width="14" height="8" fill="{color}"/>'
                )
            else:
                out.append(
                    f'<line x1="{x:.0f}" y1="{y - 1:.0f}" x2="{x + 16:.0f}" y2="{y - 1:.0f}" '
                    f'stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>'
                )
            out.append(
                f'<text x="{x + 20:.0f}" y="{y + 3:.0f}" font-size="11" fill="#333">'
                f"{escape(label)}</text>"
            )
    return out


@dataclass(frozen=True)
class _Plot:
    """The plot area of a chart and its scales: months across, values up."""

    top: float
    width: float
    height: float
    x_max: float
    lo: float
    hi: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def px(self, x: np.ndarray | float) -> np.ndarray:
        return _LEFT + np.asarray(x, dtype=float) / self.x_max * self.width

    def py(self, y: np.ndarray | float) -> np.ndarray:
        scaled = (np.asarray(y, dtype=float) - self.lo) / (self.hi - self.lo)
        return self.bottom - scaled * self.height


def _y_scale(
    ys: Sequence[np.ndarray], zero: bool, integer: bool
) -> tuple[float, float, np.ndarray, bool]:
    """The value range, its ticks, and whether there is any finite value at all."""
    values = np.concatenate(ys) if ys else np.empty(0)
    values = values[np.isfinite(values)]
    has_data = values.size > 0
    lo = float(values.min()) if has_data else 0.0
    hi = float(values.max()) if has_data else 1.0
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-12:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    ticks = MaxNLocator(nbins=5, integer=integer).tick_values(lo, hi)
    ticks = ticks[(ticks >= lo - (ticks[1] - ticks[0])) & (ticks <= hi + (ticks[1] - ticks[0]))]
    return min(lo, float(ticks[0])), max(hi, float(ticks[-1])), ticks, has_data


def _axes(
    plot: _Plot,
    ticks: np.ndarray,
    label: Callable[[float], str],
    has_data: bool,
    width: int,
) -> list[str]:
    """Grid lines and value ticks, month ticks, the frame and the empty chart's hint."""
    out = []
    for t in ticks:
        y = float(plot.py(t))
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{width - _RIGHT}" y2="{y:.1f}" '
            f'stroke="{"#888" if t == 0 else "#e3e3e3"}" stroke-width="1"/>'
        )
        if has_data:  # an empty chart has grid lines but no made-up scale
            out.append(
                f'<text x="{_LEFT - 5}" y="{y + 4:.1f}" font-size="11" fill="#555" '
                f'text-anchor="end">{escape(label(float(t)))}</text>'
            )
    x_ticks = MaxNLocator(nbins=6, integer=True).tick_values(0, plot.x_max)
    for t in x_ticks[(x_ticks >= 0) & (x_ticks <= plot.x_max)]:
        x = float(plot.px(t))
        out.append(
            f'<line x1="{x:.1f}" y1="{plot.bottom}" x2="{x:.1f}" y2="{plot.bottom + 4}" '
            'stroke="#888"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{plot.bottom + 16}" font-size="11" fill="#555" '
            f'text-anchor="middle">{t:.0f}</text>'
        )
    out.append(
        f'<text x="{width - _RIGHT}" y="{HEIGHT - 2}" font-size="10" fill="#777" '
        'text-anchor="end">month</text>'
    )
    out.append(
        f'<rect x="{_LEFT}" y="{plot.top}" width="{plot.width}" height="{plot.height}" '
        'fill="none" stroke="#bbb"/>'
    )
    if not has_data:
        out.append(
            f'<text x="{_LEFT + plot.width / 2}" y="{plot.top + plot.height / 2}" '
            'font-size="12" fill="#999" text-anchor="middle">'
            "no months yet: press Step or Play</text>"
        )
    return out


def _curves(
    series: Sequence[Series], ys: Sequence[np.ndarray], plot: _Plot, stacked: bool
) -> list[str]:
    """The curves: polylines with a dot at their last month, or stacked areas."""
    out, previous = [], None
    for s, y in zip(series, ys, strict=True):
        if len(y) == 0:
            continue
        xs, yp = plot.px(s.x), plot.py(y)
        if stacked:
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, yp, strict=True))
            base = plot.py(previous) if previous is not None else plot.py(np.zeros_like(y))
            back = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1], base[::-1], strict=True))
            out.append(
                f'<polygon data-series="{escape(s.label)}" points="{points} {back}" '
                f'fill="{s.color}" stroke="none"/>'
            )
            previous = y
        else:
            out += _polyline(s, xs, yp)
    return out


def _polyline(s: Series, xs: np.ndarray, yp: np.ndarray) -> list[str]:
    """A curve as one polyline per run of defined values, a dot at the last defined one.

    A NaN (the capital ratio of a lender without a book) leaves a gap in the curve.
    """
    finite = np.isfinite(yp)
    if not finite.any():
        return []
    breaks = np.flatnonzero(np.diff(finite.astype(np.int8))) + 1
    out = []
    for run in np.split(np.arange(yp.size), breaks):
        if not finite[run[0]]:
            continue
        points = " ".join(f"{xs[k]:.1f},{yp[k]:.1f}" for k in run)
        out.append(
            f'<polyline data-series="{escape(s.label)}" points="{points}" fill="none" '
            f'stroke="{s.color}" stroke-width="1.8" stroke-dasharray="{s.dash}" '
            'stroke-linejoin="round"/>'
        )
    last = np.flatnonzero(finite)[-1]
    out.append(f'<circle cx="{xs[last]:.1f}" cy="{yp[last]:.1f}" r="2.5" fill="{s.color}"/>')
    return out


def _marks(marks: Sequence[Mark], plot: _Plot) -> list[str]:
    """Each mark: a dotted line across the plot, a ring on the curve and its label."""
    out, placed = [], {}
    for mark in marks:
        x = float(plot.px(mark.x))
        row = placed[mark.x] = placed.get(mark.x, -1) + 1  # labels of one month stack
        parts = [
            f'<line x1="{x:.1f}" y1="{plot.top}" x2="{x:.1f}" y2="{plot.bottom}" '
            f'stroke="{mark.color}" stroke-width="1" stroke-dasharray="2 3"/>'
        ]
        if math.isfinite(mark.y):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{float(plot.py(mark.y)):.1f}" r="4" fill="#fff" '
                f'stroke="{mark.color}" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{x + 3:.1f}" y="{plot.top + 11 + 11 * row:.0f}" font-size="10" '
            f'fill="{mark.color}">{escape(mark.text)}</text>'
        )
        out.append(
            f'<g class="mark" data-mark="{escape(mark.text)}" data-series="{escape(mark.series)}" '
            f'data-month="{mark.x:g}">{"".join(parts)}</g>'
        )
    return out


def chart(
    name: str,
    title: str,
    series: Sequence[Series],
    fmt: Callable[[float], Callable[[float], str]] = count,
    *,
    x_max: float = 12,
    stacked: bool = False,
    zero: bool = True,
    integer: bool = False,
    width: int = WIDTH,
    legend: Sequence[tuple[str, str, str]] | None = None,
    marks: Sequence[Mark] = (),
) -> str:
    """An SVG chart of ``series`` against month.

    Args:
        name: Identifier, written to the ``data-chart`` attribute.
        title: Title drawn at the top.
        series: The curves (drawn in order; stacked as areas if ``stacked``).
        fmt: Makes the y tick formatter from the tick step.
        x_max: Right end of the month axis (at least the last month shown).
        stacked: Stack the series as filled areas.
        zero: Include zero in the y range.
        integer: Put y ticks on whole numbers only (for counts).
        width: Width of the view box (height is fixed).
        legend: Legend entries (label, colour, dash) instead of one per series; they
            wrap onto more rows (and push the plot down) when one row cannot hold them.
        marks: Events to mark on the curves (drawn over them).

    Returns:
        The ``<svg>`` element as a string.
    """
    if legend is None:
        legend = [(s.label, s.color, s.dash) for s in series]
    rows = _legend_rows(legend, width)
    top = _TOP + _LEGEND_ROW * (len(rows) - 1)
    ys = [np.asarray(s.y, dtype=float) for s in series]
    if stacked and ys:
        ys = list(np.cumsum(np.vstack(ys), axis=0)) if len(ys[0]) else ys
    lo, hi, ticks, has_data = _y_scale(ys, zero, integer)
    plot_w, plot_h = width - _LEFT - _RIGHT, HEIGHT - top - _BOTTOM
    plot = _Plot(top, plot_w, plot_h, max(float(x_max), 1.0), lo, hi)
    label = fmt(float(ticks[1] - ticks[0]) if len(ticks) > 1 else hi - lo)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dash-chart" data-chart="{name}" '
        f'viewBox="0 0 {width} {HEIGHT}" width="100%" style="{_FONT}">',
        f'<text x="8" y="17" font-size="13" font-weight="bold" fill="#222">{escape(title)}</text>',
        *_legend(rows, "area" if stacked else "line"),
        *_axes(plot, ticks, label, has_data, width),
        *_curves(series, ys, plot, stacked),
        *_marks(marks, plot),
        "</svg>",
    ]
    return "".join(out)
