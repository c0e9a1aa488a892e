"""dailypapers: a self-hostable Daily Papers service."""

import os

# One BLAS thread: a request scans vectors once (a matrix-vector product of a few ms), and
# OpenBLAS's spinning worker threads otherwise take the core the embedder and other requests
# need (bench/search_latency.py: p95 31.8 ms vs 17.7 ms with one core busy). Operators may
# still set it themselves.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
