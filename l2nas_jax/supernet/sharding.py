"""Data-parallel training with ``jax.sharding``: one mesh axis over all devices, batch split, params replicated.

The same jitted step runs on 1 CPU, N (fake) CPUs, a multi-GPU host or a TPU pod slice: the
step is written for the *global* batch and ``jax.jit`` with in/out shardings lets XLA (GSPMD)
split the batch over the ``"data"`` axis and insert the gradient all-reduce. BatchNorm
statistics are therefore computed over the global batch, so a sharded step matches the
single-device step up to floating-point reduction order.

Multi-host launch (``jax.distributed``)
---------------------------------------
Run the same command on every host, one process per host (GPU: one process per node that
owns all its local GPUs), with the coordinator address and process ids::

    # host 0                                   # host 1 .. N-1 (PROCESS_ID = 1 .. N-1)
    python train/supernet.py --distributed \\   python train/supernet.py --distributed \\
      --coordinator 10.0.0.1:1234 \\              --coordinator 10.0.0.1:1234 \\
      --num-processes N --process-id 0 ...        --num-processes N --process-id PROCESS_ID ...

``--distributed`` calls :func:`initialize_distributed`, i.e. ``jax.distributed.initialize()``
(on TPU pods and SLURM/Open MPI clusters the arguments are detected automatically and the three
flags may be omitted). After it, ``jax.devices()`` lists the devices of *all* hosts and the mesh
spans them; every process reads the same global batch order and loads only its own slice
(``data.batch_iterator(process_index=..., process_count=...)``), which
:func:`shard_batch` assembles into one global array with
``jax.make_array_from_process_local_data``. Only process 0 writes logs; orbax checkpoints are
written collectively (every process must call save/restore).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def initialize_distributed(
    coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join a multi-host run (``jax.distributed.initialize``); must run before any other JAX call."""
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def make_mesh(devices: list[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``"data"`` over ``devices`` (default: all devices of all processes)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("make_mesh needs at least one device")
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy on every device (params, optimizer state, keys, metrics)."""
    return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
    """Sharding that splits the leading (batch) axis over the ``"data"`` axis."""
    return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Raise ValueError unless the global batch splits evenly over the mesh."""
    n = mesh.devices.size
    if batch_size % n:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {n} devices of the mesh")


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place a pytree (e.g. the TrainState) replicated on every device of the mesh."""
    return jax.device_put(tree, replicated(mesh))


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Turn a host batch into global arrays split over ``"data"``.

    Single process: ``batch`` is the global batch. Multi-process: ``batch`` is this process's
    slice and the global array is assembled from all processes' slices.
    """
    sharding = data_sharded(mesh)
    if jax.process_count() == 1:
        for leaf in jax.tree.leaves(batch):
            check_batch_size(int(np.shape(leaf)[0]), mesh)
        return jax.device_put(batch, sharding)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)


def jit_data_parallel(
    step: Callable[..., Any],
    mesh: Mesh,
    *,
    donate_state: bool = True,
    compiler_options: dict[str, Any] | None = None,
) -> Callable[..., Any]:
    """``jax.jit`` a ``step(state, batch, key) -> (state, metrics)`` with data-parallel shardings."""
    rep, dat = replicated(mesh), data_sharded(mesh)
    return jax.jit(
        step,
        in_shardings=(rep, dat, rep),
        out_shardings=(rep, rep),
        donate_argnums=(0,) if donate_state else (),
        compiler_options=compiler_options,
    )
