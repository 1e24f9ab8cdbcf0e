"""Ctrl-C in the ``l2nas`` command: one ``l2nas: interrupted`` line, exit code 130, no partial output.

Python turns SIGINT into ``KeyboardInterrupt`` only when the main thread runs Python code, so
during a JAX compilation (which releases the GIL, but may take minutes) the interrupt would wait
for the compiler; and an interpreter that shuts down while XLA still runs work can crash on the
way out (a segmentation fault instead of exit code 130).  So while the CLI owns the process
(:func:`guard`):

* the first Ctrl-C raises ``KeyboardInterrupt`` in the main thread as usual: the commands'
  clean-ups run (:func:`on_interrupt`), then :func:`exit_now` prints the line and ends the
  process with ``os._exit(130)`` (no interpreter shutdown while XLA is busy).  Before a command
  has anything to clean up (while JAX loads, say) it ends the process at once instead, and a
  ``KeyboardInterrupt`` that Python would ignore (raised inside a garbage-collector callback)
  ends it too;
* a watcher thread sees the same signal at once (Python's wakeup fd); if the main thread has
  not ended the process within :data:`GRACE_S` seconds (it is inside the compiler), or on a
  second Ctrl-C, the watcher runs the clean-ups, deletes the temporary files of writes in
  progress (:func:`l2nas_jax.core.io.remove_pending`) and ends the process itself.

Before :func:`guard` is entered -- while the ``l2nas`` script imports its modules -- a Ctrl-C
ends the process at once with the same line (:func:`startup_guard`): nothing is written yet.
Standard library only (and :mod:`l2nas_jax.core.io`): the CLI imports this before anything else.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from typing import Callable, Iterator

from l2nas_jax.core import io

#: The exit status of an interrupted command (128 + SIGINT, as a shell reports it).
EXIT_CODE = 130
#: Seconds the main thread gets to unwind after Ctrl-C before the watcher ends the process.
GRACE_S = 2.0
MESSAGE = "l2nas: interrupted"

_cleanups: list[Callable[[], str | None]] = []
_done: dict[int, str | None] = {}  # id(cleanup) -> its hint, once it ran
_cleanup_lock = threading.RLock()
_exit_lock = threading.Lock()
_interrupted = threading.Event()


@contextlib.contextmanager
def on_interrupt(cleanup: Callable[[], str | None]) -> Iterator[None]:
    """Run ``cleanup()`` (once) if the command is interrupted inside this block.

    It may return a hint for the message (``resume with: ...``) or None.  It runs in the main
    thread as the ``KeyboardInterrupt`` passes, or in the watcher thread when the main thread
    does not get there in time.
    """
    _cleanups.append(cleanup)
    try:
        yield
    except KeyboardInterrupt:
        _run(cleanup)
        raise
    finally:
        with _cleanup_lock:
            if cleanup in _cleanups:
                _cleanups.remove(cleanup)


def _run(cleanup: Callable[[], str | None]) -> None:
    with _cleanup_lock:
        if id(cleanup) in _done:
            return
        try:
            _done[id(cleanup)] = cleanup()
        except Exception as e:  # noqa: BLE001 -- a failed clean-up must not turn Ctrl-C into a traceback
            _done[id(cleanup)] = f"clean-up failed: {type(e).__name__}: {e}"


def reset() -> None:
    """Forget the clean-ups of an earlier command in this process (each :func:`l2nas_jax.cli.main` starts afresh)."""
    with _cleanup_lock:
        _done.clear()
    _interrupted.clear()


def message() -> str:
    """``l2nas: interrupted``, plus the hints of the clean-ups that ran (``; resume with: ...``)."""
    with _cleanup_lock:
        hints = [h for h in _done.values() if h]
    return "; ".join([MESSAGE, *hints])


def exit_now() -> None:
    """Print :func:`message` and end the process with exit code 130, without interpreter shutdown."""
    with _exit_lock:  # never released: whoever gets here first ends the process
        with _cleanup_lock:
            for cleanup in _cleanups[:]:
                _run(cleanup)
        io.remove_pending()
        try:
            sys.stdout.flush()
        except Exception:  # noqa: BLE001, S110 -- a closed stdout (pipe) must not stop the exit
            pass
        try:
            sys.stderr.write(message() + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001, S110
            pass
        os._exit(EXIT_CODE)


def _on_sigint(signum: int, frame: object) -> None:
    """The first Ctrl-C raises KeyboardInterrupt (or ends at once: nothing to clean up); later ones: the watcher."""
    if _interrupted.is_set():
        return
    _interrupted.set()
    if not _cleanups and not io.writing():
        # Nothing written yet (e.g. JAX still importing): end now rather than unwind through half-initialized
        # extension modules, which can crash the interpreter.
        exit_now()
    raise KeyboardInterrupt


def _unraisable(hook: Callable[..., object]) -> Callable[..., object]:
    """``sys.unraisablehook`` that ends the command when our KeyboardInterrupt was raised where Python ignores
    exceptions (a garbage-collector callback, ``__del__``): no ``Exception ignored`` traceback, no lost Ctrl-C."""

    def unraisable(info: object) -> object:
        if isinstance(getattr(info, "exc_value", None), KeyboardInterrupt):
            exit_now()
        return hook(info)

    return unraisable


def _watch(fd: int) -> None:
    """Read the signal numbers Python writes to the wakeup fd; end the process if the main thread lags."""
    deadline = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            exit_now()  # the grace period is over: the main thread is stuck (e.g. in the compiler)
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:  # the guard closed the pipe: the command finished
            os.close(fd)
            return
        if signal.SIGINT in data:
            if deadline is not None:
                exit_now()  # a second Ctrl-C: stop waiting
            deadline = time.monotonic() + GRACE_S


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """The handling described in the module docstring, for the duration of one command (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    _interrupted.clear()  # before the handler is installed: a Ctrl-C just after it must not be forgotten
    previous = signal.signal(signal.SIGINT, _on_sigint)
    previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable(sys.unraisablehook)
    threading.Thread(target=_watch, args=(read_fd,), name="l2nas-interrupt", daemon=True).start()
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGINT, previous)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_fd)  # the watcher reads end-of-file and stops


def _exit_at_once(signum: int, frame: object) -> None:
    sys.stderr.write(MESSAGE + "\n")
    sys.stderr.flush()
    os._exit(EXIT_CODE)


def startup_guard() -> None:
    """In the ``l2nas`` script (not in a program that imports the CLI): Ctrl-C while importing ends at once."""
    if os.path.basename(sys.argv[0] if sys.argv else "").removesuffix(".exe") != "l2nas":
        return
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _exit_at_once)
