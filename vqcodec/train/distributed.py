"""Distributed training plumbing: device choice, joining the process group, a final agreement check."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..errors import UsageError


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch finds no CUDA device here (use --device cpu)")
    if name == "cuda" and dist.is_initialized():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def init_distributed(device: str) -> tuple[int, int]:
    """Join the process group torchrun describes (gloo on CPU, NCCL on GPUs); (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if cuda else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


@torch.no_grad()
def ranks_identical(modules, device: torch.device, world: int) -> bool:
    """Whether every rank ends with the same weights, codebooks and prior (checksums)."""
    if world == 1:
        return True
    total = sum(float(t.double().sum()) + float((t.double() ** 2).sum())
                for m in modules for t in m.state_dict().values()
                if t.is_floating_point())
    mine = torch.tensor([total], dtype=torch.float64, device=device)
    all_ = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(all_, mine)
    return all(bool(torch.equal(a, all_[0])) for a in all_)
