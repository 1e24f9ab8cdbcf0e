"""Local search (White, Nolen & Savani 2021): first-improvement hill climbing, random restarts, free repeats."""

import operator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from l2nas_jax import methods
from l2nas_jax.api import run_method
from l2nas_jax.baselines import LocalSearchConfig, RandomSearchConfig, make_local_search, make_random_search
from l2nas_jax.baselines.local_search import num_neighbours
from l2nas_jax.envs.table import TableEnv, make_nb201_env
from l2nas_jax.runner import seed_keys
from l2nas_jax.searcher import run_searcher
from l2nas_jax.spaces import get_space
from l2nas_jax.spaces.nb201 import codec

NB201_OPS = codec.code_to_ops(np.arange(codec.NUM_ARCHS))  # row i: the cell with arch_id i


@pytest.fixture(scope="module")
def env():
    return make_nb201_env("cifar10")


def _run(env, queries, key, config=None):
    searcher = make_local_search(env, config or LocalSearchConfig(), queries)
    return jax.jit(lambda k: run_searcher(searcher, k, queries))(key)


def _ids(env, archs) -> np.ndarray:
    return np.asarray(jax.vmap(env.arch_id)(jnp.asarray(archs)))


def _nb201_neighbour_ids(arch_id: int) -> set[int]:
    ops = NB201_OPS[arch_id]
    out = set()
    for e in range(codec.NUM_EDGES):
        for o in range(codec.NUM_OPS):
            if o != ops[e]:
                nb = ops.copy()
                nb[e] = o
                out.add(int(codec.ops_to_code(nb)))
    return out


def _is_single_edge_neighbour(a, earlier) -> bool:
    return bool(((np.asarray(earlier) != np.asarray(a)).sum(-1) == 1).any())


def _table_env(values) -> TableEnv:
    acc = jnp.asarray(values, jnp.float32)
    return TableEnv(search_acc=acc, report_acc=acc, noise_sigma=jnp.float32(0.0), space=get_space("nb201"))


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("kwargs", [dict(max_tries=0), dict(max_tries=-3), dict(max_tries=True), dict(max_tries=2.5),
                                    dict(max_neighbours=-1), dict(max_neighbours=1.0), dict(max_neighbours=False)])
def test_config_validation(kwargs):
    with pytest.raises(ValueError, match="LocalSearchConfig"):
        LocalSearchConfig(**kwargs)


def test_registry_and_neighbour_count(env):
    assert "ls" in methods.method_names()
    cls, make = methods.get_method("ls")
    assert cls is LocalSearchConfig and make is make_local_search
    assert methods.make_config("ls", {"max_tries": 5}) == LocalSearchConfig(max_tries=5)
    with pytest.raises(ValueError, match="unknown ls config key"):
        methods.make_config("ls", {"population": 3})
    assert num_neighbours(env, LocalSearchConfig()) == 24  # 6 edges x 4 other ops: exact on NB201
    assert num_neighbours(env, LocalSearchConfig(max_neighbours=7)) == 7


# --------------------------------------------------------------------------- NB201


def test_nb201_no_repeats_and_every_query_is_a_neighbour_or_a_restart(env):
    queries = 200
    _, out = _run(env, queries, jax.random.key(0))
    archs, ids = np.asarray(out.arch), _ids(env, out.arch)
    assert archs.shape == (queries, codec.NUM_EDGES) and archs.dtype == np.int32
    assert len(set(ids.tolist())) == queries, "an architecture was evaluated twice"
    np.testing.assert_array_equal(np.asarray(out.observed), np.asarray(env.search_acc)[ids])  # noise-free table
    restarts, cached = np.asarray(out.metrics["restarts"]), np.asarray(out.metrics["cached"])
    assert restarts[0] == 0 and (np.diff(restarts) >= 0).all() and restarts[-1] >= 1
    assert (cached >= 0).all()
    for t in range(1, queries):
        assert restarts[t] > restarts[t - 1] or _is_single_edge_neighbour(archs[t], archs[:t]), t
    # Between restarts the current point's value never goes down; the current value is a value already seen.
    current = np.asarray(out.metrics["current"])
    for t in range(1, queries):
        if restarts[t] == restarts[t - 1]:
            assert current[t] >= current[t - 1]
        assert current[t] in set(np.asarray(out.observed)[: t + 1].tolist())


@pytest.mark.slow
def test_monotone_table_climbs_to_the_optimum_then_restarts_there():
    """Accuracy = 50 + 10 x (edges using op 3): the all-op-3 cell is the only local optimum."""
    values = 50.0 + 10.0 * (NB201_OPS == 3).sum(1)
    env = _table_env(values)
    target = int(codec.ops_to_code(np.full(codec.NUM_EDGES, 3)))
    searcher = make_local_search(env, LocalSearchConfig(), 80)
    _, runs = jax.jit(jax.vmap(lambda k: run_searcher(searcher, k, 80)))(seed_keys(0, 3))
    for s in range(3):
        out = jax.tree.map(operator.itemgetter(s), runs)
        ids = _ids(env, out.arch).tolist()
        restarts, current = np.asarray(out.metrics["restarts"]), np.asarray(out.metrics["current"])
        assert len(set(ids)) == len(ids)
        i = ids.index(target)  # one climb from the random start reaches the optimum (no other local optimum)
        assert restarts[i] == 0 and current[i] == 110.0
        assert (np.diff(current[: i + 1]) >= 0).all()
        # Then every neighbour of the optimum not yet known is evaluated, and only then does it restart.
        j = int(np.argmax(restarts > 0))
        assert restarts[j] == 1 and j > i
        assert set(ids[i + 1: j]) == _nb201_neighbour_ids(target) - set(ids[: i + 1])
        # Later restarts climb back through known cells (served from the cache) as well as new ones.
        assert np.asarray(out.metrics["cached"])[j:].sum() > 0


@pytest.mark.slow
def test_two_peaks_each_restart_follows_a_local_optimum():
    """max(10 x #op3, 9 x #op1): exactly two local optima, all-op-3 (60) and all-op-1 (54)."""
    values = np.maximum(10.0 * (NB201_OPS == 3).sum(1), 9.0 * (NB201_OPS == 1).sum(1))
    env = _table_env(values)
    peaks = {int(codec.ops_to_code(np.full(codec.NUM_EDGES, o))) for o in (1, 3)}
    searcher = make_local_search(env, LocalSearchConfig(), 120)
    _, out = jax.jit(jax.vmap(lambda k: run_searcher(searcher, k, 120)))(seed_keys(0, 8))
    first_peak = []
    for s in range(8):
        ids = _ids(env, out.arch[s]).tolist()
        restarts = np.asarray(out.metrics["restarts"][s])
        for j in np.flatnonzero(np.diff(restarts) > 0) + 1:  # a step that restarted
            known = set(ids[:j])
            assert any(p in known and _nb201_neighbour_ids(p) <= known for p in peaks), (s, j)
        j = int(np.argmax(restarts > 0))
        assert restarts[j] > 0
        first_peak.append(next(p for p in peaks if p in ids[:j] and _nb201_neighbour_ids(p) <= set(ids[:j])))
    # Some runs climb the lower peak first: local search stops at local optima and restarts there.
    assert len(set(first_peak)) == 2


# --------------------------------------------------------------------------- a space it exhausts


@struct.dataclass
class GridEnv:
    """A hand-built 2-decision, 3-choice space (9 architectures, 4 neighbours each)."""

    values: jax.Array  # float32[9], by id = 3 * a[0] + a[1]
    alpha_shape: tuple = struct.field(pytree_node=False, default=(2, 3))
    arch_shape: tuple = struct.field(pytree_node=False, default=(2,))
    num_archs: int = struct.field(pytree_node=False, default=9)

    def arch_id(self, arch):
        return (3 * arch[0] + arch[1]).astype(jnp.int32)

    def random_arch(self, key):
        return jax.random.randint(key, (2,), 0, 3, jnp.int32)

    def mutate(self, key, arch):
        k_pos, k_shift = jax.random.split(key)
        pos = jax.random.randint(k_pos, (), 0, 2)
        return arch.at[pos].set((arch[pos] + jax.random.randint(k_shift, (), 1, 3)) % 3)

    def evaluate(self, key, arch):
        return self.values[self.arch_id(arch)]


def test_exhausts_a_tiny_space_then_counts_repeats_as_restarts():
    env = GridEnv(values=jnp.asarray([3.0, 1.0, 2.0, 0.0, 5.0, 0.5, 4.0, 1.5, 2.5], jnp.float32))
    _, out = _run(env, 13, jax.random.key(1))
    ids = _ids(env, out.arch).tolist()
    assert sorted(ids[:9]) == list(range(9)), "every architecture before any repeat"
    restarts = np.asarray(out.metrics["restarts"])
    # Nothing new is left: each later step spends its tries on cached proposals and restarts at a repeat.
    assert (np.diff(restarts[8:]) >= 1).all()
    assert (np.asarray(out.metrics["cached"])[9:] > 0).all()
    np.testing.assert_array_equal(np.asarray(out.observed), np.asarray(env.values)[ids])


@struct.dataclass
class DartsEnv:
    """The DARTS space (3-D archs, hashed ids) with a made-up smooth evaluator."""

    alpha_shape: tuple = struct.field(pytree_node=False, default=get_space("darts").alpha_shape)
    arch_shape: tuple = struct.field(pytree_node=False, default=get_space("darts").arch_shape)

    def arch_id(self, arch):
        return get_space("darts").arch_id(arch)

    def random_arch(self, key):
        return get_space("darts").random_arch(key)

    def mutate(self, key, arch):
        return get_space("darts").mutate(key, arch)

    def evaluate(self, key, arch):
        return jnp.sum(jnp.sin(1.3 * jnp.arange(arch.size) + arch.reshape(-1))).astype(jnp.float32)


@pytest.mark.slow
def test_works_on_a_hashed_space_with_3d_archs():
    env, queries = DartsEnv(), 40
    _, out = _run(env, queries, jax.random.key(2))
    archs = np.asarray(out.arch).reshape(queries, -1)
    assert len({a.tobytes() for a in archs}) == queries
    restarts, current = np.asarray(out.metrics["restarts"]), np.asarray(out.metrics["current"])
    assert restarts[-1] == 0  # 40 queries cannot exhaust the neighbourhood of a DARTS genotype
    assert (np.diff(current) >= 0).all() and current[-1] > current[0]  # one climb, never downhill
    assert current[-1] == np.asarray(out.observed).max()


# --------------------------------------------------------------------------- bit-exact reference


def _reference(env, key, queries, n_nb, max_tries):
    """Plain-Python local search with dicts and lists, drawing the same keys as the searcher."""
    random_arch, mutate, evaluate = jax.jit(env.random_arch), jax.jit(env.mutate), jax.jit(env.evaluate)
    aid = lambda a: int(codec.ops_to_code(np.asarray(a)))
    history, cur, cur_val, tried, restarts, rows = {}, None, None, [], 0, []
    for _ in range(queries):
        key, k_loop, k_fallback, k_eval = jax.random.split(key, 4)
        cached, proposal = 0, None
        for tries in range(max_tries):
            k_rand, k_mut = jax.random.split(jax.random.fold_in(k_loop, tries))
            restart = cur is None or len(tried) >= n_nb
            if restart:
                restarts += cur is not None
                cand = np.asarray(random_arch(k_rand))
            else:
                cand = np.asarray(mutate(k_mut, jnp.asarray(cur)))
                if aid(cand) in tried:
                    continue
            if aid(cand) not in history:
                proposal, is_restart = cand, restart
                break
            cached += 1
            value = history[aid(cand)]
            if restart or value > cur_val:
                cur, cur_val, tried = cand, value, []
            else:
                tried.append(aid(cand))
        if proposal is None:
            proposal, is_restart = np.asarray(random_arch(k_fallback)), True
            restarts += cur is not None
        obs = np.float32(evaluate(k_eval, jnp.asarray(proposal)))
        history.setdefault(aid(proposal), obs)
        if is_restart or obs > cur_val:
            cur, cur_val, tried = proposal, obs, []
        else:
            tried.append(aid(proposal))
        rows.append((proposal, obs, restarts, cached, cur_val))
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("noise", [0.0, 1.0], ids=["exact", "noisy"])
def test_matches_a_python_reference(noise):
    """Noisy: a repeat is served its first observation, never a fresh draw (the reference's dict)."""
    env = make_nb201_env("cifar10", noise_sigma=noise)
    queries, key = 60, jax.random.key(5)
    _, out = _run(env, queries, key)
    ref = _reference(env, key, queries, 24, LocalSearchConfig().max_tries)
    np.testing.assert_array_equal(np.asarray(out.arch), np.stack([r[0] for r in ref]))
    np.testing.assert_allclose(np.asarray(out.observed), [r[1] for r in ref], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(out.metrics["restarts"]), [r[2] for r in ref])
    np.testing.assert_array_equal(np.asarray(out.metrics["cached"]), [r[3] for r in ref])
    np.testing.assert_allclose(np.asarray(out.metrics["current"]), [r[4] for r in ref], rtol=1e-6)
    assert ref[-1][2] >= 1 and sum(r[3] for r in ref) > 0  # the run restarted and served cached proposals


# --------------------------------------------------------------------------- determinism, vmap, runner


@pytest.mark.slow
def test_same_key_is_bit_identical_and_vmap_equals_single_runs(env):
    queries, keys = 50, seed_keys(3, 4)
    searcher = make_local_search(env, LocalSearchConfig(), queries)
    run = jax.jit(lambda k: run_searcher(searcher, k, queries))
    _, batched = jax.jit(jax.vmap(lambda k: run_searcher(searcher, k, queries)))(keys)
    for s in range(4):
        _, a = run(keys[s])
        _, b = run(keys[s])
        for x, y, z in zip(jax.tree.leaves(a), jax.tree.leaves(b), jax.tree.leaves(batched)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
            np.testing.assert_array_equal(np.asarray(x), np.asarray(z)[s])
    assert not np.array_equal(np.asarray(batched.arch[0]), np.asarray(batched.arch[1]))


@pytest.mark.slow
def test_runs_through_the_runner_with_and_without_free_repeats(env):
    for free in (False, True):
        r = run_method(env, "ls", queries=30, seeds=2, seed=0, free_repeats=free)
        assert np.asarray(r.trajectory.archs).shape == (2, 30, codec.NUM_EDGES)
        assert not np.asarray(r.trajectory.is_repeat).any()
        assert set(r.metrics) >= {"restarts", "cached", "current"}


@pytest.mark.slow
def test_beats_random_search_at_100_queries(env):
    queries, keys = 100, seed_keys(0, 10)

    def best(searcher):
        _, out = jax.jit(jax.vmap(lambda k: run_searcher(searcher, k, queries)))(keys)
        return np.asarray(out.observed).max(1)

    ls = best(make_local_search(env, LocalSearchConfig(), queries))
    rs = best(make_random_search(env, RandomSearchConfig(), queries))
    assert ls.mean() > rs.mean() + 0.1, (ls.mean(), rs.mean())
    assert (ls >= rs).sum() >= 7
