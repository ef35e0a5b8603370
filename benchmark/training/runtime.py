"""How a training runs numerically: float precision, cuDNN autotuning, deterministic kernels, torch.compile.

These change the trained weights (TF32 rounds convolution inputs to 10 mantissa bits; bf16
autocast runs most ops in bfloat16; cuDNN autotuning and non-deterministic kernels change reduction
orders), so each is an explicit choice, recorded in ``train/stage.json``, the manifest's
``training_hardware`` and the training cache key (via
:func:`benchmark.training.distributed.training_hardware`). The pinned torch runs CUDA convolutions in
TF32 unless told otherwise while a CPU runs true FP32; here ``fp32`` means FP32 on every device.

``precision``:

``fp32``  float32 everywhere; TF32 is switched off for cuDNN convolutions and CUDA matmuls.
``tf32``  float32 storage, TF32 tensor-core math for CUDA convolutions and matmuls (CUDA only).
``bf16``  ``torch.autocast(dtype=torch.bfloat16)`` around every loss computation (CUDA or CPU);
          weights, optimiser state and gradients stay float32, so no loss scaler is needed (a
          scaler is only needed for float16, which is not offered: its range overflows GAN losses).

>>> RuntimeOptions().describe()
{'precision': 'fp32'}
>>> RuntimeOptions(precision="bf16", compile=True).describe()
{'precision': 'bf16', 'compile': True}
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch

PRECISIONS = ("fp32", "tf32", "bf16")


@dataclass(frozen=True)
class RuntimeOptions:
    """The numeric settings of one training (see the module docstring)."""

    precision: str = "fp32"
    cudnn_benchmark: bool = False
    deterministic: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def describe(self) -> dict[str, object]:
        """What is recorded: the precision always, the other switches only when on (so a default
        run's record, and its cache key, stay as they were before these options existed)."""
        out: dict[str, object] = {"precision": self.precision}
        for name in ("cudnn_benchmark", "deterministic", "compile"):
            if getattr(self, name):
                out[name] = True
        return out

    def check_device(self, device: torch.device | str) -> None:
        """Refuse combinations that cannot mean what they say (TF32 is a CUDA tensor-core mode)."""
        if self.precision == "tf32" and torch.device(device).type != "cuda":
            raise ValueError(f"precision tf32 is a CUDA tensor-core mode; on {torch.device(device).type} "
                             f"use fp32 (the same numbers) or bf16")

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        """The autocast context for a loss computation on ``device`` (a no-op unless bf16)."""
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


_ACTIVE: list[RuntimeOptions] = []


def active() -> RuntimeOptions:
    """The options of the training now running (defaults outside :func:`applied`)."""
    return _ACTIVE[-1] if _ACTIVE else RuntimeOptions()


def _use_deterministic_algorithms(mode: bool) -> None:
    """``torch.use_deterministic_algorithms(mode)``, skipped when already so: the call imports
    ``torch._inductor`` (seconds), which a run whose training is cached never needs."""
    if torch.are_deterministic_algorithms_enabled() == mode and not torch.is_deterministic_algorithms_warn_only_enabled():
        return
    torch.use_deterministic_algorithms(mode)


@contextlib.contextmanager
def applied(options: RuntimeOptions) -> Iterator[RuntimeOptions]:
    """Set the backend switches ``options`` ask for while a training runs, and restore them after.

    The shared loop (:func:`benchmark.training.loop.train`) reads :func:`active` for autocast and
    ``torch.compile``; the harness wraps ``Method.fit`` in this context.
    """
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.are_deterministic_algorithms_enabled(), os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    tf32 = options.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = options.cudnn_benchmark
    torch.backends.cudnn.deterministic = options.deterministic
    if options.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
    _use_deterministic_algorithms(options.deterministic)
    _ACTIVE.append(options)
    try:
        yield options
    finally:
        _ACTIVE.pop()
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) = saved[:4]
        _use_deterministic_algorithms(saved[4])
        if saved[5] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[5]
