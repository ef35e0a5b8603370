"""BatchNorm over the *global* batch of all ranks, on any backend (gloo on CPU, NCCL on GPUs).

``torch.nn.SyncBatchNorm`` only runs on CUDA; this one all-reduces the per-channel count, sum and
sum of squares (float64, with a differentiable all-reduce so gradients flow through the global
statistics) and then normalises exactly as BatchNorm does over the concatenated batch. Running
statistics are updated like ``nn.BatchNorm`` (unbiased variance, ``momentum`` or the cumulative
average when ``momentum`` is None), so every rank keeps identical buffers. In eval mode (or without
a process group) it is plain ``F.batch_norm``.

:func:`convert_sync_batchnorm_` swaps every BatchNorm child of a module for one, in place, sharing
the same parameter and buffer tensors (optimisers and ``state_dict`` keys are unaffected).

>>> bn = nn.BatchNorm2d(3)
>>> net = convert_sync_batchnorm_(nn.Sequential(nn.Conv2d(1, 3, 1), bn))
>>> isinstance(net[1], SyncBatchNorm), net[1].weight is bn.weight
(True, True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from benchmark.training import distributed as D


class SyncBatchNorm(_BatchNorm):
    """BatchNorm for inputs ``(N, C, *)`` whose batch statistics span every rank's ``N``."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"SyncBatchNorm: expected an input (N, C, *), got {tuple(input.shape)}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        use_batch_stats = self.training or not self.track_running_stats
        if not use_batch_stats or not D.is_distributed():
            return super().forward(input)  # nn.BatchNorm's own path (eval, or one process)
        from torch.distributed.nn.functional import all_reduce

        dims = [0] + list(range(2, input.dim()))
        x64 = input.double()
        local_count = input.numel() // input.shape[1]
        stats = torch.cat([x64.sum(dims), (x64 * x64).sum(dims),
                           x64.new_full((1,), float(local_count))])
        stats = all_reduce(stats)  # differentiable SUM over ranks
        c = self.num_features
        total, sq, count = stats[:c], stats[c:2 * c], stats[2 * c]
        n = int(count.item())
        if n <= 1:
            raise ValueError(f"SyncBatchNorm: one value per channel over all ranks (input "
                             f"{tuple(input.shape)}); BatchNorm needs a global batch of at least 2")
        mean = total / count
        var = (sq / count - mean * mean).clamp_min(0.0)  # biased, as BatchNorm normalises
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                unbiased = var.detach() * (n / (n - 1))
                self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        shape = [1, c] + [1] * (input.dim() - 2)
        y = (x64 - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        y = y.to(input.dtype)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        if self.bias is not None:
            y = y + self.bias.view(shape)
        return y


def _to_sync(bn: _BatchNorm) -> SyncBatchNorm:
    sync = SyncBatchNorm(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=False,
                         track_running_stats=False)
    # share, never copy: the optimisers hold these very parameters
    sync.affine, sync.track_running_stats = bn.affine, bn.track_running_stats
    sync.weight, sync.bias = bn.weight, bn.bias
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        sync.register_buffer(name, getattr(bn, name))
    sync.train(bn.training)
    return sync


def convert_sync_batchnorm_(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm{1,2,3}d below ``module`` by :class:`SyncBatchNorm`, in place.

    Returns ``module``. A ``module`` that is itself a BatchNorm is returned converted (the caller
    must use the returned object)."""
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        return _to_sync(module)
    for name, child in module.named_children():
        new = convert_sync_batchnorm_(child)
        if new is not child:
            setattr(module, name, new)
    return module


def has_batchnorm(module: nn.Module) -> bool:
    """True when ``module`` holds a BatchNorm layer that normalises with batch statistics."""
    return any(isinstance(m, _BatchNorm) for m in module.modules())
