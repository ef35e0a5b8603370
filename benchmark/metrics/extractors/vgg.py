"""VGG16 (torchvision architecture, ImageNet ``IMAGENET1K_V1`` weights), per frame: up to ``relu3_3`` for MCS
(:class:`VGG16Relu33`) and the five block outputs for SAVP's VGG cosine similarity (:class:`VGG16Blocks`).

The pinned file is torchvision's ``vgg16-397923af.pth`` (a full ``vgg16`` state_dict: ``features.*`` and
``classifier.*``). :func:`check_state_dict` validates every key and shape of the full network; only
``features.0`` … ``features.15`` (conv1_1 … relu3_3) are kept, and by default run as
:func:`fuse_features` (conv+ReLU kernels, channels-last; VGG16 has no BatchNorm), equal to
torchvision's layers within 1e-4 (tested).

>>> import torch
>>> net = VGG16Relu33(weights="random")          # tests only: not comparable
>>> net(torch.rand(2, 3, 32, 32)).shape
torch.Size([2, 256, 8, 8])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from benchmark.metrics.extractors import check_state_shapes
from benchmark.metrics.extractors.inference import (FoldedConv, autocast, check_precision, choose_batch_size,
                                                     not_comparable_reason)
from benchmark.video import VideoFormatError

RELU3_3 = 16  # torchvision vgg16.features[:16] ends with the ReLU after conv3_3
#: torchvision vgg16.features indices of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (the last ReLU of each block)
BLOCK_RELUS = (3, 8, 15, 22, 29)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of torchvision's ``vgg16`` state_dict and its shape (built on the meta device)."""
    import torchvision

    with torch.device("meta"):
        net = torchvision.models.vgg16(weights=None)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def check_state_dict(state: dict[str, Tensor], source: str) -> None:
    """Raise :class:`VideoFormatError` unless ``state`` has exactly torchvision vgg16's keys and shapes."""
    check_state_shapes(state, expected_shapes(), source, "a torchvision vgg16 state_dict")

def load_weights_file(path: str, upto: int = RELU3_3) -> dict[str, Tensor]:
    """Read the pinned vgg16 file, check it, return the ``features[:upto]`` part (keys without ``features.``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise VideoFormatError(f"{path}: expected a state_dict, got {type(state).__name__}")
    check_state_dict(state, str(path))
    return {k[len("features."):]: v for k, v in state.items()
            if k.startswith("features.") and int(k.split(".")[1]) < upto}


def _random_init_(features: nn.Module) -> None:
    """Seeded He-normal convolutions (``--weights random``: pipeline tests; numbers not comparable)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in features:
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
                m.bias.zero_()


def fuse_features(features: nn.Sequential) -> nn.Sequential:
    """torchvision VGG ``features`` for inference: each ``Conv2d`` + ``ReLU`` as one
    :class:`~benchmark.metrics.extractors.inference.FoldedConv` (VGG16 has no BatchNorm; a
    ``vgg16_bn``'s would be folded in), pools kept. Same output within float32 rounding."""
    layers: list[nn.Module] = []
    mods = list(features)
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Conv2d):
            bn = mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d) else None
            j = i + 1 + (bn is not None)
            relu = j < len(mods) and isinstance(mods[j], nn.ReLU)
            layers.append(FoldedConv.from_modules(m, bn, relu=relu))
            i = j + relu
        else:
            layers.append(m)
            i += 1
    return nn.Sequential(*layers)


class VGG16Relu33(nn.Module):
    """``forward(x (M, 3, H, W))`` -> relu3_3 activations ``(M, 256, H//4, W//4)``; x already normalised.

    Args:
        weights: ``"pinned"`` (``vgg16_imagenet`` in manifests/weights.yaml, or ``weights_path``,
            hash-checked) or ``"random"`` (seeded He-normal; numbers not comparable).
        weights_path: an explicit file (still checked against the pin).
        fused: run :func:`fuse_features` (conv+ReLU kernels, channels-last; default) instead of the
            reference torchvision layers.
        precision: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"`` (GPU; not comparable).
    """

    name = "vgg16_imagenet"
    CPU_BATCH = 64
    MAX_BATCH = 1024
    #: live activations per pixel of one frame in float32 (two 64-channel maps at full resolution,
    #: ~130 values) with 2x headroom
    BYTES_PER_PIXEL = 2 * 4 * 130

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, fused: bool = True,
                 precision: str = "float32") -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        from benchmark.weights import get_weights

        check_precision(precision, "cuda")  # a known name; the device is checked on each call
        self.weights = get_weights(self.name, weights, weights_path)
        features = make_layers(cfgs["D"])[:RELU3_3]  # torchvision's vgg16.features, without the rest
        if self.weights.mode == "random":
            _random_init_(features)
        else:
            features.load_state_dict(load_weights_file(self.weights.path))
        features.eval().requires_grad_(False)
        self.features = fuse_features(features) if fused else features
        self.fused, self.precision = bool(fused), precision
        self.eval().requires_grad_(False)

    @property
    def comparable(self) -> bool:
        return not self.not_comparable_reason

    @property
    def not_comparable_reason(self) -> str:
        return not_comparable_reason(self.precision, self.weights)

    def batch_for(self, device: torch.device, height: int, width: int) -> int:
        """Frames per forward pass of ``height x width`` on ``device``."""
        scale = 0.5 if self.precision != "float32" else 1.0
        return choose_batch_size(device, self.BYTES_PER_PIXEL * height * width * scale, self.CPU_BATCH,
                                 self.MAX_BATCH)

    def forward(self, x: Tensor) -> Tensor:
        check_precision(self.precision, x.device)
        if self.fused:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(x.device, self.precision):
            return self.features(x)

    def protocol(self) -> dict[str, Any]:
        return {"network": "VGG16 (torchvision, ImageNet IMAGENET1K_V1)", "layer": "relu3_3 (features[:16])",
                "precision": self.precision, "weights": self.weights.record()}

    def execution(self) -> dict[str, Any]:
        return {"network": "fused (conv+ReLU kernels, channels-last)" if self.fused else "reference",
                "precision": self.precision}

class VGG16Blocks(nn.Module):
    """``forward(x (M, 3, H, W))`` -> the five block outputs ``relu1_2 .. relu5_3`` (x already normalised).

    The layers of SAVP's VGG cosine similarity (Lee et al. 2018, ``alexlee-gk/video_prediction``
    ``models/vgg_network.py``: ``block{1..5}_conv{2,2,3,3,3}`` after ReLU). Frames of 2^k pixels keep
    their size: 64x64 gives maps of 64, 32, 16, 8 and 4 pixels.

    >>> net = VGG16Blocks(weights="random")           # tests only: not comparable
    >>> [tuple(f.shape[1:]) for f in net(torch.rand(1, 3, 32, 32))]
    [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    """

    name = "vgg16_imagenet"

    def __init__(self, weights: str = "pinned", weights_path: str | None = None) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        from benchmark.weights import get_weights

        self.weights = get_weights(self.name, weights, weights_path)
        self.features = make_layers(cfgs["D"])[:BLOCK_RELUS[-1] + 1]
        if self.weights.mode == "random":
            _random_init_(self.features)
        else:
            self.features.load_state_dict(load_weights_file(self.weights.path, upto=BLOCK_RELUS[-1] + 1))
        self.eval().requires_grad_(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in BLOCK_RELUS:
                out.append(x)
        return out

    def protocol(self) -> dict[str, Any]:
        return {"network": "VGG16 (torchvision, ImageNet IMAGENET1K_V1)",
                "layers": "relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (features 3, 8, 15, 22, 29)",
                "weights": self.weights.record()}
