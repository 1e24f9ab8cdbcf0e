"""Resumable searches: kill a real process mid-run, resume, and get the uninterrupted result.

``--resume DIR`` runs exactly the RunSpec saved in ``DIR/run.json``: other flags are refused
(they would be ignored), a damaged run.json is one error line, and a checkpoint only resumes
the run it was saved from.
"""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from l2nas_jax import api
from l2nas_jax.checkpoint import read_info
from l2nas_jax.cli import main
from l2nas_jax.runspec import RunSpec

ARGS = ["--queries", "120", "--seeds", "2", "--seed", "7", "--no-progress", "--checkpoint-every", "20",
        "--set", "actor_hidden=16,16", "--set", "critic_hidden=16,16", "--set", "batch_size=8"]
TINY = {"actor_hidden": (8,), "critic_hidden": (8,), "batch_size": 8, "max_updates": 1, "learning_starts": 4,
        "num_actor_candidates": 2, "num_mutations": 4, "num_random_candidates": 4}
#: A short checkpointed run, as a spec and as the equivalent flags.
SPEC = RunSpec(queries=30, seeds=2, seed=3, config=TINY, checkpoint_every=10)
SPEC_ARGS = ["--queries", "30", "--seeds", "2", "--seed", "3", "--checkpoint-every", "10", "--no-progress",
             *[a for k, v in TINY.items() for a in ("--set", f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}")]]


def _runs(path):
    return [{k: r[k] for k in ("best_arch", "curve", "observed", "queries_to_best")}
            for r in json.loads(path.read_text())["runs"]]


class _Stop(Exception):
    """Raised from the progress callback: the process 'dies' right after a checkpoint."""


def _interrupted(out, spec, after):
    """``out`` as a killed ``l2nas search --out out`` leaves it: run.json, and a checkpoint after ``after`` queries."""
    out.mkdir()
    spec.save(out / "run.json")

    def stop(done):
        if done >= after:
            raise _Stop

    with pytest.raises(_Stop):
        api.run_spec(spec, progress=stop, checkpoint=out / "checkpoint.npz")
    return out


@pytest.mark.slow
def test_killed_search_resumes_to_identical_result(tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "l2nas_jax.cli.main", "search", "--out", str(killed), *ARGS],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoint.npz"
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            try:
                done = read_info(ckpt).done
            except ValueError:
                done = 0
            if done >= 40:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the search finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 40 <= done < 120 and not (killed / "results.json").exists()
    saved = RunSpec.load(killed / "run.json")
    assert read_info(ckpt).spec == saved and saved.seed == 7 and saved.checkpoint_every == 20

    assert main(["search", "--resume", str(killed)]) == 0
    assert not ckpt.exists()  # removed once the results are complete
    assert main(["search", "--out", str(whole), *ARGS]) == 0
    a, b = _runs(killed / "results.json"), _runs(whole / "results.json")
    assert a == b
    assert np.asarray(a[0]["curve"]).shape == (120,)


@pytest.mark.slow
def test_resume_runs_the_saved_spec_to_the_uninterrupted_result(tmp_path):
    out = _interrupted(tmp_path / "killed", SPEC, after=10)
    assert read_info(out / "checkpoint.npz").done == 10 and read_info(out / "checkpoint.npz").spec == SPEC
    assert main(["search", "--resume", str(out), "--no-progress"]) == 0
    assert not (out / "checkpoint.npz").exists() and RunSpec.load(out / "run.json") == SPEC
    assert main(["search", "--out", str(tmp_path / "whole"), *SPEC_ARGS]) == 0
    assert RunSpec.load(tmp_path / "whole" / "run.json") == SPEC  # the flags describe the same spec
    assert _runs(out / "results.json") == _runs(tmp_path / "whole" / "results.json")


@pytest.mark.slow
def test_resume_reads_run_json_and_refuses_another_run(tmp_path, capsys):
    out = _interrupted(tmp_path / "killed", SPEC, after=10)
    edited = SPEC.to_json() | {"seed": 4}  # run.json is what --resume runs: a hand edit is noticed
    (out / "run.json").write_text(json.dumps(edited))
    assert main(["search", "--resume", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is from a different run than run.json (differs in: seed)" in err, err


@pytest.mark.slow
def test_checkpoint_resumes_only_its_own_run(tmp_path):
    out = _interrupted(tmp_path / "killed", SPEC, after=10)
    with pytest.raises(ValueError, match=r"is from a different run \(differs in: seeds, config.tau\)$"):
        api.run_spec(dataclasses.replace(SPEC, seeds=3, config={**TINY, "tau": 0.8}), checkpoint=out / "checkpoint.npz",
                     resume=True)
    other_env = api.build_env("nb201", "cifar100")  # same spec, but an environment that describes itself differently
    with pytest.raises(ValueError, match=r"differs in: env.dataset\)$"):
        api.run_spec(SPEC, env=other_env, checkpoint=out / "checkpoint.npz", resume=True)


@pytest.mark.parametrize("flags, named", [
    (["--queries", "50"], "--queries"),
    (["--seeds", "3", "--set", "tau=0.8"], "--seeds, --set"),
    (["--out", "elsewhere"], "--out"),
    (["--overwrite"], "--overwrite"),
])
def test_resume_refuses_flags_it_would_ignore(tmp_path, capsys, flags, named):
    assert main(["search", "--resume", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"drop {named} (it would be ignored)" in err, err


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "a run spec must be a JSON object"),
    (json.dumps({"queries": 10}), "not an l2nas search run spec"),
    (json.dumps(SPEC.to_json() | {"seeds": -3}), "seeds must be a positive integer, got -3"),
    (json.dumps(SPEC.to_json() | {"queries": "30"}), "queries must be a positive integer <= 2147483647, got '30'"),
    (json.dumps(SPEC.to_json() | {"config": {"tau": "0.9"}}), "l2nas config tau must be a finite number"),
    (json.dumps(SPEC.to_json() | {"colour": "red"}), "unknown run spec key(s): colour"),
    (json.dumps({k: v for k, v in SPEC.to_json().items() if k != "seed"}), "missing key(s): seed"),
])
def test_damaged_run_json_is_one_line(tmp_path, capsys, content, message):
    if content is not None:
        (tmp_path / "run.json").write_text(content)
    (tmp_path / "checkpoint.npz").write_bytes(b"")
    assert main(["search", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"l2nas: error: cannot resume from {tmp_path}: ")
    assert message in err, err


def test_resume_errors(tmp_path, capsys):
    assert main(["search", "--resume", str(tmp_path)]) == 2
    assert "cannot resume" in capsys.readouterr().err
    SPEC.save(tmp_path / "run.json")  # a finished run: its checkpoint is gone
    assert main(["search", "--resume", str(tmp_path)]) == 2
    assert "no checkpoint.npz (the run finished or never saved)" in capsys.readouterr().err
    (tmp_path / "checkpoint.npz").write_bytes(b"garbage")
    assert main(["search", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not an l2nas checkpoint" in err, err


def _fake_checkpoint(path, done=10, state_leaves=3):
    """A checkpoint of SPEC whose header is intact but whose arrays are not this searcher's state."""
    import jax.numpy as jnp

    from l2nas_jax.checkpoint import save_checkpoint

    env = api.env_description(api.spec_env(SPEC))
    save_checkpoint(path, [jnp.zeros(2)] * state_leaves, [jnp.zeros((2, done))], done, SPEC, env)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
     "checkpoint.npz is not an l2nas checkpoint (BadZipFile: File is not a zip file)"),
    (lambda p: p.write_bytes(p.read_bytes()[:-10]), "is not an l2nas checkpoint (BadZipFile"),
    (lambda p: None, "checkpoint.npz does not match this run's search state (3 state arrays, this run has "),
])
def test_damaged_checkpoint_is_one_line(tmp_path, capsys, damage, message):
    SPEC.save(tmp_path / "run.json")
    _fake_checkpoint(tmp_path / "checkpoint.npz")
    damage(tmp_path / "checkpoint.npz")
    assert main(["search", "--resume", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "internal error" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("l2nas: error: ") and str(tmp_path / "checkpoint.npz") in last and message in last, err
    assert not (tmp_path / "results.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "run.json"]  # nothing deleted
