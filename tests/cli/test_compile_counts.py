"""How many XLA programs each CLI command needs (tiny budgets): a guard against new compilations, and proof
that with a warm persistent cache none of them is compiled again.

Measured in-process after ``jax.clear_caches()`` (JAX 0.10.2, CPU, 2 host devices as in conftest), with
the arguments below; :data:`MAX_PROGRAMS` are those counts.  Lower them when a change removes programs.
Where they come from (``jax.monitoring`` backend-compile events, by program name):

* search 10 = init + scan + batched_trajectories (needed) + 7 small eager programs, as JAX names them:
  2 ``stage``, ``convert_element_type``, ``_reduce_max`` (the table's optimum), ``_threefry_seed`` and
  ``_threefry_split`` (runner.seed_keys), ``_multi_slice`` (shard_seeds).
* compare 16 = the same small programs + init and scan of each of the 4 methods + one batched_trajectories.
* sweep 11 = one grid program (``_grid_outputs``) + 2 ``reshape`` + the small programs.
* transfer 17 = init + scan for the source, the target from scratch and the transferred target (the last
  two are the same program: a cache hit), 2 batched_trajectories, ``_threefry_fold_in`` + the small
  programs.  (Before its init was jitted it needed 105: the networks initialised op by op.)
"""

import json
import subprocess
import sys

import jax
import pytest

from l2nas_jax.cli import main
from l2nas_jax.core.compile_cache import count_compilations

pytestmark = pytest.mark.slow  # compiles whole searches (quick tier: pytest -m 'not slow')

# Small networks and candidate pools: the same programs, compiled faster (the counts do not depend on sizes).
_SMALL = ["--set", "actor_hidden=8", "--set", "critic_hidden=8", "--set", "batch_size=8",
          "--set", "num_actor_candidates=2", "--set", "num_mutations=4", "--set", "num_random_candidates=4"]
COMMANDS = {
    "search": ["search", "--queries", "20", "--seeds", "2", *_SMALL],
    "compare": ["compare", "--methods", "l2nas,random,rea,reinforce", "--queries", "20", "--seeds", "2",
                "--budgets", "10,20"],
    "sweep": ["sweep", "--grid", "tau=0.8,0.9", "--queries", "20", "--seeds", "2", "--budgets", "10,20"],
    # --target-eps-start 1 (scratch's own epsilon start): the transferred target and scratch are one program
    "transfer": ["transfer", "--queries-from", "20", "--queries-to", "10", "--seeds", "2", "--budgets", "5,10",
                 "--target-eps-start", "1", *_SMALL],
}
#: Programs (XLA compilations with the cache off; compiled + loaded with it on) per command; a regression raises them.
MAX_PROGRAMS = {"search": 10, "compare": 16, "sweep": 11, "transfer": 17}


def _run(args: list[str], out, cache) -> tuple[int, object]:
    """One command in this process as a fresh process would run it (JAX's in-memory caches dropped)."""
    jax.clear_caches()
    with count_compilations() as count:
        rc = main([*args, "--out", str(out), "--overwrite", "--no-progress", "--compile-cache", str(cache)])
    return rc, count


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_compilations_stay_within_the_measured_count_and_a_warm_cache_compiles_none(command, tmp_path, capsys):
    cache = tmp_path / "cache"
    rc, cold = _run(COMMANDS[command], tmp_path / "cold", cache)
    assert rc == 0, capsys.readouterr().err
    # a cold cache can still hit: one command may compile the same program twice (transfer: scratch and target)
    assert cold.compiled >= 1 and cold.programs <= MAX_PROGRAMS[command], \
        f"{command}: {cold.programs} programs; {dict(cold.names)}"

    rc, warm = _run(COMMANDS[command], tmp_path / "warm", cache)
    assert rc == 0, capsys.readouterr().err
    assert warm.compiled == 0, f"{command}: compiled again: {dict(warm.names)}"
    assert warm.cache_hits == warm.programs == cold.programs


def test_off_compiles_every_program(tmp_path):
    jax.clear_caches()
    with count_compilations() as count:
        rc = main([*COMMANDS["search"], "--out", str(tmp_path), "--overwrite", "--no-progress",
                   "--compile-cache", "off"])
    assert rc == 0 and count.cache_hits == 0 and 0 < count.programs <= MAX_PROGRAMS["search"]


_HEAVY = ("jax", "matplotlib", "orbax", "flax", "tensorflow_datasets")


def _imported_after(code: str) -> list[str]:
    """The heavy packages a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {_HEAVY!r} if m in sys.modules)))"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_import_l2nas_jax_starts_nothing_heavy():
    assert _imported_after("import l2nas_jax") == []


def test_help_starts_nothing_heavy():
    code = ("import sys\nfrom l2nas_jax.cli import main\nsys.argv = ['l2nas', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass")
    assert _imported_after(code) == []
