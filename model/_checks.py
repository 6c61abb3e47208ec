"""Argument checks shared by the frozen parameter classes.

Every check raises ``ValueError`` or ``TypeError`` with a one-line message that
names the argument and says what is allowed, so a config error or an API
misuse can be reported to the user as it is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    integer: bool = False,
) -> float | int:
    """Return ``value`` as a number after checking its type and range.

    Args:
        name: The argument's name, used in the error message.
        value: The value to check.
        low: Smallest allowed value (inclusive unless ``low_open``).
        high: Largest allowed value (inclusive).
        low_open: Whether ``low`` itself is excluded.
        integer: Whether the value must be an integer.

    Returns:
        The value, as ``int`` when ``integer`` else ``float``.

    Raises:
        TypeError: If the value is not a (real, non-boolean) number.
        ValueError: If it is NaN, infinite or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        kind = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if integer:
        is_float = isinstance(value, float | np.floating)
        if is_float and (not math.isfinite(value) or value != int(value)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    bounds = _describe_bounds(low, high, low_open)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return value


def _describe_bounds(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    return f"<= {high}"


def check_known_fields(owner: str, cls: type, overrides: Mapping[str, Any]) -> None:
    """Reject keyword names that are not fields of the dataclass ``cls``.

    Raises:
        ValueError: Naming the first unknown field and listing the known ones.
    """
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in overrides:
        if key not in known:
            raise ValueError(f"unknown {owner} field {key!r}; allowed: {', '.join(known)}")
