"""Metric sensitivity: every available metric against graded distortions of real clips, the study of
Unterthiner et al., "Towards Accurate Generative Models of Video: A New Metric & Challenges"
(arXiv:1812.01717, 2018; FVD vs noise, blur, salt-and-pepper, temporal shuffling, frozen frames and
frame-rate changes).

``benchmark reproduce metric_sensitivity --dataset D`` distorts the real test clips of ``D`` at every
level of :mod:`benchmark.data.distortions` and scores each distorted set with
:func:`benchmark.metrics.sensitivity.metric_sensitivity`: set metrics against the real validation clips,
intrinsic metrics alone, paired metrics (PSNR, SSIM, ...) against the undistorted clips. The metrics
are the ones that can run here: metrics needing no weights, the shipped moving-shapes evaluator's
(``fvd_shapes``, ``is_shapes``) on moving-shapes, and pretrained-network metrics (``fvd`` with I3D)
whose pinned weights are installed; the page and ``sensitivity.json`` say which were left out and why.

Outputs in ``<out>/recipes/metric_sensitivity/``: ``sensitivity.csv`` and ``sensitivity.json`` (one row
per metric value, distortion and level), ``sensitivity.png`` (one panel per metric, value vs level,
one line per distortion) and ``manifest.json``; all written atomically.

Options (``--set KEY=VALUE``): ``distortions=blur,frame_rate`` (default: the FVD paper's six),
``levels=0,2,4`` (default 0..4), ``clips=N`` distorted test clips and reference val clips (default 128),
``frames=T`` (default 16, the FVD clip length), ``metrics=a,b`` (default: every available one).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from pathlib import Path
from typing import Any

import torch

from benchmark.reproduce import Ours, Recipe, RecipeContext, RecipeOutcome, register_recipe
from benchmark.utils import UserError, write_json_atomic, write_text_atomic

#: the FVD paper's distortions (fade_to_grey is ours; ask for it by name)
DEFAULT_DISTORTIONS = ("gaussian_noise", "blur", "salt_and_pepper", "temporal_shuffle", "frozen_frames",
                       "frame_rate")
#: metrics that score a single set of clips or each clip against its undistorted self; the others
#: need k samples per context (diversity), a likelihood model (bits_per_dim) or a context/future
#: split (factors_shapes), which a distorted real clip does not have
CANDIDATES = ("fvd", "fvd_shapes", "is_shapes", "is_video", "is_frame", "fid_frame", "mcs", "fcs", "psnr", "ssim",
              "lpips", "vgg_cosine")
DEFAULT_CLIPS = 128
DEFAULT_FRAMES = 16
CSV_FIELDS = ("metric", "key", "distortion", "level", "parameter", "strength", "value", "comparable")


def _list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def available_metrics(dataset: str, weights: str = "pinned",
                      requested: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The metrics that can score ``dataset`` here, and ``{left-out metric: why}``.

    A metric defined on other datasets only is left out; one needing pretrained weights runs when
    they ship with the code, when its pinned files are installed and hash-checked, or with
    ``weights="random"`` (its numbers then labelled not comparable).
    """
    from benchmark.registry import METRICS
    from benchmark.weights import WeightsError, resolve

    names = requested if requested is not None else list(CANDIDATES)
    chosen, left_out = [], {}
    for name in names:
        if name not in METRICS:
            raise UserError(f"unknown metric {name!r}; candidates: {', '.join(CANDIDATES)}")
        cls = METRICS.get(name)
        only = getattr(cls, "datasets", None)
        if cls.kind not in ("set", "intrinsic", "paired"):
            left_out[name] = f"a {cls.kind} metric: needs a model's likelihoods, not distorted clips"
            continue
        if only is not None and dataset not in only:
            left_out[name] = f"defined on {', '.join(only)} only"
            continue
        if getattr(cls, "requires_weights", False) and weights != "random":
            missing = []
            for w in getattr(cls, "weight_names", ()):
                try:
                    resolve(w)
                except WeightsError:
                    missing.append(w)
            if missing:
                left_out[name] = (f"needs the pretrained weights {', '.join(missing)}, not installed "
                                  f"(`benchmark weights status`; `benchmark weights install NAME FILE`)")
                continue
        chosen.append(name)
    return chosen, left_out


def _build_metric(weights: str):
    from benchmark.evaluate import build_metrics

    return lambda name: build_metrics([name], weights=weights)[name]


def _real_clips(ds: Any, split: str, n: int, frames: int) -> torch.Tensor:
    data = ds.load_split(split)
    if data.videos.shape[1] < frames:
        raise UserError(f"{ds.name}/{split}: videos have {data.videos.shape[1]} frames, the study needs {frames} "
                        f"(--set frames=T with a smaller T)")
    return torch.from_numpy(data.videos[:n, :frames].copy()).float() / 255


def primary_key(metric: str, keys: list[str]) -> str:
    """The value plotted for ``metric``: its own name, else its ``_mean``, else its first value."""
    for k in (metric, f"{metric}_mean"):
        if k in keys:
            return k
    return keys[0]


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "value": f"{r['value']:.6g}"})
    return buf.getvalue()


def run_sensitivity(recipe: Recipe, ctx: RecipeContext) -> RecipeOutcome:
    """Distort the test clips of ``ctx.dataset`` at every level and score them with every available metric."""
    from benchmark.data import load_dataset
    from benchmark.data.distortions import DISTORTIONS, LEVELS
    from benchmark.manifest import build_manifest
    from benchmark.metrics.sensitivity import metric_sensitivity
    from benchmark.report.plots import plot_sensitivity

    t0 = time.time()
    opts = dict(ctx.overrides)
    unknown = set(opts) - {"distortions", "levels", "clips", "frames", "metrics"}
    if unknown:
        raise UserError(f"metric_sensitivity: unknown option(s) {sorted(unknown)}; "
                        f"valid: distortions, levels, clips, frames, metrics")
    distortions = _list(opts.get("distortions", ",".join(DEFAULT_DISTORTIONS)))
    bad = [d for d in distortions if d not in DISTORTIONS]
    if bad:
        raise UserError(f"unknown distortion(s) {bad}; valid: {', '.join(DISTORTIONS)}")
    levels = [int(x) for x in _list(opts.get("levels", ",".join(map(str, LEVELS))))]
    if not levels or any(lv not in LEVELS for lv in levels):
        raise UserError(f"levels must be a non-empty subset of {LEVELS}, got {levels}")
    clips, frames = int(opts.get("clips", DEFAULT_CLIPS)), int(opts.get("frames", DEFAULT_FRAMES))
    requested = _list(opts["metrics"]) if "metrics" in opts else None

    outcome = RecipeOutcome()
    folder = Path(ctx.out) / "recipes" / recipe.name
    folder.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(ctx.dataset, ctx.data_root, **ctx.dataset_options)
    if hasattr(ds, "prepare"):
        ds.prepare()
    test, val = _real_clips(ds, "test", clips, frames), _real_clips(ds, "val", clips, frames)
    metrics, left_out = available_metrics(ctx.dataset, ctx.weights, requested)
    if not metrics:
        raise UserError(f"no metric can run on {ctx.dataset} here: " +
                        "; ".join(f"{m}: {why}" for m, why in left_out.items()))
    for m, why in left_out.items():
        outcome.notes.append(f"{m} left out: {why}")
    rows = metric_sensitivity(val, test, metrics, distortions=distortions, levels=levels, seed=ctx.seed,
                              build=_build_metric(ctx.weights))
    comparable = ctx.weights != "random"
    for r in rows:
        r["comparable"] = comparable
    keys: dict[str, list[str]] = {}
    for r in rows:
        keys.setdefault(r["metric"], [])
        if r["key"] not in keys[r["metric"]]:
            keys[r["metric"]].append(r["key"])
    plotted = {m: primary_key(m, ks) for m, ks in keys.items()}

    write_text_atomic(folder / "sensitivity.csv", rows_to_csv(rows))
    write_json_atomic(folder / "sensitivity.json", {
        "dataset": ctx.dataset, "reference": f"val ({len(val)} clips)", "distorted": f"test ({len(test)} clips)",
        "frames": frames, "levels": levels, "distortions": distortions, "metrics": metrics,
        "plotted": plotted, "left_out": left_out, "weights": ctx.weights, "seed": ctx.seed, "rows": rows})
    png = folder / "sensitivity.png"
    artifacts = ["sensitivity.csv", "sensitivity.json"]
    if plot_sensitivity([r for r in rows if r["key"] == plotted[r["metric"]]], ctx.dataset, png):
        artifacts.append(png.name)
        outcome.artifacts["plot: each metric vs distortion level (one line per distortion)"] = str(png)
    outcome.artifacts["table (CSV: metric, key, distortion, level, strength, value)"] = str(folder / "sensitivity.csv")
    outcome.artifacts["table (JSON, with the options and the left-out metrics)"] = str(folder / "sensitivity.json")
    for r in rows:
        if r["key"] == plotted[r["metric"]]:
            outcome.ours.append(Ours(f"{r['distortion']} level {r['level']} ({r['strength']:g})", r["key"],
                                     r["value"], n=len(test), dataset=ctx.dataset, profile=ctx.profile,
                                     comparable=comparable))
    manifest = build_manifest(
        run_dir=folder, config={"profile": ctx.profile, "options": opts, "dataset_options": ctx.dataset_options,
                                "device": ctx.device, "weights": ctx.weights},
        seeds=[ctx.seed], dataset=ds.identity(), metric_protocols={}, timings={"wall_s": time.time() - t0},
        artifacts=artifacts, extra={"metrics": metrics, "left_out": left_out})
    write_json_atomic(folder / "manifest.json", manifest)
    outcome.artifacts["manifest.json"] = str(folder / "manifest.json")
    outcome.ours = [dataclasses.replace(o, results=str(folder / "manifest.json")) for o in outcome.ours]
    outcome.notes.append(f"{len(test)} test clips of {frames} frames distorted; set metrics against {len(val)} val "
                         f"clips; level 0 is the undistorted set (for a set metric: real vs real).")
    return outcome


register_recipe(Recipe(
    name="metric_sensitivity",
    title="metric sensitivity: every available metric vs graded distortions of real clips",
    paper=("Unterthiner et al., Towards Accurate Generative Models of Video: A New Metric & Challenges "
           "(arXiv:1812.01717)"),
    reproduces="the FVD sensitivity study (metric vs distortion level)",
    methods=(),
    datasets={"smoke": "moving-shapes", "paper": "moving-shapes"},
    runner=run_sensitivity,
    description=(
        "Real test clips distorted by noise, blur, salt-and-pepper, temporal shuffling, frozen frames and a "
        "frame-rate change at growing levels, scored by every metric that can run here (set metrics against "
        "real validation clips). A metric that measures what it claims gets worse level by level. On "
        "moving-shapes the shipped evaluator's fvd_shapes / is_shapes run offline (comparable within "
        "vidbench only); fvd runs once the pinned I3D weights are installed (`benchmark weights status`)."),
))
