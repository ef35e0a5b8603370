"""Train the moving-shapes evaluator (``benchmark weights train-embedded``), reproducibly on CPU.

Data: an endless stream of clips from the generator's **train** seed stream (clip ``i`` of a
configuration is the video the dataset's train split would hold at index ``i``; the stream simply
goes on past the split's 512 videos), never the val/test streams; a drawn video with the factors
(hence the pixels) of a val or test video is skipped, as
:func:`benchmark.data.moving_shapes.generate_split` skips repeated bytes, so the held-out splits stay
unseen. Two renderings (:data:`TRAINING_CONFIGS`): the default
configuration at 64x64 (2 of every 3 clips) and a 32x32 configuration with half-size objects
(1 of 3). Each clip is a window of 16 frames (every 4th step: 8..15 frames, so the network also
reads the shorter clips of prediction futures) at a random start; labels are
:func:`benchmark.data.moving_shapes_factors.clip_factor_labels` of that window. Loss: the sum of the
factors' cross-entropies plus the multi-label binary cross-entropies. AdamW, cosine schedule.

Determinism: every clip, window and label is a pure function of ``(seed, step)``; training runs
single-threaded with ``torch.use_deterministic_algorithms(True)`` and seeded initialisation, and
the weights are written as safetensors with deterministic bytes. The float kernels must not depend
on the CPU either: the native ones do (AVX2 and AVX512 builds of ATen, oneDNN and MKL sum in other
orders, and 2000 steps grow the last-bit differences -- measured: the file pinned on an AVX512 machine
did not reproduce on an AVX2 one, docs/moving_shapes_evaluator.md). :func:`train_and_save` therefore
trains on the *portable kernel path* (:data:`PORTABLE_ENV`), in a child process because these settings
must precede torch's and NumPy's import: ATen's scalar kernels, no oneDNN, and the convolutions' and
linear layers' matrix products in NumPy's OpenBLAS with its kernels pinned to one core type
(:mod:`~benchmark.metrics.extractors.portable_blas`; MKL, which PyTorch's own products use, computes
differently on Intel and AMD CPUs even in its reproducible mode -- measured). ~3x slower than the native
kernels; measured times: docs/moving_shapes_evaluator.md.

    benchmark weights train-embedded                 # rebuild the shipped file, compare with the pin
    benchmark weights train-embedded --out /tmp/e.safetensors --steps 50 --native   # a quick trial
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.data.moving_shapes import MovingShapesConfig, SPLIT_STREAM, generate_split, render_video, sample_factors
from benchmark.data.moving_shapes_factors import FACTORS, factor_label_arrays
from benchmark.metrics.extractors.portable_blas import BLAS_ENV, blas_info, ieee_sqrt, portable_blas_layers
from benchmark.metrics.extractors.shapes_evaluator import (FRAMES, MIN_FRAMES, EvaluatorConfig, ShapesEvaluatorNet,
                                                           preprocess, save_weights)
from benchmark.utils import atomic_path, sha256_json

#: (generator configuration, clips of it per cycle of 3)
TRAINING_CONFIGS: tuple[tuple[dict[str, Any], int], ...] = (
    ({}, 2),                                                   # the default: 64x64, radius 5-11
    ({"size": 32, "min_radius": 3, "max_radius": 6}, 1),       # 32x32, half-size objects
)


#: Environment of the portable kernel path (read when torch and NumPy load, hence a child process): ATen's
#: scalar kernels instead of the AVX2/AVX512 ones, OpenBLAS's Haswell kernels for the matrix products (NumPy's;
#: :mod:`~benchmark.metrics.extractors.portable_blas`), MKL's reproducible branch for whatever still reaches
#: it, one thread. oneDNN is switched off in the child itself.
PORTABLE_ENV: dict[str, str] = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **BLAS_ENV}


#: Files the portable kernel path is known to give instead of the pinned one: sha256 -> where and why. None
#: known: the pin reproduces on the AMD EPYC that trained it (AVX2) and on one with AVX-512 (Zen 4); Intel CPUs
#: are not measured yet with this path
#: (docs/moving_shapes_evaluator.md).
KNOWN_OTHER_FILES: dict[str, str] = {}


def on_portable_path() -> bool:
    """Whether this process computes on the portable kernel path: :data:`PORTABLE_ENV`, no oneDNN, and
    NumPy's BLAS is OpenBLAS running its ``Haswell`` kernels on one thread (checked, not assumed: a NumPy
    built on another BLAS ignores the variable)."""
    blas = blas_info()
    return (torch.backends.cpu.get_cpu_capability() == "DEFAULT" and os.environ.get("MKL_CBWR") == "COMPATIBLE"
            and not torch.backends.mkldnn.enabled and blas.get("internal_api") == "openblas"
            and blas.get("architecture") == BLAS_ENV["OPENBLAS_CORETYPE"] and blas.get("num_threads") == 1)


def kernel_path() -> dict[str, Any]:
    """The kernels this process trains with (in the summary; ``portable`` decides the bytes)."""
    from benchmark.manifest import hardware

    hw = hardware()
    blas = blas_info()
    return {"portable": on_portable_path(), "torch": torch.__version__, "cpu": hw["cpu"],
            "cpu_capability": hw["cpu_capability"], "mkl_cbwr": os.environ.get("MKL_CBWR"),
            "mkldnn": torch.backends.mkldnn.enabled,
            "blas": f"{blas.get('internal_api')} {blas.get('version')} {blas.get('architecture')}"}


@dataclass(frozen=True)
class TrainSetup:
    """Everything that decides the trained bytes (recorded in the weight file)."""

    steps: int = 2000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    short_clip_every: int = 4
    calibration_steps: int = 32
    seed: int = 0
    architecture: EvaluatorConfig = field(default_factory=EvaluatorConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainSetup":
        return cls(**{**d, "architecture": EvaluatorConfig.from_dict(d.get("architecture", {}))})


class AdamW(torch.optim.Optimizer):
    """AdamW (Loshchilov & Hutter, ICLR 2019): ``torch.optim.AdamW``'s update in its single-tensor form, with the
    square root of the second moment taken by :func:`ieee_sqrt`, since ``torch.sqrt`` runs MKL's CPU-dependent
    vector math (the one MKL call left in the training once the products run in OpenBLAS)."""

    def __init__(self, params: Any, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One update; ``closure`` (re-evaluates the loss, as for any torch optimizer) is called first."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = ieee_sqrt(v).div_(math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(m, denom, value=-group["lr"] / (1 - beta1 ** t))
        return loss


@contextlib.contextmanager
def deterministic_cpu() -> Iterator[None]:
    """One thread and deterministic kernels for the block (restored afterwards): the float sums
    then run in one fixed order, so the trained weights are bitwise reproducible."""
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)


class ClipStream:
    """Videos ``0, 1, 2, ...`` of one configuration's train seed stream, skipping held-out videos."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.cfg = MovingShapesConfig(**overrides)
        # videos are compared by their factors (the pixels are a function of them): cheaper than bytes
        held_out: set[str] = set()
        for split in ("val", "test"):
            held_out.update(sha256_json({k: m[k] for k in ("background", "objects")})
                            for m in generate_split(self.cfg, split)[1])
        self.held_out = held_out

    def factors(self, i: int) -> dict[str, Any]:
        """The factors of video ``i`` (the next attempt of its seed stream if it is a held-out video)."""
        attempt = 0
        while True:
            rng = np.random.default_rng([self.cfg.seed, SPLIT_STREAM["train"], i, attempt])
            factors = sample_factors(rng, self.cfg)
            if sha256_json(factors) not in self.held_out:
                return factors
            attempt += 1

    def window(self, factors: dict[str, Any], start: int, frames: int) -> np.ndarray:
        """Frames ``[start, start + frames)`` of a video, uint8 ``(frames, 3, H, W)`` (rendered alone:
        the same pixels as rendering the whole video and slicing it)."""
        cut = {**factors, "objects": [{**o, "xs": o["xs"][start:start + frames], "ys": o["ys"][start:start + frames]}
                                      for o in factors["objects"]]}
        return render_video(cut, self.cfg.size, frames)


def clip_source(g: int) -> tuple[int, int]:
    """Global clip ``g`` -> (configuration index, video index within that configuration's stream)."""
    cycle = sum(n for _, n in TRAINING_CONFIGS)
    block, pos = divmod(g, cycle)
    for c, (_, n) in enumerate(TRAINING_CONFIGS):
        if pos < n:
            return c, block * n + pos
        pos -= n
    raise AssertionError("unreachable")


def window_frames(step: int, setup: TrainSetup) -> int:
    """Clip length of a step: 16, or 8..15 (cycling) on every ``short_clip_every``-th step."""
    if setup.short_clip_every and step % setup.short_clip_every == setup.short_clip_every - 1:
        return MIN_FRAMES + (step // setup.short_clip_every) % (FRAMES - MIN_FRAMES)
    return FRAMES


def make_batch(streams: list[ClipStream], step: int, setup: TrainSetup, frames: int | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The batch of ``step``: network input ``(B, 3, T, 32, 32)`` and its labels (pure function of
    ``(setup.seed, step)``); ``T`` is :func:`window_frames` unless ``frames`` is given."""
    t = frames or window_frames(step, setup)
    inputs, labels = [], []
    by_config: dict[int, list[tuple[np.ndarray, dict[str, Any], int]]] = {}
    for j in range(setup.batch_size):
        g = step * setup.batch_size + j
        c, i = clip_source(g)
        factors = streams[c].factors(i)
        rng = np.random.default_rng([setup.seed, 1, g])
        start = int(rng.integers(0, streams[c].cfg.num_frames - t + 1))
        by_config.setdefault(c, []).append((streams[c].window(factors, start, t), factors, start))
    for c, items in sorted(by_config.items()):
        cfg = streams[c].cfg
        clips = torch.from_numpy(np.stack([v for v, _, _ in items])).float().div_(255.0)
        inputs.append(preprocess(clips))
        labels.append(factor_label_arrays([f for _, f, _ in items], cfg.size, [s for _, _, s in items],
                                          cfg.num_frames))
    x = torch.cat(inputs)
    y = {k: torch.from_numpy(np.concatenate([lab[k] for lab in labels])) for k in labels[0]}
    return x, y


def loss_fn(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(F.cross_entropy(logits[f.name], labels[f.name]) for f in FACTORS)  # type: ignore[return-value]


def learning_rate(step: int, setup: TrainSetup) -> float:
    if step < setup.warmup_steps:
        return setup.lr * (step + 1) / setup.warmup_steps
    progress = (step - setup.warmup_steps) / max(1, setup.steps - setup.warmup_steps)
    return setup.lr * 0.5 * (1 + math.cos(math.pi * progress))


def heldout_accuracy(net: ShapesEvaluatorNet, overrides: dict[str, Any], split: str = "val",
                     windows: tuple[tuple[int, int], ...] = ((0, 16), (5, 15))) -> dict[str, dict[str, float]]:
    """Per-factor accuracy on a held-out split, for each ``(start, frames)`` window (16-frame clips
    from frame 0, and the 15-frame future of the 5->15 prediction protocol)."""
    cfg = MovingShapesConfig(**overrides)
    videos, meta = generate_split(cfg, split)
    out: dict[str, dict[str, float]] = {}
    net.eval()
    with torch.no_grad():
        for start, t in windows:
            clips = torch.from_numpy(videos[:, start:start + t]).float() / 255.0
            _, logits = net(preprocess(clips))
            labels = factor_label_arrays(meta, cfg.size, [start] * len(meta), cfg.num_frames)
            acc = {f.name: float((logits[f.name].argmax(1).numpy() == labels[f.name]).mean()) for f in FACTORS}
            out[f"frames {start}..{start + t - 1}"] = acc
    return out


def train_evaluator(setup: TrainSetup = TrainSetup(), log_every: int = 100, progress: bool = True,
                    streams: list[ClipStream] | None = None, numpy_blas: bool = False
                    ) -> tuple[ShapesEvaluatorNet, dict[str, Any]]:
    """Train the evaluator; returns the network (eval mode) and a record (losses, time).
    ``streams``: ready :class:`ClipStream` s of :data:`TRAINING_CONFIGS` (default: built here);
    ``numpy_blas``: the convolutions' and linear layers' products in NumPy's BLAS (the portable path)."""
    t0 = time.time()
    streams = streams or [ClipStream(o) for o, _ in TRAINING_CONFIGS]
    with deterministic_cpu(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(setup.seed)
        net = ShapesEvaluatorNet(setup.architecture)
        layers = portable_blas_layers(net) if numpy_blas else contextlib.nullcontext()
        opt = AdamW(net.parameters(), lr=setup.lr, weight_decay=setup.weight_decay)
        net.train()
        losses: list[float] = []
        with layers:
            for step in range(setup.steps):
                for group in opt.param_groups:
                    group["lr"] = learning_rate(step, setup)
                x, y = make_batch(streams, step, setup)
                _, logits = net(x)
                loss = loss_fn(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                if progress and (step + 1) % log_every == 0:
                    recent = sum(losses[-log_every:]) / log_every
                    print(f"  step {step + 1}/{setup.steps}  loss {recent:.4f}  ({time.time() - t0:.0f} s)",
                          flush=True)
            recalibrate_batchnorm(net, streams, setup)
        net.eval()
    return net, {"seconds": time.time() - t0, "final_loss": sum(losses[-50:]) / min(50, len(losses))}


def recalibrate_batchnorm(net: ShapesEvaluatorNet, streams: list[ClipStream], setup: TrainSetup) -> None:
    """Replace the BatchNorm running statistics by their plain average over ``calibration_steps``
    fresh 16-frame batches (the exponential averages of training lag behind the final weights)."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for j in range(setup.calibration_steps):
            net(make_batch(streams, setup.steps + j, setup, frames=FRAMES)[0])
    for m in bns:
        m.momentum = 0.1


def training_record(setup: TrainSetup, numpy_blas: bool = False) -> dict[str, Any]:
    """What goes into the weight file's metadata besides the architecture (no machine names: the
    bytes must not depend on the machine). ``numpy_blas``: the products ran in NumPy's BLAS."""
    portable = numpy_blas and on_portable_path()
    kernels: dict[str, Any] = {"portable": False}
    if portable:  # the library versions that decide the bytes besides torch's
        kernels = {"portable": True, **{k: v for k, v in PORTABLE_ENV.items() if not k.endswith("THREADS")},
                   "mkldnn": False, "threads": 1, "matmul": f"openblas {blas_info()['version']}"}
    return {"training": {**asdict(setup), "architecture": asdict(setup.architecture),
                         "configs": [{"overrides": o, "clips_per_cycle": n} for o, n in TRAINING_CONFIGS],
                         # the release, not the wheel's local tag (+cpu, +cu130): same CPU kernels, same bytes
                         "torch": torch.__version__.split("+")[0], "kernels": kernels}}


def train_and_save(out: str | Path, setup: TrainSetup = TrainSetup(), progress: bool = True,
                   portable: bool = True) -> dict[str, Any]:
    """Train, write ``out`` atomically, return a summary (sha256, seconds, held-out accuracy, the kernel path).

    ``portable``: train on the portable kernel path (a child process with :data:`PORTABLE_ENV`
    unless this process already is on it), so the bytes do not depend on the CPU; ``False`` trains
    here with this process's native kernels (faster; the bytes then hold on this kernel path only).
    """
    from benchmark.utils import sha256_file

    if portable and not on_portable_path():
        return _train_in_child(Path(out), setup, progress)
    numpy_blas = portable  # here on the portable path already (a child, or started with its environment)
    net, rec = train_evaluator(setup, progress=progress, numpy_blas=numpy_blas)
    out = Path(out)
    with atomic_path(out) as tmp:
        save_weights(net, tmp, training_record(setup, numpy_blas))
    acc = {("default 64x64" if not o else "32x32 half-size"): heldout_accuracy(net, o) for o, _ in TRAINING_CONFIGS}
    return {"path": str(out), "sha256": sha256_file(out), "bytes": out.stat().st_size,
            "parameters": sum(p.numel() for p in net.parameters()), **rec, "heldout_accuracy": acc,
            "kernel_path": kernel_path()}


def _train_in_child(out: Path, setup: TrainSetup, progress: bool) -> dict[str, Any]:
    """Run :func:`train_and_save` in ``python -m`` of this module with :data:`PORTABLE_ENV`; its
    progress lines pass through; returns its summary."""
    with tempfile.TemporaryDirectory(prefix="vidbench-train-") as tmp:
        setup_file, summary_file = Path(tmp) / "setup.json", Path(tmp) / "summary.json"
        setup_file.write_text(json.dumps(asdict(setup)))
        cmd = [sys.executable, "-m", __name__, "--out", str(out), "--setup", str(setup_file),
               "--summary", str(summary_file)] + ([] if progress else ["--quiet"])
        done = subprocess.run(cmd, env={**os.environ, **PORTABLE_ENV})
        if done.returncode != 0 or not summary_file.is_file():
            raise RuntimeError(f"training the evaluator on the portable kernel path failed (exit {done.returncode}; "
                               f"its output is above): {' '.join(cmd)}")
        return json.loads(summary_file.read_text())


def main(argv: list[str] | None = None) -> int:
    """The child process of :func:`train_and_save` (run with :data:`PORTABLE_ENV`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--setup", required=True, help="TrainSetup as JSON")
    p.add_argument("--summary", required=True, help="where to write the summary JSON")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    mkldnn, torch.backends.mkldnn.enabled = torch.backends.mkldnn.enabled, False
    try:  # (restored: tests call this entry point in-process)
        if not on_portable_path():
            print(f"not on the portable kernel path ({kernel_path()}): start this module with the environment "
                  f"{PORTABLE_ENV} (benchmark weights train-embedded does)", file=sys.stderr)
            return 2
        setup = TrainSetup.from_dict(json.loads(Path(args.setup).read_text()))
        summary = train_and_save(args.out, setup, progress=not args.quiet)
    finally:
        torch.backends.mkldnn.enabled = mkldnn
    with atomic_path(Path(args.summary)) as tmp:
        tmp.write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
