"""The shared training loop (nanoGPT-style: one plain function, read it top to bottom).

A method hands the loop its ``nn.Module``s and one or more optimiser *phases* — ``(name,
optimizer, loss_fn)`` — and the loop does the rest: seeding, sampling clips, ``zero_grad`` /
``backward`` / gradient all-reduce / ``step`` per phase (so a GAN alternates its D and G phases),
NaN guard, JSON-lines loss log, tqdm progress, atomic checkpoints and exact resume.

Determinism: the clips of step ``s`` (which videos, and where each temporal crop starts) are a
pure function of ``(seed, s)``, never of iterator state, so a resumed run sees exactly the batches
an uninterrupted one would. Videos are drawn without replacement epoch by epoch (a fresh
permutation per epoch); the ``batch_size`` clips of a step form the *global* batch and rank ``r``
of ``W`` trains on its slice ``[r*B/W, (r+1)*B/W)``. Hence 2 ranks with batch ``B`` see exactly
the clips one process with batch ``B`` sees, and end with the same weights (BatchNorm layers are
synchronised over ranks, :mod:`benchmark.training.sync_batchnorm`, so they normalise over the global
batch as one process would). Each step also gets a ``torch.Generator`` seeded by ``(seed, step,
rank)`` in :attr:`Batch.generator` for noise; global RNGs are seeded once and saved in
checkpoints, so on CPU a killed-and-resumed run ends bitwise identical to an uninterrupted one.

Example (a method's ``fit``)::

    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    def mse(batch: Batch) -> torch.Tensor:
        return F.mse_loss(model(batch.videos[:, :-1]), batch.videos[:, 1:])
    parts = TrainParts(method="my_method", modules={"model": model}, phases=[Phase("mse", opt, mse)])
    summary = train(parts, data, TrainConfig(steps=1000, batch_size=32), run_dir,
                    seed=0, clip_frames=15, resume=True)
"""

from __future__ import annotations

import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from benchmark.methods import TrainData
from benchmark.training import distributed as D
from benchmark.training import runtime
from benchmark.training.checkpoint import (CHECKPOINT_FORMAT, CHECKPOINT_NAME, CheckpointError,
                                           capture_rng_state, git_revision, load_checkpoint,
                                           restore_rng_state, save_checkpoint)
from benchmark.training.sync_batchnorm import convert_sync_batchnorm_
from benchmark.training.tensorboard import open_writer
from benchmark.utils import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

LOG_NAME = "train_log.jsonl"
CONFIG_NAME = "train_config.json"


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to train; every method nests one as ``config.train``.

    Attributes:
        steps: total optimiser steps (each runs every phase once).
        batch_size: *global* batch: clips per step over all ranks (must divide by the world size).
        checkpoint_every: write ``checkpoint.pt`` every this many steps (and always at the end).
        log_every: append mean losses of the last ``log_every`` steps to ``train_log.jsonl``.
        grad_clip: max global gradient norm per phase (None: no clipping).
    """

    steps: int = 10_000
    batch_size: int = 64
    checkpoint_every: int = 1000
    log_every: int = 50
    grad_clip: float | None = None


@dataclass
class Batch:
    """One step's training clips on this rank.

    Attributes:
        videos: float ``(B, T, C, H, W)`` in [0, 1] on the modules' device.
        index: ``(B,)`` int64, the clips' video indices into ``TrainData.videos`` (for per-video
            latents).
        start: ``(B,)`` int64, first frame of each temporal crop.
        step: the 0-based step this batch is for.
        generator: a ``torch.Generator`` on the device seeded by ``(seed, step, rank)``; use it for
            noise so samples never depend on iterator state.
        global_size, rank_slice, global_seed: the global batch size, this rank's rows of it and the
            ``(seed, step)`` seed of :meth:`global_noise` (the same on every rank).
    """

    videos: torch.Tensor
    index: torch.Tensor
    start: torch.Tensor
    step: int
    generator: torch.Generator
    global_size: int | None = None
    rank_slice: slice | None = None
    global_seed: int = 0

    def global_noise(self, fn: Callable[..., torch.Tensor], *shape: int) -> torch.Tensor:
        """This rank's rows of noise drawn for the whole global batch: ``fn(global_size, *shape)``
        (``torch.rand``/``torch.randn``) from a generator seeded by ``(seed, step)`` alone, sliced to
        this rank's clips. In one process it is exactly ``fn(B, *shape, generator=self.generator)``
        on a fresh :attr:`generator`; under DDP the ranks together draw what one process would, so a
        GAN trains as one process with the same global batch (the per-rank :attr:`generator` does not).
        """
        gen = torch.Generator(device=self.generator.device)
        gen.manual_seed(self.global_seed)
        n = self.global_size if self.global_size is not None else len(self.videos)
        noise = fn(n, *shape, generator=gen, device=self.generator.device)
        return noise if self.rank_slice is None else noise[self.rank_slice]


LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, Any]]


@dataclass
class Phase:
    """One optimiser update per step: ``optimizer.zero_grad(); loss_fn(batch).backward();
    all-reduce grads; clip; optimizer.step(); after_step()``.

    ``loss_fn`` returns a scalar loss, or ``(loss, extras)`` where ``extras`` maps names to
    scalars logged as ``<phase>/<name>``. ``after_step`` is a hook for projections and clipping
    of weights or latents (e.g. TGAN's singular value clipping, NAVSLP's unit-ball projection).
    """

    name: str
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[Any], LossOutput]
    after_step: Callable[[], None] | None = None


@dataclass
class TrainParts:
    """What a method gives the loop.

    Attributes:
        method: the registered method name (recorded in checkpoints, checked on resume).
        modules: every module whose weights/buffers are trained and checkpointed.
        phases: the optimiser phases, run in order every step.
        make_batch: optional ``Batch -> anything`` transform; its output is what ``loss_fn`` gets.
        schedulers: learning-rate schedulers stepped once per step, checkpointed by name.
        config: the method's resolved config (``asdict``), recorded in checkpoints.
    """

    method: str
    modules: dict[str, torch.nn.Module]
    phases: list[Phase]
    make_batch: Callable[[Batch], Any] | None = None
    schedulers: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


class NonFiniteLossError(FloatingPointError):
    """A loss (or the weights) became NaN/inf; the message names the step, phase and value."""


# ------------------------------------------------------------------------------- sampling ---

def _seed_int(*entropy: int) -> int:
    """A 63-bit seed from a tuple of non-negative ints (NumPy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(2, np.uint64)[0] >> np.uint64(1))


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from ``(seed, rank)``."""
    import random

    s = _seed_int(seed, rank, 0)
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)


class ClipSampler:
    """Stateless clip sampler: the global batch of step ``s`` is a function of ``(seed, s)``.

    Video indices walk through a per-epoch permutation (without replacement within an epoch);
    crop starts are uniform over the valid range.

    >>> s = ClipSampler(num_videos=10, video_frames=20, clip_frames=15, batch_size=4, seed=0)
    >>> idx, start = s.draw(step=3)
    >>> idx.shape, bool((start <= 5).all())
    ((4,), True)
    """

    def __init__(self, num_videos: int, video_frames: int, clip_frames: int, batch_size: int,
                 seed: int) -> None:
        self.n, self.max_start = num_videos, video_frames - clip_frames
        self.batch_size, self.seed = batch_size, seed
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[epoch] = np.random.default_rng([self.seed, epoch, 1]).permutation(self.n)
        return self._perms[epoch]

    def draw(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, starts)`` of the global batch of ``step``, both int64 ``(batch_size,)``."""
        pos = step * self.batch_size + np.arange(self.batch_size, dtype=np.int64)
        epochs, within = np.divmod(pos, self.n)
        idx = np.array([self._perm(int(e))[int(w)] for e, w in zip(epochs, within)], dtype=np.int64)
        rng = np.random.default_rng([self.seed, step, 2])
        starts = rng.integers(0, self.max_start + 1, size=self.batch_size, dtype=np.int64)
        return idx, starts


def _load_batch(data: TrainData, sampler: ClipSampler, step: int, clip_frames: int, seed: int,
                device: torch.device) -> Batch:
    rank, world = D.get_rank(), D.get_world_size()
    idx, starts = sampler.draw(step)
    per_rank = len(idx) // world
    idx, starts = idx[rank * per_rank:(rank + 1) * per_rank], starts[rank * per_rank:(rank + 1) * per_rank]
    clips = np.stack([data.videos[i, s:s + clip_frames] for i, s in zip(idx, starts)])
    x = torch.from_numpy(clips)
    if device.type == "cuda":
        x = x.pin_memory()
    x = x.to(device, non_blocking=True).float().div_(255.0)
    gen = torch.Generator(device=device)
    gen.manual_seed(_seed_int(seed, step, rank, 3))
    return Batch(videos=x, index=torch.from_numpy(idx).to(device), start=torch.from_numpy(starts).to(device),
                 step=step, generator=gen, global_size=per_rank * world,
                 rank_slice=slice(rank * per_rank, (rank + 1) * per_rank), global_seed=_seed_int(seed, step, 0, 3))


# ---------------------------------------------------------------------------- checkpointing ---

def _device_of(modules: dict[str, torch.nn.Module]) -> torch.device:
    for m in modules.values():
        for p in m.parameters():
            return p.device
    return torch.device("cpu")


def _checkpoint_state(parts: TrainParts, cfg: TrainConfig, step: int, elapsed_s: float, seed: int,
                      git: dict[str, Any] | None) -> dict[str, Any] | None:
    """Collective (all ranks call it, for the RNG states); the dict only on rank 0."""
    rng = D.all_gather_objects(capture_rng_state())
    if not D.is_main_process():
        return None
    return {
        "format": CHECKPOINT_FORMAT,
        "method": parts.method,
        "step": step,
        "elapsed_s": elapsed_s,
        "seed": seed,
        "world_size": D.get_world_size(),
        "modules": {k: m.state_dict() for k, m in parts.modules.items()},
        "optimizers": {p.name: p.optimizer.state_dict() for p in parts.phases},
        "schedulers": {k: s.state_dict() for k, s in parts.schedulers.items()},
        "rng": rng,
        "train_config": asdict(cfg),
        "method_config": parts.config,
        "git": git,
        "torch": str(torch.__version__),
    }


def _restore(parts: TrainParts, state: dict[str, Any], cfg: TrainConfig, seed: int, path: Path) -> None:
    if state["method"] != parts.method:
        raise CheckpointError(f"{path}: checkpoint is of method {state['method']!r}, not {parts.method!r}")
    # Extending a run (more steps, other cadences) is fine; a checkpoint of another setup is refused:
    # resuming it would silently mix two trainings.
    changed = sorted(k for k, v in asdict(cfg).items()
                     if k not in ("steps", "log_every", "checkpoint_every") and state["train_config"].get(k) != v)
    model_keys = {k: v for k, v in parts.config.items() if k != "train"}
    model_changed = sorted(k for k in set(model_keys) | set(state.get("method_config") or {})
                           if k != "train" and (state.get("method_config") or {}).get(k) != model_keys.get(k))
    if changed or state.get("seed") != seed or model_changed:
        what = [f"train.{k}" for k in changed] + model_changed + (
            [f"seed {state.get('seed')} -> {seed}"] if state.get("seed") != seed else [])
        raise CheckpointError(f"{path}: the checkpoint is of another training setup ({', '.join(what)} differ); "
                              f"it is not resumed. Start over with --no-resume (fit(..., resume=False)), or "
                              f"delete the checkpoint")
    for k, m in parts.modules.items():
        m.load_state_dict(state["modules"][k])
    for p in parts.phases:
        p.optimizer.load_state_dict(state["optimizers"][p.name])
    for k, s in parts.schedulers.items():
        s.load_state_dict(state["schedulers"][k])
    rank, world = D.get_rank(), D.get_world_size()
    if len(state["rng"]) == world:
        restore_rng_state(state["rng"][rank])
    else:  # different world size: batches stay exact (they depend on (seed, step) only), noise does not
        log.warning("%s: checkpoint has RNG states of %d ranks, this run has %d; reseeding global RNGs",
                    path, len(state["rng"]), world)
        seed_everything(_seed_int(seed, state["step"]), rank)


def _trim_log(path: Path, last_step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (by the run that was killed)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= last_step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in kept))


def _params(phase: Phase) -> list[torch.nn.Parameter]:
    return [p for group in phase.optimizer.param_groups for p in group["params"]]


def _reduced(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """Device scalars -> their means over ranks as Python floats: one collective, one host sync."""
    if not losses:
        return {}
    return dict(zip(losses, D.all_reduce_mean(torch.stack([v.reshape(()) for v in losses.values()])).tolist()))


def _check_finite(method: str, losses: dict[str, float], done: int, count: int, ckpt_path: Path,
                  last_saved: int | None) -> None:
    """Raise :class:`NonFiniteLossError` naming the phase if any loss (a step's, or a mean over the
    last ``count`` steps; the same values on every rank) is NaN/inf."""
    bad = [(k, v) for k, v in losses.items() if not math.isfinite(v)]
    if not bad:
        return
    name, value = bad[0]
    when = f"at step {done}" if count <= 1 else f"in steps {done - count + 1}..{done}"
    where = (f"the last good checkpoint is {ckpt_path} (step {last_saved})" if last_saved
             else "no checkpoint was written yet")
    phase = name.split("/", 1)[0]
    raise NonFiniteLossError(f"{method}: loss of phase {phase!r} is {value} {when}; training stopped, {where}")


def _all_finite(modules: dict[str, torch.nn.Module]) -> bool:
    return all(bool(torch.isfinite(t).all()) for m in modules.values() for t in m.state_dict().values()
               if t.is_floating_point())


# ------------------------------------------------------------------------------------ train ---

def train(parts: TrainParts, data: TrainData, cfg: TrainConfig, run_dir: str | Path, *, seed: int,
          clip_frames: int, resume: bool = False, progress: bool = True, stop_after: int | None = None,
          callback: Callable[[int, dict[str, float]], None] | None = None,
          sync_batchnorm: bool = True) -> dict[str, Any]:
    """Train ``parts`` on clips of ``data`` and return a summary.

    Args:
        parts: the method's modules, optimiser phases and optional batch transform.
        data: uint8 training videos ``(N, T, C, H, W)``; clips of ``clip_frames`` are cropped from them.
        cfg: steps, global batch size, checkpoint/log cadence, gradient clipping.
        run_dir: receives ``checkpoint.pt``, ``train_log.jsonl`` and ``train_config.json`` (rank 0 only),
            and TensorBoard event files in ``tensorboard/`` when the package is installed.
        seed: seeds global RNGs, clip sampling and each step's :attr:`Batch.generator`.
        clip_frames: frames per training clip.
        resume: continue from ``run_dir/checkpoint.pt`` if it exists (else start fresh).
        progress: show a tqdm bar (rank 0).
        stop_after: return after this many completed steps without the final checkpoint, as a
            killed run would (for tests and time-boxed jobs).
        callback: called as ``callback(step, losses)`` after each step (``step`` = steps completed).
        sync_batchnorm: with more than one rank, BatchNorm layers normalise over the global batch
            (:mod:`benchmark.training.sync_batchnorm`), so DDP trains as one process with the same
            global batch would. ``False`` (tests only) keeps per-rank statistics.

    Returns:
        ``{"method", "start_step", "step", "steps", "stopped_early", "losses", "wall_s",
        "train_wall_s", "world_size", "checkpoint", "log"}``.

    Raises:
        NonFiniteLossError: a loss or the weights became NaN/inf; the checkpoint on disk stays the
            last good one.
    """
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    rank, world = D.get_rank(), D.get_world_size()
    main = rank == 0
    videos = data.videos
    if videos.ndim != 5 or videos.dtype != np.uint8 or len(videos) == 0:
        raise ValueError(f"train: expected non-empty uint8 videos (N, T, C, H, W), got {videos.dtype} {videos.shape}")
    if not 1 <= clip_frames <= videos.shape[1]:
        raise ValueError(f"train: clips of {clip_frames} frames cannot be cut from videos of {videos.shape[1]}")
    if cfg.batch_size % world:
        raise ValueError(f"train: batch_size {cfg.batch_size} (global) is not divisible by {world} ranks. DDP splits "
                         f"the global batch over ranks; a batch that cannot be split (NAVSLP's paper batch is 1, "
                         f"and raising it would change its per-latent step size) trains one job per GPU instead: "
                         f"CUDA_VISIBLE_DEVICES=i benchmark train METHOD --seed i, one seed per GPU")
    if seed < 0:
        raise ValueError(f"train: seed must be >= 0, got {seed}")
    names = [p.name for p in parts.phases]
    if len(set(names)) != len(names):
        raise ValueError(f"train: phase names must be unique, got {names}")

    if world > 1 and sync_batchnorm:
        # in place: the method's own references to its modules (and the optimisers) stay valid
        for k in list(parts.modules):
            parts.modules[k] = convert_sync_batchnorm_(parts.modules[k])
    device = _device_of(parts.modules)
    options = runtime.active()  # precision / compile of this training (the harness sets them)
    options.check_device(device)
    if options.compile:
        for m in parts.modules.values():
            m.compile()  # in place: the method's references stay valid; weights and state_dict unchanged
    modules = list(parts.modules.values())
    ckpt_path, log_path = run_dir / CHECKPOINT_NAME, run_dir / LOG_NAME

    seed_everything(seed, rank)
    start_step, elapsed0 = 0, 0.0
    resumed = resume and ckpt_path.exists()
    if resumed:
        # Loaded on the CPU and copied into place by load_state_dict: loading straight onto a GPU
        # puts Adam's step counters there too, one host sync per parameter per step afterwards.
        state = load_checkpoint(ckpt_path, map_location="cpu")
        _restore(parts, state, cfg, seed, ckpt_path)
        start_step, elapsed0 = int(state["step"]), float(state.get("elapsed_s", 0.0))
        del state
    D.broadcast_modules_(modules)  # identical start on every rank

    git = git_revision() if main else None
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / CONFIG_NAME, {"method": parts.method, "seed": seed, "world_size": world,
                                                  "runtime": options.describe(),
                                                  "clip_frames": clip_frames, "train": asdict(cfg),
                                                  "method_config": parts.config, "git": git,
                                                  "data_hash": data.content_hash})
        if resumed:
            _trim_log(log_path, start_step)
        else:
            log_path.write_text("")
    sampler = ClipSampler(len(videos), videos.shape[1], clip_frames, cfg.batch_size, seed)
    board = open_writer(run_dir, start_step, enabled=main)  # TensorBoard mirror of train_log.jsonl

    last_saved = start_step if resumed else None
    # Losses stay on the device and are summed there; they are read (all-reduced, NaN-checked and
    # logged) every log_every steps, not every step: each read is a host sync that stalls a GPU.
    sums: dict[str, torch.Tensor] = {}
    count, last_losses = 0, {}
    step = start_step
    t0 = time.perf_counter()
    # The next step's batch is cut and copied while this step computes (it is a pure function of
    # (seed, step), so prefetching changes nothing but the wait).
    prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidbench-batch")
    upcoming = prefetch.submit(_load_batch, data, sampler, start_step, clip_frames, seed, device) \
        if start_step < cfg.steps else None
    bar = tqdm(total=cfg.steps, initial=start_step, desc=parts.method, unit="step", dynamic_ncols=True,
               disable=None if (progress and main) else True)  # None: off when not a terminal
    try:
        for step in range(start_step, cfg.steps):
            for m in modules:
                m.train()
            batch = upcoming.result()
            upcoming = prefetch.submit(_load_batch, data, sampler, step + 1, clip_frames, seed, device) \
                if step + 1 < cfg.steps else None
            inputs = parts.make_batch(batch) if parts.make_batch is not None else batch
            losses: dict[str, torch.Tensor] = {}
            for phase in parts.phases:
                phase.optimizer.zero_grad(set_to_none=True)
                with options.autocast(device):
                    out = phase.loss_fn(inputs)
                loss, extras = out if isinstance(out, tuple) else (out, {})
                loss.backward()
                params = _params(phase)
                D.all_reduce_gradients_(params)
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                phase.optimizer.step()
                if phase.after_step is not None:
                    phase.after_step()
                losses[phase.name] = loss.detach().float().reshape(())
                losses.update({f"{phase.name}/{k}": torch.as_tensor(v.detach() if isinstance(v, torch.Tensor) else v,
                                                                    dtype=torch.float32, device=device).reshape(())
                               for k, v in extras.items()})
            for sched in parts.schedulers.values():
                sched.step()
            D.all_reduce_buffers_(modules)

            done = step + 1
            for k, v in losses.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            bar.update(1)
            log_now = done % cfg.log_every == 0 or done == cfg.steps or done == stop_after
            step_losses = _reduced(losses) if callback is not None else None
            if step_losses is not None:
                _check_finite(parts.method, step_losses, done, 1, ckpt_path, last_saved)
            if log_now or done % cfg.checkpoint_every == 0:  # never checkpoint past an unchecked loss
                means = _reduced({k: v / count for k, v in sums.items()})
                _check_finite(parts.method, means, done, count, ckpt_path, last_saved)
            if log_now:
                last_losses = means
                sums, count = {}, 0
                if main:
                    record = {"step": done, "wall_s": round(elapsed0 + time.perf_counter() - t0, 4),
                              "losses": last_losses,
                              "lr": {p.name: p.optimizer.param_groups[0]["lr"] for p in parts.phases}}
                    with open(log_path, "a") as f:
                        f.write(json.dumps(record) + "\n")
                    board.log(record)
                bar.set_postfix({k: f"{v:.4g}" for k, v in last_losses.items()}, refresh=False)
            if callback is not None:  # a per-step callback reads every step's losses (a sync each step)
                callback(done, step_losses)
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                if not _all_finite(parts.modules):
                    raise NonFiniteLossError(f"{parts.method}: weights became NaN/inf at step {done}; not "
                                             f"saving them, the last good checkpoint is step {last_saved}")
                state = _checkpoint_state(parts, cfg, done, elapsed0 + time.perf_counter() - t0, seed, git)
                if state is not None:
                    save_checkpoint(ckpt_path, state)
                last_saved = done
            if stop_after is not None and done >= stop_after:
                step = done
                break
        else:
            step = cfg.steps
    finally:
        bar.close()
        prefetch.shutdown(wait=True, cancel_futures=True)
        board.close()
    for m in modules:
        m.eval()
    wall = time.perf_counter() - t0
    return {"method": parts.method, "start_step": start_step, "step": step, "steps": cfg.steps,
            "stopped_early": step < cfg.steps, "losses": last_losses, "wall_s": wall,
            "train_wall_s": elapsed0 + wall, "world_size": world,
            "checkpoint": str(ckpt_path) if last_saved else None, "log": str(log_path)}
