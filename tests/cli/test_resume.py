"""Resumable searches: kill a real process mid-run, resume, and get the uninterrupted result."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from l2nas_jax.checkpoint import read_spec
from l2nas_jax.cli import main

ARGS = ["--queries", "120", "--seeds", "2", "--seed", "7", "--no-progress", "--checkpoint-every", "20",
        "--set", "actor_hidden=16,16", "--set", "critic_hidden=16,16", "--set", "batch_size=8"]


def _runs(path):
    return [{k: r[k] for k in ("best_arch", "curve", "observed", "queries_to_best")}
            for r in json.loads(path.read_text())["runs"]]


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
                done, _ = read_spec(ckpt)
            except ValueError:
                done = 0
            if done >= 40:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the search finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 40 <= done < 120 and not (killed / "results.json").exists()

    assert main(["search", "--resume", str(killed)]) == 0
    assert not ckpt.exists()  # removed once the results are complete
    assert main(["search", "--out", str(whole), *ARGS]) == 0
    a, b = _runs(killed / "results.json"), _runs(whole / "results.json")
    assert a == b
    assert np.asarray(a[0]["curve"]).shape == (120,)


def test_resume_errors(tmp_path, capsys):
    assert main(["search", "--resume", str(tmp_path)]) == 2
    assert "cannot resume" in capsys.readouterr().err
