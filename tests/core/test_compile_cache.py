"""The persistent compilation cache: where it lives, switching it off, hits across processes, and degrading
to plain compiling (one warning, the same numbers) when its directory is a file, read-only or holds garbage."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
import zlib
from pathlib import Path

import jax
import numpy as np
import pytest

from l2nas_jax.core import compile_cache
from l2nas_jax.core.compile_cache import CompileCacheWarning, EntryStore, count_compilations

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_session_cache():
    """Each test may point JAX's cache anywhere; afterwards it is the test session's again (conftest)."""
    yield
    compile_cache.enable()


def _cache_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, CompileCacheWarning)]


def _fresh_program(tag: float):
    """A jitted function no other test compiled (``tag`` is baked into the program)."""
    return jax.jit(lambda x: x * 3.0 + tag)


def _run_fresh(fn, x: np.ndarray):
    """``fn(x)`` after dropping JAX's in-memory caches, as a new process would; (result, count, warnings)."""
    jax.clear_caches()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with count_compilations() as count:
            out = np.asarray(fn(x))
    return out, count, _cache_warnings(record)


# --- where the cache lives -------------------------------------------------------------------------------------

def test_default_dir_follows_xdg():
    assert compile_cache.default_cache_dir({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/l2nas-jax/jax")
    home = Path.home() / ".cache" / "l2nas-jax" / "jax"
    assert compile_cache.default_cache_dir({}) == home
    assert compile_cache.default_cache_dir({"XDG_CACHE_HOME": "relative/dir"}) == home  # XDG: relative is ignored


def test_option_beats_environment_beats_default(tmp_path):
    env = {compile_cache.ENV_VAR: str(tmp_path / "env"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert compile_cache.requested_location(str(tmp_path / "opt"), env) == (True, tmp_path / "opt")
    assert compile_cache.requested_location(None, env) == (True, tmp_path / "env")
    assert compile_cache.requested_location("off", env) == (True, None)
    assert compile_cache.requested_location(None, {compile_cache.ENV_VAR: "OFF"}) == (True, None)
    assert compile_cache.requested_location(None, {"XDG_CACHE_HOME": str(tmp_path)}) == \
        (False, tmp_path / "l2nas-jax" / "jax")
    with pytest.raises(ValueError, match="needs a directory or 'off'"):
        compile_cache.requested_location(" ", env)


def test_enable_writes_entries_where_asked_and_off_writes_none(tmp_path):
    cache = tmp_path / "cache"
    assert compile_cache.enable(cache) == cache and compile_cache.active_dir() == cache
    x = np.arange(4, dtype=np.float32)
    out, count, warned = _run_fresh(_fresh_program(1.5), x)
    assert np.array_equal(out, x * 3 + 1.5) and count.programs >= 1 and not warned
    assert list(cache.glob("*-cache"))

    assert compile_cache.enable("off") is None and compile_cache.active_dir() is None
    before = sorted(cache.iterdir())
    _run_fresh(_fresh_program(2.5), x)
    assert sorted(cache.iterdir()) == before


def test_second_run_loads_every_program_from_disk(tmp_path):
    compile_cache.enable(tmp_path)
    fn, x = _fresh_program(4.5), np.linspace(0, 1, 5, dtype=np.float32)
    first, cold, _ = _run_fresh(fn, x)
    second, warm, warned = _run_fresh(fn, x)
    assert cold.cache_hits == 0 and cold.compiled >= 1
    assert warm.compiled == 0 and warm.cache_hits == warm.programs == cold.programs and not warned
    assert first.tobytes() == second.tobytes()


# --- degrading to plain compiling --------------------------------------------------------------------------------

def _read_only_dir(tmp_path: Path) -> Path:
    """An existing directory this process cannot write to (root ignores chmod: then a sysfs directory)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if compile_cache.unusable_reason(ro) is not None:
        return ro
    ro.chmod(0o755)
    for candidate in (Path("/sys/kernel"), Path("/proc/sys")):
        if candidate.is_dir() and compile_cache.unusable_reason(candidate) is not None:
            return candidate
    pytest.skip("no read-only directory available to this user")


@pytest.mark.parametrize("kind", ["file", "under_a_file", "read_only"])
def test_unusable_directory_warns_once_and_compiles(tmp_path, kind):
    (tmp_path / "f").write_text("not a directory")
    path = {"file": tmp_path / "f", "under_a_file": tmp_path / "f" / "cache",
            "read_only": _read_only_dir(tmp_path) if kind == "read_only" else None}[kind]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert compile_cache.enable(path) is None
        compile_cache.enable(path)  # asked again: still one line
    warned = _cache_warnings(record)
    assert len(warned) == 1 and str(path) in warned[0] and "compiling without it" in warned[0]
    assert compile_cache.active_dir() is None
    x = np.arange(3, dtype=np.float32)
    out, count, warned = _run_fresh(_fresh_program(5.5), x)
    assert np.array_equal(out, x * 3 + 5.5) and count.compiled >= 1 and not warned
    if kind == "file":
        assert (tmp_path / "f").read_text() == "not a directory"


def test_garbage_in_the_cache_directory_warns_once_and_is_repaired(tmp_path):
    compile_cache.enable(tmp_path)
    fn, x = _fresh_program(6.5), np.arange(6, dtype=np.float32)
    expected, cold, _ = _run_fresh(fn, x)
    entries = sorted(tmp_path.glob("*-cache"))
    assert len(entries) == cold.programs
    for i, entry in enumerate(entries):
        entry.write_bytes(b"" if i == 0 else os.urandom(200))  # truncated to nothing, or random bytes
    (tmp_path / "notes.txt").write_text("stray file")
    (tmp_path / "0123-cache").write_bytes(b"\x00garbage")  # an entry no program asks for
    (tmp_path / "sub-cache").mkdir()

    out, count, warned = _run_fresh(fn, x)
    assert out.tobytes() == expected.tobytes()
    assert count.cache_hits == 0 and len(warned) == 1 and "corrupt entry" in warned[0]

    again, repaired, warned = _run_fresh(fn, x)  # the corrupt entries were rewritten
    assert repaired.compiled == 0 and repaired.cache_hits == cold.programs and not warned
    assert again.tobytes() == expected.tobytes()


def test_store_never_raises_and_warns_once(tmp_path):
    store = EntryStore(tmp_path / "c", check=zlib.decompress)
    store.put("k", zlib.compress(b"program"))
    assert store.get("k") == zlib.compress(b"program") and store.get("missing") is None
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.startswith(".")]  # no temp file left
    (tmp_path / "c" / "k-cache").write_bytes(b"\x78half")  # a half-written entry (what in-place writes risk)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert store.get("k") is None
        (tmp_path / "c").rename(tmp_path / "gone")
        (tmp_path / "c").write_text("a file where the directory was")
        store.put("k2", b"x")  # unwritable: warns (once per directory), never raises
        store.put("k3", b"x")
    assert len(_cache_warnings(record)) == 1


def test_an_entry_another_run_wrote_meanwhile_is_kept(tmp_path):
    store = EntryStore(tmp_path, check=zlib.decompress)
    assert store.get("k") is None  # our miss...
    (tmp_path / "k-cache").write_bytes(zlib.compress(b"theirs"))  # ...then another process wrote it
    store.put("k", zlib.compress(b"ours"))
    assert zlib.decompress((tmp_path / "k-cache").read_bytes()) == b"theirs"


# --- fresh processes (the CLI and the Python API) ----------------------------------------------------------------

_COUNTED_CLI = textwrap.dedent("""
    import json, sys
    from l2nas_jax.core.compile_cache import count_compilations
    from l2nas_jax.cli.main import main
    with count_compilations() as c:
        rc = main(sys.argv[1:])
    print("COUNTS " + json.dumps({"rc": rc, "programs": c.programs, "hits": c.cache_hits}))
""")
_TINY = ["--queries", "6", "--seeds", "2", "--no-progress", "--overwrite"]
_SMALL_L2NAS = ["--set", "actor_hidden=8", "--set", "critic_hidden=8", "--set", "batch_size=4",
                "--set", "num_actor_candidates=2", "--set", "num_mutations=4", "--set", "num_random_candidates=4"]


def _env(**extra: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def _counted_search(out: Path, *args: str, env: dict[str, str]) -> tuple[dict, str]:
    """``l2nas search`` (tiny) in a fresh process: its compile counts and stderr."""
    method = list(args) if "--method" in args else [*_SMALL_L2NAS, *args]
    p = subprocess.run([sys.executable, "-c", _COUNTED_CLI, "search", "--out", str(out), *_TINY, *method],
                       capture_output=True, text=True, env=env, timeout=900, cwd=out.parent)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("COUNTS ")]
    assert p.returncode == 0 and line, p.stderr[-3000:]
    return json.loads(line[-1][len("COUNTS "):]), p.stderr


def _results(out: Path) -> dict:
    data = json.loads((out / "results.json").read_text())
    data.pop("meta")  # timings and provenance differ between runs by design
    return data


@pytest.mark.slow
def test_repeated_cli_search_in_a_fresh_process_compiles_nothing(tmp_path):
    cache = tmp_path / "cache"
    cold, _ = _counted_search(tmp_path / "a", "--compile-cache", str(cache), env=_env())
    warm, err = _counted_search(tmp_path / "b", "--compile-cache", str(cache), env=_env())
    assert cold["hits"] == 0 and cold["programs"] >= 3
    assert warm["hits"] == warm["programs"] == cold["programs"], (cold, warm)  # every program from disk
    assert "warning" not in err
    assert _results(tmp_path / "a") == _results(tmp_path / "b")  # bit-identical numbers and archs


@pytest.mark.slow
def test_environment_variable_and_off_switch_in_a_fresh_process(tmp_path):
    # Where the cache is (not which method fills it) is tested: random search compiles in a fraction of L2NAS's time
    # (the L2NAS programs' own round trip through a fresh process is the test above).
    random = ("--method", "random")
    xdg = tmp_path / "xdg"
    off, _ = _counted_search(tmp_path / "a", "--compile-cache", "off", *random,
                             env=_env(L2NAS_COMPILE_CACHE=None, XDG_CACHE_HOME=str(xdg)))
    assert off["hits"] == 0 and not (xdg / "l2nas-jax").exists()  # off: not even the default directory is made
    env_dir = tmp_path / "env-cache"
    via_env, _ = _counted_search(tmp_path / "b", *random, env=_env(L2NAS_COMPILE_CACHE=str(env_dir)))
    assert via_env["hits"] == 0 and len(list(env_dir.glob("*-cache"))) == via_env["programs"]
    again, _ = _counted_search(tmp_path / "c", *random, env=_env(L2NAS_COMPILE_CACHE=str(env_dir)))
    assert again["hits"] == again["programs"]
    assert _results(tmp_path / "a") == _results(tmp_path / "b") == _results(tmp_path / "c")


@pytest.mark.slow
def test_cli_with_a_file_for_a_cache_prints_one_warning_line(tmp_path):
    (tmp_path / "cache").write_text("a file")
    # the warning comes from enabling the cache, before any method runs: random search compiles fastest
    counts, err = _counted_search(tmp_path / "a", "--compile-cache", str(tmp_path / "cache"), "--method", "random",
                                  env=_env())
    lines = [ln for ln in err.splitlines() if "warning" in ln.lower()]
    assert counts["hits"] == 0 and len(lines) == 1 and lines[0].startswith("l2nas: warning: compilation cache")


@pytest.mark.slow
def test_concurrent_runs_share_one_cache_safely(tmp_path):
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-c", "import sys; from l2nas_jax.cli import main; sys.exit(main())",
           "search", "--method", "random", "--compile-cache", str(cache),
           "--queries", "6", "--seeds", "2", "--no-progress"]
    procs = [subprocess.Popen([*cmd, "--out", str(tmp_path / f"run{i}")], env=_env(), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    errs = [p.communicate(timeout=900)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert not any("warning" in e for e in errs), errs
    assert _results(tmp_path / "run0") == _results(tmp_path / "run1") == _results(tmp_path / "run2")
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp file left behind
    warm, _ = _counted_search(tmp_path / "after", "--method", "random", "--compile-cache", str(cache), env=_env())
    assert warm["hits"] == warm["programs"]  # every entry the racing runs wrote is whole and loads


@pytest.mark.slow
def test_import_does_not_start_jax_and_first_api_use_enables_the_cache(tmp_path):
    code = textwrap.dedent("""
        import sys
        import l2nas_jax
        assert "jax" not in sys.modules, "import l2nas_jax imported jax"
        r = l2nas_jax.search("nb201", "cifar10", queries=4, seeds=1, method="random")
        from l2nas_jax.core.compile_cache import active_dir
        print("ACTIVE", active_dir())
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                       env=_env(L2NAS_COMPILE_CACHE=str(tmp_path / "api-cache")), cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"ACTIVE {tmp_path / 'api-cache'}" in p.stdout
    assert list((tmp_path / "api-cache").glob("*-cache"))
