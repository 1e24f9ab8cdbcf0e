"""End-to-end behaviour of the L2NAS search loop on the embedded NB201 table."""

import functools

import jax
import numpy as np
import pytest

from l2nas_jax.agent.search import LITERAL_PAPER_CONFIG, L2NASConfig, make_l2nas
from l2nas_jax.api import run_method
from l2nas_jax.runner import run_batched, seed_keys
from l2nas_jax.searcher import run_searcher

pytestmark = pytest.mark.slow  # compiles whole searches (quick tier: pytest -m 'not slow')

SMALL = L2NASConfig(actor_hidden=(32, 32), critic_hidden=(32, 32), batch_size=16, learning_starts=8, updates_per=10)


def _run(env, keys, queries=60, cfg=SMALL, chunk=None):
    return run_batched(make_l2nas(env, cfg, queries), env, keys, queries, chunk=chunk)


def test_same_seed_same_result_different_seeds_differ(cifar10_env):
    keys = seed_keys(0, 4)
    _, t1, m1, _ = _run(cifar10_env, keys)
    _, t2, m2, _ = _run(cifar10_env, keys)
    np.testing.assert_array_equal(t1.archs, t2.archs)
    np.testing.assert_array_equal(t1.observed, t2.observed)
    np.testing.assert_array_equal(m1["critic_loss"], m2["critic_loss"])
    # different seeds give different trajectories (and different network inits)
    for i in range(1, 4):
        assert not np.array_equal(t1.archs[0], t1.archs[i])
        assert m1["critic_loss"][0, -1] != m1["critic_loss"][i, -1]


def test_vmapped_seeds_equal_runs_one_by_one(cifar10_env):
    keys = seed_keys(3, 4)
    _, batched, mb, _ = _run(cifar10_env, keys)
    searcher = make_l2nas(cifar10_env, SMALL, 60)
    single = jax.jit(functools.partial(run_searcher, searcher, queries=60))
    for i in range(4):
        _, out = single(keys[i])
        np.testing.assert_array_equal(np.asarray(out.arch), batched.archs[i])
        np.testing.assert_allclose(np.asarray(out.observed), batched.observed[i], rtol=0, atol=0)
        np.testing.assert_allclose(np.asarray(out.metrics["critic_loss"]), mb["critic_loss"][i], rtol=1e-5, atol=1e-6)


def test_chunked_run_equals_single_call(cifar10_env):
    keys = seed_keys(1, 2)
    _, whole, mw, _ = _run(cifar10_env, keys)
    _, chunked, mc, _ = _run(cifar10_env, keys, chunk=20)
    np.testing.assert_array_equal(whole.archs, chunked.archs)
    np.testing.assert_array_equal(mw["critic_loss"], mc["critic_loss"])


def test_learning_starts_after_threshold_and_schedule(cifar10_env):
    cfg = L2NASConfig(actor_hidden=(16,), critic_hidden=(16,), batch_size=8, learning_starts=25, updates_per=10,
                      max_updates=3)
    _, traj, m, _ = _run(cifar10_env, seed_keys(0, 1), queries=50, cfg=cfg)
    size = np.arange(1, 51)
    expected = np.where(size >= 25, np.minimum(3, 1 + size // 10), 0)
    np.testing.assert_array_equal(m["updates"][0], expected)
    assert np.all(m["critic_loss"][0, :24] == 0)  # no update has run
    assert np.all(m["critic_loss"][0, 24:] > 0)


def test_step_is_traced_not_iterated(cifar10_env):
    """The loop is a scan: the Python step body runs a constant number of times, not once per query."""
    calls = []
    searcher = make_l2nas(cifar10_env, SMALL, 40)
    counted = searcher._replace(step=lambda s, t: (calls.append(1), searcher.step(s, t))[1])
    run_batched(counted, cifar10_env, seed_keys(0, 2), 40)
    assert 1 <= len(calls) <= 2, len(calls)


def test_epsilon_decays_over_configured_fraction(cifar10_env):
    cfg = L2NASConfig(actor_hidden=(16,), critic_hidden=(16,), eps_decay_steps=0, eps_decay_fraction=0.5,
                      batch_size=8)
    _, _, m, _ = _run(cifar10_env, seed_keys(0, 1), queries=40, cfg=cfg)
    eps = m["epsilon"][0]
    assert eps[0] == pytest.approx(1.0) and np.all(np.diff(eps[:20]) < 0) and np.all(eps[20:] == 0)


def test_random_warmup_explores_exactly_the_first_queries(cifar10_env):
    cfg = L2NASConfig(actor_hidden=(16,), critic_hidden=(16,), batch_size=8, eps_start=0.0, random_warmup=15)
    _, _, m, _ = _run(cifar10_env, seed_keys(0, 1), queries=40, cfg=cfg)
    explore = m["explore"][0]
    assert explore[:15].all() and not explore[15:].any()


@pytest.mark.parametrize("critic_input", ["onehot", "alpha"])
def test_neighbor_exploration_queries_new_single_edge_mutations_of_the_incumbent(cifar10_env, critic_input):
    """explore_arch='neighbor' with epsilon held at 1: after the first (random) query every query is an unqueried
    architecture one edge away from the best one observed before it -- local search's move (with a critic on
    alphas too: a neighbour's alpha is its one-hot code)."""
    cfg = L2NASConfig(actor_hidden=(16,), critic_hidden=(16,), batch_size=8, eps_start=1.0, eps_end=1.0,
                      explore_arch="neighbor", critic_input=critic_input)
    _, traj, m, _ = _run(cifar10_env, seed_keys(1, 2), queries=30, cfg=cfg)
    assert m["explore"].all()
    for archs, observed in zip(np.asarray(traj.archs), np.asarray(traj.observed)):
        assert len({a.tobytes() for a in archs}) == len(archs)  # never a repeat
        for t in range(1, len(archs)):
            incumbent = archs[np.argmax(observed[:t])]
            assert (archs[t] != incumbent).sum() == 1, (t, archs[t], incumbent)
    with pytest.raises(ValueError, match="explore_arch='sideways'"):
        L2NASConfig(explore_arch="sideways")


@pytest.mark.slow
def test_1000_query_search_finds_top_1_percent(cifar10_env):
    """Statistical: with the default config, most of 8 fixed seeds reach the table's top 1 % (CIFAR-10)."""
    r = run_method(cifar10_env, "l2nas", queries=1000, seeds=8, seed=2024)
    acc = np.sort(np.asarray(cifar10_env.report_acc))[::-1]
    top1 = acc[int(0.01 * acc.size) - 1]  # the 156th best cell
    hits = (r.best_report >= top1).sum()
    assert hits >= 6, (hits, r.best_report, top1)
    # and the searched incumbent is far better than random search's typical 100-query result
    assert r.best_report.mean() > 93.9


def test_invalid_config_values_raise():
    with pytest.raises(ValueError, match="tau"):
        L2NASConfig(tau=1.5)
    with pytest.raises(ValueError, match="critic_input"):
        L2NASConfig(critic_input="bogus")


def test_free_repeats_option_removes_repeats_for_any_method(cifar10_env):
    """With free repeats, no counted query is a repeat (for L2NAS and REA alike); by default they count."""
    literal = {**LITERAL_PAPER_CONFIG, "actor_hidden": (16,), "critic_hidden": (16,), "batch_size": 8,
               "eps_decay_fraction": 0.2}
    for method, cfg in (("l2nas", literal), ("rea", None)):
        counted = run_method(cifar10_env, method, queries=300, seeds=2, seed=1, config=cfg)
        free = run_method(cifar10_env, method, queries=300, seeds=2, seed=1, config=cfg, free_repeats=True)
        assert counted.repeats.sum() > 0, method
        assert free.repeats.sum() == 0, method
        assert free.metrics["proposals"].max() > 1  # repeats were proposed, then skipped
        assert free.meta["free_repeats"] and not counted.meta["free_repeats"]


def test_default_never_repeats_and_mostly_follows_the_critic(cifar10_env):
    r = run_method(cifar10_env, "l2nas", queries=300, seeds=2, seed=3)
    assert r.repeats.sum() == 0
    explore = r.metrics["explore"]
    assert explore[:, 0].all() and explore[:, 100:].sum() == 0  # epsilon warm-up over the first 60 queries only


def test_literal_paper_config_runs_as_described(cifar10_env):
    cfg = L2NASConfig(**{**LITERAL_PAPER_CONFIG, "actor_hidden": (16,), "critic_hidden": (16,)})
    _, _, m, _ = _run(cifar10_env, seed_keys(0, 1), queries=100, cfg=cfg)
    eps = m["epsilon"][0]
    assert eps[0] == pytest.approx(1.0) and eps[50] == pytest.approx(0.5, abs=0.02)  # cosine over the whole run
    assert m["updates"][0, 99] == 3  # min(10, 1 + 100 // 50)
    assert m["from_actor"][0][~m["explore"][0]].all()  # the pool is the single actor proposal



def test_chunks_reuse_one_compiled_program(cifar10_env):
    """A search run in 6 chunks compiles its scan step once, not once per chunk (and init once)."""
    import jax

    from l2nas_jax.api import run_method
    from l2nas_jax.core.compile_cache import count_compilations

    cfg = dict(actor_hidden=(8,), critic_hidden=(8,), batch_size=8, max_updates=1, learning_starts=4,
               num_actor_candidates=2, num_mutations=4, num_random_candidates=4)
    jax.clear_caches()
    with count_compilations() as count:
        chunked = run_method(cifar10_env, "l2nas", queries=36, seeds=2, seed=0, config=cfg, chunk=6)
    assert count.names["jit(_scan)"] == 1 and count.names["jit(init)"] == 1, dict(count.names)
    whole = run_method(cifar10_env, "l2nas", queries=36, seeds=2, seed=0, config=cfg)
    np.testing.assert_array_equal(chunked.trajectory.archs, whole.trajectory.archs)
