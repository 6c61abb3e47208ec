"""Full factorial grid (``[sweep]``): every combination of the listed values."""

from __future__ import annotations

import itertools
from typing import Any

NAME = "grid"
DESCRIPTION = "every combination of the values listed in [sweep]"
#: A grid has no sensitivity analysis of its own.
analyse = None

_CAST = {"bool": bool, "int": int, "float": float}


def points(axes: dict[str, list[Any]], kinds: dict[str, str]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the last axis varying fastest.

    Args:
        axes: Values of each lever, by lever name.
        kinds: ``'bool'``, ``'int'`` or ``'float'`` of each lever; values are cast to it.

    Returns:
        One dict per point; ``[{}]`` when there are no axes.
    """
    cast = [[_CAST[kinds[name]](v) for v in values] for name, values in axes.items()]
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*cast)]
