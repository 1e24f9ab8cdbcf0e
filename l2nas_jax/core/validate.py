"""Typed checks of user-given values, shared by every layer.

Each helper returns the value converted to its plain Python type (``int``, ``float``,
``bool``, ``str``) or raises one ``ValueError`` line naming the field:
``"queries must be a positive integer, got 0"``.  Bools are never numbers, strings are
never numbers (``"0.9"`` is refused: a JSON file or a caller has to say what it means),
and every float is finite.  NumPy scalars are accepted and converted.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def _fail(name: str, what: str, value: Any) -> ValueError:
    """The one-line error every helper raises."""
    return ValueError(f"{name} must be {what}, got {value!r}")


def _is_int(value: Any) -> bool:
    """An integral number (NumPy integers included), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    """A real number (NumPy floats and integers included), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int_range_text(lo: int | None, hi: int | None) -> str:
    """``"a positive integer"``, ``"a non-negative integer <= 9"``, ``"an integer >= 3"``, ..."""
    base = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(lo, f"an integer >= {lo}")
    return base + (f" <= {hi}" if hi is not None else "")


def integer(name: str, value: Any, *, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``[lo, hi]`` (either bound optional)."""
    if not _is_int(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(name, _int_range_text(lo, hi), value)
    return int(value)


def positive_int(name: str, value: Any, *, hi: int | None = None) -> int:
    """``value`` as an ``int`` >= 1 (and <= ``hi`` when given)."""
    return integer(name, value, lo=1, hi=hi)


def nonnegative_int(name: str, value: Any, *, hi: int | None = None) -> int:
    """``value`` as an ``int`` >= 0 (and <= ``hi`` when given)."""
    return integer(name, value, lo=0, hi=hi)


def finite_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` (ints are accepted and converted)."""
    if not _is_real(value) or not math.isfinite(float(value)):
        raise _fail(name, "a finite number", value)
    return float(value)


def positive_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` > 0."""
    if not _is_real(value) or not 0 < float(value) < math.inf:
        raise _fail(name, "a finite number > 0", value)
    return float(value)


def nonnegative_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` >= 0."""
    if not _is_real(value) or not 0 <= float(value) < math.inf:
        raise _fail(name, "a finite number >= 0", value)
    return float(value)


def in_range(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a ``float`` in the interval from ``lo`` to ``hi`` (closed unless ``*_open``)."""
    what = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if not _is_real(value) or math.isnan(float(value)):
        raise _fail(name, what, value)
    v = float(value)
    if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
        raise _fail(name, what, value)
    return v


def choice(name: str, value: Any, choices: Sequence[T]) -> T:
    """``value`` if it is one of ``choices``."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is a bool (NumPy bools converted); ``0``/``"true"`` are refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise _fail(name, "true or false", value)


def string(name: str, value: Any, *, allow_empty: bool = False) -> str:
    """``value`` if it is a string (non-empty unless ``allow_empty``)."""
    if not isinstance(value, str) or not (value or allow_empty):
        raise _fail(name, "a string" if allow_empty else "a non-empty string", value)
    return value


def path(name: str, value: Any) -> str:
    """A file or directory name (``str`` or ``os.PathLike``) as a non-empty ``str``."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise _fail(name, "a path", value)
    return value
