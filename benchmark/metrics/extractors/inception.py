"""The FID Inception v3 (TF 2015-12-05 graph, 1008 classes) of pytorch-fid / torch-fidelity, per frame.

Built from torchvision's Inception v3 with pytorch-fid's public FID blocks (``FIDInceptionA/C/E_1/E_2``,
which reproduce the TF graph's pooling), weights from the pinned ``pt_inception-2015-12-05-6726825d.pth``.
Frames: 0..255, TF1 bilinear resize to 299x299, ``(x - 128) / 128``; gray repeated to 3 channels.
Outputs per frame: 2048-d pool features (FID) and the 1008 logits *without* the fc bias (IS), as
torch-fidelity's ``logits_unbiased``. By default every ``BasicConv2d`` (conv, BatchNorm eps 1e-3,
ReLU) runs with its BatchNorm folded and its ReLU in the convolution's kernel, channels-last
(:func:`fold_batchnorms`), equal to the unfolded network within 1e-4 (tested).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.metrics.extractors.inference import (FoldedConv, autocast, check_precision, choose_batch_size,
                                                     not_comparable_reason, split_across_threads)
from benchmark.metrics.extractors.tf_ops import tf1_resize_bilinear

RESOLUTION = 299
NUM_CLASSES = 1008


def build_fid_inception() -> torch.nn.Module:
    import torchvision

    from benchmark.extras import require

    fid = require("pytorch_fid.inception", "metrics", "the FID Inception network (fid_frame, is_frame)")
    FIDInceptionA, FIDInceptionC = fid.FIDInceptionA, fid.FIDInceptionC
    FIDInceptionE_1, FIDInceptionE_2 = fid.FIDInceptionE_1, fid.FIDInceptionE_2

    net = torchvision.models.inception_v3(weights=None, num_classes=NUM_CLASSES, aux_logits=False,
                                          init_weights=False)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = FIDInceptionA(192, 32), FIDInceptionA(256, 64), FIDInceptionA(288, 64)
    net.Mixed_6b = FIDInceptionC(768, 128)
    net.Mixed_6c, net.Mixed_6d = FIDInceptionC(768, 160), FIDInceptionC(768, 160)
    net.Mixed_6e = FIDInceptionC(768, 192)
    net.Mixed_7b, net.Mixed_7c = FIDInceptionE_1(1280), FIDInceptionE_2(2048)
    return net


def fold_batchnorms(net: torch.nn.Module) -> int:
    """Replace every ``conv -> bn -> relu`` block (torchvision's ``BasicConv2d``, which pytorch-fid's
    FID blocks use too) by a :class:`~benchmark.metrics.extractors.inference.FoldedConv` with the BN
    folded in (eval statistics, eps 1e-3) and the ReLU in the same kernel. Returns how many."""
    from torchvision.models.inception import BasicConv2d

    folded = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BasicConv2d):
                setattr(parent, name, FoldedConv.from_modules(child.conv, child.bn, relu=True))
                folded += 1
    return folded


class InceptionFrameFeatures:
    """``__call__(videos (N, T, C, H, W))`` -> per-frame features ``(N*T, 2048)``; :meth:`logits` -> ``(N*T, 1008)``.

    Args:
        weights, weights_path: ``"pinned"`` (hash-checked) or ``"random"`` (not comparable).
        device: torch device; batch_size: frames per forward pass (None: chosen for the device).
        fused: BatchNorm folded into the convolutions, conv+ReLU kernels, channels-last (default);
            False runs the reference torchvision/pytorch-fid modules.
        precision: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"`` (GPU; not comparable).
    """

    name = "inception_fid"
    dim = 2048
    backend = "torch"
    CPU_BATCH = 64
    MAX_BATCH = 1024
    #: live activations of one 299x299 frame in float32 (the 32/64-channel 147x147 maps of the stem,
    #: ~3 M values) with 2x headroom
    BYTES_PER_FRAME = 2 * 4 * 3_000_000

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, device: str = "cpu",
                 batch_size: int | None = None, fused: bool = True, precision: str = "float32") -> None:
        from benchmark.weights import WeightsError, get_weights

        self.device = torch.device(device)
        check_precision(precision, self.device)
        self.weights = get_weights(self.name, weights, weights_path)
        self.net = build_fid_inception()
        if self.weights.mode == "random":
            g = torch.Generator().manual_seed(0)
            with torch.no_grad():
                for k, t in self.net.state_dict().items():
                    if t.is_floating_point() and k.endswith("weight") and t.ndim > 1:
                        t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5)
        else:
            state = torch.load(self.weights.path, map_location="cpu", weights_only=True)
            missing, unexpected = self.net.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise WeightsError(f"{self.weights.path}: not the FID Inception: missing {missing[:5]}, "
                                   f"unexpected {unexpected[:5]}")
        self.net.eval().requires_grad_(False)
        if fused:
            fold_batchnorms(self.net)
            self.net.to(memory_format=torch.channels_last)
        self.net.to(self.device)
        self.batch_size, self.fused, self.precision = batch_size, bool(fused), precision

    @property
    def comparable(self) -> bool:
        return not self.not_comparable_reason

    @property
    def not_comparable_reason(self) -> str:
        return not_comparable_reason(self.precision, self.weights)

    def batch_for(self) -> int:
        if self.batch_size is not None:
            return int(self.batch_size)
        scale = 0.5 if self.precision != "float32" else 1.0
        return choose_batch_size(self.device, self.BYTES_PER_FRAME * scale, self.CPU_BATCH, self.MAX_BATCH)

    def protocol(self) -> dict[str, Any]:
        """What is computed (the feature cache's key); :meth:`execution` says how."""
        return {"network": "Inception v3, TF 2015-12-05 weights (pytorch-fid)", "per": "frame",
                "resize": "TF1 legacy bilinear to 299x299 (no crop)", "scaling": "(x - 128) / 128 on 0..255",
                "logits": "1008, without the fc bias", "precision": self.precision, "weights": self.weights.record()}

    def execution(self) -> dict[str, Any]:
        return {"network": "fused (BatchNorm folded, conv+ReLU kernels, channels-last)" if self.fused
                else "reference", "device": str(self.device), "batch_size": self.batch_size or "auto",
                "precision": self.precision,
                "cpu_threads": "single-threaded streams over the batch (inference.split_across_threads)"}

    def _frames(self, videos: Tensor) -> Tensor:
        n, t, c, h, w = videos.shape
        x = videos.reshape(n * t, c, h, w).float().to(self.device) * 255.0
        if c == 1:
            x = x.expand(-1, 3, -1, -1)
        return (tf1_resize_bilinear(x, (RESOLUTION, RESOLUTION)) - 128.0) / 128.0

    def _pool(self, x: Tensor) -> Tensor:
        """Frames ``(M, 3, 299, 299)`` -> 2048-d pool features ``(M, 2048)`` float32."""
        with torch.inference_mode(), autocast(self.device, self.precision):
            if self.fused:
                x = x.contiguous(memory_format=torch.channels_last)
            for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                         "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
                         "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
                x = getattr(self.net, name)(x)
            return F.adaptive_avg_pool2d(x.float(), 1).flatten(1)

    def pool_and_logits(self, videos: Tensor) -> tuple[Tensor, Tensor]:
        feats, logits = [], []
        frames = self._frames(videos)
        step = self.batch_for()
        with torch.inference_mode():
            for i in range(0, len(frames), step):
                pool = split_across_threads(self._pool, frames[i:i + step]).double()
                feats.append(pool.cpu())
                logits.append((pool @ self.net.fc.weight.double().T).cpu())  # no bias, as torch-fidelity
        return torch.cat(feats), torch.cat(logits)  # outside inference_mode: ordinary tensors

    def __call__(self, videos: Tensor) -> Tensor:
        return self.pool_and_logits(videos)[0]

    def logits(self, videos: Tensor) -> Tensor:
        return self.pool_and_logits(videos)[1]
