"""How many threads the numeric libraries use, decided once per process.

numpy's BLAS (OpenBLAS) and torch each size their pools to the machine; together, or beside
another busy process, they oversubscribe the cores and every small matrix product waits for a
descheduled thread. `configure()` sets both pools from one number: `--threads N`, else the
cores this process may use minus those busy elsewhere (the 1-minute load average, capped by
the tasks runnable at that moment), at least one. Environment variables such as OPENBLAS_NUM_THREADS then change nothing.
The priors' many tiny steps run on one thread (`single`): hand-offs cost more than they save.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

_decided: int | None = None
_limits = None  # threadpoolctl's handle, kept alive


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def runnable_elsewhere() -> int | None:
    """Tasks other than this one that are runnable at this moment (Linux's /proc/loadavg);
    None where that cannot be read."""
    try:
        with open("/proc/loadavg") as f:
            return max(0, int(f.read().split()[3].split("/")[0]) - 1)
    except (OSError, ValueError, IndexError):
        return None


def busy_cores() -> int:
    """Cores busy elsewhere: the 1-minute load average, but no more than the tasks runnable
    right now, for the average trails a finished run for a minute or more (back-to-back runs
    of the CLI would otherwise each see the last one's load and take one thread)."""
    try:
        busy = int(os.getloadavg()[0])
    except (OSError, AttributeError):
        return 0
    now = runnable_elsewhere()
    return busy if now is None else min(busy, now)


def default_threads() -> int:
    """Cores this process may use, less those busy elsewhere (`busy_cores`)."""
    return max(1, available_cores() - busy_cores())


def configure(n: int | None = None) -> int:
    """Set numpy's BLAS, OpenMP and (if loaded, or when it loads) torch to `n` threads."""
    global _decided, _limits
    n = max(1, n or default_threads())
    _decided = n
    os.environ["OMP_NUM_THREADS"] = str(n)  # torch reads it when first imported
    from threadpoolctl import threadpool_limits

    _limits = threadpool_limits(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    return n


def count() -> int:
    """The number decided (deciding now with the default if nobody has)."""
    return _decided if _decided is not None else configure()


def use_torch() -> None:
    """Call after importing torch: its pool follows the number decided."""
    import torch

    torch.set_num_threads(count())


@contextlib.contextmanager
def single() -> Iterator[None]:
    """One thread for numpy's BLAS and torch inside the block."""
    if _decided == 1:  # already so: threadpoolctl's scan of the loaded libraries costs 0.4 ms
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)
