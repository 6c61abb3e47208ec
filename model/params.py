"""Parameters that describe and validate themselves: one declaration per lever.

A parameter class is a frozen dataclass whose fields are made with :func:`lever`,
which stores the allowed range or choices, the unit, a group, a short label, a slider
step and a one-line meaning in the field's metadata. :class:`Parameters` reads that
metadata to check every value when an instance is made (one-line
``ValueError``/``TypeError`` naming the field), and describes the class
(:meth:`Parameters.describe`) for everything else that shows a lever: config parsing,
the name table of charts and tables (``experiments.labels``), the dashboard's sliders
and ``docs/configs.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from model._checks import check_number

#: How a lever's value is shown, by the start of its unit: shares and annual rates as
#: percentages, the others with their unit. A unit matching none is written as it is.
UNIT_KINDS: tuple[tuple[str, str], ...] = (
    ("share", "share"),
    ("annual rate", "share"),
    ("probability", "share"),
    ("score points", "points"),
    ("currency", "currency"),
    ("months", "months"),
    ("days", "days"),
)
#: Unit of a switch (a boolean lever), unless it says another.
SWITCH_UNIT = "on/off"
#: Unit of a text lever (a name or a choice), unless it says another.
TEXT_UNIT = "text"


def unit_kind(unit: str, default: Any = None) -> str:
    """How a lever's value is shown, from its unit (see :data:`UNIT_KINDS`).

    ``share`` (as %), ``points``, ``currency``, ``months``, ``days``, ``bool`` (on/off),
    or the unit itself for any other unit.

    Args:
        unit: The lever's unit, in words (``"share of income"``).
        default: Its default (a boolean default makes a switch).
    """
    if isinstance(default, bool):
        return "bool"
    for start, kind in UNIT_KINDS:
        if unit.startswith(start):
            return kind
    return unit


def lever(
    default: Any,
    *,
    description: str,
    label: str = "",
    group: str = "",
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    integer: bool = False,
    multiple: int | None = None,
    length: int | None = None,
    choices: tuple[str, ...] | None = None,
    check: Callable[[Any], Any] | None = None,
    step: float | None = None,
    typical: tuple[float, float] | None = None,
    allowed: str | None = None,
) -> Any:
    """A dataclass field carrying its own validation and documentation.

    Args:
        default: Default value (numbers, booleans, strings, tuples or None).
        description: One line: what the parameter means.
        label: Short name for charts, tables and controls (``"Max. debt-to-income"``),
            without the unit.
        group: Group name (for docs and dashboards).
        unit: Unit, in words; its start says how values are shown (:func:`unit_kind`).
            Switches and text default to ``"on/off"`` and ``"text"``.
        low: Smallest allowed value of a number (or of each element of a tuple).
        high: Largest allowed value.
        low_open: Whether ``low`` itself is excluded.
        integer: Whether the value must be an integer.
        multiple: The value must be a multiple of this integer.
        length: A tuple of this many numbers.
        choices: The allowed strings.
        check: A function that checks (and normalises) the value itself, for shapes the
            other options do not cover; it raises ``ValueError`` with a full message.
        step: Step of a slider over the lever (default: ``multiple`` or 1 for integers,
            else a round hundredth of the shown range).
        typical: The range a slider shows, when the allowed range is far wider than
            the values that make sense (default: the allowed range).
        allowed: The allowed values in words, for a lever with its own ``check``
            (default: from the range or choices).
    """
    if not unit and isinstance(default, bool):
        unit = SWITCH_UNIT
    elif not unit and isinstance(default, str):
        unit = TEXT_UNIT
    metadata = {
        "description": description,
        "label": label,
        "group": group,
        "unit": unit,
        "low": low,
        "high": high,
        "low_open": low_open,
        "integer": integer,
        "multiple": multiple,
        "length": length,
        "choices": choices,
        "check": check,
        "step": step,
        "typical": typical,
        "allowed": allowed,
    }
    if isinstance(default, list | dict):
        raise TypeError("lever defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata=metadata)


def fitted_defaults(values: Mapping[str, Any]) -> Callable[[type], type]:
    """Class decorator (under ``@dataclass``): take these values as the fields' defaults.

    The values come from a calibration (``model/calibrated.py``); the class keeps their
    names in ``FITTED`` and :meth:`Parameters.describe` marks them.

    Raises:
        ValueError: If a value names no field of the class.
    """

    def apply(cls: type) -> type:
        for name, value in values.items():
            field = cls.__dict__.get(name)
            if not isinstance(field, dataclasses.Field):
                raise ValueError(f"calibrated value for unknown {cls.__name__} field {name!r}")
            field.default = value
        cls.FITTED = tuple(values)
        return cls

    return apply


def _round_step(width: float) -> float:
    """The largest of 1, 2 or 5 times a power of ten that is at most ``width``."""
    power = 10.0 ** math.floor(math.log10(width))
    return round(max(m * power for m in (1, 2, 5) if m * power <= width * (1 + 1e-9)), 12)


def slider_step(meta: Mapping[str, Any]) -> float | None:
    """Step of a slider over a number lever (see :func:`lever`); None for other levers."""
    if meta.get("length") is not None or meta.get("check") is not None:
        return None
    if meta.get("step") is not None:
        return meta["step"]
    if meta.get("integer"):
        return meta["multiple"] or 1
    low, high = meta.get("typical") or (meta.get("low"), meta.get("high"))
    if low is None or high is None or not high > low:
        return None
    return _round_step((high - low) / 100)


def _allowed(meta: Mapping[str, Any], default: Any = None) -> str:
    """The allowed values of a lever, in words (``in (0, 1]``, ``one of a, b``)."""
    low, high = meta["low"], meta["high"]
    if meta.get("allowed"):
        return meta["allowed"]
    if meta["choices"] is not None:
        return "one of " + ", ".join(meta["choices"])
    if isinstance(default, bool):
        return "true or false"
    if low is not None and high is not None:
        text = f"in {'(' if meta['low_open'] else '['}{low:g}, {high:g}]"
    elif low is not None:
        text = f"{'>' if meta['low_open'] else '>='} {low:g}"
    else:
        text = "a non-empty string" if isinstance(default, str) else "any value"
    if meta["multiple"]:
        text += f", a multiple of {meta['multiple']}"
    if meta["length"] is not None:
        text = f"each {text}"
    return text


@dataclass(frozen=True)
class Parameters:
    """Base of the parameter classes: validation, ``replace`` and self-description."""

    #: Name of the kind of parameter, used in error messages ("policy", "population").
    OWNER: ClassVar[str] = "parameter"
    #: Old field names and what replaced them (a clearer error than "unknown field").
    RENAMED: ClassVar[dict[str, str]] = {}
    #: Fields whose defaults were fitted by a calibration (see :func:`fitted_defaults`).
    FITTED: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.metadata:
                object.__setattr__(self, f.name, self._checked(f, getattr(self, f.name)))

    @staticmethod
    def _checked(f: dataclasses.Field, value: Any) -> Any:
        meta, name, default = f.metadata, f.name, f.default
        if meta["check"] is not None:
            return meta["check"](value)
        if value is None and default is None:
            return None
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be true or false, got {value!r}")
            return value
        if isinstance(default, str):
            choices = meta["choices"]
            if not isinstance(value, str) or not value or (choices and value not in choices):
                allowed = f"one of {', '.join(choices)}" if choices else "a non-empty string"
                raise (ValueError if isinstance(value, str) else TypeError)(
                    f"{name} must be {allowed}, got {value!r}"
                )
            return value
        if meta["length"] is not None:
            n = meta["length"]
            if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != n:
                raise ValueError(
                    f"{name} must be {n} numbers ({meta['description']}), got {value!r}"
                )
            return tuple(
                check_number(f"{name}[{i}]", v, low=meta["low"], high=meta["high"])
                for i, v in enumerate(value)
            )
        kwargs = {"low": meta["low"], "high": meta["high"], "low_open": meta["low_open"]}
        value = check_number(name, value, integer=meta["integer"], **kwargs)
        if meta["multiple"] and value % meta["multiple"]:
            raise ValueError(f"{name} must be {_allowed(meta)}, got {value}")
        return value

    @classmethod
    def field_names(cls) -> list[str]:
        """Return the names of every parameter."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def check_known(cls, overrides: Mapping[str, Any]) -> None:
        """Reject names that are not parameters, naming the first and listing the known ones.

        Raises:
            ValueError: For an unknown (or renamed) name.
        """
        known = cls.field_names()
        for key in overrides:
            if key in cls.RENAMED:
                raise ValueError(f"{cls.OWNER} field {key!r} was renamed: use {cls.RENAMED[key]}")
            if key not in known:
                raise ValueError(f"unknown {cls.OWNER} field {key!r}; allowed: {', '.join(known)}")

    def replace(self, **changes: Any) -> Any:
        """Return a copy with some parameters changed (validated like a new instance).

        Raises:
            ValueError: For an unknown parameter or a value out of range.
        """
        self.check_known(changes)
        return dataclasses.replace(self, **changes)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One dict per parameter, in declaration order: what every reader of a lever needs.

        Keys: ``name``, ``label`` (short name), ``group``, ``type``, ``default``,
        ``allowed`` (the allowed values, in words), ``unit``, ``kind`` (how values are
        shown, :func:`unit_kind`), ``description``, ``low``, ``high``, ``low_open``,
        ``integer``, ``multiple``, ``length``, ``choices``, ``step`` (a slider's step,
        :func:`slider_step`), ``typical`` (a slider's range, if narrower than the
        allowed one) and ``calibrated`` (whether the default was fitted).
        """
        out = []
        for f in dataclasses.fields(cls):
            meta = f.metadata
            unit = meta.get("unit", "")
            out.append(
                {
                    "name": f.name,
                    "label": meta.get("label", ""),
                    "group": meta.get("group", ""),
                    "type": str(f.type),
                    "default": f.default,
                    "allowed": _allowed(meta, f.default) if meta else "",
                    "unit": unit,
                    "kind": unit_kind(unit, f.default),
                    "description": meta.get("description", ""),
                    "low": meta.get("low"),
                    "high": meta.get("high"),
                    "low_open": meta.get("low_open", False),
                    "integer": meta.get("integer", False),
                    "multiple": meta.get("multiple"),
                    "length": meta.get("length"),
                    "choices": meta.get("choices"),
                    "step": slider_step(meta) if meta else None,
                    "typical": meta.get("typical"),
                    "calibrated": f.name in cls.FITTED,
                }
            )
        return out
