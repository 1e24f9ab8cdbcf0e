"""NAS-Bench-201: 6 edges x 5 ops, 15,625 cells, with a benchmark table (embedded, CSV/npz, official file).

Modules: :mod:`.codec` (op order, arch strings, ids), :mod:`.cost` (analytic params/FLOPs),
:mod:`.table` (table loaders), :mod:`.nets` (Flax supernet and cell networks), :mod:`.evaluation`
(the benchmark's 200-epoch protocol for training a found cell from scratch).
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces.base import Space, TableValues, size_kwargs
from l2nas_jax.spaces.nb201 import codec, cost, evaluation, table as table_lib


def table_values(dataset: str, table: table_lib.NB201Table | str | os.PathLike | None = None, *,
                 search_split: str | None = None, report_split: str = "test") -> TableValues:
    """A dataset's search/report accuracies by code (default table: embedded, test accuracy only).

    ``search_split`` defaults to ``"valid"`` when the table has validation accuracy
    (official file) and to ``"test"`` otherwise, so search and report stay apart
    whenever the data allows it.
    """
    dataset = table_lib.check_dataset(dataset)
    if not isinstance(table, table_lib.NB201Table):
        table = table_lib.load_table(table)
    if search_split is None:
        search_split = "valid" if "valid" in table.splits(dataset) else "test"
    return TableValues(search=table.by_code(dataset, search_split), report=table.by_code(dataset, report_split),
                       dataset=dataset, search_split=search_split, report_split=report_split)


def space() -> Space:
    return Space(
        name="nb201", alpha_shape=(codec.NUM_EDGES, codec.NUM_OPS), arch_shape=(codec.NUM_EDGES,),
        num_archs=codec.NUM_ARCHS, discretize=lambda a: jnp.argmax(a, axis=-1).astype(jnp.int32),
        encode=codec.one_hot, random_arch=codec.random_arch, mutate=codec.mutate,
        arch_id=lambda a: codec.ops_to_code(jnp.asarray(a)),
        to_string=lambda a: codec.format_arch(np.asarray(a)), from_string=codec.parse_arch,
        cost=cost.nb201_cost, datasets=table_lib.DATASETS,
        enumerate_archs=lambda: codec.code_to_ops(jnp.arange(codec.NUM_ARCHS, dtype=jnp.int32)),
        table_values=table_values, nets_module="l2nas_jax.spaces.nb201.nets",
        num_classes=10, image_size=32, net_kwargs=size_kwargs("nb201", "C", "N"),
        evaluation=evaluation.evaluation(),
        reward_scale=100.0,  # accuracies in %
        choice_names=tuple(tuple(f"edge {e}->{t}: {op}" for op in codec.OPS) for t, e in codec.EDGES),
    )
