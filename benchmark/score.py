"""Score one set of videos against another: ``benchmark score REAL FAKE --metrics psnr,ssim,fcs``.

Both sets are uint8 ``(N, T, C, H, W)`` (:func:`load_videos` reads them: an ``.npz``, a video file, or
a folder of mp4/avi/gif/webm/mov/npz files and of frame folders, sorted by name). Every video of a set
must have one shape; otherwise ``--frames T`` keeps the first T frames of each (a shorter video is an
error) and ``--resolution H[xW]`` resizes every frame (bilinear with antialiasing, rounded to uint8).
``--preset savp|svg|srvp`` applies a prediction paper's metric conventions to the metrics that have
presets (psnr, ssim); ``--weights random`` runs pretrained-network metrics with random weights (numbers
labelled not comparable). The printed protocol and the JSON record every choice.
Each metric kind is fed by :mod:`benchmark.evaluate` (the same code as ``benchmark run``):

* ``paired`` (psnr, ssim): ``fake[i]`` is compared with ``real[i]`` frame by frame as one sample
  (k = 1), so both sets must have the same shape; best = mean = worst then.
* ``intrinsic`` (fcs): scored on the fake set (key ``fcs``) and on the real set as the bound
  (key ``fcs_real``).
* ``set`` (FVD, ...): ``update(videos, real=True)`` for real batches, ``real=False`` for fake ones.

>>> import numpy as np
>>> v = np.random.default_rng(0).integers(0, 256, (2, 3, 1, 16, 16), dtype=np.uint8)
>>> r = score_sets(v, v, ["ssim"])
>>> r["metrics"]["ssim_mean"]["value"]
1.0
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import evaluate
from benchmark.metrics.psnr import PRESETS as PSNR_PRESETS
from benchmark.metrics.ssim import PRESETS as SSIM_PRESETS
from benchmark.registry import METRICS, UnknownNameError
from benchmark.utils import UserError, sha256_array, write_json_atomic
from benchmark.video import VIDEO_SUFFIXES, VideoFormatError, check_videos, load_npz, read_video, to_float

SCHEMA = "vidbench.score/1"
REAL_SUFFIX = "_real"


class ScoreError(UserError, ValueError):
    """The two sets cannot be scored as asked (shapes, metric kinds, frame sizes)."""


class UnknownMetricError(UserError, UnknownNameError):
    """A metric name that is not registered; the message lists the valid ones."""


def _check_set(arr: np.ndarray, name: str) -> None:
    if not isinstance(arr, np.ndarray):
        raise ScoreError(f"{name}: expected a numpy uint8 array (N, T, C, H, W), got {type(arr).__name__}")
    if arr.dtype != np.uint8 or arr.ndim != 5 or arr.shape[2] not in (1, 3):
        raise ScoreError(f"{name}: expected uint8 (N, T, C, H, W) with C in {{1, 3}}, "
                         f"got {arr.dtype} {arr.shape}")
    if arr.shape[0] == 0:
        raise ScoreError(f"{name}: the set holds no videos")


def _finite(obj: Any) -> Any:
    """Recursively replace NaN/inf floats with None so the result is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _build(names: list[str], weights: str = "pinned", cache_dir: str | os.PathLike | None = None,
           preset: str | None = None) -> dict[str, Any]:
    """Metric instances; ``preset`` goes to the metrics whose constructor takes one (psnr, ssim)."""
    from benchmark.evaluate import _weight_kwargs, build_metrics

    for name in names:
        try:
            cls = METRICS.get(name)
        except UnknownNameError as e:
            raise UnknownMetricError(str(e)) from e
        if cls.kind == "likelihood":
            raise ScoreError(f"{name} needs a model's likelihoods of the videos, not two video sets; it is "
                             f"computed by `benchmark run` for methods with a log_likelihood")
    cache = None if cache_dir is None else Path(cache_dir)
    metrics = build_metrics(names, weights=weights, cache_dir=cache)
    if preset is not None:
        if preset not in PRESETS:
            raise ScoreError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        for name in names:
            if takes_preset(name):
                metrics[name] = METRICS.build(name, preset=preset, **_weight_kwargs(name, weights, cache))
    return metrics


def takes_preset(name: str) -> bool:
    """Whether metric ``name`` has paper presets (a ``preset`` constructor argument).

    >>> takes_preset("ssim"), takes_preset("fcs")
    (True, False)
    """
    return "preset" in inspect.signature(METRICS.get(name).__init__).parameters


#: ``--preset`` names: the prediction papers whose metric conventions psnr/ssim reproduce (one home:
#: the metric modules' PRESETS)
PRESETS = tuple(dict.fromkeys([*PSNR_PRESETS, *SSIM_PRESETS]))


def score_sets(real: np.ndarray, fake: np.ndarray, metric_names: list[str], batch_size: int = 16,
               progress: bool = False, *, weights: str = "pinned", device: str = "cpu",
               preset: str | None = None, cache_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Compute metrics between a real and a fake set of uint8 videos.

    Args:
        real: reference videos, uint8 ``(N_real, T, C, H, W)``.
        fake: generated/predicted videos, uint8 ``(N_fake, T', C', H', W')``; for paired metrics
            the shape must equal ``real``'s (``fake[i]`` pairs with ``real[i]``).
        metric_names: registered metric names (``benchmark.registry.METRICS``).
        batch_size: videos converted to float and fed to the metrics at once.
        progress: show a progress bar on stderr.
        weights: ``"pinned"`` or ``"random"`` feature-network weights (random: not comparable).
        device: where the metrics run (``cpu``, ``cuda``, ``cuda:1``, ``auto``).
        preset: ``savp``, ``svg`` or ``srvp`` conventions for the metrics that have presets.
        cache_dir: feature cache folder of pretrained-network metrics.

    Returns:
        A JSON-able dict::

            {"schema": "vidbench.score/1",
             "real": {"n", "shape"}, "fake": {"n", "shape"},
             "metrics": {"psnr_best": {...MetricValue.to_dict()}, ..., "fcs": {...}, "fcs_real": {...}},
             "protocols": {"psnr": {...}, ...}, "metric_protocols": (the same, under the pipeline's key),
             "kinds": {"psnr": "paired", ...},
             "comparable": bool, "wall_s": float}

        Non-finite numbers (a CI with n < 2) are ``None``.

    Raises:
        UnknownMetricError: a name is not registered (the message lists the valid names).
        ScoreError: malformed sets, or a paired metric with sets of different shapes.
    """
    _check_set(real, "real")
    _check_set(fake, "fake")
    if not metric_names:
        raise ScoreError(f"no metrics requested; valid metrics: {', '.join(METRICS.list())}")
    if batch_size < 1:
        raise ScoreError(f"--batch-size must be at least 1, got {batch_size}")
    dev = resolve_device(device)
    metrics = _build(list(dict.fromkeys(metric_names)), weights, cache_dir, preset)
    paired = [n for n, m in metrics.items() if m.kind == "paired"]
    if paired and real.shape != fake.shape:
        raise ScoreError(f"paired metrics ({', '.join(paired)}) compare fake[i] with real[i] frame by frame "
                         f"and need sets of equal shape (N, T, C, H, W): real {real.shape} vs fake {fake.shape}")
    real_bound = _build([n for n, m in metrics.items() if m.kind == "intrinsic"], weights, cache_dir, preset)
    for m in (*metrics.values(), *real_bound.values()):
        m.to(dev)

    start = time.perf_counter()
    n_batches = -(-max(len(real), len(fake)) // batch_size)
    from tqdm import tqdm

    with torch.no_grad():
        # disable=None: tqdm turns itself off when stderr is not a terminal
        for b in tqdm(range(n_batches), desc="score", unit="batch", disable=None if progress else True):
            sl = slice(b * batch_size, (b + 1) * batch_size)
            r = check_videos(to_float(real[sl]), "real").to(dev) if len(real[sl]) else None
            f = check_videos(to_float(fake[sl]), "fake").to(dev) if len(fake[sl]) else None
            try:
                # one sample per video (k = 1) and no context: paired metrics compare fake[i] with real[i]
                evaluate.update(metrics, None if f is None else f[:, None], r)
                if r is not None:
                    evaluate.update_real(metrics, r)
                    evaluate.update(real_bound, r[:, None])     # the real set's own intrinsic scores
            except UserError:
                raise
            except ValueError as e:  # e.g. frames smaller than the SSIM window
                raise ScoreError(str(e)) from e

    values, protocols = evaluate.collect(metrics)
    bound, _ = evaluate.collect(real_bound)
    for key, d in bound.items():
        d["extra"] = {**d.get("extra", {}), "set": "real", "role": "bound"}
        values[key + REAL_SUFFIX] = d
    return _finite({
        "schema": SCHEMA,
        "real": {"n": int(real.shape[0]), "shape": list(real.shape)},
        "fake": {"n": int(fake.shape[0]), "shape": list(fake.shape)},
        "metrics": values,
        "protocols": protocols,
        "metric_protocols": protocols,
        "kinds": {n: m.kind for n, m in metrics.items()},
        "comparable": all(bool(getattr(m, "comparable", True)) for m in metrics.values()),
        "wall_s": time.perf_counter() - start,
    })


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """Plain-text table of a :func:`score_sets` result: metric, value, 95% CI, n.

    >>> print(format_table({"metrics": {"fcs": {"value": 0.9, "ci_low": 0.8, "ci_high": 1.0, "n": 5}}}))
    metric  value   95% CI            n
    ------  ------  ----------------  -
    fcs     0.9000  [0.8000, 1.0000]  5
    """
    rows = [("metric", "value", "95% CI", "n")]
    for key, mv in result.get("metrics", {}).items():
        lo, hi = mv.get("ci_low"), mv.get("ci_high")
        ci = "-" if _fmt(lo) == "-" or _fmt(hi) == "-" else f"[{_fmt(lo)}, {_fmt(hi)}]"
        rows.append((key, _fmt(mv.get("value")), ci, str(mv.get("n", ""))))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; a CUDA device that is not there is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ScoreError(f"--device {device!r}: {e}; use cpu, cuda, cuda:N or auto") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ScoreError(f"--device {device}: CUDA is not available here; use --device cpu (or auto)")
    return dev


def parse_resolution(text: str | None) -> tuple[int, int] | None:
    """``"64"`` -> (64, 64); ``"48x64"`` -> (48, 64) (height x width).

    >>> parse_resolution("64"), parse_resolution("48x64"), parse_resolution(None)
    ((64, 64), (48, 64), None)
    """
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:[x×,]\s*(\d+))?\s*", str(text))
    if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < 1):
        raise ScoreError(f"--resolution {text!r}: expected SIZE or HEIGHTxWIDTH in pixels, e.g. 64 or 48x64")
    h = int(m.group(1))
    return h, int(m.group(2) or h)


def read_frame_folder(folder: Path) -> np.ndarray:
    """A folder of image files (one frame each, sorted by name) as uint8 ``(1, T, 3, H, W)``."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VideoFormatError(f"{folder}: a frame folder must hold image files ({', '.join(IMAGE_SUFFIXES)})")
    frames = []
    for f in files:
        try:
            with Image.open(f) as im:
                frames.append(np.asarray(im.convert("RGB")))
        except Exception as e:  # PIL raises many types for broken images
            raise VideoFormatError(f"{f}: cannot read the frame ({type(e).__name__}: {e})") from e
        if frames[-1].shape != frames[0].shape:
            raise VideoFormatError(f"{f}: frame size {frames[-1].shape[:2]} differs from {files[0].name}'s "
                                   f"{frames[0].shape[:2]}; the frames of one video must match")
    return np.stack(frames).transpose(0, 3, 1, 2)[None]


def _read_item(path: Path) -> np.ndarray:
    """One entry of a set as uint8 ``(n, T, C, H, W)``: an .npz (n videos), a video file, a frame folder."""
    if path.is_dir():
        return read_frame_folder(path)
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    return read_video(path)[None]


def resample(videos: np.ndarray, frames: int | None, resolution: tuple[int, int] | None,
             name: str = "video") -> np.ndarray:
    """The documented resampling: the first ``frames`` frames, then frames resized to ``resolution``
    (bilinear with antialiasing on [0, 1] floats, rounded back to uint8).

    >>> v = np.zeros((2, 5, 1, 8, 8), np.uint8)
    >>> resample(v, 3, (4, 6)).shape
    (2, 3, 1, 4, 6)
    """
    if frames is not None:
        if videos.shape[1] < frames:
            raise ScoreError(f"{name}: {videos.shape[1]} frames, fewer than --frames {frames}; "
                             f"--frames keeps the first T frames and cannot add frames")
        videos = videos[:, :frames]
    if resolution is not None and tuple(videos.shape[3:]) != tuple(resolution):
        n, t, c, h, w = videos.shape
        x = torch.from_numpy(np.ascontiguousarray(videos)).reshape(n * t, c, h, w).float() / 255.0
        x = torch.nn.functional.interpolate(x, size=resolution, mode="bilinear", align_corners=False,
                                            antialias=True)
        videos = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).reshape(n, t, c, *resolution).numpy()
    return videos


def load_videos(source: str | os.PathLike, *, frames: int | None = None, resolution: tuple[int, int] | None = None,
                num_workers: int = 0) -> np.ndarray:
    """Read a set of videos as uint8 ``(N, T, C, H, W)``.

    Args:
        source: an ``.npz``, one video file, one frame folder, or a folder of video files
            (mp4/avi/gif/webm/mov), ``.npz`` files and frame folders (folders of images), sorted by name.
        frames, resolution: resample every video (:func:`resample`); without them every video must
            already have one shape.
        num_workers: decoding threads (0: decode in this thread).

    Raises:
        VideoFormatError: no such path, nothing to read, an unreadable file.
        ScoreError: videos of different shapes (the message names both and the options that fix it).
    """
    source = Path(source)
    if not source.exists():
        raise VideoFormatError(f"{source}: no such file or folder")
    if source.is_file():
        if source.suffix.lower() not in (".npz", *VIDEO_SUFFIXES):
            raise VideoFormatError(f"{source}: expected an .npz or a video file ({', '.join(VIDEO_SUFFIXES)})")
        items = [source]
    elif any(p.suffix.lower() in IMAGE_SUFFIXES for p in source.iterdir()):
        items = [source]  # the folder itself holds the frames of one video
    else:
        items = sorted(p for p in source.iterdir()
                       if p.suffix.lower() in (".npz", *VIDEO_SUFFIXES) or (p.is_dir() and not p.name.startswith(".")))
        if not items:
            raise VideoFormatError(f"{source}: holds no video files ({', '.join(VIDEO_SUFFIXES)}), .npz files "
                                   f"or frame folders")

    def one(path: Path) -> np.ndarray:
        return resample(_read_item(path), frames, resolution, str(path))

    if num_workers > 0 and len(items) > 1:
        with ThreadPoolExecutor(num_workers) as pool:  # PyAV/PIL decode outside the GIL
            parts = list(pool.map(one, items))
    else:
        parts = [one(p) for p in items]
    for path, part in zip(items, parts):
        if part.shape[1:] != parts[0].shape[1:]:
            raise ScoreError(
                f"{path}: video shape (T, C, H, W) = {part.shape[1:]} differs from {items[0].name}'s "
                f"{parts[0].shape[1:]}. Use --frames T (keep the first T frames) and/or --resolution HxW "
                f"(resize every frame) to bring them to one shape")
    return np.concatenate(parts)


def protocol_lines(result: dict[str, Any]) -> list[str]:
    """The protocol a :func:`score_sets` result used, as lines for the terminal."""
    from benchmark.report.format import settings_text

    opts = result.get("options", {})
    lines = ["protocol:"]
    for side in ("real", "fake"):
        info = result.get(side, {})
        where = result.get("inputs", {}).get(side, {}).get("path", "")
        lines.append(f"  {side}: {where} n={info.get('n')} shape (N, T, C, H, W)={tuple(info.get('shape', []))}")
    lines.append("  " + ", ".join(f"{k}={v}" for k, v in opts.items()))
    for name, settings in result.get("protocols", {}).items():
        short = {k: v for k, v in settings.items() if k not in ("kind", "name", "higher_is_better")
                 and isinstance(v, (int, float, str, bool, type(None))) and len(str(v)) <= 40}
        lines.append(f"  {name} ({settings.get('kind', '?')}): {settings_text(short)}")
    lines.append("  (every setting in words: --json FILE, key metric_protocols)")
    if not result.get("comparable", True):
        lines.append("  NOT COMPARABLE: made with random or unpinned feature-network weights")
    return lines


def run_score(real_path: str | os.PathLike, fake_path: str | os.PathLike, metrics: str,
              json_out: str | os.PathLike | None = None, batch_size: int = 16, *, weights: str = "pinned",
              device: str = "cpu", num_workers: int = 0, frames: int | None = None,
              resolution: str | tuple[int, int] | None = None, preset: str | None = None,
              cache_dir: str | os.PathLike | None = None, progress: bool = True) -> int:
    """The ``benchmark score`` verb: load both sets, score, print the table and the protocol,
    optionally write JSON.

    Args:
        real_path: reference set (see :func:`load_videos`).
        fake_path: the generated/predicted set, in the same forms.
        metrics: comma-separated names or globs, or ``all`` (``METRICS.resolve``).
        json_out: where to write the result as JSON (atomically), ``"-"`` for stdout (instead of the
            table), or None.
        batch_size: videos per metric update.
        weights, device, preset, cache_dir: see :func:`score_sets`.
        num_workers: decoding threads.
        frames, resolution: resampling (see :func:`resample`); ``resolution`` as "64" or "48x64".

    Returns:
        0 on success. Problems a user can fix raise :class:`~benchmark.utils.UserError`.
    """
    try:
        names = METRICS.resolve(metrics)
    except UnknownNameError as e:
        raise UnknownMetricError(str(e)) from e
    if frames is not None and frames < 1:
        raise ScoreError(f"--frames must be at least 1, got {frames}")
    if num_workers < 0:
        raise ScoreError(f"--num-workers must be 0 or more, got {num_workers}")
    size = parse_resolution(resolution) if isinstance(resolution, (str, type(None))) else tuple(resolution)
    real = load_videos(real_path, frames=frames, resolution=size, num_workers=num_workers)
    fake = load_videos(fake_path, frames=frames, resolution=size, num_workers=num_workers)
    result = score_sets(real, fake, names, batch_size=batch_size, progress=progress, weights=weights,
                        device=device, preset=preset, cache_dir=cache_dir)
    result["options"] = {"weights": weights, "device": str(resolve_device(device)), "preset": preset,
                         "frames": frames, "resolution": list(size) if size else None, "batch_size": batch_size,
                         "num_workers": num_workers, "cache_dir": None if cache_dir is None else str(cache_dir)}
    result["inputs"] = {
        "real": {"path": str(real_path), "sha256": sha256_array(real)},
        "fake": {"path": str(fake_path), "sha256": sha256_array(fake)},
    }
    if preset is not None and not any(takes_preset(n) for n in names):
        print(f"note: --preset {preset} changes none of {', '.join(names)} (presets apply to "
              f"{', '.join(n for n in METRICS.list() if takes_preset(n))})", file=sys.stderr)
    if json_out is not None and str(json_out) == "-":  # --json -: the JSON alone on stdout, for pipes
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    print(format_table(result))
    print("\n".join(protocol_lines(result)))
    if json_out:
        write_json_atomic(json_out, result)
        print(f"wrote {json_out}")
    return 0
