"""The shared value checks: right types converted, everything else one ValueError line naming the field."""

import math

import numpy as np
import pytest

from l2nas_jax.core import validate


@pytest.mark.parametrize("check, value, expected", [
    (validate.positive_int, 3, 3),
    (validate.positive_int, np.int64(5), 5),
    (validate.nonnegative_int, 0, 0),
    (validate.finite_float, 2, 2.0),
    (validate.finite_float, np.float32(0.5), 0.5),
    (validate.positive_float, 1e-9, 1e-9),
    (validate.nonnegative_float, 0, 0.0),
    (validate.boolean, np.bool_(True), True),
    (validate.string, "nb201", "nb201"),
])
def test_accepted_values_come_back_as_plain_python(check, value, expected):
    got = check("x", value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("check, value, message", [
    (validate.positive_int, 0, "x must be a positive integer, got 0"),
    (validate.positive_int, True, "x must be a positive integer, got True"),
    (validate.positive_int, 2.0, "x must be a positive integer, got 2.0"),
    (validate.positive_int, "3", "x must be a positive integer, got '3'"),
    (validate.nonnegative_int, -1, "x must be a non-negative integer, got -1"),
    (validate.finite_float, math.inf, "x must be a finite number, got inf"),
    (validate.finite_float, math.nan, "x must be a finite number, got nan"),
    (validate.finite_float, "0.9", "x must be a finite number, got '0.9'"),
    (validate.finite_float, False, "x must be a finite number, got False"),
    (validate.positive_float, 0.0, "x must be a finite number > 0, got 0.0"),
    (validate.positive_float, math.inf, "x must be a finite number > 0, got inf"),
    (validate.nonnegative_float, -0.5, "x must be a finite number >= 0, got -0.5"),
    (validate.boolean, 1, "x must be true or false, got 1"),
    (validate.boolean, "true", "x must be true or false, got 'true'"),
    (validate.string, "", "x must be a non-empty string, got ''"),
    (validate.path, 3, "x must be a path, got 3"),
])
def test_refused_values_name_the_field_in_one_line(check, value, message):
    with pytest.raises(ValueError) as e:
        check("x", value)
    assert str(e.value) == message


def test_integer_bounds_are_named():
    assert validate.positive_int("seeds", 7, hi=7) == 7
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer <= 9, got 10$"):
        validate.nonnegative_int("seed", 10, hi=9)
    with pytest.raises(ValueError, match=r"^k must be an integer >= 3, got 2$"):
        validate.integer("k", 2, lo=3)


def test_in_range_open_and_closed_ends():
    assert validate.in_range("decay", 0, 0.0, 1.0, hi_open=True) == 0.0
    for bad in (1.0, -0.1, math.nan, "0.5"):
        with pytest.raises(ValueError, match=r"^decay must be a number in \[0, 1\), got "):
            validate.in_range("decay", bad, 0.0, 1.0, hi_open=True)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        validate.in_range("tau", 0.0, 0.0, 1.0, lo_open=True)


def test_choice_is_exact():
    assert validate.choice("optimizer", "adam", ("adam", "sgd")) == "adam"
    with pytest.raises(ValueError, match=r"^optimizer must be one of adam, sgd; got 'rmsprop'$"):
        validate.choice("optimizer", "rmsprop", ("adam", "sgd"))
    with pytest.raises(ValueError):
        validate.choice("flag", 1, (True, False))  # 1 == True, but it is not a bool


def test_path_accepts_pathlike(tmp_path):
    assert validate.path("table", tmp_path / "t.csv") == str(tmp_path / "t.csv")
