"""Losses of the agent, optax-style: per-element values, reduced by the caller."""

from __future__ import annotations

import chex
import jax.numpy as jnp


def quantile_loss(predictions: chex.Array, targets: chex.Array, *, tau: chex.Numeric) -> chex.Array:
    """Pinball (check) loss at quantile ``tau``, element-wise.

    ``rho_tau(u) = u * (tau - 1[u < 0])`` with ``u = targets - predictions``: under-
    predictions cost ``tau * u``, over-predictions ``(1 - tau) * |u|``, so the minimizer
    of the expected loss is the ``tau``-quantile of the targets (not their mean).
    """
    chex.assert_equal_shape([predictions, targets])
    u = targets - predictions
    return u * (tau - (u < 0).astype(u.dtype))


def actor_loss(q_values: chex.Array) -> chex.Array:
    """Deterministic policy-gradient loss ``-Q(actor(s))``, element-wise."""
    return -q_values
