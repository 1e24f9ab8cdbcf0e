"""The layer contract (pyproject ``[tool.importlinter]``) holds, and it really catches an upward import."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports") or os.path.join(os.path.dirname(sys.executable), "lint-imports")


def _lint(package_parent: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([LINT, "--config", str(config), "--no-cache"], cwd=package_parent, env=env,
                          capture_output=True, text=True, timeout=300)


def test_layer_contract_is_kept():
    res = _lint(ROOT, ROOT / "pyproject.toml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


@pytest.mark.parametrize("module, upward", [
    ("spaces/base.py", "import l2nas_jax.envs.table"),  # a space reaching up to an evaluator
    ("envs/table.py", "from l2nas_jax import api"),  # an evaluator reaching up to the API
    ("experiments/compare.py", "from l2nas_jax.cli import common"),  # the old cli <-> compare cycle
])
def test_an_upward_import_breaks_the_contract(tmp_path, module, upward):
    shutil.copytree(ROOT / "l2nas_jax", tmp_path / "l2nas_jax", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "l2nas_jax" / module
    target.write_text(target.read_text() + f"\n{upward}  # noqa\n")
    res = _lint(tmp_path, tmp_path / "pyproject.toml")
    assert res.returncode != 0
    assert "BROKEN" in res.stdout and "l2nas_jax." + module.split("/")[0] in res.stdout
