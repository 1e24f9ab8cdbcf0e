"""Notebooks run top to bottom from a fresh kernel without errors, and show what they promise."""

from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).parent.parent / "notebooks"


class Expect(NamedTuple):
    """What a notebook's outputs must contain after a clean run."""

    min_images: int  # PNG outputs (plots, drawings)
    texts: tuple[str, ...]  # substrings of the printed text


#: Every notebook under notebooks/ and what its run must produce; add a notebook by adding one entry.
NOTEBOOKS = {
    "quickstart.ipynb": Expect(3, ("reached optimum",)),  # best-so-far, cell drawing, regret
    # best-so-far, regret, optimum cell, 2 heatmaps; table; one summary row per method
    "compare.ipynb": Expect(5, ("reached optimum", "match best cell", "l2nas", "rea", "random", "reinforce")),
    # training loss, best-so-far, best cell; a supernet has no known optimum
    "supernet.ipynb": Expect(3, ("held-out accuracy of 32 random paths", "optimum unknown")),
    # held-out modelled vs measured + latency vs MACs, look-up-table heatmap; scores, exact optimum, recheck
    "latency.ipynb": Expect(2, ("Kendall tau", "reached constrained optimum", "exact: True", "modelled", "measured")),
    # best-so-far, accuracy vs latency; per-seed search with the mean reported, the exact constrained optimum
    "table.ipynb": Expect(2, ("one of 3 runs per query", "reported: acc_mean", "exact constrained optimum",
                              "reached constrained optimum in", "l2nas", "rea", "ls", "random")),
}


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.fixture(scope="session")
def compile_cache_dir():
    """The test session's persistent compilation cache (tests/conftest.py, ``$L2NAS_COMPILE_CACHE``), absolute,
    or None when it is switched off.

    Every notebook kernel compiles through it: the package turns its cache on at ``$L2NAS_COMPILE_CACHE``
    (on the first search), and JAX's own settings point at the same directory for what a kernel compiles
    before that.  So a program is compiled once per session: compare and quickstart both run L2NAS, REA and
    random search for 200 queries x 8 seeds on NB201/CIFAR-10 (compare first: the parameters are sorted).
    """
    from l2nas_jax.core import compile_cache

    _, path = compile_cache.requested_location()
    return None if path is None else path.absolute()  # absolute: the kernels run in another directory


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel (which inherits this process's environment); return it with outputs."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs(name, tmp_path, compile_cache_dir, monkeypatch):
    path = NOTEBOOK_DIR / name
    committed = nbformat.read(path, as_version=4)
    stale = [i for i, c in enumerate(committed.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not stale, f"commit notebooks without outputs (cells {stale} have some)"
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if compile_cache_dir is None:  # L2NAS_COMPILE_CACHE=off: no persistent cache in the kernels either
        monkeypatch.setenv("JAX_ENABLE_COMPILATION_CACHE", "false")
    else:
        monkeypatch.setenv("L2NAS_COMPILE_CACHE", str(compile_cache_dir))
        monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(compile_cache_dir))
        monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # as the package's cache: every program
        monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
    nb = execute(path, tmp_path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= NOTEBOOKS[name].min_images
    text = "".join(o.get("text", "") for o in outputs)
    for expected in NOTEBOOKS[name].texts:
        assert expected in text, f"{name}: {expected!r} not in the printed output"
