"""A benchmark table as a pure environment: evaluating an architecture is one gather.

:class:`TableEnv` is generic over spaces: the :class:`~l2nas_jax.spaces.base.Space` supplies
the codec and cost counter, the table supplies two columns indexed by ``arch_id`` (the
metric the search optimizes and the one reported). Nothing here knows a particular space.

A generic table (:mod:`l2nas_jax.spaces.table`) may add, through its ``TableColumns``:

* **per-seed runs** (``search_runs``): each query observes one run, drawn uniformly from the
  query's PRNG key, while ``report`` stays the mean of the report columns;
* **presence** (``present``): the combinations that are in the file; the others score below
  every real value (the space's operators never propose them) and ``is_present`` is False;
* **named columns** (``columns``): every numeric column by id, read by ``column(name, arch)``
  for budgets on any column (:mod:`l2nas_jax.envs.constrained`), and ``cost`` reads its
  params/MACs columns from them.

Without them (NB201 and every built-in space) each method is unchanged, bit for bit.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.envs.space_env import SpaceCodec
from l2nas_jax.spaces import Space, get_space


@struct.dataclass
class TableEnv(SpaceCodec):
    """Table environment; ``search_acc``/``report_acc`` are indexed by ``space.arch_id``.

    Build it with :func:`make_table_env`.  ``noise_sigma`` adds Gaussian noise (in
    accuracy points) to the search metric only, as when each network is trained once;
    ``noise_scale`` (the ``"hetero"`` noise model) multiplies it per architecture.  With a
    ``noise_key`` every architecture's draw is fixed for the run (a cache of evaluations:
    :mod:`l2nas_jax.wrappers.repeats`); without one each query draws afresh.
    """

    search_acc: jax.Array  # float32[num_archs] (the mean over runs when search_runs is given)
    report_acc: jax.Array  # float32[num_archs]
    noise_sigma: jax.Array  # float32 scalar
    space: Space = struct.field(pytree_node=False, default=None)
    dataset: str = struct.field(pytree_node=False, default="cifar10")
    search_split: str = struct.field(pytree_node=False, default="test")
    report_split: str = struct.field(pytree_node=False, default="test")
    search_runs: jax.Array | None = None  # float32[num_archs, runs]: one run observed per query
    present: jax.Array | None = None  # bool[num_archs]: in the table (None: every architecture is)
    columns: dict[str, jax.Array] | None = None  # numeric column name -> float32[num_archs]
    #: the columns that are params / MACs (None: the table has none); ("", ""): the space's own cost counter
    cost_keys: tuple[str | None, str | None] = struct.field(pytree_node=False, default=("", ""))
    value_floor: float = struct.field(pytree_node=False, default=0.0)  # min(0, every real value)
    noise_scale: jax.Array | None = None  # float32[num_archs]: per-architecture noise multiplier (None: 1)
    noise_model: str = struct.field(pytree_node=False, default="gaussian")
    noise_key: jax.Array | None = None  # a run's key: evaluations become a fixed function of the architecture

    @property
    def max_reward(self) -> jax.Array:
        """The reward scale, fixed by the metric and never read from the table (NaN: none is declared).

        NB201 accuracies are in %, so 100; a generic table declares none and the methods that need a
        scale use the running maximum of their own observations (:func:`l2nas_jax.searcher.reward_scale`).
        """
        scale = self.space.reward_scale
        return jnp.float32(jnp.nan if scale is None else scale)

    @property
    def optimum(self) -> jax.Array:
        """Best value of the *reported* metric in the table."""
        return jnp.max(self.report_acc)

    def discretize(self, alpha: chex.Array) -> chex.Array:
        chex.assert_shape(alpha, self.alpha_shape)
        return self.space.discretize(alpha)

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """Search metric of ``arch`` (accuracy %), plus N(0, sigma^2) noise (per-seed tables: one run drawn by ``key``)."""
        i = self.arch_id(arch)
        if self.noise_key is not None:  # the same draw every time this architecture is evaluated in this run
            key = jax.random.fold_in(self.noise_key, i)
        sigma = self.noise_sigma if self.noise_scale is None else self.noise_sigma * self.noise_scale[i]
        if self.search_runs is None:
            clean = self.search_acc[i]
            return clean + sigma * jax.random.normal(key, clean.shape)
        k_run, k_noise = jax.random.split(key)
        runs = self.search_runs[i]
        clean = runs[jax.random.randint(k_run, (), 0, runs.shape[-1])]
        return clean + sigma * jax.random.normal(k_noise, clean.shape)

    def with_noise_key(self, key: chex.PRNGKey | None) -> "TableEnv":
        """This table with every architecture's evaluation fixed for the run by ``key`` (None: fresh draws)."""
        return self.replace(noise_key=key)

    def report(self, arch: chex.Array) -> chex.Array:
        return self.report_acc[self.arch_id(arch)]

    def is_present(self, arch: chex.Array) -> jax.Array:
        """Whether ``arch`` is in the table (always True for a full table)."""
        if self.present is None:
            return jnp.ones((), bool)
        return self.present[self.arch_id(arch)]

    @property
    def column_names(self) -> tuple[str, ...]:
        """Numeric columns available to :meth:`column` (empty for built-in spaces)."""
        return tuple(self.columns or ())

    def resolve_column(self, name: str) -> str:
        """The table column ``name`` means for this dataset: itself, else ``<dataset>_name`` or ``name_<dataset>``."""
        cols = self.column_names
        if not cols:
            raise ValueError(f"the {self.name} space has no named cost columns; budget its params/MACs instead, or "
                             "search a table file that has them (measured NB201 latency/energy: convert "
                             "HW-NAS-Bench with spaces/hw_nas_bench/convert.py, then --space table --table FILE "
                             "--max edgegpu_latency=5)")
        ds = self.dataset
        for cand in (name, f"{ds}_{name}", f"{name}_{ds}", f"{ds.replace('-', '_')}_{name}"):
            if cand in cols:
                return cand
        raise ValueError(f"the {self.name} table has no numeric column {name!r} (for dataset {ds}); "
                         f"columns: {', '.join(cols)}")

    def column(self, name: str, arch: chex.Array) -> jax.Array:
        """The value of column ``name`` (see :meth:`resolve_column`) for ``arch``."""
        return self.columns[self.resolve_column(name)][self.arch_id(arch)]

    def cost(self, arch: chex.Array) -> tuple[jax.Array, jax.Array]:
        """``(params_M, macs_M)`` of the derived network on this dataset (a table's columns; NaN where it has none)."""
        if self.columns is None:
            return self.space.cost(arch, self.dataset)
        i = self.arch_id(arch)
        return tuple(self.columns[k][i] if k is not None else jnp.float32(jnp.nan) for k in self.cost_keys)


def make_table_env(
    space: str | Space = "nb201",
    dataset: str = "cifar10",
    table: Any = None,
    *,
    search_split: str | None = None,
    report_split: str | None = None,
    noise_sigma: float = 0.0,
    noise_model: str = "gaussian",
) -> TableEnv:
    """Build the table environment of a space that has a benchmark table (NB201: embedded by default).

    ``search_split``/``report_split`` None: the space's defaults (NB201: validation when the
    table has it, and test); a generic table reads them as metric columns.  ``noise_model``
    is one of :data:`NOISE_MODELS` (see :func:`hetero_noise_scale`).
    """
    space = get_space(space) if isinstance(space, str) else space
    if space.table_values is None:
        raise ValueError(f"the {space.name} space has no benchmark table: search a trained supernet "
                         f"(--supernet DIR, from train/supernet.py) or a fitted accuracy predictor (--predictor FILE)")
    splits = {"search_split": search_split} if report_split is None else \
        {"search_split": search_split, "report_split": report_split}
    values = space.table_values(dataset, table, **splits)
    if not np.isfinite(noise_sigma) or noise_sigma < 0:
        raise ValueError(f"noise_sigma must be a finite number >= 0, got {noise_sigma}")
    extra: dict[str, Any] = {}
    runs, present, columns = (getattr(values, k, None) for k in ("search_runs", "present", "columns"))
    if runs is not None:
        extra["search_runs"] = jnp.asarray(runs)
    if present is not None:
        extra["present"] = jnp.asarray(present)
    if columns:
        extra["columns"] = {k: jnp.asarray(v) for k, v in columns.items()}
        extra["cost_keys"] = tuple(getattr(values, "cost_keys", (None, None)))
    if hasattr(values, "floor"):
        extra["value_floor"] = float(values.floor)
    if noise_model not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise_model!r}; valid: {', '.join(NOISE_MODELS)}")
    if noise_model == "hetero":
        extra["noise_scale"] = jnp.asarray(hetero_noise_scale(
            np.asarray(values.search if runs is None else np.mean(runs, axis=-1)), present))
    return TableEnv(
        search_acc=jnp.asarray(values.search),
        report_acc=jnp.asarray(values.report),
        noise_sigma=jnp.float32(noise_sigma),
        space=space,
        noise_model=noise_model,
        dataset=values.dataset,
        search_split=values.search_split,
        report_split=values.report_split,
        **extra,
    )


#: Noise models of :func:`make_table_env`: the same sigma everywhere, or growing with the error rate.
NOISE_MODELS: tuple[str, ...] = ("gaussian", "hetero")


def hetero_noise_scale(acc: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Per-architecture noise multiplier ``(100 - acc) / (100 - best acc)``: 1 at the table's best network.

    Real benchmarks are noisier for worse networks (NB201's seeds spread ~0.1-0.3 points at the top
    and several points for poor cells); the error rate is a simple monotone model of that.  The
    environment (not the method) reads the table here, as the world would.  Needs accuracies in %.
    """
    acc = np.asarray(acc, np.float64)
    real = acc if present is None else acc[np.asarray(present, bool)]
    if real.size == 0 or real.max() > 100.0 or real.max() >= 100.0 - 1e-6:
        raise ValueError("the hetero noise model needs a search metric in % below 100 (accuracy); "
                         f"this table's values reach {real.max():g}")
    return np.clip((100.0 - acc) / (100.0 - real.max()), 1.0, None).astype(np.float32)


def make_nb201_env(dataset: str = "cifar10", table: Any = None, **kwargs: Any) -> TableEnv:
    """The NAS-Bench-201 table environment (default: embedded table, test accuracy only)."""
    return make_table_env("nb201", dataset, table, **kwargs)

