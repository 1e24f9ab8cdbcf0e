"""Any lookup table as a search space: each row an architecture, a few columns its decisions.

    >>> space, data = load_table_space("nats_size.csv", search_metric="{dataset}_valid",
    ...                                report_metric="{dataset}_test")  # doctest: +SKIP
    >>> register_table_space("nats_size", "nats_size.csv", ...)  # doctest: +SKIP

Reading (:mod:`.read`: CSV, JSON list of records, JSON keyed by architecture, Parquet with
``pyarrow``), validation and every rule -- which columns are decisions, the choice order,
per-seed metrics, ``{dataset}`` columns, costs, tables that are not full grids -- are documented
in :mod:`.build`; the operators (ids, one-hots, sampling, mutation) in :mod:`.codec`.  A 6 x 5
table in NAS-Bench-201's op order searches exactly like the built-in ``nb201`` space.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces import register_space
from l2nas_jax.spaces.base import Space
from l2nas_jax.spaces.table.build import (ENUMERATE_LIMIT, MAX_GRID, MISSING_MARGIN, MetricSpec, TableColumns,
                                          TableData, build_table, format_arch, parse_arch)
from l2nas_jax.spaces.table.codec import Grid, id_to_arch, make_codec
from l2nas_jax.spaces.table.read import RawTable, read_table


def table_space(data: TableData, name: str | None = None, reward_scale: float | None = None) -> Space:
    """The :class:`Space` of a validated table (``table_values`` serves its columns; no networks).

    ``reward_scale`` declares the search metric's fixed scale (e.g. 100 for accuracies in %); None:
    methods that need one use the running maximum of what they observed (never the table's maximum).
    """
    if reward_scale is not None and not (np.isfinite(reward_scale) and reward_scale > 0):
        raise ValueError(f"reward_scale must be a finite number > 0 (or None), got {reward_scale!r}")
    grid = data.grid
    codec = make_codec(grid, None if data.full else data.rows)
    costs: dict[str | None, tuple[np.ndarray, np.ndarray]] = {}

    def cost_arrays(dataset: str | None) -> tuple[np.ndarray, np.ndarray]:
        ds = data.check_dataset(dataset)
        if ds not in costs:
            pair = []
            for col in data.cost_keys(ds):
                v = data.columns.get(col) if col is not None else None
                pair.append(np.full(grid.size, np.nan, np.float32) if v is None else data.dense(v, float(v.max())))
            costs[ds] = (pair[0], pair[1])
        return costs[ds]

    def cost(arch: Any, dataset: str | None = None) -> tuple[jax.Array, jax.Array]:
        """``(params, macs)`` from the table's columns (NaN where the table has none)."""
        params, macs = cost_arrays(dataset)
        i = codec.arch_id(arch)
        return jnp.asarray(params)[i], jnp.asarray(macs)[i]

    def table_values(dataset: str | None = None, table: Any = None, *, search_split: MetricSpec | None = None,
                     report_split: MetricSpec | None = None) -> TableColumns:
        if table is not None:
            raise ValueError(f"the table space {name or data.source} was built from {data.source}; it takes no "
                             f"other table (build another space with load_table_space)")
        return data.values(dataset, search_metric=search_split, report_metric=report_split)

    enumerable = grid.size <= ENUMERATE_LIMIT
    return Space(
        name=name or os.path.splitext(os.path.basename(data.source))[0],
        alpha_shape=(grid.num_decisions, grid.max_choices), arch_shape=(grid.num_decisions,),
        num_archs=grid.size, discretize=codec.discretize, encode=codec.encode, random_arch=codec.random_arch,
        mutate=codec.mutate, arch_id=codec.arch_id,
        to_string=lambda a: format_arch(data, a), from_string=lambda s: parse_arch(data, s),
        cost=cost, datasets=data.datasets,
        enumerate_archs=(lambda: id_to_arch(grid, jnp.arange(grid.size, dtype=jnp.int32))) if enumerable else None,
        table_values=table_values,
        reward_scale=None if reward_scale is None else float(reward_scale),
        choice_names=tuple(tuple(f"{n}: {c}" for c in ch) for n, ch in zip(grid.names, grid.choices)),
    )


def load_table_space(
    path: str | os.PathLike,
    *,
    search_metric: MetricSpec,
    report_metric: MetricSpec | None = None,
    decisions: Sequence[str] | None = None,
    choices: Mapping[str, Sequence[Any]] | None = None,
    params_column: str | None = None,
    macs_column: str | None = None,
    cost_columns: Sequence[str] = (),
    datasets: Sequence[str] | None = None,
    key_sep: str | None = None,
    sep: str | None = None,
    name: str | None = None,
    reward_scale: float | None = None,
) -> tuple[Space, TableData]:
    """Read ``path`` and build its search space (see :mod:`l2nas_jax.spaces.table.build` for the rules).

    ``search_metric``/``report_metric`` (default: the search metric) are maximised: a column, a
    glob such as ``acc_seed*`` or a list of columns (per-seed runs), ``{dataset}`` allowed.
    ``decisions`` names the decision columns (inferred when None); for a JSON file keyed by
    architecture it names the parts of each key, split by ``key_sep`` (``""``: one character per
    decision; None: the first of ``, | - _ space / :`` found equally often in every key, else one
    character each).  ``cost_columns`` must be numeric in every row (budgets on them are checked
    strictly).  ``sep`` joins decision values in architecture strings.  ``name`` names the space
    (default: the file's stem).  ``reward_scale``: see :func:`table_space`.  Every problem is one
    ValueError naming the file.
    """
    raw = read_table(path, decisions=decisions, key_sep=key_sep)
    if raw.key_decisions:
        decisions = None  # the keys are the decisions; the names were applied when reading
    data = build_table(raw, search_metric=search_metric, report_metric=report_metric, decisions=decisions,
                       choices=choices, params_column=params_column, macs_column=macs_column,
                       cost_columns=cost_columns, datasets=datasets, sep=sep)
    return table_space(data, name, reward_scale), data


def space() -> Space:
    """The registry's ``table`` entry before a file is given: one clear error saying what to pass."""
    raise ValueError("the 'table' space is built from a table file of your own: pass --table FILE and "
                     "--search-metric COLUMN (Python: l2nas_jax.build_env('table', table=FILE, search_metric=...))")


def register_table_space(name: str, path: str | os.PathLike, **options: Any) -> None:
    """Make ``get_space(name)`` the table space of ``path`` (read on first use; options as :func:`load_table_space`)."""
    register_space(name, lambda: load_table_space(path, name=name, **options)[0])


__all__ = ["ENUMERATE_LIMIT", "space", "MAX_GRID", "MISSING_MARGIN", "Grid", "RawTable", "TableColumns", "TableData",
           "build_table", "load_table_space", "read_table", "register_table_space", "table_space"]
