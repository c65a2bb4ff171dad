"""Shared test settings.

Torch and BLAS use one thread in tests: on 2 cores, with process-pool and Ray tests running
workers beside the main process, more threads oversubscribe the CPU and slow tests by 10-100x.
Results do not depend on it (every test seeds its own generators).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass
