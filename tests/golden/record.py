"""Record ``golden.npz`` from the current code (run only when a result is *meant* to change).

    python tests/golden/record.py                 # every case
    python tests/golden/record.py --case supernet # only these cases; the others keep their arrays

Re-recorded so far: ``supernet``, twice (the canonical-layout convolution gradients of
``l2nas_jax/spaces/conv.py`` sum in a different order; then the NB201 mixed edge's hand-written
backward pass, ``l2nas_jax/spaces/nb201/edge_vjp.py``: the same maths, other float rounding, at most
1e-4 relative after two steps); the L2NAS
arrays of ``search`` and ``experiments`` (the default exploration became ``explore_arch='neighbor'`` over 60
queries; every other method's arrays were unchanged).
"""

import argparse
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from cases import CASES, GOLDEN  # noqa: E402

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", action="append", choices=sorted(CASES), help="re-record only this case (repeatable)")
    names = p.parse_args().case or list(CASES)
    with np.load(GOLDEN) as f:
        arrays = {k: f[k] for k in f.files if k.split(":", 1)[0] not in names}
    for name in names:
        arrays.update({f"{name}:{k}": v for k, v in CASES[name]().items()})
        print(name, "done", flush=True)
    tmp = GOLDEN.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, GOLDEN)
    print(f"wrote {GOLDEN} ({len(arrays)} arrays)")
