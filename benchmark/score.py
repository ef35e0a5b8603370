"""Score one set of videos against another: ``benchmark score REAL FAKE --metrics psnr,ssim,fcs``.

Both sets are uint8 ``(N, T, C, H, W)`` (as :func:`benchmark.video.load_video_set` returns them).
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

import math
import os
import time
from typing import Any

import numpy as np
import torch

from benchmark import evaluate
from benchmark.registry import METRICS, UnknownNameError
from benchmark.utils import UserError, sha256_array, write_json_atomic
from benchmark.video import check_videos, load_video_set, to_float

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


def _build(names: list[str]) -> dict[str, Any]:
    from benchmark.evaluate import build_metrics

    for name in names:
        try:
            cls = METRICS.get(name)
        except UnknownNameError as e:
            raise UnknownMetricError(str(e)) from e
        if cls.kind == "likelihood":
            raise ScoreError(f"{name} needs a model's likelihoods of the videos, not two video sets; it is "
                             f"computed by `benchmark run` for methods with a log_likelihood")
    return build_metrics(names)


def score_sets(real: np.ndarray, fake: np.ndarray, metric_names: list[str], batch_size: int = 16,
               progress: bool = False) -> dict[str, Any]:
    """Compute metrics between a real and a fake set of uint8 videos.

    Args:
        real: reference videos, uint8 ``(N_real, T, C, H, W)``.
        fake: generated/predicted videos, uint8 ``(N_fake, T', C', H', W')``; for paired metrics
            the shape must equal ``real``'s (``fake[i]`` pairs with ``real[i]``).
        metric_names: registered metric names (``benchmark.registry.METRICS``).
        batch_size: videos converted to float and fed to the metrics at once.
        progress: show a progress bar on stderr.

    Returns:
        A JSON-able dict::

            {"schema": "vidbench.score/1",
             "real": {"n", "shape"}, "fake": {"n", "shape"},
             "metrics": {"psnr_best": {...MetricValue.to_dict()}, ..., "fcs": {...}, "fcs_real": {...}},
             "protocols": {"psnr": {...}, ...}, "kinds": {"psnr": "paired", ...},
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
    metrics = _build(list(dict.fromkeys(metric_names)))
    paired = [n for n, m in metrics.items() if m.kind == "paired"]
    if paired and real.shape != fake.shape:
        raise ScoreError(f"paired metrics ({', '.join(paired)}) compare fake[i] with real[i] frame by frame "
                         f"and need sets of equal shape (N, T, C, H, W): real {real.shape} vs fake {fake.shape}")
    real_bound = _build([n for n, m in metrics.items() if m.kind == "intrinsic"])

    start = time.perf_counter()
    n_batches = -(-max(len(real), len(fake)) // batch_size)
    from tqdm import tqdm

    with torch.no_grad():
        for b in tqdm(range(n_batches), desc="score", unit="batch", disable=not progress):
            sl = slice(b * batch_size, (b + 1) * batch_size)
            r = check_videos(to_float(real[sl]), "real") if len(real[sl]) else None
            f = check_videos(to_float(fake[sl]), "fake") if len(fake[sl]) else None
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


def run_score(real_path: str | os.PathLike, fake_path: str | os.PathLike, metrics: str,
              json_out: str | os.PathLike | None = None, batch_size: int = 16) -> int:
    """The ``benchmark score`` verb: load both sets, score, print the table, optionally write JSON.

    Args:
        real_path: ``.npz``, video file or folder of them (reference set).
        fake_path: the same for the generated/predicted set.
        metrics: comma-separated names or globs, or ``all`` (``METRICS.resolve``).
        json_out: where to write the result as JSON (atomically), or None.
        batch_size: videos per metric update.

    Returns:
        0 on success. Problems a user can fix raise :class:`~benchmark.utils.UserError`.
    """
    try:
        names = METRICS.resolve(metrics)
    except UnknownNameError as e:
        raise UnknownMetricError(str(e)) from e
    real = load_video_set(real_path)
    fake = load_video_set(fake_path)
    result = score_sets(real, fake, names, batch_size=batch_size, progress=True)
    result["inputs"] = {
        "real": {"path": str(real_path), "sha256": sha256_array(real)},
        "fake": {"path": str(fake_path), "sha256": sha256_array(fake)},
    }
    print(format_table(result))
    if json_out:
        write_json_atomic(json_out, result)
        print(f"wrote {json_out}")
    return 0
