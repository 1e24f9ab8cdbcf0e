"""A mixin for environments that wrap another one and change only how it is scored.

Constraint, Pareto-scalarization and predictor wrappers keep the inner environment's
architecture handling (discretize, encode, ids, sampling, strings, cost); this mixin
forwards all of it to ``self.inner`` so each wrapper states only what it changes.
"""

from __future__ import annotations

from typing import Any

import chex
import jax


#: Optional attributes of generic tables (named columns, partial grids) that a wrapper forwards
#: only when its inner environment has them, so ``hasattr`` checks stay truthful.
OPTIONAL_FORWARDS = frozenset({"column_names", "resolve_column", "column", "is_present", "present",
                               "value_floor", "cost_keys", "latency_source", "latency", "cost_label",
                               "column_unit", "dropped_choices", "reduce_source", "space"})


class InnerDelegate:
    """Forward the evaluator-independent protocol to ``self.inner`` (a field of the subclass)."""

    inner: Any

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: forward a table's optional extras (budgets on named
        # columns, partial grids), so constraints and Pareto wrappers can be stacked over any table.
        if name in OPTIONAL_FORWARDS and "inner" in self.__dict__:
            return getattr(self.__dict__["inner"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def dataset(self) -> str:
        return self.inner.dataset

    @property
    def search_split(self) -> str:
        return self.inner.search_split

    @property
    def report_split(self) -> str:
        return self.inner.report_split

    @property
    def max_reward(self) -> jax.Array:
        return self.inner.max_reward

    @property
    def optimum(self) -> jax.Array:
        return self.inner.optimum

    def discretize(self, alpha: chex.Array) -> chex.Array:
        return self.inner.discretize(alpha)

    def encode(self, arch: chex.Array) -> chex.Array:
        return self.inner.encode(arch)

    def arch_id(self, arch: chex.Array) -> chex.Array:
        return self.inner.arch_id(arch)

    def random_arch(self, key: chex.PRNGKey) -> chex.Array:
        return self.inner.random_arch(key)

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        return self.inner.mutate(key, arch)

    def arch_to_string(self, arch) -> str:
        return self.inner.arch_to_string(arch)

    def string_to_arch(self, s: str):
        return self.inner.string_to_arch(s)

    def cost(self, arch: chex.Array) -> tuple[jax.Array, jax.Array]:
        return self.inner.cost(arch)

    def enumerate_archs(self) -> jax.Array:
        return self.inner.enumerate_archs()

    def with_noise_key(self, key: chex.PRNGKey | None) -> Any:
        """This wrapper over the inner environment with its evaluations fixed per run (see ``envs.base``)."""
        from l2nas_jax.envs.base import with_noise_key

        return self.replace(inner=with_noise_key(self.inner, key))


class EvaluatorInfo(InnerDelegate):
    """What results files read about the evaluator (noise, predictor), forwarded from ``inner`` with defaults."""

    @property
    def noise_sigma(self) -> Any:
        return getattr(self.inner, "noise_sigma", 0.0)

    @property
    def noise_model(self) -> str:
        return getattr(self.inner, "noise_model", "gaussian")

    @property
    def predictor_source(self) -> str | None:
        return getattr(self.inner, "predictor_source", None)


class ExtraColumn(EvaluatorInfo):
    """A wrapper that adds one named column (``COLUMN``, in ``UNIT``) to its inner environment's columns.

    Subclasses define ``COLUMN``, ``UNIT`` and :meth:`extra_value`; budgets on the column are ordinary
    column budgets of :func:`l2nas_jax.envs.constrained.constrain`.
    """

    COLUMN: str = ""
    UNIT: str = ""
    ALIASES: tuple[str, ...] = ()

    def extra_value(self, arch: chex.Array) -> jax.Array:
        raise NotImplementedError

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(getattr(self.inner, "column_names", ())) + (self.COLUMN,)

    def resolve_column(self, name: str) -> str:
        if name == self.COLUMN or name in self.ALIASES:
            return self.COLUMN
        if hasattr(self.inner, "resolve_column"):
            return self.inner.resolve_column(name)
        raise ValueError(f"the {self.name} space has no column {name!r}; valid: {', '.join(self.column_names)}")

    def column(self, name: str, arch: chex.Array) -> jax.Array:
        return self.extra_value(arch) if name == self.COLUMN else self.inner.column(name, arch)

    def column_unit(self, name: str) -> str:
        if name == self.COLUMN:
            return self.UNIT
        unit = getattr(self.inner, "column_unit", None)
        return unit(name) if unit is not None else ""

    # the inner evaluator, unchanged
    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        return self.inner.evaluate(key, arch)

    def report(self, arch: chex.Array) -> chex.Array:
        return self.inner.report(arch)
