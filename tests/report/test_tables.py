"""The one table renderer: Markdown and terminal forms of the same cells."""

import pytest

from l2nas_jax.report.tables import markdown_table, text_table

HEAD = ["method", "best @50", "best @100"]
ROWS = [["l2nas", "94.10 ± 0.20", "94.31 ± 0.05"], ["random", "93.5 ± 0.4", "93.80 ± 0.31"]]


def test_markdown_table_aligns_numbers_right():
    md = markdown_table(HEAD, ROWS).splitlines()
    assert md[0] == "| method | best @50 | best @100 |"
    assert md[1] == "|---|---:|---:|"
    assert md[2] == "| l2nas | 94.10 ± 0.20 | 94.31 ± 0.05 |"


def test_text_table_is_aligned_ascii():
    lines = text_table(HEAD, ROWS).splitlines()
    assert len({len(line) for line in lines}) == 1  # header, rule and rows have one width
    assert set(lines[1]) == {"-"}
    assert lines[3].startswith("random ") and lines[3].endswith("93.80 +- 0.31")
    assert "±" not in "".join(lines)


def test_ragged_rows_are_refused():
    with pytest.raises(ValueError, match="row 1 has 2 cells, the header 3"):
        markdown_table(HEAD, [ROWS[0], ["x", "y"]])
