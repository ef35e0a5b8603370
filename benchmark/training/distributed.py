"""Distributed helpers for the shared training loop: process-group setup/teardown and the few
collectives the loop needs (gradient and buffer averaging, parameter broadcast).

Launch with ``torchrun`` (it sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``); :func:`setup` then picks NCCL on CUDA and gloo on CPU. Without those variables
everything here is a no-op for a single process, so the same code runs with and without
``torchrun``.

>>> info = setup()  # plain `python`: no process group, rank 0 of 1
>>> (info.rank, info.world_size, info.distributed)
(0, 1, False)
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global ``rank`` of ``world_size``, ``local_rank`` on its node,
    and the ``device`` it should train on (``cuda:<local_rank>`` when CUDA is used, else CPU)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    distributed: bool


def is_distributed() -> bool:
    """True when a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0 (or the only process): the one that writes checkpoints and logs."""
    return get_rank() == 0


def default_device() -> torch.device:
    """``cuda:<LOCAL_RANK>`` when CUDA is available, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def launched_by_torchrun() -> bool:
    """Whether this process is one of several ranks started by ``torchrun``."""
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", 1)) > 1


def setup(backend: str | None = None, *, timeout_s: float = 1800.0) -> DistInfo:
    """Initialise the default process group if ``torchrun`` launched us; otherwise do nothing.

    Args:
        backend: ``"nccl"``/``"gloo"``; default NCCL when CUDA is available, gloo otherwise.
        timeout_s: collective timeout.

    Returns:
        :class:`DistInfo` for this process. On CUDA the current device is set to ``LOCAL_RANK``.
    """
    use_cuda = torch.cuda.is_available() and backend != "gloo"
    launched = launched_by_torchrun()
    if launched and not is_distributed():
        backend = backend or ("nccl" if use_cuda else "gloo")
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    local_rank = int(os.environ.get("LOCAL_RANK", 0)) if is_distributed() else 0
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return DistInfo(rank=get_rank(), world_size=get_world_size(), local_rank=local_rank,
                    device=device, distributed=is_distributed())


#: what :func:`training_hardware` returns for a single CPU process in float32 (the default run)
SINGLE_CPU_FP32 = {"device": "cpu", "gpu": None, "world_size": 1, "precision": "fp32"}


def keyed_hardware(hardware: dict[str, object]) -> dict[str, object]:
    """The part of :func:`training_hardware` that keys trained weights: all of it but the world size.
    DDP at the same global batch trains like one process (synchronised BatchNorm, global-batch noise),
    so weights trained under ``torchrun`` are reused by a later one-process ``benchmark run``; the
    world size stays in the train record and the manifest.

    >>> keyed_hardware({"device": "cpu", "gpu": None, "world_size": 4, "precision": "fp32"})
    {'device': 'cpu', 'gpu': None, 'precision': 'fp32'}
    """
    return {k: v for k, v in hardware.items() if k != "world_size"}


def training_hardware(device: torch.device | str, options=None) -> dict[str, object]:
    """What a training on ``device`` in this process group runs on: device type, GPU model (CUDA
    only), world size, and the numeric options it trains under (precision always; cuDNN autotuning,
    deterministic kernels and torch.compile when on: :class:`benchmark.training.runtime.RuntimeOptions`,
    default the active ones).

    >>> training_hardware("cpu") == SINGLE_CPU_FP32  # plain python, no process group, default options
    True
    """
    from benchmark.training.runtime import active

    device = torch.device(device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"device": device.type, "gpu": gpu, "world_size": get_world_size(),
            **(options or active()).describe()}


def teardown() -> None:
    """Destroy the process group if one is initialised (safe to call always)."""
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


# ------------------------------------------------------------------------------ collectives ---

def _flat_all_reduce_mean_(tensors: list[torch.Tensor]) -> None:
    """Average ``tensors`` in place across ranks with one all-reduce per dtype/device bucket."""
    world = get_world_size()
    buckets: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for t in tensors:
        buckets.setdefault((t.dtype, t.device), []).append(t)
    for group in buckets.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world)
        offset = 0
        for t in group:
            n = t.numel()
            t.copy_(flat[offset:offset + n].view_as(t))
            offset += n


def all_reduce_gradients_(params: Iterable[torch.nn.Parameter]) -> None:
    """Average the gradients of ``params`` across ranks (no-op in a single process).

    Called by the loop once per optimiser phase, between ``backward()`` and ``step()``, so it
    works for any number of optimisers (GAN discriminator and generator phases alike).
    """
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        _flat_all_reduce_mean_(grads)


def all_reduce_buffers_(modules: Iterable[torch.nn.Module]) -> None:
    """Average floating-point buffers (BatchNorm running statistics) across ranks.

    Each rank normalises with its own batch, so running statistics drift apart; averaging them
    after every step keeps ``state_dict()`` identical on all ranks.
    """
    if not is_distributed():
        return
    bufs = [b for m in modules for b in m.buffers() if b.is_floating_point()]
    if bufs:
        _flat_all_reduce_mean_(bufs)


def broadcast_modules_(modules: Iterable[torch.nn.Module], src: int = 0) -> None:
    """Copy parameters and buffers of ``modules`` from rank ``src`` to every rank."""
    if not is_distributed():
        return
    with torch.no_grad():
        for m in modules:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src=src)


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over ranks (a copy; the input is untouched)."""
    out = values.detach().clone()
    if is_distributed():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out.div_(get_world_size())
    return out


def all_gather_objects(obj: object) -> list[object]:
    """``[obj of rank 0, obj of rank 1, ...]`` (a one-element list in a single process)."""
    if not is_distributed():
        return [obj]
    out: list[object] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: object, src: int = 0) -> object:
    """``obj`` of rank ``src`` on every rank (the argument of other ranks is ignored)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
