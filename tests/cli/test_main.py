"""``l2nas_jax.cli.main``: an out-of-memory failure is one line with the fix, not an 'internal error'."""

import pytest

from l2nas_jax import api
from l2nas_jax.cli import main


@pytest.mark.parametrize("error", [
    RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 17179869184 bytes.\nBufferAssignment"),
    MemoryError(),
])
def test_out_of_memory_names_the_fix(tmp_path, monkeypatch, capsys, error):
    def exhausted(spec, **kwargs):
        raise error

    monkeypatch.setattr(api, "run_spec", exhausted)
    assert main(["search", "--queries", "20", "--seeds", "1", "--no-progress", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("l2nas: error: out of memory (") and "pass fewer --seeds" in err, err
    assert "internal error" not in err and "BufferAssignment" not in err
    assert list((tmp_path / "o").iterdir()) == []  # the failed run's run.json is not left behind
