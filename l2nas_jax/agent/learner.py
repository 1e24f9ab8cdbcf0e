"""Agent state and its pure update: quantile-critic step, then actor step, K times per query."""

from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from l2nas_jax.agent.losses import actor_loss, quantile_loss
from l2nas_jax.agent.networks import Actor, Critic
from l2nas_jax.agent.replay import ReplayState, replay_normalize, replay_sample


@struct.dataclass
class AgentState:
    """Actor and critic parameters with their Adam states."""

    actor: TrainState
    critic: TrainState


#: Adam's arguments other than the learning rate stay Python constants, so the update's numbers are
#: exactly ``optax.adam``'s (an injected ``b1`` would make ``1 - b1`` a float32 subtraction).
_ADAM_STATIC = ("b1", "b2", "eps", "eps_root", "mu_dtype", "nesterov")


def adam(learning_rate: chex.Numeric) -> optax.GradientTransformation:
    """``optax.adam`` with its learning rate injected into the optimizer state, so it can be a traced value."""
    return optax.inject_hyperparams(optax.adam, static_args=_ADAM_STATIC)(learning_rate=learning_rate)


def learning_rate(train_state: TrainState) -> chex.Array:
    """The learning rate an :func:`adam` train state applies (read from its optimizer state)."""
    return train_state.opt_state.hyperparams["learning_rate"]


def agent_init(
    key: chex.PRNGKey,
    alpha_shape: tuple[int, int],
    *,
    actor_hidden: tuple[int, ...],
    critic_hidden: tuple[int, ...],
    actor_lr: chex.Numeric,
    critic_lr: chex.Numeric,
    actor_out: str = "sigmoid",
) -> AgentState:
    """Fresh actor and critic with Adam states; the learning rates may be traced (they live in those states)."""
    k_actor, k_critic = jax.random.split(key)
    actor, critic = Actor(alpha_shape, actor_hidden, actor_out), Critic(critic_hidden)
    state_dim = alpha_shape[0] * alpha_shape[1]
    a_params = actor.init(k_actor, jnp.zeros((state_dim,)))
    c_params = critic.init(k_critic, jnp.zeros(alpha_shape))
    return AgentState(
        actor=TrainState.create(apply_fn=actor.apply, params=a_params, tx=adam(actor_lr)),
        critic=TrainState.create(apply_fn=critic.apply, params=c_params, tx=adam(critic_lr)),
    )


UpdateFn = Callable[[AgentState, chex.Array, chex.Array, chex.Array], tuple[AgentState, chex.Array]]


def make_update(*, tau: chex.Numeric) -> UpdateFn:
    """One minibatch update: critic on (actions, rewards) with the pinball loss, then the actor on ``state``."""

    def update(agent: AgentState, actions: chex.Array, rewards: chex.Array, state: chex.Array):
        def critic_loss_fn(params):
            pred = agent.critic.apply_fn(params, actions)
            return quantile_loss(pred, rewards, tau=tau).mean()

        c_loss, c_grads = jax.value_and_grad(critic_loss_fn)(agent.critic.params)
        critic = agent.critic.apply_gradients(grads=c_grads)

        def actor_loss_fn(params):
            alpha = agent.actor.apply_fn(params, state)
            return actor_loss(critic.apply_fn(critic.params, alpha)).mean()

        a_loss, a_grads = jax.value_and_grad(actor_loss_fn)(agent.actor.params)
        actor = agent.actor.apply_gradients(grads=a_grads)
        return AgentState(actor=actor, critic=critic), jnp.stack([c_loss, a_loss])

    return update


def make_learn(*, tau: chex.Numeric, batch_size: int, reward_norm: str = "none"):
    """``learn(agent, buffer, state, key, n) -> (agent, mean [critic, actor] loss)``: n updates in a loop.

    ``n`` depends only on the query index, so under a seed ``vmap`` it stays
    unbatched and the loop runs exactly ``n`` times (no masked work).
    """
    update = make_update(tau=tau)

    def learn(agent: AgentState, buf: ReplayState, state: chex.Array, key: chex.PRNGKey, n: chex.Array):
        def body(i, carry):
            agent, loss_sum = carry
            actions, rewards = replay_sample(buf, jax.random.fold_in(key, i), batch_size)
            rewards = replay_normalize(buf, rewards, reward_norm)
            agent, losses = update(agent, actions, rewards, state)
            return agent, loss_sum + losses

        agent, loss_sum = jax.lax.fori_loop(0, n, body, (agent, jnp.zeros((2,), jnp.float32)))
        return agent, loss_sum / jnp.maximum(n, 1)

    return learn
