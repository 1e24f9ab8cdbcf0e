"""The up-front memory check of a batched run (:func:`l2nas_jax.runner.check_run_memory`): pure arithmetic."""

import pytest

from l2nas_jax import runner


def test_run_memory_bytes_counts_outputs_and_replay():
    # 2 seeds x 10 queries x (6 arch ints + 8 values) + 2 seeds x 10 rows x (30 alpha + 1 reward), 4 bytes each
    assert runner.run_memory_bytes(2, 10, 6) == 4 * 2 * 10 * (6 + runner.PER_QUERY_VALUES)
    assert runner.run_memory_bytes(2, 10, 6, replay_rows=10, alpha_size=30) == 4 * (2 * 10 * 14 + 2 * 10 * 31)
    assert runner.run_memory_bytes(100_000, 100_000, 6) == 560_000_000_000  # no int32 overflow


def test_check_run_memory_refuses_only_what_does_not_fit():
    need = runner.run_memory_bytes(8, 1000, 6, replay_rows=1000, alpha_size=30)
    runner.check_run_memory(8, 1000, 6, replay_rows=1000, alpha_size=30, available=need)  # fits exactly
    with pytest.raises(ValueError, match=r"^100000 seeds x 100000 queries need about [\d,.]+ GiB of memory, more than "
                                         r"the 1\.0 GiB available: pass fewer --seeds \(run the rest with another "
                                         r"--seed\) or fewer --queries$"):
        runner.check_run_memory(100_000, 100_000, 6, available=2**30)


def test_unknown_available_memory_skips_the_check(monkeypatch):
    monkeypatch.setattr(runner, "available_memory", lambda: None)
    runner.check_run_memory(100_000, 100_000, 6)  # nothing to compare with: no refusal
    monkeypatch.undo()
    assert runner.available_memory() is None or runner.available_memory() > 0
