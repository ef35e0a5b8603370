"""Running the feature networks for inference: BatchNorm folded into the convolutions, the ReLU in
the same kernel, channels-last memory, the compute precision and a batch size chosen for the device.

Every extractor keeps its *reference* network (the readable mirror of the published model, which
loads the real weight files) and, by default (``fused=True``), runs an inference network derived
from it at load time:

* **BatchNorm folding** — ``conv -> BN`` becomes one convolution with scaled weights and a shifted
  bias (:func:`torch.nn.utils.fusion.fuse_conv_bn_weights`, the BN's own epsilon).
* **Conv + ReLU in one kernel** — on CPU in float32, oneDNN's fused convolution
  (``torch.ops.mkldnn._convolution_pointwise``, the kernel ``torch.compile``'s inductor emits for
  the same pattern); elsewhere ``F.conv*d`` followed by an in-place ReLU.
* **Channels-last** — ``(N, C, ...)`` tensors stored channels-innermost, the layout oneDNN and
  cuDNN's tensor-core kernels want.
* **CPU threads** — with T intra-op threads and at least T items, :func:`split_across_threads` runs
  the batch as T independent single-threaded streams instead of T threads meeting at a barrier in
  every layer: a core the OS lends to another process for a while then stalls only its own slice
  (on this shared 2-core machine ~1.2x more clips/s under load).

These reorder float32 rounding only: each extractor's test holds the fused output to the reference
network's within 1e-4 (max abs) on random weights in the real file layout. The feature cache
therefore keys on what is computed (network, weights, preprocessing, precision: the extractor's
``protocol()``), not on how (fused or not, device, batch size, threads), exactly as device and batch
size never entered the key; the execution plan is recorded separately (``execution()``).

**Precision.** ``"float32"`` (default) or, for GPUs, ``"bfloat16"`` / ``"float16"`` through
:func:`torch.autocast` around the network only (preprocessing and the float64 statistics stay in
float32/float64). Lower precision changes features by ~1e-2 relative, so it is part of the
protocol (and the cache key), and its numbers are labelled not comparable with float32 ones: no
parity test on the pinned weights bounds the difference (the weights cannot be obtained here).
bfloat16 also runs on CPU (used to test the mechanism); float16 needs CUDA.

>>> import torch
>>> conv, bn = torch.nn.Conv2d(3, 4, 3, padding=1).eval(), torch.nn.BatchNorm2d(4).eval()
>>> fused = FoldedConv.from_modules(conv, bn, relu=True)
>>> x = torch.randn(1, 3, 8, 8)
>>> bool((fused(x) - torch.relu(bn(conv(x)))).abs().max() < 1e-5)
True
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, ContextManager, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# -- precision ----------------------------------------------------------------------------------
def check_precision(precision: str, device: torch.device | str) -> None:
    """Raise ``ValueError`` unless ``precision`` is known and runs on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
    if precision == "float16" and torch.device(device).type != "cuda":
        raise ValueError("precision='float16' needs a CUDA device (CPU float16 convolutions are reference "
                         "kernels, orders of magnitude slower); use 'bfloat16' or 'float32' on CPU")


def precision_note(precision: str) -> str:
    """Why features of this precision are not comparable with float32 ones ('' for float32)."""
    if precision == "float32":
        return ""
    return (f"features computed in {precision}: not comparable with float32 numbers (no parity test on the "
            f"pinned weights bounds the difference)")


def not_comparable_reason(precision: str, *weights: Any) -> str:
    """'' when every ``ResolvedWeights`` is comparable and the precision is float32, else why not."""
    for w in weights:
        if not w.comparable:
            return w.note or "weights not pinned"
    return precision_note(precision)


def autocast(device: torch.device, precision: str) -> ContextManager[Any]:
    """Autocast to ``precision`` on ``device`` (a no-op context for float32)."""
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


# -- folded convolutions --------------------------------------------------------------------------
def conv_relu(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Sequence[int], padding: Sequence[int],
              relu: bool) -> Tensor:
    """``relu(conv(x) + bias)`` (2-D or 3-D, zero ``padding`` per spatial dim), one oneDNN kernel on
    CPU float32, else ``F.conv*d`` and an in-place ReLU. The output keeps ``x``'s memory format."""
    nd = weight.dim() - 2
    if (x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32 and _fused_cpu_kernel()
            and not torch.is_autocast_enabled("cpu")):
        return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, list(padding), list(stride), [1] * nd, 1,
                                                       "relu" if relu else "none", [None], "")
    y = (F.conv3d if nd == 3 else F.conv2d)(x, weight, bias, tuple(stride), tuple(padding))
    return F.relu_(y) if relu else y


_FUSED_CPU_KERNEL: bool | None = None


def _fused_cpu_kernel() -> bool:
    """oneDNN's fused convolution exists in this build (a private op: checked once, else the plain path)."""
    global _FUSED_CPU_KERNEL
    if _FUSED_CPU_KERNEL is None:
        _FUSED_CPU_KERNEL = bool(torch.backends.mkldnn.is_available()
                                 and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))
    return _FUSED_CPU_KERNEL


def set_fused_cpu_kernel(enabled: bool | None) -> None:
    """Force (True/False) or re-detect (None) the oneDNN fused-kernel path (tests cover both paths)."""
    global _FUSED_CPU_KERNEL
    _FUSED_CPU_KERNEL = None if enabled is None else bool(enabled and torch.backends.mkldnn.is_available())


class FoldedConv(nn.Module):
    """A convolution (2-D or 3-D) with any BatchNorm folded into its weight and bias and an optional
    ReLU, for inference. ``forward(x)`` pads symmetrically by ``padding`` (zeros).

    Weights are buffers: the module is derived from a reference network and never trained or saved.
    """

    def __init__(self, weight: Tensor, bias: Tensor, stride: Sequence[int], padding: Sequence[int],
                 relu: bool) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", bias.detach().clone())
        self.stride, self.padding, self.relu = tuple(stride), tuple(padding), bool(relu)

    @classmethod
    def from_modules(cls, conv: nn.Conv2d | nn.Conv3d, bn: nn.modules.batchnorm._BatchNorm | None = None,
                     relu: bool = True) -> "FoldedConv":
        """Fold ``bn`` (eval statistics, its own eps) into ``conv``; string paddings are not supported."""
        if conv.groups != 1 or any(d != 1 for d in conv.dilation) or isinstance(conv.padding, str) \
                or conv.padding_mode != "zeros":
            raise ValueError(f"FoldedConv: only plain zero-padded convolutions fold, got {conv}")
        w, b = conv.weight, conv.bias
        if bn is not None:
            w, b = fuse_conv_bn_weights(w, b, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
        if b is None:
            b = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
        return cls(w, b, conv.stride, conv.padding, relu)

    def forward(self, x: Tensor) -> Tensor:
        return conv_relu(x, self.weight, self.bias, self.stride, self.padding, self.relu)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1]}, {self.weight.shape[0]}, kernel={tuple(self.weight.shape[2:])}, "
                f"stride={self.stride}, padding={self.padding}, relu={self.relu}")


# -- memory format and batch size -----------------------------------------------------------------
def channels_last(x_or_ndim: Tensor | int) -> torch.memory_format:
    """The channels-last memory format for 4-D (2-D convs) or 5-D (3-D convs) tensors."""
    nd = x_or_ndim if isinstance(x_or_ndim, int) else x_or_ndim.dim()
    return torch.channels_last_3d if nd == 5 else torch.channels_last


def choose_batch_size(device: torch.device | str, bytes_per_item: float, cpu: int, limit: int,
                      memory_fraction: float = 0.5) -> int:
    """Items per forward pass for ``device``.

    CPU: ``cpu`` (measured per network: larger batches stop helping once a layer's activations leave
    the cache). CUDA: as many items as fit in ``memory_fraction`` of the free memory at
    ``bytes_per_item`` each (an estimate of the live activations of one item, with headroom for
    workspaces), between 1 and ``limit``.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return int(cpu)
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(1, min(limit, free * memory_fraction // max(bytes_per_item, 1.0))))


# -- CPU threads ----------------------------------------------------------------------------------
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _single_threaded_pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads, each set to one intra-op thread once, when it starts."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            saved = torch.get_num_threads()
            started = threading.Barrier(workers + 1)

            def start() -> None:
                # torch sets a thread's count from its global default on the thread's first use: let
                # that happen now, then override it for this thread (set_num_threads also changes the
                # global default, which is restored below)
                torch.get_num_threads()
                torch.set_num_threads(1)
                started.wait()

            if _POOL is not None:
                _POOL.shutdown(wait=True)
            _POOL = ThreadPoolExecutor(workers, thread_name_prefix="vidbench-extract", initializer=start)
            for _ in range(workers):  # start every thread now, so none changes thread settings later
                _POOL.submit(lambda: None)
            started.wait()
            torch.set_num_threads(saved)  # restore torch's default for threads created later
        return _POOL


def split_across_threads(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``fn(x)`` for a batch ``x``, on CPU as ``torch.get_num_threads()`` single-threaded streams
    over slices of the batch (concatenated in order); else, or with fewer items than threads, one
    call. ``fn`` must set up its own grad/inference and autocast modes: they are per thread."""
    streams = torch.get_num_threads()
    if x.device.type != "cpu" or streams < 2 or len(x) < streams:
        return fn(x)
    pool = _single_threaded_pool(streams - 1)
    chunks = x.tensor_split(streams)
    futures = [pool.submit(fn, c) for c in chunks[1:]]
    torch.set_num_threads(1)
    try:
        first = fn(chunks[0])
    finally:
        torch.set_num_threads(streams)
    return torch.cat([first] + [f.result() for f in futures])
