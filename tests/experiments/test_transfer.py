"""Transfer across datasets: the hand-over carries the trained agent (and replay), runs are reproducible, CLI."""

import argparse
import contextlib
import io
import json

import jax
import numpy as np
import pytest

from l2nas_jax.agent import L2NASConfig, handover, make_l2nas, target_config
from l2nas_jax.api import build_env
from l2nas_jax.cli.transfer import add_transfer_parser, cmd_transfer
from l2nas_jax.core import compile_cache
from l2nas_jax.experiments.transfer import (FILES, TRANSFER, TRANSFER_REPLAY, check_pair, run_source, run_target,
                                            transfer)
from l2nas_jax.runner import progress_chunk, seed_keys, shard_seeds

pytestmark = pytest.mark.slow  # compiles whole searches (quick tier: pytest -m 'not slow')

# Tiny agent: compilation dominates, so few updates, small pool, small networks.
TINY = dict(actor_hidden=(8,), critic_hidden=(8,), batch_size=8, max_updates=1, learning_starts=4,
            num_actor_candidates=2, num_mutations=4, num_random_candidates=4)
CFG = L2NASConfig(**TINY)
Q_FROM, Q_TO, SEEDS, SEED = 24, 16, 2, 3
# The library phases below run in the chunks ``l2nas transfer`` uses (it always chunks, for its progress bar), so
# they compile the very programs the CLI run (cli_run) then loads from the session's compilation cache; chunked and
# whole runs give the same numbers (tests/agent/test_search.py checks that bit for bit).
CHUNK_FROM, CHUNK_TO = progress_chunk(Q_FROM), progress_chunk(Q_TO)


def _leaves_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


@pytest.fixture(scope="module")
def envs():
    # The session's compilation cache (tests/conftest.py), on before the module fixtures compile: conftest's autouse
    # fixture turns it on per test, after them, and the CLI run should load what they compiled.
    compile_cache.enable()
    return build_env("nb201", "cifar10"), build_env("nb201", "cifar100")


@pytest.fixture(scope="module")
def source(envs):
    return run_source(envs[0], CFG, Q_FROM, seed_keys(SEED, SEEDS), seed=SEED, chunk=CHUNK_FROM)


@pytest.fixture(scope="module")
def targets(envs, source):
    """The two transfer variants' target phases, with the initial state each scan started from."""
    keys = seed_keys(SEED, SEEDS)
    out = {}
    for label, carry in ((TRANSFER, False), (TRANSFER_REPLAY, True)):
        cfg = target_config(CFG, queries_from=Q_FROM, queries_to=Q_TO, carry_replay=carry, eps_start=0.0)
        init = []
        final, result = run_target(envs[1], cfg, Q_TO, keys, source=source[0], carry_replay=carry, label=label,
                                   seed=SEED, chunk=CHUNK_TO, initial=init.append)
        out[label] = (init[0], final, result)
    return out


def test_target_starts_from_the_trained_source_agent(source, targets):
    src_state, src_result = source
    assert src_result.queries == Q_FROM and src_result.dataset == "cifar10"
    for label in (TRANSFER, TRANSFER_REPLAY):
        init, final, _ = targets[label]
        # The scan started from exactly the source's final actor/critic parameters and Adam states ...
        assert _leaves_equal(init.agent, src_state.agent), label
        # ... which are trained, not a fresh initialisation (Adam took one step per update).
        assert int(np.asarray(init.agent.critic.step)[0]) > 0
        # The target state is fresh otherwise: nothing seen, empty top-k, query count restarts.
        assert not np.asarray(init.seen).any()
        assert np.isneginf(np.asarray(init.topk.values)).all()
        # And the target phase then trained the carried networks further.
        assert not _leaves_equal(final.agent.actor.params, src_state.agent.actor.params)


def test_carry_replay_buffer_holds_the_source_entries(source, targets):
    src_buf = source[0].buffer
    init_plain = targets[TRANSFER][0].buffer
    init, final, _ = targets[TRANSFER_REPLAY]
    assert int(np.asarray(init_plain.size)[0]) == 0  # without the flag the target buffer starts empty
    buf = init.buffer
    assert buf.rewards.shape == (SEEDS, Q_FROM + Q_TO)  # room for every source and target sample
    np.testing.assert_array_equal(np.asarray(buf.size), Q_FROM)
    np.testing.assert_array_equal(np.asarray(buf.insert_pos), Q_FROM)
    np.testing.assert_array_equal(np.asarray(buf.rewards)[:, :Q_FROM], np.asarray(src_buf.rewards))
    np.testing.assert_array_equal(np.asarray(buf.actions)[:, :Q_FROM], np.asarray(src_buf.actions))
    # Rescaled rewards: the source's accuracies / the fixed scale of accuracies in % (never the table's maximum).
    obs = np.asarray(source[1].trajectory.observed)
    np.testing.assert_allclose(np.asarray(buf.rewards)[:, :Q_FROM], obs / 100.0, rtol=1e-6)
    # After the target phase the source entries are still there, followed by the target's.
    np.testing.assert_array_equal(np.asarray(final.buffer.size), Q_FROM + Q_TO)
    np.testing.assert_array_equal(np.asarray(final.buffer.rewards)[:, :Q_FROM], np.asarray(src_buf.rewards))


def test_handover_without_replay_keeps_fresh_buffer_and_key(source, envs):
    # jitted as run_target does (one program, the targets' own: a cache hit), not ~60 eager ops compiled one by one
    fresh = jax.jit(jax.vmap(make_l2nas(envs[1], CFG, Q_TO).init))(shard_seeds(seed_keys(SEED, SEEDS)))
    st = handover(fresh, source[0])
    assert _leaves_equal(st.buffer, fresh.buffer) and _leaves_equal(st.topk, fresh.topk)
    np.testing.assert_array_equal(jax.random.key_data(st.key), jax.random.key_data(fresh.key))
    assert _leaves_equal(st.agent, source[0].agent)


@pytest.fixture(scope="module")
def parser():
    p = argparse.ArgumentParser(prog="l2nas")
    add_transfer_parser(p.add_subparsers(dest="command", required=True))
    return p


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, parser):
    out = tmp_path_factory.mktemp("transfer") / "out"
    sets = [f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in TINY.items()]
    argv = ["transfer", "--from", "cifar10", "--to", "cifar100", "--queries-from", str(Q_FROM), "--queries-to",
            str(Q_TO), "--seeds", str(SEEDS), "--seed", str(SEED), "--budgets", "4,8,100", "--no-progress",
            "--out", str(out), *[a for s in sets for a in ("--set", s)]]
    args = parser.parse_args(argv)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = args.func(args)
    return rc, out, stdout.getvalue()


def test_cli_end_to_end_and_same_seed_same_result(cli_run, source, targets):
    rc, out, stdout = cli_run
    assert rc == 0
    for name in FILES:
        assert (out / name).stat().st_size > 0
    assert (out / "best_so_far.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))
    data = json.loads((out / "transfer.json").read_text())
    assert data["kind"] == "l2nas-transfer" and (data["from"], data["to"]) == ("cifar10", "cifar100")
    assert data["variants"] == ["scratch", "transfer"] and data["budgets"] == [4, 8, Q_TO]
    assert (data["queries_from"], data["queries_to"], data["seed"], data["num_seeds"]) == (Q_FROM, Q_TO, SEED, SEEDS)
    assert "free pre-training" in data["queries_note"] and {"versions", "device"} <= set(data["provenance"])
    assert data["config"]["transfer"]["eps_start"] == 0.0 and data["config"]["scratch"]["eps_start"] == 1.0
    # An independent run with the same seed (the library phases above) gives the same numbers.
    np.testing.assert_array_equal(data["source"]["best_report"], np.round(source[1].best_report, 4))
    curves = np.round(np.asarray(targets[TRANSFER][2].curves, np.float64), 4)
    np.testing.assert_array_equal(data["runs"]["transfer"]["curves"], curves)
    # Table cells are the JSON's numbers; the differences are transfer - scratch.
    md = (out / "transfer.md").read_text()
    assert "| transfer |" in md and "Δ best @4" in md and "free pre-training" in md
    diff = data["differences"]["transfer"][-1]
    t, s = np.asarray(data["runs"]["transfer"]["curves"]), np.asarray(data["runs"]["scratch"]["curves"])
    assert diff["budget"] == Q_TO and diff["diff"] == pytest.approx(t[:, -1].mean() - s[:, -1].mean())
    assert "transfer - scratch" in stdout and "variant" in stdout


@pytest.mark.parametrize("argv, match", [
    (["--from", "cifar10", "--to", "cifar10"], "both 'cifar10'"),
    (["--to", "mnist"], "unknown NB201 dataset 'mnist'"),
    (["--from", "svhn"], "unknown NB201 dataset 'svhn'"),
    (["--queries-from", "0"], "--queries-from must be a positive integer"),
    (["--queries-to", "-5"], "--queries-to must be a positive integer"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--target-eps-start", "1.5"], "--target-eps-start must be in"),
    (["--budgets", "10,0"], "budgets must be positive"),
    (["--set", "nope=1"], "unknown l2nas config key"),
])
def test_cli_refuses_bad_input_before_running(parser, tmp_path, argv, match):
    args = parser.parse_args(["transfer", "--out", str(tmp_path / "o"), "--no-progress", *argv])
    with pytest.raises(ValueError, match=match):
        cmd_transfer(args)
    assert not (tmp_path / "o").exists()  # nothing written, nothing run


def test_library_validation(envs):
    with pytest.raises(ValueError, match="queries_from must be a positive integer"):
        transfer(*envs, queries_from=0, queries_to=5)
    with pytest.raises(ValueError, match="queries_to must be a positive integer"):
        transfer(*envs, queries_from=5, queries_to=2.5)
    with pytest.raises(ValueError, match="both 'cifar100'"):
        check_pair(envs[1], build_env("nb201", "cifar100"))
    with pytest.raises(ValueError, match="unknown NB201 dataset"):
        transfer(("nb201", "cifar10"), ("nb201", "imagenet"), queries_from=5, queries_to=5)
    with pytest.raises(ValueError, match="carry_replay needs a source"):
        run_target(envs[1], CFG, 5, seed_keys(0, 1), carry_replay=True)
