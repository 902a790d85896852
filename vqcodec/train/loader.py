"""Training batches made beside the training step, in worker processes.

Worker w of W makes batches k = start + w, start + w + W, ... (`batch_at(k)` depends only on the
rank's seed and k), and PyTorch's DataLoader hands them over round-robin, so the step sees
batches start, start + 1, ... in order whatever the number of workers, and a resumed run
continues the same sequence from its step.
"""

from __future__ import annotations

import os
import time
from typing import Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..errors import VQCodecError


def default_workers() -> int:
    """One worker per two cores (the training step keeps the others busy), at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores // 2))


class _Batches(IterableDataset):
    def __init__(self, sampler, batch: int, start: int):
        self.sampler, self.batch, self.start = sampler, batch, start

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        k = self.start + worker
        while True:
            try:
                batch = self.sampler.batch_at(k, self.batch)
            except VQCodecError as exc:  # raised again by `Batches` as it is: a DataLoader
                yield exc, {}  # worker's own exceptions carry its whole traceback as message
                return
            yield batch
            k += workers


def _one_thread(_worker: int) -> None:
    """Workers cut and resample small arrays: one thread each, so they never oversubscribe.
    They leave Ctrl-C and termination to the main process, which stops after its step (and a
    checkpoint) and then ends them: a worker killed by the terminal's Ctrl-C would fail the
    batch that step is waiting for. A main process that dies outright takes them along
    (torch's workers watch their parent)."""
    import signal

    from threadpoolctl import threadpool_limits

    for s in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, s):
            signal.signal(getattr(signal, s), signal.SIG_IGN)

    torch.set_num_threads(1)
    threadpool_limits(1)


class Batches:
    """An endless iterator of training batches from `start`, recording the time spent waiting
    for them and the files workers found unreadable."""

    def __init__(self, sampler, batch: int, start: int, workers: int):
        self.sampler = sampler
        loader = DataLoader(_Batches(sampler, batch, start), batch_size=None, num_workers=workers,
                            worker_init_fn=_one_thread if workers else None,
                            prefetch_factor=2 if workers else None)
        self.it: Iterator = iter(loader)
        self.waited = 0.0
        self.seen = set(sampler.bad)

    def __next__(self) -> tuple[torch.Tensor, dict[str, str]]:
        t = time.perf_counter()
        x, bad = next(self.it)
        if isinstance(x, VQCodecError):
            raise x
        self.waited += time.perf_counter() - t
        new = {k: v for k, v in bad.items() if k not in self.seen}
        self.seen.update(new)
        self.sampler.bad.update(new)
        return x, new

    def close(self) -> None:
        self.it = iter(())  # lets the DataLoader's workers shut down
