"""Samples + reference clips -> metric values: the one place that feeds videos to metrics.

``benchmark run`` (the evaluate stage), the real-data bound, ``benchmark manifest verify`` and
``benchmark score`` all go through :func:`update` / :func:`update_real` / :func:`collect`, so how
each metric kind is fed exists once:

* ``paired`` (PSNR, SSIM, LPIPS): every sample against its ground truth, future frames only:
  ``update(samples (B, k, p, C, H, W), target (B, p, C, H, W))``;
* ``intrinsic`` (FCS, IS): the first sample of each clip, ``update(videos)``;
* ``set`` (FVD, MCS, FID): the first sample of each clip on the fake side, ``update(videos, real=False)``,
  and the real set through :func:`update_real`, ``update(videos, real=True)``;
* ``likelihood`` (bits_per_dim): the method's log-likelihoods of the reference clips,
  ``update(nats (B,), dims)``.

>>> import numpy as np
>>> ref = np.random.default_rng(0).integers(0, 256, (3, 4, 1, 16, 16), dtype=np.uint8)
>>> values, protocols = evaluate("prediction", ref, 1, ref, ["psnr", "fcs"], context_frames=2)
>>> round(values["psnr_best"]["value"], 1), protocols["fcs"]["kind"]
(100.0, 'intrinsic')
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark import video as V
from benchmark.registry import METRICS

log = logging.getLogger(__name__)

EVAL_BATCH = 32
KINDS = ("paired", "intrinsic", "set", "likelihood")


def applicable_metrics(task: str, requested: list[str] | None = None, *, likelihood: bool = False,
                       real: bool = False, dataset: str | None = None) -> list[str]:
    """Registered metrics for ``task``: the requested ones, or every one needing no download (no
    pretrained weights, or weights that ship with the code: ``weights_shipped``). ``likelihood``: the
    method scored likelihoods (else ``likelihood``-kind metrics do not apply); ``real``: for the
    real-data bound (only metrics whose class says a bound applies); ``dataset``: a metric defined on
    some datasets only (``datasets``, e.g. the moving-shapes evaluator's) runs on those only, and by
    default not at all when no dataset is given.

    >>> "fvd_shapes" in applicable_metrics("synthesis", dataset="moving-shapes")
    True
    >>> "fvd_shapes" in applicable_metrics("synthesis", dataset="bair"), "fvd" in applicable_metrics("synthesis")
    (False, False)
    """
    names = requested if requested is not None else METRICS.list()
    out = []
    for name in names:
        cls = METRICS.info(name)  # the declared facts: planning imports no metric code
        only = getattr(cls, "datasets", None)
        why = None
        if task not in cls.tasks:
            why = f"does not apply to {task}"
        elif cls.kind == "likelihood" and not likelihood:
            why = "needs a likelihood model"
        elif real and not cls.real_bound:
            why = "has no real-data bound"
        elif only is not None and (dataset not in only if dataset is not None else requested is None):
            why = f"is defined on {', '.join(only)} only, not {dataset}"
        elif (requested is None and getattr(cls, "requires_weights", False)
              and not getattr(cls, "weights_shipped", False)):
            why = "needs pretrained weights (ask for it by name)"
        if why is None:
            out.append(name)
        elif requested is not None:
            log.info("metric %s %s; skipped", name, why)
    return out


def _weight_kwargs(name: str, weights: str, cache_dir: Path | None, device: str = "cpu") -> dict[str, Any]:
    """Pretrained-network metrics get the weights mode, the feature cache folder and the device their
    feature network runs on."""
    if not getattr(METRICS.info(name), "requires_weights", False):
        return {}
    return {"weights": weights, "device": device, **({"cache_dir": cache_dir} if cache_dir is not None else {})}


def build_metrics(names: list[str], *, weights: str = "pinned", cache_dir: Path | None = None,
                  likelihood_protocol: dict[str, Any] | None = None, device: str = "cpu",
                  preset: str | None = None) -> dict[str, Any]:
    """Fresh metric instances by name (pretrained-network metrics get ``weights``, ``cache_dir`` and
    ``device``: on a GPU machine the extractors run there, e.g. C3D over UCF101's clips). ``preset``
    (``savp``, ``svg``, ``srvp``) goes to the metrics that take one (psnr, ssim) and is recorded in
    their protocol."""
    import inspect

    metrics = {}
    for name in names:
        cls = METRICS.get(name)
        if cls.kind not in KINDS:
            raise ValueError(f"metric {name!r} has unknown kind {cls.kind!r}; kinds: {KINDS}")
        kwargs = _weight_kwargs(name, weights, cache_dir, device)
        if preset is not None and "preset" in inspect.signature(cls.__init__).parameters:
            kwargs["preset"] = preset
        if cls.kind == "likelihood":
            kwargs["likelihood_protocol"] = likelihood_protocol or {}
        metrics[name] = METRICS.build(name, **kwargs)
    return metrics


def update(metrics: dict[str, Any], fake: Tensor | None, target: Tensor | None = None, *,
           context_frames: int = 0, nats: Tensor | None = None, dims: int | None = None) -> None:
    """Feed one batch to every metric by its kind.

    Args:
        metrics: name -> metric instance (:func:`build_metrics`).
        fake: ``(B, k, T, C, H, W)`` float in [0, 1]: ``k`` samples of each of ``B`` videos, context
            frames included (prediction); None when this batch has no fake videos.
        target: ``(B, T, C, H, W)`` ground truth of paired metrics (None: no paired metric is fed).
        context_frames: ``c``; paired metrics compare frames ``c ..`` only.
        nats, dims: ``(B,)`` log-likelihoods of the reference clips and their dimensions (likelihood metrics).
    """
    for name, m in metrics.items():
        try:
            _feed(m, fake, target, context_frames, nats, dims)
        except ValueError as e:
            from benchmark.utils import UserError

            if isinstance(e, UserError):
                raise
            raise ValueError(f"{name}: {e}") from e  # e.g. frames smaller than the SSIM window


def _feed(m: Any, fake: Tensor | None, target: Tensor | None, c: int, nats: Tensor | None, dims: int | None) -> None:
    """The one place that knows how each metric kind takes a batch."""
    if m.kind == "paired":
        if fake is not None and target is not None:
            m.update(fake[:, :, c:], target[:, c:])
    elif m.kind == "intrinsic":
        if fake is not None:
            m.update(fake[:, 0])
    elif m.kind == "set":
        if fake is not None:
            m.update(fake[:, 0], real=False)
    elif m.kind == "likelihood":
        if nats is not None:
            m.update(nats, dims=int(dims))
    else:
        raise ValueError(f"unknown metric kind {m.kind!r}; kinds: {KINDS}")


def update_real(metrics: dict[str, Any], real: Tensor) -> None:
    """Feed real videos ``(N, T, C, H, W)`` in [0, 1] to the real side of the ``set`` metrics."""
    for name, m in metrics.items():
        if m.kind == "set":
            m.update(real, real=True)


def collect(metrics: dict[str, Any], *, context_frames_counted: bool | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(values, protocols)``: every metric's ``compute()`` as dicts (``higher_is_better`` filled from
    the class when the value does not say) and its protocol. ``context_frames_counted``: recorded on
    ``set`` metrics (whether the real and fake videos include the context frames)."""
    values: dict[str, Any] = {}
    protocols: dict[str, Any] = {}
    for name, m in metrics.items():
        for key, mv in m.compute().items():
            d = mv.to_dict()
            if d.get("higher_is_better") is None:
                d["higher_is_better"] = type(m).higher_is_better
            values[key] = d
        protocols[name] = {"kind": m.kind, **m.protocol()}
        if m.kind == "set" and context_frames_counted is not None:
            protocols[name]["conditioning_frames_included"] = context_frames_counted
    return values, protocols


def evaluate(task: str, samples: np.ndarray, k: int, reference: np.ndarray, metric_names: list[str], *,
             context_frames: int = 0, real_reference: np.ndarray | None = None, weights: str = "pinned",
             cache_dir: Path | None = None, likelihood: tuple[np.ndarray, dict[str, Any]] | None = None,
             progress: bool = False, label: str = "", device: str = "cpu",
             preset: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score a run's samples against its reference clips. Returns ``(values, protocols)``.

    Args:
        task: ``synthesis`` or ``prediction``.
        samples: uint8 ``(N * k, T, C, H, W)``: ``k`` samples per reference clip, sample-major within
            a clip (prediction: context + prediction).
        k: samples per clip.
        reference: uint8 ``(N, T, C, H, W)`` the test clips (ground truth, and the real set).
        metric_names: registered metrics.
        context_frames: ``c`` (prediction).
        real_reference: the real set of ``set`` metrics if not ``reference`` (the real-data bound
            compares the test clips with another split).
        weights, cache_dir: pretrained-network metrics' weights mode and feature cache.
        likelihood: ``(nats (N,), likelihood protocol)`` for ``likelihood`` metrics.
        device: where the metrics' feature networks run (``cpu``, ``cuda``, ``cuda:1``).
        preset: a prediction paper's metric conventions for the metrics that have presets
            (``savp``, ``svg``, ``srvp``; None: each metric's defaults).
    """
    metrics = build_metrics(metric_names, weights=weights, cache_dir=cache_dir,
                            likelihood_protocol=likelihood[1] if likelihood else None, device=device,
                            preset=preset)
    if any(m.kind == "likelihood" for m in metrics.values()) and likelihood is None:
        from benchmark.utils import UserError

        raise UserError("bits_per_dim needs the method's likelihoods of the reference clips")
    from tqdm.auto import tqdm

    n = len(reference)
    bar = tqdm(range(0, n, EVAL_BATCH), desc=f"{label}: scoring {task}", unit="batch", leave=False,
               disable=None if progress else True)
    with torch.no_grad():
        for start in bar:
            stop = min(start + EVAL_BATCH, n)
            target = V.to_float(np.asarray(reference[start:stop]))
            fake = V.to_float(np.asarray(samples[start * k:stop * k]))
            fake = fake.view(stop - start, k, *fake.shape[1:])
            nats = torch.from_numpy(likelihood[0][start:stop]) if likelihood else None
            with V.values_in_range(fake, target):  # uint8 / 255: in [0, 1], no metric needs to scan it again
                update(metrics, fake, target, context_frames=context_frames, nats=nats,
                       dims=likelihood[1]["dims"] if likelihood else None)
        if any(m.kind == "set" for m in metrics.values()):
            real = real_reference if real_reference is not None else reference
            for start in range(0, len(real), EVAL_BATCH):
                batch = V.to_float(np.asarray(real[start:start + EVAL_BATCH]))
                with V.values_in_range(batch):
                    update_real(metrics, batch)
    return collect(metrics, context_frames_counted=task == "prediction" and context_frames > 0)
