"""Golden results: every method, mode and space reproduces its recorded arrays bit for bit.

Recorded by ``tests/golden/record.py`` before the package layout was redesigned; a refactor
that changes any trajectory, cost or supernet weight fails here.
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "golden"))
from cases import CASES, GOLDEN  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_case_is_bit_identical(case, golden):
    got = CASES[case]()
    want = {k.split(":", 1)[1]: v for k, v in golden.items() if k.startswith(case + ":")}
    assert want, f"no golden arrays recorded for {case}"
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k], v, err_msg=k)
