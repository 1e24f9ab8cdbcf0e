import numpy as np
import pytest

from l2nas_jax.spaces.nb201 import codec as codec
from l2nas_jax.spaces.nb201.table import load_embedded


@pytest.fixture(scope="module")
def table():
    return load_embedded()


def test_all_cells_round_trip(table):
    codes = table.codes
    assert sorted(codes.tolist()) == list(range(codec.NUM_ARCHS))
    for i in range(codec.NUM_ARCHS):
        s = table.arch_string(i)
        ops = codec.parse_arch(s)
        np.testing.assert_array_equal(ops, table.ops[i])
        assert codec.format_arch(ops) == s
    np.testing.assert_array_equal(codec.code_to_ops(codes), table.ops)
    np.testing.assert_array_equal(table.code_to_index[codes], np.arange(codec.NUM_ARCHS))


def test_official_index_order(table):
    # Index 0 and the all-3x3 cell (index 1462) as given in NAS-Bench-201 / docs/spaces.md.
    assert table.arch_string(0) == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    assert table.arch_string(1462) == (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    c10 = table.metric("cifar10", "test")
    assert c10[1462] == pytest.approx(93.76, abs=0.01)
    assert c10.max() == pytest.approx(94.37, abs=0.01)
    assert table.metric("cifar100", "test").max() == pytest.approx(73.51, abs=0.01)
    assert table.metric("imagenet16-120", "test").max() == pytest.approx(47.31, abs=0.01)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 node groups"),
        ("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NB201 op 'conv_9x9'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read from node 0"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "needs 2 input edge"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "must be '|...|'"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "bad edge token"),
        ("", "3 node groups"),
    ],
)
def test_malformed_strings_raise(bad, fragment):
    with pytest.raises(ValueError, match=fragment.replace("|", r"\|").replace("(", r"\(")):
        codec.parse_arch(bad)


def test_non_string_raises():
    with pytest.raises(ValueError, match="must be a str"):
        codec.parse_arch(123)


def test_format_rejects_bad_ops():
    with pytest.raises(ValueError, match="shape"):
        codec.format_arch([0, 1, 2])
    with pytest.raises(ValueError, match="op indices"):
        codec.format_arch([0, 1, 2, 3, 4, 5])
