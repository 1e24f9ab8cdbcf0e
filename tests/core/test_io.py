"""Atomic writes: a crash while writing leaves the old file (or none), never a partial one."""

import json

import pytest

from l2nas_jax.core import io


def test_crash_mid_write_keeps_old_file(tmp_path):
    path = tmp_path / "results.json"
    io.write_json(path, {"v": 1})

    def crashing_writer(tmp):
        tmp.write_text('{"v": 2, "half')  # partial content, then the process "dies"
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        io.write_with(path, crashing_writer)
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


def test_crash_on_first_write_leaves_nothing(tmp_path):
    path = tmp_path / "sub" / "plot.png"
    with pytest.raises(ValueError):
        io.write_with(path, lambda tmp: (_ for _ in ()).throw(ValueError("boom")))
    assert not path.exists() and list(path.parent.iterdir()) == []


def test_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        io.write_json(tmp_path / "x.json", {"v": float("nan")})
    assert not (tmp_path / "x.json").exists()


def test_replaces_atomically_and_readable(tmp_path):
    path = tmp_path / "a.txt"
    io.write_text(path, "old")
    io.write_text(path, "new")
    assert path.read_text() == "new" and oct(path.stat().st_mode & 0o777) == "0o644"


def test_pending_temporary_files_can_be_removed(tmp_path):
    """A process about to end without unwinding (Ctrl-C while XLA compiles) deletes the temp files of writes
    in progress: nothing partial remains."""
    path = tmp_path / "results.json"
    seen = []

    def writer(tmp):
        tmp.write_text('{"half')
        assert io.writing()
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        io.remove_pending()  # what the interrupt watcher does before os._exit
        raise RuntimeError("the process ends here")

    assert not io.writing()
    with pytest.raises(RuntimeError):
        io.write_with(path, writer)
    assert len(seen[0]) == 1 and seen[0][0].startswith(".results.json.") and seen[0][0].endswith(".tmp")
    assert list(tmp_path.iterdir()) == [] and not io.writing()
