"""Cost-constrained search: a wrapper environment that penalizes architectures over budget.

Any environment that provides ``cost(arch) -> (params_M, macs_M)`` (jittable, in
millions) can be constrained with :func:`constrain`.  The searchers are unchanged:
they see one more :class:`~l2nas_jax.envs.base.Environment`.

**Penalty, not projection.** An infeasible architecture is evaluated (and reported)
as ``-margin * (1 + v)``, where ``v > 0`` is its relative violation
``max(params / max_params, macs / max_macs) - 1``: strictly below every feasible
value, and lower the further over budget it is, so a learner is pulled toward
feasibility.  Feasible architectures keep the inner environment's value, clipped
below at 0 (accuracies are >= 0; the clip only matters for a noisy value of a
near-0 % cell), so **every infeasible value is strictly below every feasible
one**.  The incumbent is the best *observed* value
(:mod:`l2nas_jax.trajectory`), hence it is always feasible once any feasible
architecture has been queried; a run that never queried one is reported as such
(:class:`~l2nas_jax.results.SearchResult`: ``best_archs[s] is None``), never with
an infeasible architecture.

**Feasible proposals.** The cost model is analytic and free, so by default
(``feasible_proposals=True``) the wrapper also restricts the proposal operators
every searcher uses: ``random_arch`` draws :data:`RANDOM_TRIES` candidates and
returns the first within budget, ``mutate`` draws :data:`MUTATE_TRIES` mutations
and returns the first within budget (falling back to the first draw when none is,
which is then penalized).  Random search thus samples (almost always) uniformly
from the feasible set, and REA and L2NAS mutate within it; L2NAS's actor proposals
are not filtered and are penalized when over budget.

When the space can be enumerated (the environment has ``enumerate_archs()``, as
NB201 does), ``optimum`` is the exact constrained optimum of the reported metric
(all 15,625 NB201 cells in one ``vmap``), so regret and "reached optimum" work as
for unconstrained runs; otherwise it is the unconstrained optimum (an upper bound)
and ``optimum_exact`` is False.  An environment may also give ``min_cost() ->
(params_M, macs_M)`` so impossible budgets are refused without enumeration.

**Budgets on any column** (``limits``: ``{"edgegpu_latency": 5, "edgegpu_energy": 20}`` or
``["edgegpu_latency=5", ...]``, several at once) need an environment with named columns (a
generic table, :mod:`l2nas_jax.spaces.table`: ``column(name, arch)``, ``resolve_column``).  A
limit is in the column's own unit (k/M/G suffixes multiply); the violation is the largest
``value / limit`` over every budget, minus 1, with the same penalty, feasible proposals and
exact enumerated optimum.  For such tables the penalty sits below ``value_floor`` (the table's
``min(0, every real value)``) instead of 0, and an architecture absent from the table is
infeasible too.  With params/MACs budgets only, on a built-in space, every value is computed
exactly as before.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import Any, Mapping, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np
from l2nas_jax.envs.wrapper import EvaluatorInfo
from flax import struct

#: Penalty scale (in units of the search metric, accuracy points): an infeasible arch scores ``-MARGIN * (1 + v)``.
MARGIN = 10.0
#: Candidates drawn by the feasible ``random_arch`` / ``mutate`` (first feasible one wins).
RANDOM_TRIES = 64
MUTATE_TRIES = 16
#: Relative slack on budgets, so a budget equal to a cost (float32 round-off) counts as feasible.
REL_TOL = 1e-6
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9}
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGbB]?)\s*$")


def parse_budget(value: str | float | int | None, what: str = "budget") -> float | None:
    """A cost budget in millions: ``"600M"`` -> 600.0, ``"1.2M"``, ``"300k"`` -> 0.3, ``"0.5e6"`` -> 0.5.

    Suffixes k/M/G (case-insensitive; B = G) scale a number; a bare number
    (string or int/float) is an absolute count, so ``5e5`` and ``"0.5M"`` agree.
    ``None`` means no budget.  Raises ValueError naming ``what`` for anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a budget such as '600M' or '300k', got {value!r}")
    total = scaled_number(value, what, "such as '600M', '1.2M', '300k' or '0.5e6'")
    if not math.isfinite(total) or total <= 0:
        raise ValueError(f"{what}: budget must be a positive finite number, got {value!r}")
    return total / 1e6


def scaled_number(value: Any, what: str, example: str, pattern: re.Pattern = _BUDGET,
                  units: Mapping[str, float] = _SUFFIX) -> float:
    """A number, or a string number with an optional unit suffix (``pattern`` group 2; k/M/G by default), times
    the unit's factor (``units``, keyed by the lower-cased suffix).

    A finite number above 1e30 is refused: costs are float32, so ``1e99`` would overflow (with
    RuntimeWarnings) -- and no architecture comes near it; leaving the budget out means no budget.
    """
    largest = 1e30
    if isinstance(value, (int, float, np.integer, np.floating)):
        total = float(value)
    else:
        m = pattern.match(str(value))
        if m is None:
            raise ValueError(f"{what}: cannot parse {value!r}; expected a positive number with an optional "
                             f"unit, {example}")
        total = float(m.group(1)) * units[(m.group(2) or "").lower()]
    if math.isfinite(total) and total > largest:
        raise ValueError(f"{what}: {value!r} is too large (at most {largest:.0e}): leave it out for no budget")
    return total


def parse_limits(limits: Mapping[str, Any] | Sequence[Any] | None) -> tuple[tuple[str, float], ...]:
    """Column budgets as ``((column, limit), ...)`` from ``{"lat": 5}``, ``["lat=5", "energy=1.2k"]`` or pairs.

    A limit is a positive number in the column's own unit; a k/M/G suffix multiplies it
    (``"1.2k"`` -> 1200).  One ValueError naming the entry for anything else.
    """
    if limits is None:
        return ()
    items: list[tuple[Any, Any]] = []
    entries = list(limits.items()) if isinstance(limits, Mapping) else list(limits)
    for e in entries:
        if isinstance(e, str):
            name, eq, value = e.partition("=")
            if not eq:
                raise ValueError(f"budget {e!r}: expected COLUMN=VALUE, such as edgegpu_latency=5")
            items.append((name.strip(), value.strip()))
        elif isinstance(e, (tuple, list)) and len(e) == 2:
            items.append((e[0], e[1]))
        else:
            raise ValueError(f"budget {e!r}: expected COLUMN=VALUE or a (column, value) pair")
    out: list[tuple[str, float]] = []
    for name, value in items:
        if not isinstance(name, str) or not name:
            raise ValueError(f"budget {name}={value}: the column name must be a non-empty string")
        if any(n == name for n, _ in out):
            raise ValueError(f"budget on column {name!r} given twice")
        out.append((name, _parse_limit(value, f"budget {name}")))
    return tuple(out)


def _parse_limit(value: Any, what: str) -> float:
    """A positive finite number; a k/M/G suffix multiplies a string value."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a positive number, got {value!r}")
    total = scaled_number(value, what, "in the column's unit")
    if not math.isfinite(total) or total <= 0:
        raise ValueError(f"{what}: must be a positive finite number, got {value!r}")
    return total


def format_budget(millions: float) -> str:
    """``0.6`` -> ``'0.6M'`` (the inverse of :func:`parse_budget` for printing)."""
    return f"{millions:g}M"


@dataclasses.dataclass(frozen=True)
class Enumeration:
    """Every architecture of an enumerable space with its cost, reported metric and feasibility (NumPy)."""

    archs: np.ndarray  # int32[N, *arch_shape], row i has arch_id i
    params: np.ndarray  # float32[N] (millions)
    macs: np.ndarray  # float32[N] (millions)
    report: np.ndarray  # float32[N] reported metric of the inner environment
    feasible: np.ndarray  # bool[N]
    columns: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)  # budgeted columns, float32[N]
    present: np.ndarray | None = None  # bool[N]: in the table (None: every architecture is)

    @property
    def num_feasible(self) -> int:
        return int(self.feasible.sum())

    @property
    def best_index(self) -> int:
        """Index of the feasible architecture with the best reported metric (lowest index on ties)."""
        if not self.feasible.any():
            raise ValueError("no architecture satisfies the budget")
        return int(np.argmax(np.where(self.feasible, self.report, -np.inf)))

    @property
    def optimum(self) -> float:
        return float(self.report[self.best_index])


def feasible_mask(params: chex.Array, macs: chex.Array, max_params: float | None, max_macs: float | None):
    """``params <= max_params`` and ``macs <= max_macs`` (None = no limit), with :data:`REL_TOL` slack."""
    xp = jnp if isinstance(params, jax.Array) else np
    ok = xp.ones(xp.shape(params), bool)
    if max_params is not None:
        ok = ok & (params <= max_params * (1 + REL_TOL))
    if max_macs is not None:
        ok = ok & (macs <= max_macs * (1 + REL_TOL))
    return ok


@jax.jit
def _enumerate(env: Any) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    archs = env.enumerate_archs()
    params, macs = jax.vmap(env.cost)(archs)
    return archs, params, macs, jax.vmap(env.report)(archs)


@functools.partial(jax.jit, static_argnums=1)
def _enumerate_columns(env: Any, names: tuple[str, ...]) -> dict[str, jax.Array]:
    archs = env.enumerate_archs()
    return {n: jax.vmap(functools.partial(env.column, n))(archs) for n in names}


@jax.jit
def _enumerate_present(env: Any) -> jax.Array:
    return jax.vmap(env.is_present)(env.enumerate_archs())


def _has_missing(env: Any) -> bool:
    """The environment is a table with combinations absent from its file."""
    return getattr(env, "present", None) is not None


def enumerate_space(env: Any, max_params: float | None = None, max_macs: float | None = None,
                    limits: Sequence[tuple[str, float]] = ()) -> Enumeration:
    """All architectures of ``env`` (needs ``enumerate_archs`` and ``cost``), one jitted ``vmap``.

    ``limits`` (``((column, limit), ...)``, see :func:`parse_limits`) also budget named columns;
    architectures absent from a table are never feasible.
    """
    if not hasattr(env, "enumerate_archs"):
        raise ValueError(f"space {env.name!r} cannot be enumerated (no enumerate_archs)")
    archs, params, macs, report = jax.tree.map(np.asarray, _enumerate(env))
    feasible = feasible_mask(params, macs, max_params, max_macs)
    columns: dict[str, np.ndarray] = {}
    if limits:
        columns = jax.tree.map(np.asarray, _enumerate_columns(env, tuple(n for n, _ in limits)))
        for n, b in limits:
            feasible = feasible & (columns[n] <= b * (1 + REL_TOL))
    present = np.asarray(_enumerate_present(env)) if _has_missing(env) else None
    if present is not None:
        feasible = feasible & present
    return Enumeration(archs=archs, params=params, macs=macs, report=report, feasible=feasible,
                       columns=columns, present=present)


@struct.dataclass
class ConstrainedEnv(EvaluatorInfo):
    """``inner`` with a params and/or MACs budget (see the module docstring for the penalty).

    Build it with :func:`constrain`.  Budgets are in millions (``inf`` = no limit).
    """

    inner: Any
    constrained_optimum: jax.Array  # float32: best feasible reported metric (exact when optimum_exact)
    max_params: float = struct.field(pytree_node=False, default=math.inf)
    max_macs: float = struct.field(pytree_node=False, default=math.inf)
    margin: float = struct.field(pytree_node=False, default=MARGIN)
    optimum_exact: bool = struct.field(pytree_node=False, default=False)
    feasible_proposals: bool = struct.field(pytree_node=False, default=True)
    num_feasible: int = struct.field(pytree_node=False, default=-1)  # -1: unknown (not enumerable)
    optimum_arch: str = struct.field(pytree_node=False, default="")
    name: str = struct.field(pytree_node=False, default="")
    alpha_shape: tuple[int, int] = struct.field(pytree_node=False, default=(0, 0))
    arch_shape: tuple[int, ...] = struct.field(pytree_node=False, default=())
    num_archs: int = struct.field(pytree_node=False, default=0)
    #: budgets on named columns ``((column, limit), ...)`` in the columns' units
    limits: tuple[tuple[str, float], ...] = struct.field(pytree_node=False, default=())
    #: penalties sit below this value (0 for accuracies; a table's ``min(0, every real value)``)
    floor: float = struct.field(pytree_node=False, default=0.0)
    #: column budgets, a table lacking params or MACs, or absent archs: budgets per finite term, absent archs infeasible
    generic: bool = struct.field(pytree_node=False, default=False)

    # -- what results files read from an environment --------------------------------------------
    @property
    def dataset(self) -> str:
        return getattr(self.inner, "dataset", "")

    @property
    def search_split(self) -> str:
        return getattr(self.inner, "search_split", "search")

    @property
    def report_split(self) -> str:
        return getattr(self.inner, "report_split", "report")

    @property
    def optimum(self) -> jax.Array:
        """Best *feasible* reported metric (exact when ``optimum_exact``, else the unconstrained optimum)."""
        return self.constrained_optimum

    def budgets(self) -> tuple[float | None, float | None]:
        """``(max_params, max_macs)`` in millions, ``None`` where unconstrained."""
        return (None if math.isinf(self.max_params) else self.max_params,
                None if math.isinf(self.max_macs) else self.max_macs)

    def describe(self) -> str:
        """``'params <= 0.6M, MACs <= 600M'`` (and ``'edgegpu_latency <= 5'`` per column budget)."""
        p, m = self.budgets()
        parts = ([f"params <= {format_budget(p)}"] if p is not None else []) + \
                ([f"MACs <= {format_budget(m)}"] if m is not None else []) + \
                [f"{n} <= {b:g}{self._unit(n)}" for n, b in self.limits]
        return ", ".join(parts)

    def _unit(self, name: str) -> str:
        """`` ms`` for a column whose environment names a unit (the modelled latency), else ``''``."""
        unit = getattr(self.inner, "column_unit", None)
        return f" {unit(name)}" if unit is not None and unit(name) else ""

    # -- the inner table's columns (so constraints can be stacked) -----------------------------------
    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(getattr(self.inner, "column_names", ()))

    @property
    def value_floor(self) -> float:
        return float(getattr(self.inner, "value_floor", 0.0))

    @property
    def present(self) -> Any:
        return getattr(self.inner, "present", None)

    def resolve_column(self, name: str) -> str:
        return self.inner.resolve_column(name)

    def column(self, name: str, arch: chex.Array) -> jax.Array:
        return self.inner.column(name, arch)

    def is_present(self, arch: chex.Array) -> jax.Array:
        return self.inner.is_present(arch) if hasattr(self.inner, "is_present") else jnp.ones((), bool)

    # -- the constraint ----------------------------------------------------------------------------
    def _terms(self, arch: chex.Array) -> list[tuple[jax.Array, float]]:
        """``(value, budget)`` of every finite budget (generic form)."""
        terms = []
        if math.isfinite(self.max_params) or math.isfinite(self.max_macs):
            params, macs = self.inner.cost(arch)
            terms += [(v, b) for v, b in ((params, self.max_params), (macs, self.max_macs)) if math.isfinite(b)]
        return terms + [(self.inner.column(n, arch), b) for n, b in self.limits]

    def violation(self, arch: chex.Array) -> jax.Array:
        """Relative budget violation ``max(params/max_params, macs/max_macs, column/limit...) - 1``, 0 within budget."""
        if not self.generic:  # params/MACs of a built-in space: the original expression, bit for bit
            params, macs = self.inner.cost(arch)
            return jnp.maximum(jnp.maximum(params / self.max_params, macs / self.max_macs) - 1.0, 0.0)
        ratio = functools.reduce(jnp.maximum, [v / b for v, b in self._terms(arch)])
        return jnp.maximum(ratio - 1.0, 0.0)

    def is_feasible(self, arch: chex.Array) -> jax.Array:
        if not self.generic:
            params, macs = self.inner.cost(arch)
            p, m = self.budgets()
            return feasible_mask(params, macs, p, m)
        ok = functools.reduce(jnp.logical_and, [v <= b * (1 + REL_TOL) for v, b in self._terms(arch)])
        return ok & self.is_present(arch) if self.present is not None else ok

    def penalty(self, arch: chex.Array) -> jax.Array:
        """The value of an infeasible ``arch``: ``floor - margin * (1 + violation)`` (always < floor <= 0)."""
        if self.floor == 0.0:
            return jnp.float32(-self.margin) * (1.0 + self.violation(arch))
        return jnp.float32(self.floor) - jnp.float32(self.margin) * (1.0 + self.violation(arch))

    # -- the Environment protocol --------------------------------------------------------------------
    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """Inner search metric (clipped at the floor, 0 for accuracies) when feasible, else the penalty."""
        value = jnp.maximum(self.inner.evaluate(key, arch), self.floor if self.floor != 0.0 else 0.0)
        return jnp.where(self.is_feasible(arch), value, self.penalty(arch)).astype(jnp.float32)

    def report(self, arch: chex.Array) -> chex.Array:
        """Inner reported metric when feasible, else the (negative) penalty: never NaN or inf."""
        return jnp.where(self.is_feasible(arch), self.inner.report(arch), self.penalty(arch)).astype(jnp.float32)

    def _first_feasible(self, cands: chex.Array) -> chex.Array:
        """The first feasible row of ``cands`` (the first row when none is)."""
        ok = jax.vmap(self.is_feasible)(cands)
        return cands[jnp.argmax(ok)]

    def random_arch(self, key: chex.PRNGKey) -> chex.Array:
        """Uniform over the space, restricted to the budget when ``feasible_proposals`` (rejection sampling)."""
        if not self.feasible_proposals:
            return self.inner.random_arch(key)
        return self._first_feasible(jax.vmap(self.inner.random_arch)(jax.random.split(key, RANDOM_TRIES)))

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """The inner mutation, redrawn until within budget when ``feasible_proposals`` (bounded tries)."""
        if not self.feasible_proposals:
            return self.inner.mutate(key, arch)
        keys = jax.random.split(key, MUTATE_TRIES)
        return self._first_feasible(jax.vmap(self.inner.mutate, in_axes=(0, None))(keys, arch))


def _check_minimum(env: Any, min_params: float, min_macs: float, max_params: float | None,
                   max_macs: float | None) -> None:
    """Refuse a budget below the cheapest architecture of the space, naming that minimum."""
    for what, budget, least, flag in (("params", max_params, min_params, "max_params"),
                                      ("MACs", max_macs, min_macs, "max_macs")):
        if budget is not None and budget < least * (1 - REL_TOL):
            hint = " (a bare number is an absolute count; did you mean a suffix such as M?)" if budget < 1e-2 else ""
            raise ValueError(f"{flag}={format_budget(budget)} is below the smallest {what} of any {env.name} "
                             f"architecture ({least:.6g}M){hint}")


def enumerable(env: Any) -> bool:
    """``env`` lists its architectures (one built on a space without ``enumerate_archs`` does not, wrapped or not)."""
    space = getattr(env, "space", None)
    return hasattr(env, "enumerate_archs") and getattr(space, "enumerate_archs", True) is not None


def _check_columns(env: Any, p: float | None, m: float | None, limits: Sequence[tuple[str, float]]
                   ) -> tuple[tuple[str, float], ...]:
    """Refuse budgets on costs the table lacks; the limits with each name resolved to its column."""
    keys = getattr(env, "cost_keys", ("", ""))  # None: a table without that column; "" (or absent): not a table
    for budget, key, what, flag in ((p, keys[0], "params", "max_params"), (m, keys[1], "MACs", "max_macs")):
        if budget is not None and key is None:
            raise ValueError(f"{flag}: the {env.name} table has no {what} column; name one when loading it "
                             f"({what.lower()}_column=) or budget a column by name")
    if not limits:
        return ()
    if not hasattr(env, "resolve_column"):
        raise ValueError(f"budgets on named columns need a table space; the {env.name} space has none "
                         f"(use max_params / max_macs)")
    return tuple((env.resolve_column(n), b) for n, b in limits)


def _check_column_minimum(env: Any, en: Enumeration, limits: Sequence[tuple[str, float]]) -> None:
    """Refuse a column budget below the column's smallest value over the table, naming it."""
    ok = en.present if en.present is not None else np.ones(len(en.report), bool)
    for n, b in limits:
        least = float(en.columns[n][ok].min())
        if b < least * (1 - REL_TOL):
            raise ValueError(f"budget {n} <= {b:g} is below the smallest {n} of any {env.name} architecture ({least:.6g})")


def constrain(
    env: Any,
    max_params: str | float | None = None,
    max_macs: str | float | None = None,
    *,
    limits: Mapping[str, Any] | Sequence[Any] | None = None,
    margin: float = MARGIN,
    feasible_proposals: bool = True,
) -> Any:
    """``env`` with a params and/or MACs budget (strings like ``"0.6M"``; see :func:`parse_budget`).

    ``limits`` budgets named columns of a table space (``{"edgegpu_latency": 5}`` or
    ``["edgegpu_latency=5", "edgegpu_energy=20"]``; :func:`parse_limits`), together with the others.
    Returns ``env`` itself when there is no budget.  Raises ValueError if the space has no cost
    model or no such column, or if no architecture fits the budgets (naming the smallest cost).
    """
    p = parse_budget(max_params, "max_params")
    m = parse_budget(max_macs, "max_macs")
    lim = parse_limits(limits)
    if p is None and m is None and not lim:
        return env
    if not hasattr(env, "cost"):
        raise ValueError(f"space {env.name!r} has no cost model (env.cost), so it cannot be constrained")
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive finite number, got {margin}")
    lim = _check_columns(env, p, m, lim)
    # The generic form only where the original one cannot serve (it also keeps XLA's fusion, hence bits, unchanged).
    generic = bool(lim) or _has_missing(env) or (bool(getattr(env, "column_names", ())) and
                                                 None in getattr(env, "cost_keys", ("", "")))
    floor = float(getattr(env, "value_floor", 0.0))
    extra = {**(dict(limits=lim, generic=True) if generic else {}), **(dict(floor=floor) if floor != 0.0 else {})}
    common = dict(inner=env, max_params=math.inf if p is None else p, max_macs=math.inf if m is None else m,
                  margin=float(margin), feasible_proposals=bool(feasible_proposals), name=env.name, alpha_shape=tuple(env.alpha_shape),
                  arch_shape=tuple(env.arch_shape), num_archs=int(env.num_archs), **extra)
    if enumerable(env):
        en = enumerate_space(env, p, m, lim)
        ok = en.present if en.present is not None else slice(None)
        _check_minimum(env, float(np.nanmin(en.params[ok], initial=np.inf)),
                       float(np.nanmin(en.macs[ok], initial=np.inf)), p, m)
        _check_column_minimum(env, en, lim)
        if en.num_feasible == 0:
            parts = ([f"params <= {format_budget(p)}"] if p is not None else []) + \
                    ([f"MACs <= {format_budget(m)}"] if m is not None else []) + [f"{n} <= {b:g}" for n, b in lim]
            if not generic:
                raise ValueError(f"no {env.name} architecture has params <= {format_budget(p or math.inf)} and "
                                 f"MACs <= {format_budget(m or math.inf)} together (smallest: {en.params.min():.6g}M "
                                 f"params, {en.macs.min():.6g}M MACs)")
            raise ValueError(f"no {env.name} architecture in the table has {' and '.join(parts)} together")
        best = en.best_index
        return ConstrainedEnv(constrained_optimum=jnp.float32(en.report[best]), optimum_exact=True,
                              num_feasible=en.num_feasible, optimum_arch=env.arch_to_string(en.archs[best]), **common)
    if hasattr(env, "min_cost"):
        least = env.min_cost()
        _check_minimum(env, float(least[0]), float(least[1]), p, m)
    return ConstrainedEnv(constrained_optimum=jnp.float32(env.optimum), optimum_exact=False, **common)


def constraint_summary(env: Any) -> dict[str, Any] | None:
    """JSON-ready description of ``env``'s constraint (None when unconstrained)."""
    if not isinstance(env, ConstrainedEnv):
        return None
    p, m = env.budgets()
    out = {
        "max_params_M": p,
        "max_macs_M": m,
        "description": env.describe(),
        "handling": f"penalty: infeasible value = -{env.margin:g} * (1 + relative violation); "
                    "negative reported values mean no feasible architecture yet",
        "feasible_proposals": env.feasible_proposals,
        "optimum": float(env.optimum) if np.isfinite(env.optimum) else None,  # None: unknown (supernet)
        "optimum_exact": env.optimum_exact,
        "optimum_arch": env.optimum_arch or None,
        "feasible_in_space": env.num_feasible if env.num_feasible >= 0 else None,
        "space_size": env.num_archs,
    }
    if env.limits:
        out["limits"] = dict(env.limits)
    return out


@jax.jit
def _feasible_batch(env: ConstrainedEnv, archs: jax.Array) -> jax.Array:
    lead = archs.shape[: archs.ndim - len(env.arch_shape)]
    flat = archs.reshape((-1, *env.arch_shape))
    return jax.vmap(env.is_feasible)(flat).reshape(lead)


def feasible_archs(env: ConstrainedEnv, archs: np.ndarray) -> np.ndarray:
    """``bool[...]`` feasibility of a batch of architectures (any leading dims)."""
    return np.asarray(_feasible_batch(env, jnp.asarray(archs)))
