"""REINFORCE with a per-decision categorical policy (Williams, 1992), as a pure searcher.

The policy is a logits array of shape ``env.alpha_shape``: one independent
categorical distribution per row (an NB201 edge).  Each query samples one choice
per row, maps the one-hot sample to an architecture with ``env.discretize`` (so the
method works in any space), and takes one policy-gradient step on
``-advantage * sum_rows log pi(choice)``.  The reward is the observed search metric
divided by the metric's fixed scale (``env.max_reward``: 100 for accuracies in %; a
generic table declares none and the running maximum of the observations is used, see
:func:`l2nas_jax.searcher.reward_scale` -- never the table's maximum); the baseline is a bias-corrected exponential moving
average of rewards that already includes the current reward.

Defaults follow the NAS-Bench-201 authors' REINFORCE runs: Adam, learning rate
0.001, moving-average momentum 0.9, logits initialised as ``1e-3 * N(0, 1)``
(D-X-Y/AutoDL-Projects, ``scripts-search/algos/REINFORCE.sh`` and
``exps/algos-v2/reinforce.py``).  With Adam the reward scale barely matters; with
``optimizer="sgd"`` the learning rate has to be chosen for the normalised reward.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from l2nas_jax.baselines._common import (
    check_choice,
    check_nonnegative_float,
    check_positive_float,
    check_unit_interval,
    next_keys,
)
from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Searcher, StepOutput, reward_scale

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class ReinforceConfig:
    """REINFORCE hyper-parameters (NAS-Bench-201 paper's setup by default)."""

    learning_rate: float = 1e-3  # step size of the policy optimizer
    baseline_decay: float = 0.9  # momentum of the moving-average reward baseline
    optimizer: str = "adam"  # "adam" or "sgd"
    init_scale: float = 1e-3  # std of the initial logits (near-uniform policy)

    def __post_init__(self) -> None:
        check_positive_float("ReinforceConfig", "learning_rate", self.learning_rate)
        check_unit_interval("ReinforceConfig", "baseline_decay", self.baseline_decay)
        check_choice("ReinforceConfig", "optimizer", self.optimizer, OPTIMIZERS)
        check_nonnegative_float("ReinforceConfig", "init_scale", self.init_scale)


@struct.dataclass
class ReinforceState:
    """Policy logits, optimizer state, and the moving-average baseline as numerator / denominator."""

    logits: jax.Array  # float32[rows, cols]
    opt_state: Any  # optax state of the logits
    baseline_num: jax.Array  # float32 scalar: EMA of rewards, not bias-corrected
    baseline_den: jax.Array  # float32 scalar: EMA of ones (the bias correction)
    key: jax.Array
    reward_max: jax.Array  # float32: largest |observation| so far (the reward scale when the env declares none)


def policy_loss(logits: chex.Array, choice: chex.Array, advantage: chex.Array) -> chex.Array:
    """``-advantage * log pi(choice)``, the log-probability summed over the policy's rows."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -advantage * jnp.take_along_axis(logp, choice[:, None], axis=-1).sum()


def make_reinforce(env: Environment, config: ReinforceConfig, queries: int) -> Searcher:
    """REINFORCE on ``env`` (``queries`` is unused: the method has no schedule)."""
    del queries
    tx = optax.adam(config.learning_rate) if config.optimizer == "adam" else optax.sgd(config.learning_rate)
    cols = env.alpha_shape[1]
    fixed_scale = env.max_reward
    decay = config.baseline_decay

    def init(key: chex.PRNGKey) -> ReinforceState:
        k_logits, k_run = jax.random.split(key)
        logits = config.init_scale * jax.random.normal(k_logits, env.alpha_shape, jnp.float32)
        zero = jnp.zeros((), jnp.float32)
        return ReinforceState(logits=logits, opt_state=tx.init(logits), baseline_num=zero, baseline_den=zero,
                              key=k_run, reward_max=zero)

    def step(state: ReinforceState, t: chex.Array) -> tuple[ReinforceState, StepOutput]:
        key, (k_sample, k_eval) = next_keys(state.key, 2)
        choice = jax.random.categorical(k_sample, state.logits, axis=-1)
        arch = env.discretize(jax.nn.one_hot(choice, cols, dtype=jnp.float32))
        observed = jnp.asarray(env.evaluate(k_eval, arch), jnp.float32)
        scale, reward_max = reward_scale(state.reward_max, observed, fixed_scale)
        reward = observed / scale
        num = decay * state.baseline_num + (1 - decay) * reward
        den = decay * state.baseline_den + (1 - decay)
        baseline = num / den
        advantage = reward - baseline
        grad = jax.grad(policy_loss)(state.logits, choice, advantage)
        updates, opt_state = tx.update(grad, state.opt_state, state.logits)
        probs = jax.nn.softmax(state.logits, axis=-1)
        entropy = -(probs * jnp.log(probs)).sum(-1).mean()
        state = state.replace(logits=optax.apply_updates(state.logits, updates), opt_state=opt_state,
                              baseline_num=num, baseline_den=den, key=key, reward_max=reward_max)
        metrics = {"baseline": baseline, "advantage": advantage, "entropy": entropy}
        return state, StepOutput(arch=arch, observed=observed, metrics=metrics)

    return Searcher(init=init, step=step)
