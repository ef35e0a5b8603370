"""Streaming video metrics, declared here by name with their facts and imported on first use.

Each metric module registers its class with ``@METRICS.register("<name>")`` and gets one
declaration below: its module and the facts the listing, the pipeline's planning (which metrics
apply, which weights key the evaluate stage), the report and the drift check read (the
:class:`~benchmark.metrics.base.VideoMetric` class attributes; omitted ones have the base class's
defaults). So ``benchmark list``, ``--help`` and a fully cached rerun import no metric code and no
feature-network library (torchmetrics, torchvision, lpips, TensorFlow); the registry checks on
import that each class agrees with its declaration.

The names this package used to re-export (``VideoMetric``, ``MetricValue``, ``mean_ci``,
``frechet_distance``, ``PeakSignalNoiseRatio``, ...) still resolve, on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from benchmark.registry import METRICS

#: VideoMetric's defaults of the declared facts (the registry checks them on each class as well)
METRICS.set_fact_defaults(kind="paired", tasks=("prediction",), higher_is_better=True, display_order=100,
                          drift_band=None, real_bound=True, best_rule="direction", requires_weights=False,
                          weight_names=(), weights_shipped=False, datasets=None)

_SYNTH_PRED = ("synthesis", "prediction")
_SHAPES = dict(requires_weights=True, weight_names=("moving_shapes_evaluator",), weights_shipped=True,
               datasets=("moving-shapes",))

for _name, _module, _facts in (
    ("psnr", "psnr", dict(display_order=0, drift_band={"abs": 0.5, "rel": 0.0}, real_bound=False)),
    ("ssim", "ssim", dict(display_order=1, drift_band={"abs": 0.02, "rel": 0.0}, real_bound=False)),
    ("fcs", "fcs", dict(kind="intrinsic", tasks=_SYNTH_PRED, display_order=6, drift_band={"abs": 0.02, "rel": 0.0},
                        best_rule="closest_to_real")),
    ("fvd", "fvd", dict(kind="set", tasks=_SYNTH_PRED, higher_is_better=False, display_order=3,
                        drift_band={"abs": 1.0, "rel": 0.05}, requires_weights=True, weight_names=("i3d_kinetics400",))),
    ("is_frame", "inception_score", dict(kind="intrinsic", tasks=_SYNTH_PRED, display_order=5,
                                         drift_band={"abs": 0.05, "rel": 0.02}, best_rule="closest_to_real",
                                         requires_weights=True, weight_names=("inception_fid",))),
    ("fid_frame", "inception_score", dict(kind="set", tasks=_SYNTH_PRED, higher_is_better=False, display_order=4,
                                          drift_band={"abs": 1.0, "rel": 0.05}, requires_weights=True,
                                          weight_names=("inception_fid",))),
    ("mcs", "mcs", dict(kind="set", tasks=_SYNTH_PRED, higher_is_better=False, display_order=7,
                        drift_band={"abs": 0.1, "rel": 0.0}, best_rule="closest_to_real", requires_weights=True,
                        weight_names=("vgg16_imagenet",))),
    ("lpips", "lpips", dict(higher_is_better=False, display_order=2, drift_band={"abs": 0.02, "rel": 0.0},
                            real_bound=False, requires_weights=True,
                            weight_names=("alexnet_imagenet", "lpips_alex_v0.1"))),
    ("is_video", "video_is", dict(kind="intrinsic", tasks=("synthesis",), display_order=5,
                                  drift_band={"abs": 0.05, "rel": 0.02}, best_rule="closest_to_real",
                                  requires_weights=True, weight_names=("c3d_ucf101", "c3d_mean_clip"))),
    ("vgg_cosine", "vgg_cosine", dict(display_order=2, drift_band={"abs": 0.02, "rel": 0.0}, real_bound=False,
                                      requires_weights=True, weight_names=("vgg16_imagenet",))),
    ("diversity_l1", "diversity", dict(display_order=9, drift_band={"abs": 0.02, "rel": 0.0}, real_bound=False,
                                       best_rule="none")),
    ("diversity", "diversity", dict(display_order=9, drift_band={"abs": 0.02, "rel": 0.0}, real_bound=False,
                                    best_rule="none", requires_weights=True, weight_names=("vgg16_imagenet",))),
    ("bits_per_dim", "likelihood", dict(kind="likelihood", tasks=_SYNTH_PRED, higher_is_better=False,
                                        display_order=8, drift_band={"abs": 0.01, "rel": 0.0}, real_bound=False)),
    ("fvd_shapes", "shapes", dict(kind="set", tasks=_SYNTH_PRED, higher_is_better=False, display_order=3,
                                  drift_band={"abs": 1.0, "rel": 0.05}, **_SHAPES)),
    ("is_shapes", "shapes", dict(kind="intrinsic", tasks=_SYNTH_PRED, display_order=5,
                                 drift_band={"abs": 0.05, "rel": 0.02}, best_rule="closest_to_real", **_SHAPES)),
    ("factors_shapes", "shapes", dict(display_order=2, drift_band={"abs": 0.02, "rel": 0.0}, real_bound=False,
                                      **_SHAPES)),
):
    METRICS.declare(_name, f"benchmark.metrics.{_module}", **_facts)
del _name, _module, _facts

#: names this package re-exports, imported on first access (PEP 562) so importing it stays cheap
_LAZY_EXPORTS = {
    "MetricValue": "benchmark.metrics.base", "VideoMetric": "benchmark.metrics.base",
    "mean_ci": "benchmark.metrics.base", "frechet_distance": "benchmark.metrics.functional.frechet",
    "FrameConsistencyScore": "benchmark.metrics.fcs", "PeakSignalNoiseRatio": "benchmark.metrics.psnr",
    "StructuralSimilarity": "benchmark.metrics.ssim", "FrechetVideoDistance": "benchmark.metrics.fvd",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'benchmark.metrics' has no attribute {name!r}")
