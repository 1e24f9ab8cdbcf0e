"""``--out`` directories: a non-empty one is refused without ``--overwrite``; with it, the earlier run's
files are removed first (never mixed with the new run's), and files l2nas did not write are kept."""

import pytest

from l2nas_jax import api
from l2nas_jax.cli import main
from l2nas_jax.cli.common import TOOL_FILES, prepare_out_dir, remove_tool_files, tool_files
from l2nas_jax.experiments import compare, sweep, transfer

#: An earlier run's files (a checkpointed --pareto search, a compare, a half-written temporary file) and the user's.
EARLIER = ("run.json", "results.json", "best_so_far.png", "pareto.json", "pareto.png", "checkpoint.npz",
           "compare.md", "regret.png", ".results.json.k2x9q.tmp")
USER = ("notes.txt", "results.json.bak", "my_plot.png", ".results.json.tmp.keep")


def _fill(out):
    out.mkdir(exist_ok=True)
    for name in EARLIER + USER:
        (out / name).write_text("old")
    (out / "data").mkdir()
    (out / "data" / "results.json").write_text("user's")  # in a subdirectory: never touched


def test_every_file_a_command_writes_is_known():
    from l2nas_jax.cli.search import CHECKPOINT_FILE, RUN_FILE

    written = {RUN_FILE, CHECKPOINT_FILE, "results.json", "best_so_far.png", "pareto.json", "pareto.png",
               *compare.FILES, *sweep.FILES, *transfer.FILES}
    assert written <= set(TOOL_FILES), written - set(TOOL_FILES)


def test_tool_files_are_only_the_known_names(tmp_path):
    _fill(tmp_path)
    assert [p.name for p in tool_files(tmp_path)] == sorted(EARLIER)
    assert sorted(p.name for p in remove_tool_files(tmp_path)) == sorted(EARLIER)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted((*USER, "data"))
    assert (tmp_path / "data" / "results.json").read_text() == "user's"


def test_overwrite_removes_the_earlier_run_first(tmp_path, capsys):
    _fill(tmp_path)
    assert prepare_out_dir(tmp_path, True, ("run.json", "results.json", "best_so_far.png")) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted((*USER, "data"))
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("note: --overwrite: removed the earlier run's ") and \
        "pareto.json" in err and "notes.txt" not in err, err


def test_without_overwrite_a_non_empty_directory_is_refused(tmp_path):
    _fill(tmp_path)
    with pytest.raises(ValueError) as e:
        prepare_out_dir(tmp_path, False, ("run.json",))
    text = str(e.value)
    assert "\n" not in text and f"output directory {tmp_path} is not empty" in text and "pass --overwrite" in text
    assert "pareto.json" in text and "notes.txt" not in text
    assert len(list(tmp_path.iterdir())) == len(EARLIER + USER) + 1  # nothing removed


def test_search_overwrite_starts_from_a_clean_directory(tmp_path, monkeypatch, capsys):
    """``l2nas search --overwrite`` into an earlier run's directory: when the new run starts, only its own
    run.json and the user's files are there (no old pareto.json, checkpoint.npz, ... to be mixed in)."""
    _fill(tmp_path)
    seen = []

    def fake_run_spec(spec, **kwargs):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        raise ValueError("stop here")  # the rest of the run is not this test's concern

    monkeypatch.setattr(api, "run_spec", fake_run_spec)
    assert main(["search", "--queries", "20", "--seeds", "1", "--out", str(tmp_path), "--overwrite",
                 "--no-progress"]) == 2
    assert seen == [sorted(("run.json", *USER, "data"))]
    assert "stop here" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["search", "--queries", "20", "--seeds", "1"],
    ["compare", "--queries", "20", "--seeds", "1", "--methods", "random"],
    ["sweep", "--queries", "20", "--seeds", "1", "--grid", "tau=0.9,0.95"],
    ["transfer", "--queries-from", "20", "--queries-to", "20", "--seeds", "1"],
])
def test_each_command_refuses_an_earlier_run_without_overwrite(tmp_path, capsys, command):
    _fill(tmp_path)
    assert main([*command, "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not empty" in err and "--overwrite" in err, err
    assert (tmp_path / "pareto.json").read_text() == "old"
