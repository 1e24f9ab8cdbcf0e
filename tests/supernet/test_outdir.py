"""The ``--out`` of train/evaluate.py and train/supernet.py: an earlier run in it is never written over unasked.

``train/evaluate.py --dry-run`` used to overwrite another run's evaluate.json and arch.txt in
silence, and a supernet run into a directory holding a finished run's supernet.json and
metrics.jsonl (no checkpoints left) overwrote the one and appended to the other. Both scripts now
refuse, in one line with exit code 2 and the old files byte-identical, unless ``--resume``
continues the run (training) or ``--overwrite`` replaces it (the earlier run's files are removed
first; files of other programs are kept), like the ``l2nas`` CLI. Nothing here trains a network.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from l2nas_jax.supernet import outdir

ROOT = Path(__file__).resolve().parents[2]
NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NB201_RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"train_{name}_outdir_test", ROOT / "train" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ev, sn = _script("evaluate"), _script("supernet")


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


def _dry_run(out: Path, genotype: str = NB201_BEST, *flags: str) -> list[str]:
    return ["--space", "nb201", "--genotype", genotype, "--dry-run", "--out", str(out), *flags]


# ----------------------------------------------------------------------------------------- train/evaluate.py


@pytest.fixture
def earlier_eval(tmp_path, capsys):
    """A directory holding an earlier evaluate run (a dry run of NB201_BEST) and a file of the user's."""
    out = tmp_path / "eval"
    assert ev.main(_dry_run(out)) == 0
    (out / "notes.txt").write_text("mine\n")
    capsys.readouterr()
    return out


def test_dry_run_refuses_a_directory_holding_another_run(earlier_eval, capsys):
    before = _snapshot(earlier_eval)
    assert ev.main(_dry_run(earlier_eval, NB201_RESNET)) == 2
    err = _one_line_error(capsys)
    assert err == (f"error: output directory {earlier_eval} holds an earlier run's arch.txt, evaluate.json; "
                   f"pass --overwrite to replace it (other files are kept), or choose another --out")
    assert _snapshot(earlier_eval) == before  # byte-identical
    # --resume does not let a dry run through (it continues training runs only)
    assert ev.main(_dry_run(earlier_eval, NB201_RESNET, "--resume")) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert _snapshot(earlier_eval) == before


def test_dry_run_overwrite_replaces_the_earlier_run_and_keeps_other_files(earlier_eval, capsys):
    (earlier_eval / "metrics.jsonl").write_text('{"epoch": 1}\n')  # say the earlier run had trained
    (earlier_eval / "checkpoints" / "12").mkdir(parents=True)
    (earlier_eval / "checkpoints" / "12" / "state").write_bytes(b"\0")
    assert ev.main(_dry_run(earlier_eval, NB201_RESNET, "--overwrite")) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"note: --overwrite: removed the earlier run's arch.txt, checkpoints/, evaluate.json, "
                          f"metrics.jsonl from {earlier_eval}\n")
    assert sorted(p.name for p in earlier_eval.iterdir()) == ["arch.txt", "evaluate.json", "notes.txt"]
    assert (earlier_eval / "arch.txt").read_text() == NB201_RESNET + "\n"
    assert json.loads((earlier_eval / "evaluate.json").read_text())["arch"] == NB201_RESNET
    assert (earlier_eval / "notes.txt").read_text() == "mine\n"


def test_dry_run_into_a_directory_of_other_files_writes_alongside_them(tmp_path, capsys):
    (tmp_path / "genotype.txt").write_text(NB201_BEST + "\n")  # e.g. the genotype file itself
    assert ev.main(_dry_run(tmp_path, str(tmp_path / "genotype.txt"))) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arch.txt", "evaluate.json", "genotype.txt"]
    assert "note:" not in capsys.readouterr().err  # nothing removed


@pytest.mark.parametrize("name", ["run.json", "supernet.json", "metrics.jsonl"])
def test_evaluate_refuses_another_scripts_or_the_cli_run(tmp_path, capsys, name):
    """A supernet run's files, or an ``l2nas search`` run.json (evaluate writes run.json too)."""
    (tmp_path / name).write_text("{}\n")
    argv = ["--space", "nb201", "--genotype", NB201_BEST, "--dataset", "synthetic", "--image-size", "8",
            "--channels", "4", "--layers", "1", "--epochs", "1", "--out", str(tmp_path)]
    assert ev.main(argv) == 2
    assert f"holds an earlier run's {name}; pass --overwrite" in _one_line_error(capsys)
    assert ev.main(_dry_run(tmp_path)) == 2
    capsys.readouterr()
    assert [p.name for p in tmp_path.iterdir()] == [name] and (tmp_path / name).read_text() == "{}\n"


def test_input_errors_come_before_the_directory_check(earlier_eval, capsys):
    """A wrong genotype is reported as such, not as a busy --out."""
    assert ev.main(_dry_run(earlier_eval, "|bogus~0|")) == 2
    assert "not a valid nb201 architecture" in _one_line_error(capsys)


def test_resume_and_overwrite_exclude_each_other(earlier_eval, capsys):
    before = _snapshot(earlier_eval)
    assert ev.main(_dry_run(earlier_eval, NB201_BEST, "--resume", "--overwrite")) == 2
    assert "pass one of them" in _one_line_error(capsys)
    assert _snapshot(earlier_eval) == before


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "f"
    path.write_text("x")
    assert ev.main(_dry_run(path, NB201_BEST, "--overwrite")) == 2
    assert _one_line_error(capsys) == f"error: --out {path} exists and is not a directory"
    assert path.read_text() == "x"


# ----------------------------------------------------------------------------------------- train/supernet.py


SN_ARGS = ["--space", "nb201", "--dataset", "synthetic", "--epochs", "1", "--channels", "4", "--layers", "1",
           "--image-size", "8", "--synthetic-size", "32", "--batch-size", "16", "--fast-compile", "--no-progress"]


def _finished_supernet(out: Path, *, checkpoints: bool) -> None:
    """The files a finished supernet run leaves (fabricated: nothing here trains)."""
    out.mkdir(parents=True)
    (out / "supernet.json").write_text('{"space": "nb201", "finished": true}\n')
    (out / "metrics.jsonl").write_text('{"epoch": 1, "step": 2}\n')
    if checkpoints:
        (out / "checkpoints" / "2").mkdir(parents=True)
        (out / "checkpoints" / "2" / "state").write_bytes(b"\1\2")


@pytest.mark.parametrize("checkpoints", [True, False])
def test_supernet_refuses_a_directory_holding_a_finished_run(tmp_path, capsys, checkpoints):
    out = tmp_path / "sn"
    _finished_supernet(out, checkpoints=checkpoints)
    before = _snapshot(out)
    assert sn.main([*SN_ARGS, "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    if checkpoints:  # a run that can be continued
        assert err == (f"error: output directory {out} holds an earlier run's checkpoints/, metrics.jsonl, "
                       f"supernet.json; pass --resume to continue that run, or --overwrite to replace it "
                       f"(other files are kept), or choose another --out")
    else:  # checkpoints deleted to save space: the old run's summary and metrics would be overwritten / mixed
        assert err == (f"error: output directory {out} holds an earlier run's metrics.jsonl, supernet.json; "
                       f"pass --overwrite to replace it (other files are kept), or choose another --out")
    assert _snapshot(out) == before
    assert sn.main([*SN_ARGS, "--out", str(out), "--resume", "--overwrite"]) == 2
    assert "pass one of them" in _one_line_error(capsys)
    assert _snapshot(out) == before


def test_supernet_accepts_an_empty_or_new_directory(tmp_path):
    """Only an earlier run's files count: an empty directory, an empty checkpoints/ or other files pass."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)  # a run killed before its first checkpoint
    (tmp_path / "b" / "README").write_text("x")
    for out in (tmp_path / "a", tmp_path / "b", tmp_path / "new"):
        assert outdir.check_out_dir(out, resume=False, overwrite=False) == []
        assert outdir.check_out_dir(out, resume=False, overwrite=True) == []


def test_check_out_dir_returns_what_overwrite_removes(tmp_path):
    _finished_supernet(tmp_path / "sn", checkpoints=True)
    out = tmp_path / "sn"
    (out / ".supernet.json.abc.tmp").write_text("")  # a temporary file of an interrupted atomic write
    (out / "notes.txt").write_text("mine\n")
    assert outdir.check_out_dir(out, resume=True, overwrite=False) == []  # resume: the run continues
    held = outdir.check_out_dir(out, resume=False, overwrite=True)
    assert [p.name for p in held] == [".supernet.json.abc.tmp", "checkpoints", "metrics.jsonl", "supernet.json"]
    assert (out / "supernet.json").exists()  # checking removes nothing ...
    outdir.remove_run_files(held)  # ... this does
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("flag, value", [("--lr", "nan"), ("--lr", "inf"), ("--weight-decay", "nan"),
                                         ("--grad-clip", "inf")])
def test_non_finite_training_values_are_refused_before_anything_is_written(tmp_path, capsys, flag, value):
    """``--lr nan`` passed every ``<= 0`` check, trained an epoch of NaNs, then failed with a half-made directory."""
    out = tmp_path / "run"
    args = ["--space", "nb201", "--dataset", "synthetic", "--epochs", "1", flag, value, "--out", str(out),
            "--no-progress"]
    assert sn.main(args) == 2
    assert _one_line_error(capsys) == f"error: TrainConfig.{flag[2:].replace('-', '_')} must be a finite number, " \
                                      f"got {float(value)!r}"
    assert not out.exists()
