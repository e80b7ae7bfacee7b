"""tuimon: an interactive terminal network-traffic monitor."""

import os

# numpy's OpenBLAS starts a thread per core when imported; tuimon's numpy work is integer
# columns (no BLAS), so one thread spares every tuimon process (engine, CLI, tests) about
# 0.08 s of CPU at start. Set before anything imports numpy; the user's setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
