"""Record ``golden.npz`` from the current code (run only when a result is *meant* to change).

    python tests/golden/record.py
"""

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from cases import CASES, GOLDEN  # noqa: E402

if __name__ == "__main__":
    arrays = {}
    for name, fn in CASES.items():
        arrays.update({f"{name}:{k}": v for k, v in fn().items()})
        print(name, "done", flush=True)
    tmp = GOLDEN.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, GOLDEN)
    print(f"wrote {GOLDEN} ({len(arrays)} arrays)")
