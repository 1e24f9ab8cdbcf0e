"""L2NAS as a :class:`~l2nas_jax.searcher.Searcher`: act, explore, evaluate, insert, learn."""

from __future__ import annotations

import dataclasses
from typing import Literal

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.agent.learner import AgentState, agent_init, make_learn
from l2nas_jax.agent.replay import ReplayState, replay_init, replay_insert
from l2nas_jax.agent.schedules import cosine_epsilon, num_updates
from l2nas_jax.agent.topk import TopK, topk_init, topk_insert, topk_state
from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Searcher, StepOutput


@dataclasses.dataclass(frozen=True)
class L2NASConfig:
    """Hyper-parameters of L2NAS (defaults follow the paper's NAS-Bench-201 setting).

    Shape-determining values (widths, k, batch, caps) are static; the whole search
    compiles once per config.
    """

    actor_hidden: tuple[int, ...] = (128, 128, 128)  # actor MLP widths (paper: 3 x 128 for NB201)
    critic_hidden: tuple[int, ...] = (128, 128, 128)  # critic MLP widths
    actor_lr: float = 1e-3  # Adam learning rate of the actor
    critic_lr: float = 1e-3  # Adam learning rate of the critic
    tau: float = 0.9  # quantile the critic models (upper tail of the reward)
    action_noise: float = 0.1  # half-width of the uniform noise added to the actor's alpha
    eps_start: float = 1.0  # epsilon-greedy: probability of a random alpha at query 0
    eps_end: float = 0.0  # ... and at the end of the decay
    eps_decay_fraction: float = 1.0  # cosine decay over this fraction of the budget (paper: whole run)
    top_k: int = 5  # state = mean one-hot of the k best distinct architectures
    batch_size: int = 64  # minibatch size (sampled with replacement)
    max_updates: int = 10  # cap on minibatch updates per query
    updates_per: int = 50  # updates per query = min(max_updates, 1 + buffer_size // updates_per)
    learning_starts: int = 10  # no updates until the buffer holds this many samples
    buffer_size: int = 0  # replay capacity; 0 = the query budget (nothing is ever dropped)
    critic_input: Literal["alpha", "onehot"] = "alpha"  # critic sees the noisy alpha (paper) or the arch one-hot

    def __post_init__(self) -> None:
        checks = {
            "tau": 0.0 < self.tau < 1.0,
            "action_noise": self.action_noise >= 0.0,
            "eps_start": 0.0 <= self.eps_start <= 1.0,
            "eps_end": 0.0 <= self.eps_end <= 1.0,
            "eps_decay_fraction": 0.0 < self.eps_decay_fraction,
            "top_k": self.top_k >= 1,
            "batch_size": self.batch_size >= 1,
            "max_updates": self.max_updates >= 0,
            "updates_per": self.updates_per >= 1,
            "learning_starts": self.learning_starts >= 1,
            "buffer_size": self.buffer_size >= 0,
            "actor_lr": self.actor_lr > 0,
            "critic_lr": self.critic_lr > 0,
            "critic_input": self.critic_input in ("alpha", "onehot"),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid L2NAS config value(s): " + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad))
        object.__setattr__(self, "actor_hidden", tuple(int(h) for h in self.actor_hidden))
        object.__setattr__(self, "critic_hidden", tuple(int(h) for h in self.critic_hidden))


@struct.dataclass
class L2NASState:
    agent: AgentState
    buffer: ReplayState
    topk: TopK
    seen: jax.Array  # bool[num_archs]: queried before (repeats never enter the top-k twice)
    key: jax.Array


def make_l2nas(env: Environment, config: L2NASConfig, queries: int) -> Searcher:
    """Build the L2NAS searcher for ``env`` and a budget of ``queries`` (sets schedule lengths)."""
    cfg = config
    shape = env.alpha_shape
    capacity = cfg.buffer_size or queries
    decay_steps = max(1, int(round(cfg.eps_decay_fraction * queries)))
    learn = make_learn(tau=cfg.tau, batch_size=cfg.batch_size)

    def init(key: chex.PRNGKey) -> L2NASState:
        k_agent, k_run = jax.random.split(key)
        agent = agent_init(
            k_agent,
            shape,
            actor_hidden=cfg.actor_hidden,
            critic_hidden=cfg.critic_hidden,
            actor_lr=cfg.actor_lr,
            critic_lr=cfg.critic_lr,
        )
        return L2NASState(
            agent=agent,
            buffer=replay_init(capacity, shape),
            topk=topk_init(cfg.top_k, shape),
            seen=jnp.zeros((env.num_archs,), bool),
            key=k_run,
        )

    def step(st: L2NASState, t: chex.Array) -> tuple[L2NASState, StepOutput]:
        key, k_eps, k_rand, k_noise, k_eval, k_learn = jax.random.split(st.key, 6)
        s = topk_state(st.topk)
        mu = st.agent.actor.apply_fn(st.agent.actor.params, s)
        noisy = mu + jax.random.uniform(k_noise, shape, minval=-cfg.action_noise, maxval=cfg.action_noise)
        eps = cosine_epsilon(t, start=cfg.eps_start, end=cfg.eps_end, decay_steps=decay_steps)
        explore = jax.random.uniform(k_eps) < eps
        alpha = jnp.where(explore, jax.random.uniform(k_rand, shape), noisy)
        arch = env.discretize(alpha)
        observed = env.evaluate(k_eval, arch)
        reward = observed / env.max_reward
        code = env.encode(arch)
        arch_id = env.arch_id(arch)
        is_new = ~st.seen[arch_id]
        buffer = replay_insert(st.buffer, alpha if cfg.critic_input == "alpha" else code, reward)
        topk = topk_insert(st.topk, code, observed, is_new)
        n = num_updates(t + 1, max_updates=cfg.max_updates, per=cfg.updates_per, learning_starts=cfg.learning_starts)
        agent, losses = learn(st.agent, buffer, topk_state(topk), k_learn, n)
        new = L2NASState(agent=agent, buffer=buffer, topk=topk, seen=st.seen.at[arch_id].set(True), key=key)
        metrics = {"epsilon": eps, "explore": explore, "updates": n, "critic_loss": losses[0], "actor_loss": losses[1]}
        return new, StepOutput(arch=arch, observed=observed, metrics=metrics)

    return Searcher(init=init, step=step)
