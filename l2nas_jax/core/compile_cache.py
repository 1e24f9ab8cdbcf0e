"""Persistent XLA compilation cache: a search's programs compile once per machine, not once per run.

Where: ``--compile-cache DIR|off`` (CLI), else ``$L2NAS_COMPILE_CACHE`` (a directory, or ``off``),
else a cache directory the user already gave JAX itself (``JAX_COMPILATION_CACHE_DIR`` or
``jax.config``), else ``$XDG_CACHE_HOME/l2nas-jax/jax`` (``~/.cache/l2nas-jax/jax``).
The CLI turns it on in :func:`l2nas_jax.cli.main.main`; the Python API on first use of a lazy
export of :mod:`l2nas_jax`, and any batched run whatever module it came from
(:func:`ensure_enabled`).  Every program is cached, however fast it compiled: a warm search
then compiles nothing.

Entries are files ``<key>-cache`` (JAX's own layout, so a directory filled by plain JAX is
read too), kept by :class:`EntryStore` instead of JAX's default store because that one
writes entries in place (``write_bytes``: a concurrent reader, or a run killed mid-write,
sees half an entry) and keeps a corrupt entry forever.  Here:

* writes are atomic (temporary file + rename, :mod:`l2nas_jax.core.io`): concurrent runs
  sharing a directory only ever see whole entries; two runs compiling the same program
  both write the same complete entry and the last rename wins -- no lock is needed;
* reads are checked (the entry must decompress: zlib's checksum); a corrupt entry is
  deleted, compiled again and rewritten;
* a directory that is a file, cannot be created or is not writable, and any later read or
  write failure, degrade to plain compiling with ONE warning line per directory
  (:class:`CompileCacheWarning`), never an exception.

Like any JAX cache, the directory is trusted: do not share it with users you do not trust.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from l2nas_jax.core import io

ENV_VAR = "L2NAS_COMPILE_CACHE"
OFF = frozenset({"off", "none", "no", "false", "0", "disable", "disabled"})
SUFFIX = "-cache"  # JAX's LRUCache names entries "<key>-cache"

_BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # one per program JAX needs
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"  # one per program loaded from the persistent cache


class CompileCacheWarning(UserWarning):
    """The compilation cache could not be used; programs are compiled as without it."""


@dataclasses.dataclass
class _State:
    """What this process has configured (``installed``: the directory our store serves)."""

    installed: Path | None = None
    ensured: bool = False
    warned: set[str] = dataclasses.field(default_factory=set)


_STATE = _State()
_LOCK = threading.Lock()


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/l2nas-jax/jax``, else ``~/.cache/l2nas-jax/jax`` (XDG base directories)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"  # XDG: a relative value is ignored
    return root / "l2nas-jax" / "jax"


def parse_location(value: str | os.PathLike, what: str) -> Path | None:
    """A directory, or ``None`` for a switch-off word (``off``); an empty value is an error."""
    text = os.fspath(value).strip()
    if not text:
        raise ValueError(f"{what} needs a directory or 'off', got an empty value")
    return None if text.lower() in OFF else Path(text).expanduser()


def requested_location(location: str | os.PathLike | None = None,
                       environ: Mapping[str, str] | None = None) -> tuple[bool, Path | None]:
    """``(explicit, dir)``: the CLI option, else ``$L2NAS_COMPILE_CACHE``, else the XDG default (not explicit)."""
    environ = os.environ if environ is None else environ
    if location is not None:
        return True, parse_location(location, "--compile-cache")
    if environ.get(ENV_VAR) is not None:
        return True, parse_location(environ[ENV_VAR], ENV_VAR)
    return False, default_cache_dir(environ)


def unusable_reason(path: Path) -> str | None:
    """Why ``path`` cannot hold the cache (a file, uncreatable, unwritable), or ``None`` if it can."""
    if path.exists() and not path.is_dir():
        return "is not a directory"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot be created ({e.strerror or e})"
    try:  # os.access is not enough: it says yes to root on a read-only directory mounted read-write
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"is not writable ({e.strerror or e})"
    return None


def warn_once(path: Path, message: str) -> None:
    """Emit one :class:`CompileCacheWarning` per cache directory and process (later problems are silent)."""
    key = str(path)
    with _LOCK:
        if key in _STATE.warned:
            return
        _STATE.warned.add(key)
    warnings.warn(message, CompileCacheWarning, stacklevel=3)


class EntryStore:
    """JAX cache entries as files ``<key>-cache``: atomic writes, checked reads, no exception escapes."""

    def __init__(self, path: Path, check: Callable[[bytes], Any]):
        self._path = path  # JAX's CacheInterface attribute (it logs it)
        self._check = check
        self._served: set[str] = set()  # keys whose entry we returned: JAX writes one back only if it failed to load
        self._read_only = False

    def _file(self, key: str) -> Path:
        return self._path / f"{key}{SUFFIX}"

    def get(self, key: str) -> bytes | None:
        """The entry of ``key`` if it is there and whole; a corrupt one is deleted (and compiled again)."""
        f = self._file(key)
        try:
            data = f.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            warn_once(self._path, f"compilation cache {self._path}: cannot read an entry ({e.strerror or e}); "
                                  f"compiling instead")
            return None
        try:
            self._check(data)
        except Exception:  # noqa: BLE001 -- whatever the garbage, the answer is "not cached"
            with contextlib.suppress(OSError):
                f.unlink()
            warn_once(self._path, f"compilation cache {self._path}: removed a corrupt entry; compiling it again")
            return None
        self._served.add(key)
        return data

    def put(self, key: str, value: bytes) -> None:
        """Write the entry atomically; keep an entry another run wrote meanwhile (same program)."""
        f = self._file(key)
        if self._read_only or (key not in self._served and f.exists()):
            return
        try:
            with io.atomic_path(f) as tmp:
                tmp.write_bytes(value)
        except OSError as e:
            self._read_only = True
            warn_once(self._path, f"compilation cache {self._path}: cannot write ({e.strerror or e}); "
                                  f"compiling without saving")


def _entry_check() -> Callable[[bytes], Any] | None:
    """JAX's own entry decoder (raises on a truncated or garbled entry), or ``None`` if this JAX lacks it."""
    try:
        from jax._src import compilation_cache as jcc

        decompress, split = jcc.decompress_executable, jcc.extract_executable_and_time
    except (ImportError, AttributeError):
        return None

    def check(data: bytes) -> None:
        executable, _ = split(decompress(data))
        if not executable:
            raise ValueError("empty entry")

    return check


def _install_store(path: Path) -> bool:
    """Make :class:`EntryStore` JAX's persistent cache (False: this JAX's internals differ; its own store is used)."""
    check = _entry_check()
    try:
        from jax._src import compilation_cache as jcc
    except ImportError:
        return False
    if check is None or not all(hasattr(jcc, n) for n in ("_cache", "_cache_initialized", "_cache_initialized_mutex")):
        return False
    jcc.reset_cache()
    with jcc._cache_initialized_mutex:
        jcc._cache = EntryStore(path, check)
        jcc._cache_initialized = True
    return True


def _reset_jax_cache() -> None:
    """Forget JAX's cache object and its once-per-process "is the cache used" answer."""
    from jax.experimental.compilation_cache import compilation_cache as jcc

    jcc.reset_cache()


def _switch_off() -> None:
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
    _reset_jax_cache()
    _STATE.installed = None


def _switch_on(path: Path) -> None:
    import jax

    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # cache every program, however fast
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # and however small
    if not _install_store(path):
        _reset_jax_cache()  # JAX's own store, created on the next compile
    _STATE.installed = path


def _users_jax_dir() -> Path | None:
    """A cache directory the user gave JAX itself (not one this module set), if any."""
    import jax

    current = jax.config.jax_compilation_cache_dir
    if not current or (_STATE.installed is not None and Path(current) == _STATE.installed):
        return None
    return Path(current)


def enable(location: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Turn the persistent compilation cache on at the requested place (see module doc); its directory or ``None``.

    ``location`` is a directory or ``"off"``; an unusable directory gives one
    :class:`CompileCacheWarning` and returns ``None`` (programs are compiled as without a cache).
    """
    explicit, path = requested_location(location, environ)
    with _LOCK:
        _STATE.ensured = True
    if path is None:
        _switch_off()
        return None
    if not explicit and (users := _users_jax_dir()) is not None:
        return users
    path = path.absolute()
    reason = unusable_reason(path)
    if reason is not None:
        warn_once(path, f"compilation cache {path} {reason}; compiling without it "
                        f"(set {ENV_VAR}=off or --compile-cache off to silence)")
        _switch_off()
        return None
    _switch_on(path)
    return path


def ensure_enabled() -> None:
    """:func:`enable` from the environment, once per process (the Python API's first use); never raises."""
    if _STATE.ensured:
        return
    try:
        enable()
    except ValueError as e:  # an empty $L2NAS_COMPILE_CACHE: run without the cache, say so once
        warn_once(Path(ENV_VAR), f"{e}; compiling without a cache")
        _switch_off()


def active_dir() -> Path | None:
    """The directory JAX's persistent cache uses in this process now, or ``None`` when it is off."""
    import jax

    if not jax.config.jax_enable_compilation_cache or not jax.config.jax_compilation_cache_dir:
        return None
    return Path(jax.config.jax_compilation_cache_dir)


@dataclasses.dataclass
class CompileCount:
    """Programs JAX needed in a block: ``programs`` = ``compiled`` by XLA + ``cache_hits`` from disk."""

    programs: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    names: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @property
    def compiled(self) -> int:
        return self.programs - self.cache_hits


@contextlib.contextmanager
def count_compilations() -> Iterator[CompileCount]:
    """Count the programs compiled (or loaded from the persistent cache) inside the block (``jax.monitoring``)."""
    from jax import monitoring

    count = CompileCount()

    def on_duration(event: str, duration: float, **kw: Any) -> None:
        if event == _BACKEND_COMPILE_EVENT:
            count.programs += 1
            count.seconds += duration
            count.names[str(kw.get("fun_name", "?"))] += 1

    def on_event(event: str, **kw: Any) -> None:
        if event == _CACHE_HIT_EVENT:
            count.cache_hits += 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)
    try:
        yield count
    finally:
        monitoring.unregister_event_duration_listener(on_duration)
        monitoring.unregister_event_listener(on_event)
