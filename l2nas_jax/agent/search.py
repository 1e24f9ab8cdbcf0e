"""L2NAS as a :class:`~l2nas_jax.searcher.Searcher`: act, explore, evaluate, insert, learn.

Each query: the actor maps the state (mean one-hot of the top-k) to alpha; a pool of
candidates -- noisy actor proposals, single-edge mutations of the top-k, random
architectures -- is scored by the quantile critic and the best unqueried one is
evaluated (with probability epsilon, a random architecture instead); the result goes
into replay and the top-k; then a few minibatch updates of critic and actor.  With
``LITERAL_PAPER_CONFIG`` the pool is the single noisy actor proposal, as in the paper.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.agent.hyperparams import HyperParams, hyperparams_of
from l2nas_jax.agent.learner import AgentState, agent_init, make_learn
from l2nas_jax.agent.replay import ReplayState, replay_init, replay_insert, replay_query_index
from l2nas_jax.agent.schedules import cosine_epsilon, num_updates
from l2nas_jax.agent.topk import TopK, topk_filled, topk_init, topk_insert, topk_state
from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Denoised, Searcher, StepOutput, reward_scale


@dataclasses.dataclass(frozen=True)
class L2NASConfig:
    """Hyper-parameters of L2NAS.

    Defaults are the tuned NAS-Bench-201 setting (one set for all three datasets).
    The paper's literal setting is ``LITERAL_PAPER_CONFIG`` below: 3 x 128 networks,
    sigmoid actor, critic on the noisy alpha, epsilon annealed over the whole run,
    min(10, 1 + n/50) updates, raw rewards, one proposal per query.

    Shape-determining values (widths, k, batch, caps, pool sizes) are static; the
    whole search compiles once per config.  The values in
    :data:`~l2nas_jax.agent.hyperparams.TRACEABLE` can instead be given to
    :func:`make_l2nas` as a traced :class:`~l2nas_jax.agent.hyperparams.HyperParams`.
    """

    actor_hidden: tuple[int, ...] = (64, 64)  # actor MLP widths (paper: 3 x 128 for NB201)
    critic_hidden: tuple[int, ...] = (64, 64)  # critic MLP widths (paper: 3 x 128)
    actor_lr: float = 1e-3  # Adam learning rate of the actor
    critic_lr: float = 3e-3  # Adam learning rate of the critic
    tau: float = 0.9  # quantile the critic models (upper tail of the reward)
    action_noise: float = 0.1  # half-width of the uniform noise added to the actor's alpha
    actor_out: Literal["sigmoid", "softmax"] = "softmax"  # per-row softmax (no saturated argmax ties) or sigmoid (paper)
    eps_start: float = 1.0  # epsilon-greedy: probability of a random alpha at query 0
    eps_end: float = 0.0  # ... and at the end of the decay
    eps_decay_fraction: float = 1.0  # cosine decay over this fraction of the budget (used when eps_decay_steps == 0)
    eps_decay_steps: int = 60  # cosine decay over this many queries (a warm-up); 0 = use eps_decay_fraction
    top_k: int = 5  # state = mean one-hot of the k best distinct architectures
    batch_size: int = 64  # minibatch size (sampled with replacement)
    max_updates: int = 2  # cap on minibatch updates per query (paper: 10)
    updates_per: int = 1  # updates per query = min(max_updates, 1 + buffer_size // updates_per) (paper: 50)
    learning_starts: int = 10  # no updates until the buffer holds this many samples
    buffer_size: int = 0  # replay capacity; 0 = the query budget (nothing is ever dropped)
    critic_input: Literal["alpha", "onehot"] = "onehot"  # critic sees the noisy alpha (paper) or the arch one-hot
    reward_norm: Literal["none", "standardize", "rank"] = "rank"  # critic targets relative to the buffer
    num_actor_candidates: int = 8  # noisy actor proposals per query (paper: 1)
    num_mutations: int = 32  # single-edge mutations of the top-k architectures added to the pool (paper: 0)
    num_random_candidates: int = 16  # uniform random architectures added to the pool (paper: 0)
    avoid_repeats: bool = True  # never pick an already-queried candidate while the pool has an unqueried one
    random_warmup: int = 0  # the first this-many queries are uniform random archs (docs/design.md's DARTS/OFA warm-up)
    explore_arch: Literal["random", "neighbor"] = "neighbor"  # an epsilon query: a uniform random arch (paper) or an
    # unqueried single-edge mutation of the best arch so far (local search's move; random until one is known)

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
            "actor_out": self.actor_out in ("sigmoid", "softmax"),
            "reward_norm": self.reward_norm in ("none", "standardize", "rank"),
            "eps_decay_steps": self.eps_decay_steps >= 0,
            "num_actor_candidates": self.num_actor_candidates >= 1,
            "num_mutations": self.num_mutations >= 0,
            "num_random_candidates": self.num_random_candidates >= 0,
            "random_warmup": self.random_warmup >= 0,
            "explore_arch": self.explore_arch in ("random", "neighbor"),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid L2NAS config value(s): " + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad))
        object.__setattr__(self, "actor_hidden", tuple(int(h) for h in self.actor_hidden))
        object.__setattr__(self, "critic_hidden", tuple(int(h) for h in self.critic_hidden))


#: The paper's literal NAS-Bench-201 setting (see docs/design.md, "What a literal reading gives").
LITERAL_PAPER_CONFIG = dict(
    actor_hidden=(128, 128, 128), critic_hidden=(128, 128, 128), critic_lr=1e-3, actor_out="sigmoid",
    eps_decay_steps=0, eps_decay_fraction=1.0, max_updates=10, updates_per=50, critic_input="alpha",
    reward_norm="none", num_actor_candidates=1, num_mutations=0, num_random_candidates=0, avoid_repeats=False,
    explore_arch="random",
)


#: How many single-edge mutations of the incumbent an ``explore_arch='neighbor'`` query draws (the first new one is
#: queried; NB201 has 24 neighbours, so with 8 draws all are old only once most neighbours have been queried).
NEIGHBOR_DRAWS = 8


@struct.dataclass
class L2NASState:
    agent: AgentState
    buffer: ReplayState
    topk: TopK
    seen: jax.Array  # bool[num_archs]: queried before (repeats never enter the top-k twice)
    key: jax.Array
    reward_max: jax.Array  # float32: largest |observation| so far (the reward scale when the env declares none)


def make_l2nas(env: Environment, config: L2NASConfig, queries: int, hparams: HyperParams | None = None) -> Searcher:
    """Build the L2NAS searcher for ``env`` and a budget of ``queries`` (sets schedule lengths).

    ``hparams`` overrides the config's traceable values (learning rates, tau, action
    noise, epsilon end points) with possibly traced ones; ``None`` uses the config's.
    """
    if hparams is not None and not isinstance(hparams, HyperParams):
        raise ValueError(f"hparams must be a HyperParams or None (the config's values), got {type(hparams).__name__}")
    cfg = config
    hp = hyperparams_of(cfg) if hparams is None else hparams
    shape = env.alpha_shape
    capacity = cfg.buffer_size or queries
    decay_steps = cfg.eps_decay_steps or max(1, int(round(cfg.eps_decay_fraction * queries)))
    learn = make_learn(tau=hp.tau, batch_size=cfg.batch_size, reward_norm=cfg.reward_norm)
    na = cfg.num_actor_candidates

    def init(key: chex.PRNGKey) -> L2NASState:
        k_agent, k_run = jax.random.split(key)
        agent = agent_init(
            k_agent,
            shape,
            actor_hidden=cfg.actor_hidden,
            critic_hidden=cfg.critic_hidden,
            actor_lr=hp.actor_lr,
            critic_lr=hp.critic_lr,
            actor_out=cfg.actor_out,
        )
        return L2NASState(
            agent=agent,
            buffer=replay_init(capacity, shape),
            topk=topk_init(cfg.top_k, shape, env.arch_shape),
            seen=jnp.zeros((env.num_archs,), bool),
            key=k_run,
            reward_max=jnp.zeros((), jnp.float32),
        )

    def candidate_pool(st: L2NASState, noisy: chex.Array, keys: jax.Array) -> jax.Array:
        """Noisy actor proposals, single-edge mutations of top-k archs, and random archs: int32[M, ...]."""
        k_par, k_mut, k_rand = keys
        cands = [jax.vmap(env.discretize)(noisy)]
        if cfg.num_mutations:
            parents = st.topk.archs[jax.random.randint(k_par, (cfg.num_mutations,), 0,
                                                       jnp.maximum(topk_filled(st.topk), 1))]
            cands.append(jax.vmap(env.mutate)(jax.random.split(k_mut, cfg.num_mutations), parents))
        if cfg.num_random_candidates:
            cands.append(jax.vmap(env.random_arch)(jax.random.split(k_rand, cfg.num_random_candidates)))
        return jnp.concatenate(cands).astype(jnp.int32)

    def explore_arch(st: L2NASState, t: chex.Array, alpha_rand: jax.Array, key: chex.PRNGKey
                     ) -> tuple[jax.Array, jax.Array]:
        """The (architecture, alpha) of an epsilon query: ``alpha_rand`` discretized, or (``explore_arch='neighbor'``)
        a random unqueried single-edge mutation of the best architecture so far -- local search's move -- with its
        one-hot code as alpha (``alpha_rand`` while nothing is known or when none of the drawn mutations is new)."""
        uniform = env.discretize(alpha_rand)
        if cfg.explore_arch == "random":
            return uniform, alpha_rand
        muts = jax.vmap(env.mutate, (0, None))(jax.random.split(key, NEIGHBOR_DRAWS), st.topk.archs[0])
        unseen = ~st.seen[jax.vmap(env.arch_id)(muts)]
        usable = (topk_filled(st.topk) > 0) & jnp.any(unseen) & (t >= cfg.random_warmup)
        neighbor = muts[jnp.argmax(unseen)]  # the draws are random: take the first new one
        return (jnp.where(usable, neighbor, uniform),
                jnp.where(usable, env.encode(neighbor).astype(alpha_rand.dtype), alpha_rand))

    def step(st: L2NASState, t: chex.Array) -> tuple[L2NASState, StepOutput]:
        key, k_eps, k_rand, k_noise, k_eval, k_learn, *k_pool = jax.random.split(st.key, 9)
        s = topk_state(st.topk)
        mu = st.agent.actor.apply_fn(st.agent.actor.params, s)
        noisy = mu[None] + jax.random.uniform(k_noise, (na, *shape), minval=-hp.action_noise, maxval=hp.action_noise)
        cands = candidate_pool(st, noisy, k_pool)
        codes = jax.vmap(env.encode)(cands)
        # The critic scores every candidate (actor proposals by their noisy alpha when it is trained on alphas).
        crit_in = codes if cfg.critic_input == "onehot" else codes.at[:na].set(noisy)
        scores = st.agent.critic.apply_fn(st.agent.critic.params, crit_in)
        if cfg.avoid_repeats:
            scores = jnp.where(st.seen[jax.vmap(env.arch_id)(cands)], scores - 1e6, scores)
        best = jnp.argmax(scores)
        eps = cosine_epsilon(t, start=hp.eps_start, end=hp.eps_end, decay_steps=decay_steps)
        explore = (jax.random.uniform(k_eps) < eps) | (topk_filled(st.topk) == 0) | (t < cfg.random_warmup)
        arch_x, alpha_x = explore_arch(st, t, jax.random.uniform(k_rand, shape), jax.random.fold_in(k_rand, 1))
        arch = jnp.where(explore, arch_x, cands[best])
        alpha = jnp.where(explore, alpha_x, noisy[jnp.minimum(best, na - 1)])  # only used when critic_input='alpha'
        observed = env.evaluate(k_eval, arch)
        scale, reward_max = reward_scale(st.reward_max, observed, env.max_reward)
        reward = observed / scale
        code = env.encode(arch)
        arch_id = env.arch_id(arch)
        is_new = ~st.seen[arch_id]
        buffer = replay_insert(st.buffer, alpha if cfg.critic_input == "alpha" else code, reward)
        topk = topk_insert(st.topk, code, arch, observed, is_new)
        n = num_updates(t + 1, max_updates=cfg.max_updates, per=cfg.updates_per, learning_starts=cfg.learning_starts)
        agent, losses = learn(st.agent, buffer, topk_state(topk), k_learn, n)
        new = L2NASState(agent=agent, buffer=buffer, topk=topk, seen=st.seen.at[arch_id].set(True), key=key,
                         reward_max=reward_max)
        metrics = {"epsilon": eps, "explore": explore, "updates": n, "critic_loss": losses[0], "actor_loss": losses[1],
                   "from_actor": (~explore) & (best < na)}
        return new, StepOutput(arch=arch, observed=observed, metrics=metrics)

    def observe(st: L2NASState, d: Denoised) -> L2NASState:
        """Under re-evaluation: the top-k are the best *estimated* architectures and every critic target is
        the current estimate of its architecture (a lucky draw is shrunk, a re-measured one averaged)."""
        vals, idx = jax.lax.top_k(d.estimates, cfg.top_k)
        archs = d.archs[idx]
        topk = TopK(values=vals, codes=jax.vmap(env.encode)(archs).astype(jnp.float32), archs=archs)
        query, valid = replay_query_index(st.buffer, d.own_count)
        scale, _ = reward_scale(st.reward_max, jnp.zeros((), jnp.float32), env.max_reward)
        rewards = jnp.where(valid, d.own[query] / scale, st.buffer.rewards)
        return st.replace(topk=topk, buffer=st.buffer.replace(rewards=rewards))

    return Searcher(init=init, step=step, observe=observe)

