"""Prefetch training batches to the devices, so a step never waits for the host to place its batch.

:func:`prefetch_to_device` wraps the host iterator of ``(global_step, batch)`` pairs
(:func:`l2nas_jax.supernet.data.batch_iterator`) and yields the same pairs, in the same order, with
each batch already a global array on the data-parallel sharding (:func:`sharding.shard_batch`).
``jax.device_put`` is asynchronous, so placing batch ``t+1`` before the consumer gets batch ``t``
overlaps its host-to-device copy with step ``t``'s compute: with ``size=2`` (double buffering) one
batch is in flight ahead of the one being trained on.

With ``host_thread=True`` the host side (gather + normalise of the next batches, the NumPy work of
``batch_iterator``) also runs ahead, in one background thread (:func:`background_iterator`): one
producer and a FIFO queue keep the order deterministic, an exception of the producer is raised in the
consumer at the batch where it happened, and closing the generator (``close()``, ``with
contextlib.closing(...)``, or garbage collection) stops and joins the thread.
"""

from __future__ import annotations

import collections
import queue
import threading
from typing import Any, Iterator, TypeVar

from jax.sharding import Mesh

from l2nas_jax.supernet import sharding as shard_lib

T = TypeVar("T")

#: How often (s) a blocked producer looks whether the consumer has gone (so a closed pipeline stops it).
_POLL_S = 0.05


class _End:
    """Queue marker: the source is exhausted."""


class _Raised:
    """Queue marker: the source raised ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _produce(source: Iterator[Any], out: queue.Queue, stop: threading.Event) -> None:
    """Thread body: move ``source``'s items (then an end or error marker) into ``out`` until ``stop``."""

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in source:
            if not put(item):
                return
        put(_End())
    except BaseException as e:  # noqa: BLE001 -- handed to the consumer, which re-raises it
        put(_Raised(e))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()  # runs the source generator's cleanup in the thread that drove it


def background_iterator(source: Iterator[T], size: int = 2) -> Iterator[T]:
    """``source``'s items in order, computed up to ``size`` ahead in a background thread.

    The thread starts on the first ``next()``; closing the returned generator stops and joins it
    (and closes ``source``, from the thread that drove it). An exception raised by ``source`` is
    re-raised here, after the items that preceded it.
    """
    _check_size(size)
    return _background(source, size)


def _background(source: Iterator[T], size: int) -> Iterator[T]:
    """The generator of :func:`background_iterator` (a generator, so the thread starts on the first ``next()``)."""
    items: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(source, items, stop), name="l2nas-host-batches", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def prefetch_to_device(
    batches: Iterator[tuple[int, Any]],
    mesh: Mesh,
    size: int = 2,
    *,
    host_thread: bool = False,
) -> Iterator[tuple[int, Any]]:
    """Yield ``batches``' ``(global_step, batch)`` pairs with each batch placed on ``mesh``'s data sharding.

    ``size`` placed batches are alive at once: the one the consumer holds and ``size - 1`` already
    copied ahead (2 = double buffering). ``host_thread`` also assembles the host batches up to
    ``size`` ahead in a background thread (:func:`background_iterator`). The pipeline owns
    ``batches``: closing it closes them (and stops the thread; a forgotten one is a daemon, so it
    never blocks the interpreter's exit).
    """
    _check_size(size)
    return _prefetch(background_iterator(batches, size) if host_thread else batches, mesh, size)


def _prefetch(source: Iterator[tuple[int, Any]], mesh: Mesh, size: int) -> Iterator[tuple[int, Any]]:
    """The generator of :func:`prefetch_to_device`: place batches until ``size`` are alive, yield the oldest."""
    placed: collections.deque[tuple[int, Any]] = collections.deque()
    try:
        for step, batch in source:
            placed.append((step, shard_lib.shard_batch(batch, mesh)))
            if len(placed) >= size:
                yield placed.popleft()
        while placed:
            yield placed.popleft()
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _check_size(size: int) -> None:
    """Refuse a prefetch depth below 1 (one-line ValueError)."""
    if size < 1:
        raise ValueError(f"prefetch size must be >= 1, got {size}")
