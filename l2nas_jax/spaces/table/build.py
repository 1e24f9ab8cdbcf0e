"""From a raw table to a search space: decisions, choices, metrics, costs, validation.

**Decisions.** ``decisions`` names the decision columns; a keyed JSON file's decisions are the
parts of its keys.  Otherwise they are inferred: every column that no metric, cost or budget
option names, whose values are all integers or all non-numeric text, that has 2 to
:data:`MAX_INFERRED_CHOICES` distinct values, and that is not called ``index``, ``id``, ``arch``,
``arch_str``, ``name`` or ``key``.

**Choices** of a decision, in index order: integer values sorted numerically; text values in
order of first appearance in the file; or the order given by ``choices={column: [values]}``.

**Metrics** (``search_metric``, ``report_metric``) are maximised.  Each is a column name, a
glob pattern (``acc_seed*``) or a list of columns; several columns are per-seed runs: the
search observes **one run per query, drawn uniformly from the query's PRNG key** (a repeated
query may see another run, as when a network is retrained) while the reported value is the
**mean** of the report columns.  ``{dataset}`` in any column option is replaced by the dataset
(``{dataset}_valid``); the datasets are then the values it takes in the column names.

**Costs.** ``Space.cost`` returns the ``params`` and ``macs`` columns (auto-detected names, see
:data:`PARAMS_NAMES` / :data:`MACS_NAMES`, or ``params_column`` / ``macs_column``; in millions, as
NB201, NATS-Bench and HW-NAS-Bench give them); a missing one is NaN.  Every other finite numeric
column is available to budgets by name (``l2nas_jax.envs.constrained.constrain(limits=...)``).

**Tables that are not full grids.** Combinations absent from the file are infeasible: the
operators never produce them (:mod:`.codec`), their search and reported values are
``min(0, every real value) - MISSING_MARGIN`` (below every real value, like an over-budget
architecture under a constraint) and their cost columns hold the column's maximum (so they are
dominated on a Pareto front); the table environment's ``is_present`` tells them apart.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from l2nas_jax.spaces.base import TableValues
from l2nas_jax.spaces.table.codec import Grid, arch_to_id
from l2nas_jax.spaces.table.read import RawTable, split_key

#: Largest full grid (product of the choice counts): values are held densely by id.
MAX_GRID = 2**24
#: Largest grid that ``Space.enumerate_archs`` lists (exact constrained optima, Pareto fronts).
ENUMERATE_LIMIT = 2**22
#: Most distinct values an inferred decision column may have.
MAX_INFERRED_CHOICES = 256
#: Missing combinations score this far below ``min(0, every real value)``.
MISSING_MARGIN = 10.0
#: Column names (case-insensitive) taken as the params / MACs cost when not named explicitly.
PARAMS_NAMES = ("params", "params_m", "param", "num_params", "n_params", "parameters")
MACS_NAMES = ("macs", "macs_m", "flops", "flops_m", "mult_adds", "madds")
_NOT_DECISIONS = ("index", "id", "arch", "arch_str", "name", "key")
_INT = re.compile(r"^[+-]?\d+$")

MetricSpec = str | Sequence[str]


@dataclasses.dataclass(frozen=True)
class TableColumns(TableValues):
    """:class:`TableValues` plus what a generic table adds (all indexed by grid id, ``num_archs`` long)."""

    search_runs: np.ndarray | None = None  # float32[num_archs, runs]: per-seed search metric (None: one)
    present: np.ndarray | None = None  # bool[num_archs]: the combinations in the file (None: full grid)
    columns: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)  # finite numeric columns
    cost_keys: tuple[str | None, str | None] = (None, None)  # the columns that are params / MACs
    floor: float = 0.0  # min(0, every real search/report value): penalties are below it


def _fail(source: str, problem: str) -> ValueError:
    return ValueError(f"table {source}: {problem}")


def _text(v: Any) -> str:
    """A decision value as text: integers (also 8.0) without a fractional part, text stripped."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _canon(t: str) -> str:
    """Integer text in canonical form (``"08"`` -> ``"8"``); other text unchanged."""
    return str(int(t)) if _INT.match(t) else t


def _number(v: Any) -> float | None:
    """A raw value as a float, or None if it is not a number."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    try:
        return float(str(v).strip())
    except ValueError:
        return None


def _glob_regex(pattern: str) -> str:
    return re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")


def _specs(spec: MetricSpec) -> list[str]:
    return [spec] if isinstance(spec, str) else [str(s) for s in spec]


def _uses_dataset(*specs: MetricSpec | None) -> bool:
    return any("{dataset}" in s for spec in specs if spec is not None for s in _specs(spec))


def _fill(template: str, dataset: str | None) -> str:
    return template if dataset is None else template.replace("{dataset}", dataset)


@dataclasses.dataclass(frozen=True)
class TableData:
    """A validated table: unique architectures (``rows``, in file order) and their numeric columns."""

    source: str
    grid: Grid
    rows: np.ndarray  # int32[R, N] choice indices
    columns: Mapping[str, np.ndarray]  # float64[R] every finite numeric non-decision column
    datasets: tuple[str, ...]  # ("",) when no option uses {dataset}
    search_metric: tuple[str, ...]
    report_metric: tuple[str, ...]
    params_column: str | None
    macs_column: str | None
    sep: str  # decision separator of architecture strings ("" = one character each)
    templated: bool  # options use {dataset}

    @property
    def ids(self) -> np.ndarray:
        return arch_to_id(self.grid, self.rows)

    @property
    def full(self) -> bool:
        """Every combination of the grid is in the table."""
        return len(self.rows) == self.grid.size

    @property
    def present(self) -> np.ndarray:
        out = np.zeros(self.grid.size, bool)
        out[self.ids] = True
        return out

    # -- datasets and columns ----------------------------------------------------------------------
    def check_dataset(self, dataset: str | None) -> str | None:
        """The dataset as the column names spell it (``-``/``_`` interchangeable); ValueError naming the valid ones."""
        if not self.templated:
            if dataset in (None, "", *self.datasets):
                return None
            raise _fail(self.source, f"unknown dataset {dataset!r}; this table has one: {self.datasets[0]}")
        if dataset is None:
            return self.datasets[0]
        for d in self.datasets:
            if dataset in (d, d.replace("_", "-"), d.replace("-", "_")):
                return d
        raise _fail(self.source, f"unknown dataset {dataset!r}; valid: {', '.join(self.datasets)}")

    def metric_columns(self, spec: MetricSpec, dataset: str | None, what: str) -> list[str]:
        """The columns a metric option names for ``dataset`` (a glob matches numeric columns in file order)."""
        out = []
        for s in _specs(spec):
            name = _fill(s, dataset)
            if "*" in name or "?" in name:
                rx = re.compile(_glob_regex(name) + r"\Z")
                hits = [c for c in self.columns if rx.match(c)]
                if not hits:
                    raise _fail(self.source, f"{what} pattern {name!r} matches no numeric column "
                                             f"(numeric columns: {', '.join(self.columns)})")
                out += hits
            elif name not in self.columns:
                raise _fail(self.source, f"{what} column {name!r} is not a numeric column "
                                         f"(numeric columns: {', '.join(self.columns) or 'none'})")
            else:
                out.append(name)
        if len(set(out)) != len(out):
            raise _fail(self.source, f"{what} names a column twice: {', '.join(out)}")
        return out

    def dense(self, values: np.ndarray, fill: float) -> np.ndarray:
        """Per-row values (``[R, ...]``) as ``float32[grid size, ...]`` indexed by id, ``fill`` elsewhere."""
        out = np.full((self.grid.size, *values.shape[1:]), fill, np.float64)
        out[self.ids] = values
        return out.astype(np.float32)

    def cost_keys(self, dataset: str | None) -> tuple[str | None, str | None]:
        return tuple(None if c is None else _fill(c, dataset) for c in (self.params_column, self.macs_column))

    def values(self, dataset: str | None = None, *, search_metric: MetricSpec | None = None,
               report_metric: MetricSpec | None = None) -> TableColumns:
        """One dataset's search/report values (and per-seed runs, costs, presence) indexed by id."""
        ds = self.check_dataset(dataset)
        s_cols = self.metric_columns(search_metric or self.search_metric, ds, "search metric")
        r_cols = self.metric_columns(report_metric or self.report_metric, ds, "report metric")
        runs = np.stack([self.columns[c] for c in s_cols], -1)
        rep = np.stack([self.columns[c] for c in r_cols], -1)
        search = runs[:, 0] if runs.shape[1] == 1 else runs.mean(-1)
        report = rep[:, 0] if rep.shape[1] == 1 else rep.mean(-1)
        if not np.max(runs) > 0:
            raise _fail(self.source, f"search metric {', '.join(s_cols)} has no positive value; it is maximised and "
                                     f"the reward is value / max: shift it, or negate a cost")
        floor = float(min(0.0, runs.min(), report.min()))
        fill = floor - MISSING_MARGIN
        full = self.full
        return TableColumns(
            search=self.dense(search, fill), report=self.dense(report, fill),
            dataset=ds if ds is not None else self.datasets[0],
            search_split=_label(s_cols, f"one of {len(s_cols)} runs per query"),
            report_split=_label(r_cols, f"mean of {len(r_cols)} runs"),
            search_runs=None if runs.shape[1] == 1 else self.dense(runs, fill),
            present=None if full else self.present,
            columns={c: self.dense(v, float(v.max())) for c, v in self.columns.items()},
            cost_keys=self.cost_keys(ds), floor=floor,
        )


def _label(cols: list[str], how: str) -> str:
    return cols[0] if len(cols) == 1 else f"{cols[0]}..{cols[-1]} ({how})"


# -- building ---------------------------------------------------------------------------------------------------


def _infer_datasets(raw: RawTable, template: str) -> tuple[str, ...]:
    parts = template.split("{dataset}")
    rx = re.compile("(?P<ds>.+?)".join(_glob_regex(p) for p in parts[:2])
                    + "".join("(?P=ds)" + _glob_regex(p) for p in parts[2:]) + r"\Z")
    found: list[str] = []
    for c in raw.names:
        m = rx.match(c)
        if m and m.group("ds") not in found:
            found.append(m.group("ds"))
    if not found:
        raise _fail(raw.source, f"no column matches {template!r} for any dataset (columns: {', '.join(raw.names)})")
    return tuple(found)


def _numeric_columns(raw: RawTable, decisions: Sequence[str], strict: set[str]) -> dict[str, np.ndarray]:
    """Every non-decision column whose values are all finite numbers; ``strict`` ones must be (error naming the row)."""
    out = {}
    for c in raw.names:
        if c in decisions:
            continue
        vals = [_number(v) for v in raw.values[c]]
        if c in strict:
            for v, raw_v, row in zip(vals, raw.values[c], raw.rows):
                if v is None:
                    raise _fail(raw.source, f"{row}: column {c!r} value {raw_v!r} is not a number")
                if not math.isfinite(v):
                    raise _fail(raw.source, f"{row}: column {c!r} is {raw_v!r} (metrics must be finite)")
        elif any(v is None or not math.isfinite(v) for v in vals):
            continue
        out[c] = np.asarray(vals, np.float64)
    return out


def _infer_decisions(raw: RawTable, named: set[str]) -> list[str]:
    out = []
    for c in raw.names:
        if c in named or c.lower() in _NOT_DECISIONS:
            continue
        texts = [_text(v) for v in raw.values[c]]
        ints = all(_INT.match(t) for t in texts)
        words = all(_number(t) is None for t in texts)
        if (ints or words) and 2 <= len(set(texts)) <= MAX_INFERRED_CHOICES:
            out.append(c)
    if not out:
        raise _fail(raw.source, "no decision column found (integer or text columns with 2 to "
                                f"{MAX_INFERRED_CHOICES} values); name them with decisions=")
    return out


def _grid(raw: RawTable, decisions: Sequence[str], choices: Mapping[str, Sequence[Any]] | None
          ) -> tuple[Grid, np.ndarray]:
    """The grid and each row's choice indices."""
    cols, idx = [], []
    for d in decisions:
        texts = [_text(v) for v in raw.values[d]]
        for t, row in zip(texts, raw.rows):
            if t == "":
                raise _fail(raw.source, f"{row}: decision column {d!r} is empty")
        given = None if choices is None else choices.get(d)
        if given is not None:
            opts = [_canon(_text(v)) for v in given]
            if len(set(opts)) != len(opts):
                raise _fail(raw.source, f"choices of decision {d!r} list a value twice: {opts}")
        elif all(_INT.match(t) for t in texts):
            opts = sorted({_canon(t) for t in texts}, key=int)
        else:
            opts = list(dict.fromkeys(texts))
        pos = {o: i for i, o in enumerate(opts)}
        col = []
        for t, row in zip(texts, raw.rows):
            k = pos.get(_canon(t))
            if k is None:
                raise _fail(raw.source, f"{row}: decision {d!r} value {t!r} is not among its choices ({', '.join(opts)})")
            col.append(k)
        if len(opts) < 2:
            raise _fail(raw.source, f"decision column {d!r} has one value only ({opts[0]!r}); "
                                    f"a decision needs at least two choices: drop the column")
        cols.append(tuple(opts))
        idx.append(col)
    if choices is not None:
        extra = set(choices) - set(decisions)
        if extra:
            raise _fail(raw.source, f"choices given for {', '.join(sorted(extra))}, which is not a decision")
    grid = Grid(names=tuple(decisions), choices=tuple(cols))
    if grid.size > MAX_GRID:
        raise _fail(raw.source, f"the grid of {' x '.join(map(str, grid.counts))} = {grid.size} combinations exceeds "
                                f"{MAX_GRID} (values are held densely by id); use fewer decisions or choices")
    return grid, np.asarray(idx, np.int32).T.reshape(raw.num_rows, len(decisions))


def _dedupe(raw: RawTable, grid: Grid, rows: np.ndarray, columns: dict[str, np.ndarray],
            strict: Sequence[str], sep: str) -> np.ndarray:
    """Indices of the first occurrence of each architecture; ValueError if duplicates disagree on a used column."""
    ids = arch_to_id(grid, rows)
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    for r in np.flatnonzero(first[inverse] != np.arange(len(ids))):
        f = first[inverse[r]]
        for c in strict:
            a, b = columns[c][f], columns[c][r]
            if a != b:
                arch = _format(grid, rows[r], sep)
                raise _fail(raw.source, f"{raw.rows[f]} and {raw.rows[r]}: architecture {arch} appears twice with "
                                        f"different values (column {c!r}: {a:g} vs {b:g})")
    return np.sort(first)


def _default_sep(grid: Grid) -> str:
    for sep in ("-", "|", ",", ";", " "):
        if not any(sep in c for cs in grid.choices for c in cs):
            return sep
    return "\t"


def _format(grid: Grid, arch: Any, sep: str) -> str:
    arch = np.asarray(arch)
    if arch.shape != (grid.num_decisions,):
        raise ValueError(f"a table architecture has shape ({grid.num_decisions},), got {arch.shape}")
    if np.any(arch < 0) or np.any(arch >= np.asarray(grid.counts)):
        raise ValueError(f"choice indices {arch.tolist()} out of range for choice counts {list(grid.counts)}")
    return sep.join(grid.choices[d][int(a)] for d, a in enumerate(arch))


def _cost_column(raw: RawTable, spec: str | None, defaults: Sequence[str], probe: str | None) -> str | None:
    """``spec``, else the first column named like a default (``params``, or ``{dataset}_params`` per dataset)."""
    if spec is not None:
        return spec
    lower = {c.lower(): c for c in raw.names}
    for n in defaults:
        if n in lower:
            return lower[n]
        if probe is not None:
            for template in (f"{{dataset}}_{n}", f"{n}_{{dataset}}"):
                hit = lower.get(_fill(template, probe).lower())
                if hit is not None:
                    return hit.replace(probe, "{dataset}", 1)  # the file's spelling, per dataset
    return None


def build_table(raw: RawTable, *, search_metric: MetricSpec, report_metric: MetricSpec | None = None,
                decisions: Sequence[str] | None = None, choices: Mapping[str, Sequence[Any]] | None = None,
                params_column: str | None = None, macs_column: str | None = None,
                cost_columns: Sequence[str] = (), datasets: Sequence[str] | None = None,
                sep: str | None = None) -> TableData:
    """Validate ``raw`` and turn it into :class:`TableData` (the module docstring gives every rule)."""
    src = raw.source
    if raw.num_rows == 0:
        raise _fail(src, "no rows (the table is empty)")
    report_metric = search_metric if report_metric is None else report_metric
    templated = _uses_dataset(search_metric, report_metric, params_column, macs_column, *cost_columns)
    if templated:
        ds_all = tuple(datasets) if datasets else _infer_datasets(raw, _specs(search_metric)[0])
    else:
        ds_all = (tuple(datasets)[0],) if datasets else (Path(src).stem,)
    probe = ds_all[0] if templated else None
    if decisions is None and raw.key_decisions:
        decisions = raw.key_decisions
    p_col = _cost_column(raw, params_column, PARAMS_NAMES, probe)
    m_col = _cost_column(raw, macs_column, MACS_NAMES, probe)
    per_ds = [d if templated else None for d in ds_all]
    named = {_fill(s, d) for spec in (search_metric, report_metric, *cost_columns) for s in _specs(spec)
             for d in per_ds} | {_fill(c, d) for c in (p_col, m_col) if c for d in per_ds}
    if decisions is None:
        globs = [re.compile(_glob_regex(n) + r"\Z") for n in named if "*" in n or "?" in n]
        decisions = _infer_decisions(raw, named | {c for c in raw.names if any(g.match(c) for g in globs)})
    decisions = [str(d) for d in decisions]
    for d in decisions:
        if d not in raw.values:
            raise _fail(src, f"no decision column {d!r} (columns: {', '.join(raw.names)})")
    if len(set(decisions)) != len(decisions):
        raise _fail(src, f"decisions name a column twice: {', '.join(decisions)}")
    grid, rows = _grid(raw, decisions, choices)
    if sep is None:
        sep = raw.key_sep if raw.key_sep is not None and list(decisions) == list(raw.key_decisions) \
            else _default_sep(grid)
    if sep and any(sep in c for cs in grid.choices for c in cs):
        raise _fail(src, f"the separator {sep!r} occurs inside a choice; pass another sep=")
    if sep == "" and any(len(c) != 1 for cs in grid.choices for c in cs):
        raise _fail(src, "sep='' (one character per decision) needs single-character choices")
    # Columns the options name must be numbers in every row (errors name the row).
    columns = _numeric_columns(raw, decisions, {n for n in named if n in raw.values and n not in decisions})
    data = TableData(source=src, grid=grid, rows=rows, columns=columns, datasets=ds_all,
                     search_metric=tuple(_specs(search_metric)), report_metric=tuple(_specs(report_metric)),
                     params_column=p_col, macs_column=m_col, sep=sep, templated=templated)
    used: list[str] = []
    for dd in per_ds:  # every option must resolve for every dataset
        used += data.metric_columns(search_metric, dd, "search metric")
        used += data.metric_columns(report_metric, dd, "report metric")
        for c in cost_columns:
            used += data.metric_columns(c, dd, "cost")
        for c, what in ((p_col, "params"), (m_col, "MACs")):
            if c is not None:
                used += data.metric_columns(_fill(c, dd), None, what)
    keep = _dedupe(raw, grid, rows, columns, list(dict.fromkeys(used)), sep)
    return dataclasses.replace(data, rows=rows[keep], columns={c: v[keep] for c, v in columns.items()})


def parse_arch(data: TableData, text: str) -> np.ndarray:
    """An architecture string (decision values joined by the table's separator) as choice indices."""
    grid = data.grid
    if not isinstance(text, str):
        raise ValueError(f"a table architecture string must be a str, got {type(text).__name__}")
    parts = split_key(text.strip(), data.sep)
    if len(parts) != grid.num_decisions:
        how = "one character per decision" if data.sep == "" else f"separated by {data.sep!r}"
        raise ValueError(f"architecture {text!r} has {len(parts)} values, expected {grid.num_decisions} ({how}: "
                         f"{', '.join(grid.names)})")
    out = []
    for d, t in enumerate(parts):
        t = _canon(t.strip())
        if t not in grid.choices[d]:
            raise ValueError(f"architecture {text!r}: {grid.names[d]}={t!r} is not a choice "
                             f"(choices: {', '.join(grid.choices[d])})")
        out.append(grid.choices[d].index(t))
    arch = np.asarray(out, np.int32)
    if not data.full and not data.present[int(arch_to_id(grid, arch))]:
        raise ValueError(f"architecture {text!r} is not in table {data.source} (not every combination is)")
    return arch


def format_arch(data: TableData, arch: Any) -> str:
    """Choice indices as the table's architecture string (original values joined by the separator)."""
    return _format(data.grid, arch, data.sep)
