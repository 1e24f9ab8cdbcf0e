"""The README cannot rot: every command in its ``bash`` blocks is parsed by the real CLI parser.

``l2nas ...`` lines go through :func:`l2nas_jax.cli.build_parser` and ``python train/*.py``
lines through that script's ``build_parser``; an unknown flag, a bad choice or a missing
required argument fails here, naming the README line.  Each subcommand the README uses
is also *executed* by a test (listed in ``EXECUTED_BY``), so the docs and the behaviour
are checked together.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

from l2nas_jax.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

#: where each documented entry point is run end to end (kept honest by the test below).
EXECUTED_BY = {
    "l2nas search": "tests/cli/test_cli.py",
    "l2nas compare": "tests/experiments/test_compare.py",
    "l2nas sweep": "tests/experiments/test_sweep.py",
    "l2nas transfer": "tests/experiments/test_transfer.py",
    "l2nas latency": "tests/latency/test_latency_search.py",
    "l2nas convert-ofa": "tests/spaces/test_ofa_parity.py",
    "train/supernet.py": "tests/supernet/test_supernet_train.py",
    "train/evaluate.py": "tests/supernet/test_evaluate.py",
}


def readme_commands() -> list[str]:
    """Every shell command in the README's ``bash`` blocks (continuations joined, ``&&`` split)."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words, part = shlex.split(line, comments=True), []
            for w in words + ["&&"]:
                if w == "&&":
                    if part:
                        commands.append(shlex.join(part))
                    part = []
                else:
                    part.append(w)
    return commands


def _script_parser(path: Path):
    spec = importlib.util.spec_from_file_location(f"_readme_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in the script look their module up
    spec.loader.exec_module(module)
    return module.build_parser()


def entry_point(words: list[str]) -> str | None:
    if words[0] == "l2nas":
        return f"l2nas {words[1]}" if len(words) > 1 else "l2nas"
    if words[0] in ("python", "python3") and len(words) > 1 and words[1].startswith("train/"):
        return words[1]
    return None


def test_readme_has_commands_for_every_job():
    used = {entry_point(shlex.split(c)) for c in readme_commands()}
    for job in EXECUTED_BY:
        assert job in used, f"README shows no command for {job}"


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses(command):
    words = shlex.split(command)
    job = entry_point(words)
    if job is None:
        assert words[0] in ("pip", "pytest", "cd", "git", "export", "jupyter"), f"unchecked README command: {command}"
        return
    assert job in EXECUTED_BY, f"README command {command!r} uses {job}, which no test runs end to end"
    parser = build_parser() if words[0] == "l2nas" else _script_parser(ROOT / words[1])
    args = words[1:] if words[0] == "l2nas" else words[2:]
    try:
        parser.parse_args(args)
    except SystemExit as e:
        pytest.fail(f"README command does not parse (exit {e.code}): {command}")


@pytest.mark.parametrize("job", sorted(EXECUTED_BY))
def test_each_documented_entry_point_is_executed_by_a_test(job):
    text = (ROOT / EXECUTED_BY[job]).read_text()
    needle = job.split()[-1] if job.startswith("l2nas") else job
    assert needle in text, f"{EXECUTED_BY[job]} does not run {job}"
