"""The one table renderer: a header and rows of cell strings, as Markdown or aligned for a terminal.

Every table the project prints or writes (compare, sweep, transfer, benchmarks) goes through
these two functions, so a table in ``compare.md`` and the same table on the terminal never
disagree: the terminal form only swaps ``±`` for ``+-`` (ASCII) and aligns the columns.
"""

from __future__ import annotations

from typing import Sequence


def _check(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    for i, row in enumerate(rows):
        if len(row) != len(head):
            raise ValueError(f"table row {i} has {len(row)} cells, the header {len(head)}")


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; the first column left-aligned, the others (numbers) right-aligned."""
    _check(head, rows)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table aligned for a terminal, with a rule under the header and ``+-`` for ``±``."""
    _check(head, rows)
    grid = [list(head)] + [[c.replace(" ± ", " +- ").replace("±", "+-") for c in row] for row in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(head))]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    header = fmt(grid[0])
    return "\n".join([header, "-" * len(header), *[fmt(row) for row in grid[1:]]])
