"""LPIPS (Zhang et al. 2018) for (stochastic) video prediction: AlexNet, v0.1 linear layers, per frame.

The ``lpips`` package (0.1.4) computes the distance. Nothing is downloaded: the network is built with a
random trunk (``pnet_rand=True``) and no linear layers loaded, then

* the v0.1 linear layers are loaded from the file inside the installed wheel
  (``lpips/weights/v0.1/alex.pth``, pinned by sha256 as ``lpips_alex_v0.1``), and
* the AlexNet trunk from torchvision's pinned ``alexnet-owt-7be5be79.pth`` (``alexnet_imagenet``),
  whose ``features.{0,3,6,8,10}`` become lpips' ``net.slice{1..5}``.

``weights="random"`` keeps the seeded random trunk (the linear layers stay the real ones) and labels
every number not comparable. Frames in [0, 1] are scaled to [-1, 1]; gray is repeated to 3 channels.
Subclasses :class:`~benchmark.metrics.paired.PairedFrameMetric`: best-of-k / mean / worst and
per-timestep curves.

>>> import torch
>>> from benchmark.metrics.lpips import LearnedPerceptualSimilarity
>>> m = LearnedPerceptualSimilarity(weights="random")   # tests only: not comparable
>>> target = torch.rand(1, 2, 3, 32, 32)
>>> m.update(target[:, None], target)
>>> m.compute()["lpips_best"].value
0.0
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.extractors import check_state_shapes
from benchmark.metrics.base import MetricValue
from benchmark.metrics.paired import PairedFrameMetric
from benchmark.registry import METRICS
from benchmark.video import VideoFormatError

ALEX_TO_LPIPS = {0: "slice1", 3: "slice2", 6: "slice3", 8: "slice4", 10: "slice5"}
ALEX_SHAPES = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3),
               10: (256, 256, 3, 3)}
LIN_SHAPES = {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}


def alexnet_expected_shapes() -> dict[str, tuple[int, ...]]:
    import torchvision

    with torch.device("meta"):
        net = torchvision.models.alexnet(weights=None)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _check(state: Any, want: dict[str, tuple[int, ...]], source: str, what: str) -> None:
    check_state_shapes(state, want, source, what)

def load_alexnet_trunk(path: str) -> dict[str, Tensor]:
    """The torchvision alexnet file, checked, as lpips ``net.sliceN.i.{weight,bias}`` keys."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    _check(state, alexnet_expected_shapes(), str(path), "a torchvision alexnet state_dict")
    return {f"net.{ALEX_TO_LPIPS[i]}.{i}.{p}": state[f"features.{i}.{p}"]
            for i in ALEX_TO_LPIPS for p in ("weight", "bias")}


def load_linear_layers(path: str) -> dict[str, Tensor]:
    """The LPIPS v0.1 AlexNet linear layers ``lin0..lin4``, checked."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    _check(state, LIN_SHAPES, str(path), "the LPIPS v0.1 alex linear layers")
    return state


def build_lpips(weights: str = "pinned", weights_path: str | None = None, linear_path: str | None = None):
    """``(lpips.LPIPS module, trunk ResolvedWeights, linear ResolvedWeights)``; never downloads."""
    from benchmark.extras import require

    lpips = require("lpips", "metrics", "the lpips metric")
    from benchmark.weights import get_weights

    trunk = get_weights("alexnet_imagenet", weights, weights_path)
    linear = get_weights("lpips_alex_v0.1", "pinned", linear_path)
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")  # torchvision's deprecation of `pretrained=`
        torch.manual_seed(0)  # the random trunk (weights="random") is deterministic
        net = lpips.LPIPS(pretrained=False, net="alex", version="0.1", pnet_rand=True, verbose=False)
    sd = load_linear_layers(linear.path)
    if trunk.mode == "pinned":
        sd = {**sd, **load_alexnet_trunk(trunk.path)}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    if unexpected:
        raise VideoFormatError(f"lpips: unexpected keys {unexpected[:5]}")
    return net.eval().requires_grad_(False), trunk, linear


@METRICS.register("lpips")
class LearnedPerceptualSimilarity(PairedFrameMetric):
    """Per-frame LPIPS (AlexNet, v0.1), time-averaged, best/mean/worst of k samples. Lower is better.

    Args:
        weights: ``"pinned"`` (torchvision alexnet trunk, hash-checked) or ``"random"`` (seeded random
            trunk; numbers labelled not comparable).
        weights_path: an explicit alexnet file (checked against the pin).
        linear_path: an explicit LPIPS linear-layer file (default: the one in the lpips wheel; checked).
        cache_dir: accepted for the pipeline's uniform call; paired scores are not cached.
        device, batch_size: frames per forward pass.
        num_frames: see :class:`~benchmark.metrics.paired.PairedFrameMetric`.
        **kwargs: forwarded to ``torchmetrics.Metric``.

    ``update(samples (B, k, p, C, H, W), target (B, p, C, H, W))``; ``compute()`` returns ``lpips_best``,
    ``lpips_mean``, ``lpips_worst``.
    """

    name: ClassVar[str] = "lpips"
    display_order: ClassVar[int] = 2
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.02, "rel": 0.0}  # a bounded distance, as SSIM
    weight_names: ClassVar[tuple[str, ...]] = ("alexnet_imagenet", "lpips_alex_v0.1")
    higher_is_better: ClassVar[bool] = False
    requires_weights: ClassVar[bool] = True

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, linear_path: str | None = None,
                 cache_dir: Any = None, device: str = "cpu", batch_size: int = 64, num_frames: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(num_frames=num_frames, **kwargs)
        self.net, self.trunk_weights, self.linear_weights = build_lpips(weights, weights_path, linear_path)
        self.net_device, self.batch_size = torch.device(device), int(batch_size)
        self.net.to(self.net_device)

    @property
    def comparable(self) -> bool:
        return bool(self.trunk_weights.comparable and self.linear_weights.comparable)

    @torch.no_grad()
    def frame_scores(self, samples: Tensor, target: Tensor) -> Tensor:
        b, k, p, c, h, w = samples.shape
        x = samples.reshape(-1, c, h, w)
        y = target.expand(b, k, p, c, h, w).reshape(-1, c, h, w)
        out = []
        for i in range(0, len(x), self.batch_size):
            xi = x[i:i + self.batch_size].to(self.net_device).float() * 2 - 1
            yi = y[i:i + self.batch_size].to(self.net_device).float() * 2 - 1
            if c == 1:
                xi, yi = xi.expand(-1, 3, -1, -1), yi.expand(-1, 3, -1, -1)
            out.append(self.net(xi, yi).flatten().double().cpu())
        return torch.cat(out).view(b, k, p)

    def compute(self) -> dict[str, MetricValue]:
        out = super().compute()
        for v in out.values():
            v.extra.update({"comparable": self.comparable, "weights": self.trunk_weights.mode,
                            "weights_sha256": self.trunk_weights.sha256,
                            "linear_sha256": self.linear_weights.sha256})
            if not self.comparable:
                v.extra["not_comparable_reason"] = (self.trunk_weights.note or self.linear_weights.note
                                                    or "weights not pinned")
        return out

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), "network": "lpips 0.1.4, AlexNet trunk, v0.1 linear layers",
                "value_range": "[-1, 1] (2 x - 1 on [0, 1] frames)", "grayscale": "repeated to 3 channels",
                "spatial": "mean over the map of each layer (lpips spatial=False)", "resize": "none",
                "trunk_weights": self.trunk_weights.record(), "linear_weights": self.linear_weights.record(),
                "comparable": self.comparable}
