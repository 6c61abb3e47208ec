"""Figure styles: a named preset and a config's own rcParams, validated, applied around drawing.

A config chooses a style in ``[experiment] style = "paper"`` (one of :data:`PRESETS`, or a
matplotlib style sheet such as ``"seaborn-v0_8-paper"``) and may set any matplotlib
rcParam in a ``[style]`` table::

    [experiment]
    style = "paper"

    [style]
    "font.family" = "serif"
    "axes.prop_cycle" = "cycler('color', ['0.1', '0.5'])"

Figures are drawn from matplotlib's defaults (not the user's matplotlibrc), so a
results folder gives the same figures on every machine. The charts fix a few settings
themselves (:data:`FIXED`): the figure size and resolution (bounded widths, 300 dpi),
and plain-text labels (mathtext and usetex off, so a ``$`` in a scenario or policy name
is a dollar sign, never a formula).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from experiments.errors import ConfigError

#: Settings every figure starts from, before the preset.
BASE: dict[str, Any] = {
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "legend.title_fontsize": 7.5,
    "figure.titlesize": 10,
    "lines.linewidth": 1.5,
    "pdf.fonttype": 42,  # TrueType in PDFs: text stays text for journals
    "ps.fonttype": 42,
}

#: Built-in presets, applied over :data:`BASE`.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "paper": {
        "font.family": "serif",
        "font.serif": ["DejaVu Serif"],
        "axes.titlesize": 8,
        "axes.labelsize": 7.5,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "legend.fontsize": 7,
        "legend.title_fontsize": 7,
        "figure.titlesize": 8.5,
        "lines.linewidth": 1.1,
        "lines.markersize": 4.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 0.6,
        "grid.linewidth": 0.4,
        "axes.prop_cycle": "cycler('color', ['#0072B2', '#D55E00', '#009E73', '#CC79A7', "
        "'#E69F00', '#56B4E9', '#F0E442', '#000000'])",
    },
}

#: rcParams the charts set themselves; a config may not change them.
FIXED: dict[str, Any] = {
    "text.usetex": False,
    "text.parse_math": False,
}
#: Further rcParams a config may not set, and why.
REFUSED = {
    "backend": "the charts draw off-screen (Agg)",
    "figure.figsize": "figure sizes are set per chart (at most 6.7 in wide)",
    "figure.dpi": "figures are saved at 300 dpi",
    "savefig.dpi": "figures are saved at 300 dpi",
    "savefig.format": "figures are saved as PNG and PDF",
    "savefig.bbox": "figures keep their set size",
    "text.usetex": "labels are plain text (names may hold LaTeX specials); "
    "use font.family = 'serif' for a LaTeX look",
    "text.parse_math": "labels are plain text, so a '$' in a name is shown as written",
}


def style_names() -> list[str]:
    """Names ``[experiment] style`` accepts: the presets, then matplotlib's style sheets."""
    import matplotlib.style

    return [*PRESETS, *sorted(s for s in matplotlib.style.available if s not in PRESETS)]


def check_style(name: Any, rc: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a style name and a ``[style]`` table of rcParams.

    Returns:
        The ``[style]`` table (values as given).

    Raises:
        ConfigError: One line naming an unknown style, an unknown or refused rcParam, or
            a value matplotlib does not accept.
    """
    import matplotlib

    if name is not None:
        names = style_names()
        if not isinstance(name, str) or name not in names:
            raise ConfigError(
                f"config [experiment] style must be one of {', '.join(names)}, got {name!r}"
            )
    if not isinstance(rc, Mapping):
        raise ConfigError('config [style] must be a table of "rcParam" = value')
    params = matplotlib.rcParams
    for key, value in rc.items():
        if key in REFUSED:
            raise ConfigError(f"config [style] '{key}' cannot be set: {REFUSED[key]}")
        if key not in params.validate:
            close = difflib.get_close_matches(key, list(params.validate), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"config [style]: unknown key '{key}'{hint}; allowed: matplotlib rcParams "
                "(matplotlib.rcParams.keys())"
            )
        try:
            params.validate[key](value)
        except (ValueError, TypeError) as exc:
            message = " ".join(str(exc).split())
            raise ConfigError(f"config [style] '{key}': {message}") from None
    return dict(rc)


@contextlib.contextmanager
def style_context(name: str | None = None, rc: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Draw inside this context: matplotlib defaults, :data:`BASE`, the style, ``rc``, FIXED."""
    import matplotlib.pyplot as plt

    layers: list[Any] = [BASE]
    if name in PRESETS:
        layers.append(PRESETS[name])
    elif name is not None:
        layers.append(name)
    layers += [dict(rc or {}), FIXED]
    with plt.style.context(layers, after_reset=True):
        yield
