"""C3D (Tran et al. 2015; Sports-1M pre-trained, fine-tuned on UCF101, 101-way) for the video Inception
Score of TGAN / MoCoGAN / TGANv2, laid out as TGANv2's chainer model ``C3DVersion1UCF101``.

Weights: the chainer npz ``conv3d_deepnetA_ucf.npz`` (keys ``conv1a/W``, ``conv1a/b`` … ``fc8/b``;
conv ``W`` is ``(out, in, kd, kh, kw)`` and fc ``W`` ``(out, in)``, the torch layouts) and the
Sports-1M mean clip ``mean2.npz`` (key ``mean``, ``(3, 16, 128, 171)``, BGR, 0..255).

Preprocessing (TGANv2): 16 frames, RGB -> BGR, values ``128·(2x − 1) + 128`` (= 256·x for x in [0, 1]),
bilinear resize to 112×112 (no crop; chainer ``F.resize_images``, corners aligned), minus the mean
clip's ``[:, :, 8:120, 8:120]`` window. Network: 3×3×3 convs (pad 1) + ReLU, pool1 (1,2,2), pools 2–5
(2,2,2) with chainer's ``cover_all`` (ceil mode: pool5 gives 1×4×4), fc6/fc7 + ReLU, fc8 logits.
:class:`C3DProbabilities` runs :class:`FusedC3D` (conv+ReLU kernels, channels-last; no BatchNorm to
fold), derived from the reference :class:`C3D` at load time and equal to it within 1e-4 (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.metrics.extractors import check_state_shapes
from benchmark.metrics.extractors.inference import (FoldedConv, autocast, check_precision, choose_batch_size,
                                                     not_comparable_reason, split_across_threads)
from benchmark.video import VideoFormatError

NUM_CLASSES = 101
FRAMES = 16
RESOLUTION = 112
CONVS = {"conv1a": (3, 64), "conv2a": (64, 128), "conv3a": (128, 256), "conv3b": (256, 256),
         "conv4a": (256, 512), "conv4b": (512, 512), "conv5a": (512, 512), "conv5b": (512, 512)}
FCS = {"fc6": (512 * 4 * 4, 4096), "fc7": (4096, 4096), "fc8": (4096, NUM_CLASSES)}
MEAN_SHAPE = (3, 16, 128, 171)


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the chainer npz and its shape."""
    out: dict[str, tuple[int, ...]] = {}
    for k, (cin, cout) in CONVS.items():
        out[f"{k}/W"], out[f"{k}/b"] = (cout, cin, 3, 3, 3), (cout,)
    for k, (cin, cout) in FCS.items():
        out[f"{k}/W"], out[f"{k}/b"] = (cout, cin), (cout,)
    return out


class C3D(nn.Module):
    """``forward(x (B, 3, 16, 112, 112))`` (preprocessed) -> fc8 logits ``(B, 101)``."""

    def __init__(self) -> None:
        super().__init__()
        for k, (cin, cout) in CONVS.items():
            setattr(self, k, nn.Conv3d(cin, cout, 3, 1, 1))
        for k, (cin, cout) in FCS.items():
            setattr(self, k, nn.Linear(cin, cout))

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool3d(F.relu(self.conv1a(x)), (1, 2, 2), ceil_mode=True)
        x = F.max_pool3d(F.relu(self.conv2a(x)), 2, ceil_mode=True)
        for a, b in (("conv3a", "conv3b"), ("conv4a", "conv4b"), ("conv5a", "conv5b")):
            x = F.relu(getattr(self, b)(F.relu(getattr(self, a)(x))))
            x = F.max_pool3d(x, 2, ceil_mode=True)
        x = F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))
        return self.fc8(x)


class FusedC3D(nn.Module):
    """:class:`C3D` for inference: each convolution and its ReLU as one kernel, channels-last
    (C3D has no BatchNorm to fold). Same input and output; equal to the reference within float32
    rounding (tested to 1e-4)."""

    def __init__(self, net: C3D) -> None:
        super().__init__()
        self.convs = nn.ModuleDict({k: FoldedConv.from_modules(getattr(net, k), relu=True) for k in CONVS})
        self.fc6, self.fc7, self.fc8 = net.fc6, net.fc7, net.fc8

    def forward(self, x: Tensor) -> Tensor:
        c = self.convs
        x = F.max_pool3d(c["conv1a"](x.contiguous(memory_format=torch.channels_last_3d)), (1, 2, 2), ceil_mode=True)
        x = F.max_pool3d(c["conv2a"](x), 2, ceil_mode=True)
        for a, b in (("conv3a", "conv3b"), ("conv4a", "conv4b"), ("conv5a", "conv5b")):
            x = F.max_pool3d(c[b](c[a](x)), 2, ceil_mode=True)
        x = F.relu_(self.fc7(F.relu_(self.fc6(x.flatten(1)))))  # flatten: logical (C, T, H, W) order
        return self.fc8(x)


def check_npz(arrays: dict[str, np.ndarray], source: str) -> None:
    check_state_shapes(arrays, expected_shapes(), source, "the C3D UCF101 npz (conv1a/W … fc8/b)")

def load_weights_file(path: str) -> dict[str, Tensor]:
    """The chainer npz as a :class:`C3D` state_dict (``conv1a/W`` -> ``conv1a.weight``), checked."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    check_npz(arrays, str(path))
    return {k.replace("/W", ".weight").replace("/b", ".bias"): torch.from_numpy(np.asarray(v, np.float32))
            for k, v in arrays.items()}


def load_mean_clip(path: str) -> Tensor:
    with np.load(path, allow_pickle=False) as z:
        if "mean" not in z.files:
            raise VideoFormatError(f"{path}: no 'mean' array (keys {z.files[:5]}); expected the Sports-1M mean clip")
        mean = z["mean"]
    if tuple(mean.shape) != MEAN_SHAPE:
        raise VideoFormatError(f"{path}: mean clip shape {tuple(mean.shape)} != {MEAN_SHAPE}")
    return torch.from_numpy(np.asarray(mean, np.float32))


class C3DProbabilities:
    """``__call__(videos (N, T>=16, C, H, W) in [0, 1])`` -> UCF101 softmax ``(N, 101)`` float64.

    Args:
        weights: ``"pinned"`` (``c3d_ucf101`` + ``c3d_mean_clip``) or ``"random"`` (seeded net, zero mean
            offset of 128: numbers not comparable).
        weights_path, mean_path: explicit files (checked against the pins).
        align_corners: the resize's corner convention (True: chainer ``F.resize_images``).
        device: torch device; batch_size: clips per forward pass (None: chosen for the device).
        fused: run :class:`FusedC3D` (default) instead of the reference :class:`C3D`.
        precision: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"`` (GPU; not comparable).
    """

    name = "c3d_ucf101"
    dim = NUM_CLASSES
    CPU_BATCH = 8
    MAX_BATCH = 64
    #: live activations of one clip in float32 (conv1a's 64x16x112x112 output, its input and pool:
    #: ~17 M values) with 2x headroom
    BYTES_PER_CLIP = 2 * 4 * 17_000_000

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, mean_path: str | None = None,
                 device: str = "cpu", batch_size: int | None = None, align_corners: bool = True,
                 fused: bool = True, precision: str = "float32") -> None:
        from benchmark.weights import get_weights

        self.device = torch.device(device)
        check_precision(precision, self.device)
        self.weights = get_weights(self.name, weights, weights_path)
        self.mean_weights = get_weights("c3d_mean_clip", weights, mean_path)
        net = C3D()
        if self.weights.mode == "random":
            g = torch.Generator().manual_seed(0)
            with torch.no_grad():
                for k, t in net.state_dict().items():
                    t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5 if t.ndim > 1
                            else torch.zeros_like(t))
            mean = torch.full(MEAN_SHAPE, 128.0)
        else:
            net.load_state_dict(load_weights_file(self.weights.path))
            mean = load_mean_clip(self.mean_weights.path)
        self.mean = mean[:, :, 8:8 + RESOLUTION, 8:8 + RESOLUTION].contiguous()
        net.eval().requires_grad_(False)
        self.model = (FusedC3D(net) if fused else net).to(self.device)
        self.batch_size, self.align_corners = batch_size, bool(align_corners)
        self.fused, self.precision = bool(fused), precision

    @property
    def comparable(self) -> bool:
        return not self.not_comparable_reason

    @property
    def not_comparable_reason(self) -> str:
        return not_comparable_reason(self.precision, self.weights, self.mean_weights)

    def batch_for(self) -> int:
        if self.batch_size is not None:
            return int(self.batch_size)
        scale = 0.5 if self.precision != "float32" else 1.0
        return choose_batch_size(self.device, self.BYTES_PER_CLIP * scale, self.CPU_BATCH, self.MAX_BATCH)

    def protocol(self) -> dict[str, Any]:
        """What is computed (the feature cache's key); :meth:`execution` says how."""
        return {"network": "C3D, Sports-1M pre-trained, fine-tuned on UCF101 (TGANv2 chainer npz layout)",
                "frames": f"the first {FRAMES}", "resize": f"bilinear to {RESOLUTION}x{RESOLUTION}, no crop, "
                f"align_corners={self.align_corners}", "channels": "BGR", "values": "256 x (TGANv2: 128 (2x-1) + 128)",
                "mean": "Sports-1M mean clip [:, :, 8:120, 8:120] subtracted", "grayscale": "repeated to 3 channels",
                "output": "softmax of fc8 (101 classes), float64", "precision": self.precision,
                "weights": self.weights.record(), "mean_clip": self.mean_weights.record()}

    def execution(self) -> dict[str, Any]:
        return {"network": "fused (conv+ReLU kernels, channels-last)" if self.fused else "reference",
                "device": str(self.device), "batch_size": self.batch_size or "auto", "precision": self.precision,
                "cpu_threads": "single-threaded streams over the batch (inference.split_across_threads)"}

    def preprocess(self, videos: Tensor) -> Tensor:
        n, t, c, h, w = videos.shape
        if t < FRAMES:
            raise VideoFormatError(f"video IS (C3D) needs at least {FRAMES} frames, got T={t}")
        x = videos[:, :FRAMES].float().to(self.device)
        if c == 1:
            x = x.expand(-1, -1, 3, -1, -1)
        x = x.flip(2) * 256.0  # RGB -> BGR; 128 (2x - 1) + 128
        x = F.interpolate(x.reshape(n * FRAMES, 3, h, w), size=(RESOLUTION, RESOLUTION), mode="bilinear",
                          align_corners=self.align_corners)
        x = x.view(n, FRAMES, 3, RESOLUTION, RESOLUTION).permute(0, 2, 1, 3, 4)
        return x - self.mean.to(x.device)

    def logits(self, videos: Tensor) -> Tensor:
        """fc8 logits ``(N, 101)`` float32 (the network's output before the float64 softmax)."""
        def run(x: Tensor) -> Tensor:
            with torch.inference_mode(), autocast(self.device, self.precision):
                return self.model(x).float()

        out = []
        step = self.batch_for()
        with torch.inference_mode():
            for i in range(0, len(videos), step):
                out.append(split_across_threads(run, self.preprocess(videos[i:i + step])).cpu())
        return torch.cat(out) if out else torch.zeros(0, NUM_CLASSES)

    def __call__(self, videos: Tensor) -> Tensor:
        return torch.softmax(self.logits(videos).double(), 1)
