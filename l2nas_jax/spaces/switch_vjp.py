"""A ``lax.switch`` whose backward pass recomputes the chosen branch instead of saving residuals.

Why: differentiating ``lax.switch`` makes every branch return the union of all branches'
residuals, zero-filled where a branch has none of them; with many large branches (a supernet
edge's candidate ops) that filling and copying costs more than the chosen op (docs/design.md).
:func:`recompute_switch` saves only the branch inputs and, in the backward pass, runs the chosen
branch's own forward and backward inside a second switch: one extra forward of one op, no union.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import chex
import jax
import jax.numpy as jnp

#: ``branch(params, aux, x) -> (y, new_aux)``: ``params`` and ``x`` are differentiated, ``aux`` is not.
Branch = Callable[[Any, Any, chex.Array], tuple[chex.Array, Any]]


def recompute_switch(index: chex.Array, branches: Sequence[Branch], params: Any, aux: Any,
                     x: chex.Array) -> tuple[jax.Array, Any]:
    """``lax.switch(index, branches, params, aux, x)``, differentiated by recomputing branch ``index``.

    ``aux`` (e.g. BN running statistics) and the returned ``new_aux`` carry no gradient; each
    branch must be a pure function of its arguments (the backward pass calls it again).
    """
    branches = tuple(branches)

    @jax.custom_vjp
    def run(params: Any, aux: Any, x: chex.Array, index: chex.Array) -> tuple[jax.Array, Any]:
        return jax.lax.switch(index, branches, params, aux, x)

    def fwd(params, aux, x, index):
        return run(params, aux, x, index), (params, aux, x, index)

    def bwd(res, cotangents):
        params, aux, x, index = res
        g, _ = cotangents  # new_aux carries no gradient

        def grad_branch(branch: Branch):
            def grad(params, aux, x, g):
                _, vjp = jax.vjp(lambda p, h: branch(p, aux, h)[0], params, x)
                return vjp(g)
            return grad

        d_params, dx = jax.lax.switch(index, [grad_branch(b) for b in branches], params, aux, x, g)
        return d_params, jax.tree.map(jnp.zeros_like, aux), dx, None

    run.defvjp(fwd, bwd)
    return run(params, aux, x, index)
