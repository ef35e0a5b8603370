"""VGG cosine similarity (Lee et al. 2018, SAVP, arXiv 1804.01523) for (stochastic) video prediction.

Per predicted frame: VGG16 features of the prediction and of the ground truth at the five block outputs
(``relu1_2, relu2_2, relu3_3, relu4_3, relu5_3``), the cosine similarity of the channel vectors at every
position averaged over positions, then over the five layers (SAVP's ``vgg_cosine_similarity``, the code of
the paper's Figs. 5-7). Higher is better; 1 for identical frames. Subclasses
:class:`~benchmark.metrics.paired.PairedFrameMetric`: best-of-k / mean / worst and per-timestep curves.

Protocol differences to SAVP's own numbers, recorded in :meth:`VGGCosineSimilarity.protocol`: the pinned
weights are torchvision's ImageNet VGG16 (``vgg16_imagenet``) with its input normalisation (RGB,
ImageNet mean/std), whereas SAVP loaded the Keras conversion of the Caffe VGG16 (BGR, mean subtraction
only); frames are fed at their own size (64x64) as in SAVP; gray frames are repeated to 3 channels.

>>> import torch
>>> from benchmark.metrics.vgg_cosine import VGGCosineSimilarity
>>> m = VGGCosineSimilarity(weights="random")   # tests only: not comparable
>>> target = torch.rand(1, 2, 3, 32, 32)
>>> m.update(target[:, None], target)
>>> round(m.compute()["vgg_cosine_best"].value, 6)
1.0
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.base import MetricValue
from benchmark.metrics.functional.cosine import EPS, layered_cosine_similarity
from benchmark.metrics.paired import PairedFrameMetric
from benchmark.registry import METRICS


def imagenet_input(frames: Tensor) -> Tensor:
    """``(M, C, H, W)`` frames in [0, 1] -> torchvision VGG input (gray repeated to RGB, mean/std normalised)."""
    from benchmark.metrics.extractors.vgg import IMAGENET_MEAN, IMAGENET_STD

    if frames.shape[1] == 1:
        frames = frames.expand(-1, 3, -1, -1)
    mean = frames.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = frames.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (frames - mean) / std


def vgg_protocol(net: Any) -> dict[str, Any]:
    return {**net.protocol(), "input": "frames at their own size, gray repeated to RGB, ImageNet mean/std",
            "cosine": f"per position over channels, x / (||x|| + {EPS}); mean over positions, then over the 5 layers",
            "savp_reference": ("SAVP used Keras' caffe VGG16 (BGR, mean subtraction) on the same layers: same "
                               "definition, other weights; absolute values are not interchangeable")}


def attach_vgg_blocks(metric: Any, weights: str, weights_path: str | None, network: Any, device: str,
                      batch_size: int) -> None:
    """Give ``metric`` its VGG16 block network (``net``; a ready ``network`` or the pinned/random VGG16),
    the device it runs on (``net_device``) and frames per forward pass (``batch_size``)."""
    if network is None:
        from benchmark.metrics.extractors.vgg import VGG16Blocks

        network = VGG16Blocks(weights=weights, weights_path=weights_path)
    metric.net, metric.net_device, metric.batch_size = network, torch.device(device), int(batch_size)
    metric.net.to(metric.net_device)


@METRICS.register("vgg_cosine")
class VGGCosineSimilarity(PairedFrameMetric):
    """Per-frame VGG cosine similarity, time-averaged, best/mean/worst of k samples. Higher is better.

    Args:
        weights: ``"pinned"`` (``vgg16_imagenet``, hash-checked) or ``"random"`` (numbers labelled not comparable).
        weights_path: an explicit vgg16 file (checked against the pin).
        network: a ready :class:`~benchmark.metrics.extractors.vgg.VGG16Blocks` (overrides ``weights``).
        cache_dir: accepted for the pipeline's uniform call; paired scores are not cached.
        device, batch_size: frames per forward pass.
        num_frames: see :class:`~benchmark.metrics.paired.PairedFrameMetric`.

    ``update(samples (B, k, p, C, H, W), target (B, p, C, H, W))``; ``compute()`` returns
    ``vgg_cosine_best``, ``vgg_cosine_mean``, ``vgg_cosine_worst``.
    """

    name: ClassVar[str] = "vgg_cosine"
    higher_is_better: ClassVar[bool] = True
    requires_weights: ClassVar[bool] = True
    weight_names: ClassVar[tuple[str, ...]] = ("vgg16_imagenet",)
    display_order: ClassVar[int] = 2  # beside LPIPS: the other perceptual frame score
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.02, "rel": 0.0}  # a bounded similarity, as SSIM

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, network: Any = None,
                 cache_dir: Any = None, device: str = "cpu", batch_size: int = 64, num_frames: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(num_frames=num_frames, **kwargs)
        attach_vgg_blocks(self, weights, weights_path, network, device, batch_size)

    @property
    def comparable(self) -> bool:
        return bool(self.net.weights.comparable)

    @torch.no_grad()
    def frame_scores(self, samples: Tensor, target: Tensor) -> Tensor:
        b, k, p, c, h, w = samples.shape
        tgt = target[:, 0].reshape(b * p, c, h, w)
        smp = samples.transpose(1, 2).reshape(b * p, k, c, h, w)  # frame-major: the k samples of each target frame
        per = max(1, self.batch_size // (k + 1))
        out = torch.empty(b * p, k, dtype=torch.float64)
        for i in range(0, b * p, per):
            t = tgt[i:i + per].to(self.net_device).float()
            s = smp[i:i + per].to(self.net_device).float()
            n = len(t)
            feats = self.net(imagenet_input(torch.cat([t, s.flatten(0, 1)])))
            ft = [f[:n].repeat_interleave(k, dim=0) for f in feats]
            fs = [f[n:] for f in feats]
            out[i:i + n] = layered_cosine_similarity(fs, ft).view(n, k).cpu()
        return out.view(b, p, k).transpose(1, 2)

    def compute(self) -> dict[str, MetricValue]:
        out = super().compute()
        for v in out.values():
            v.extra.update({"comparable": self.comparable, "weights": self.net.weights.mode,
                            "weights_sha256": self.net.weights.sha256})
            if not self.comparable:
                v.extra["not_comparable_reason"] = self.net.weights.note or "weights not pinned"
        return out

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), **vgg_protocol(self.net), "comparable": self.comparable}
