"""I3D (Inception-v1 inflated, Kinetics-400) in PyTorch, laid out like the tfhub module
``deepmind/i3d-kinetics-400/1`` (google-research frechet_video_distance's embedding network).

Structure and names follow deepmind/kinetics-i3d ``i3d.py`` under the module's ``RGB/inception_i3d``
scope: ``Unit3D`` = Conv3D (no bias) + Sonnet BatchNorm (eps 1e-3, offset ``beta``, no scale,
moving statistics) + ReLU, TF "SAME" padding everywhere (reproduced exactly, asymmetric where TF
is), max pools padded with -inf; the logits layer ``Logits/Conv3d_0c_1x1`` has a bias and no BN.
Note the reference's quirk kept here: ``Mixed_5b/Branch_2`` names its 3x3x3 unit ``Conv3d_0a_3x3``.

The state_dict key of a TF variable ``RGB/inception_i3d/<scope>/conv_3d/w`` is ``<scope with .>.conv_3d.weight``
(``b`` -> ``bias``); ``.../batch_norm/{beta,moving_mean,moving_variance}`` keep their names. The
converter (:mod:`benchmark.metrics.extractors.convert_i3d`) writes these keys from the tfhub module.

Embedding = the 400-d pre-softmax logits averaged over time (``RGB/inception_i3d/Mean:0``).
Input to :class:`InceptionI3d`: ``(B, 3, T, 224, 224)`` in [-1, 1], T >= 9.

:class:`InceptionI3d` is the reference (it loads the weight file and mirrors the TF graph);
:class:`I3DFeatures` runs :class:`FusedInceptionI3d`, derived from it at load time for inference:
BatchNorm folded into the convolutions (Sonnet's eps 1e-3, offset only), conv+ReLU kernels, the three
1x1x1 reductions of each block as one convolution, SAME padding done by the convolutions and pools
themselves where TF's is symmetric (the 7x7x7/2 stem still pads its 3-channel input first), max
pools as 2-D pools plus maxima over time. Equal to the reference within float32 rounding (tested
to 1e-4); ``benchmarks/fvd_perf.py`` times both.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from benchmark.metrics.extractors.inference import (autocast, check_precision, choose_batch_size, conv_relu,
                                                     not_comparable_reason, split_across_threads)
from benchmark.metrics.extractors.tf_ops import pad_same, same_pads, tf1_resize_bilinear
from benchmark.video import VideoFormatError

BN_EPS = 1e-3  # Sonnet 1 BatchNorm default (torch's is 1e-5)
MIN_FRAMES = 9  # the 2x7x7 VALID average pool needs ceil(T / 8) >= 2
RESOLUTION = 224
NUM_CLASSES = 400

# (name, Branch_0, Branch_1 (1x1, 3x3), Branch_2 (1x1, 3x3), Branch_3 pool-proj)
MIXED = {
    "Mixed_3b": (64, (96, 128), (16, 32), 32),
    "Mixed_3c": (128, (128, 192), (32, 96), 64),
    "Mixed_4b": (192, (96, 208), (16, 48), 64),
    "Mixed_4c": (160, (112, 224), (24, 64), 64),
    "Mixed_4d": (128, (128, 256), (24, 64), 64),
    "Mixed_4e": (112, (144, 288), (32, 64), 64),
    "Mixed_4f": (256, (160, 320), (32, 128), 128),
    "Mixed_5b": (256, (160, 320), (32, 128), 128),
    "Mixed_5c": (384, (192, 384), (48, 128), 128),
}


class SonnetBatchNorm(nn.Module):
    """Inference BatchNorm as Sonnet 1's ``snt.BatchNorm()`` (offset only, eps 1e-3)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("beta", torch.zeros(channels))
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.moving_mean, self.moving_variance, None, self.beta, False, 0.0, BN_EPS)


class Unit3D(nn.Module):
    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), bn: bool = True,
                 relu: bool = True, bias: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv_3d = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=bias)
        self.batch_norm = SonnetBatchNorm(cout) if bn else None
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_3d(pad_same(x, self.kernel, self.stride))
        if self.batch_norm is not None:
            x = self.batch_norm(x)
        return F.relu(x) if self.relu else x


def max_pool_same(x: Tensor, kernel, stride) -> Tensor:
    return F.max_pool3d(pad_same(x, tuple(kernel), tuple(stride), value=float("-inf")), kernel, stride)


class Mixed(nn.Module):
    def __init__(self, cin: int, name: str, spec) -> None:
        super().__init__()
        b0, (b1a, b1b), (b2a, b2b), b3 = spec
        self.Branch_0 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(cin, b0)})
        self.Branch_1 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(cin, b1a),
                                       "Conv3d_0b_3x3": Unit3D(b1a, b1b, (3, 3, 3))})
        b2_name = "Conv3d_0a_3x3" if name == "Mixed_5b" else "Conv3d_0b_3x3"  # the reference's naming
        self.Branch_2 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(cin, b2a), b2_name: Unit3D(b2a, b2b, (3, 3, 3))})
        self.Branch_3 = nn.ModuleDict({"Conv3d_0b_1x1": Unit3D(cin, b3)})
        self.out_channels = b0 + b1b + b2b + b3

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for branch in (self.Branch_0, self.Branch_1, self.Branch_2):
            h = x
            for unit in branch.values():
                h = unit(h)
            outs.append(h)
        outs.append(self.Branch_3["Conv3d_0b_1x1"](max_pool_same(x, (3, 3, 3), (1, 1, 1))))
        return torch.cat(outs, 1)


class InceptionI3d(nn.Module):
    """The RGB I3D of the tfhub module; ``forward`` returns time-averaged logits ``(B, 400)``."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        cin = 192
        for name, spec in MIXED.items():
            m = Mixed(cin, name, spec)
            setattr(self, name, m)
            cin = m.out_channels
        self.Logits = nn.ModuleDict({"Conv3d_0c_1x1": Unit3D(cin, num_classes, bn=False, relu=False, bias=True)})

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv3d_1a_7x7(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_2a_3x3
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_3a_3x3
        x = self.Mixed_3c(self.Mixed_3b(x))
        x = max_pool_same(x, (3, 3, 3), (2, 2, 2))  # MaxPool3d_4a_3x3
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)
        x = max_pool_same(x, (2, 2, 2), (2, 2, 2))  # MaxPool3d_5a_2x2
        x = self.Mixed_5c(self.Mixed_5b(x))
        x = F.avg_pool3d(x, (2, 7, 7), (1, 1, 1))  # Logits: VALID
        logits = self.Logits["Conv3d_0c_1x1"](x)  # (B, 400, T', 1, 1)
        return logits.squeeze(-1).squeeze(-1).mean(-1)  # averaged over time


# -- the inference network ------------------------------------------------------------------------
def _same_conv_padding(x: Tensor, kernel, stride) -> tuple[list[int] | None, tuple[int, ...]]:
    """TF SAME for a convolution: ``(None, symmetric padding)`` when TF pads each dim symmetrically
    (the convolution pads itself, no copy), else ``(F.pad list, zeros)``."""
    pads = same_pads(tuple(x.shape[2:]), kernel, stride)
    if all(a == b for a, b in pads):
        return None, tuple(a for a, _ in pads)
    flat: list[int] = []
    for a, b in reversed(pads):
        flat += [a, b]
    return flat, (0,) * len(pads)


def _pool_same(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], pool) -> Tensor:
    """TF SAME max pooling over the trailing ``len(kernel)`` dims with ``pool`` (``F.max_pool2d`` or
    ``F.max_pool3d``), without a padded copy where torch's own padding gives the same windows:
    symmetric padding -> the pool's padding (implicitly -inf); padding only after the end with
    matching output sizes -> ``ceil_mode`` (the last window is clipped); else pad with -inf first."""
    sizes = tuple(x.shape[-len(kernel):])
    pads = same_pads(sizes, kernel, stride)
    if all(a == b for a, b in pads):
        return pool(x, kernel, stride, tuple(a for a, _ in pads))
    ceil_sizes = [-(-(n - k) // s) + 1 for n, k, s in zip(sizes, kernel, stride)]
    ceil_sizes = [m - 1 if (m - 1) * s >= n else m for m, n, s in zip(ceil_sizes, sizes, stride)]
    if (all(a == 0 for a, _ in pads) and all(n >= k for n, k in zip(sizes, kernel))
            and ceil_sizes == [-(-n // s) for n, s in zip(sizes, stride)]):
        return pool(x, kernel, stride, 0, ceil_mode=True)
    flat: list[int] = []
    for a, b in reversed(pads):
        flat += [a, b]
    return pool(F.pad(x, flat, value=float("-inf")), kernel, stride)


def max_pool_same_fast(x: Tensor, kernel, stride) -> Tensor:
    """:func:`max_pool_same`, bitwise equal, several times faster on channels-last CPU tensors: a
    max over a box is a max over time of maxima over (H, W), so the (H, W) part runs as a 2-D pool
    on the ``(B*T, C, H, W)`` view (channels-last 3-D is channels-last 2-D there, no copy), and the
    time part as in-place maxima of shifted views (stride 1) or a ``(k, 1, 1)`` pool."""
    kt, kh, kw = kernel
    st, sh, sw = stride
    b, c, t, h, w = x.shape
    if (kh, kw, sh, sw) != (1, 1, 1, 1):
        y = _pool_same(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w), (kh, kw), (sh, sw), F.max_pool2d)
        x = y.view(b, t, c, *y.shape[-2:]).permute(0, 2, 1, 3, 4)
    if (kt, st) == (1, 1):
        return x
    (before, after), = same_pads((t,), (kt,), (st,))
    if st == 1 and before == after:  # odd kernel, symmetric: max with the neighbours at distance 1..before
        out = x.clone(memory_format=torch.preserve_format)
        for d in range(1, min(before, t - 1) + 1):
            torch.maximum(out[:, :, d:], x[:, :, :-d], out=out[:, :, d:])
            torch.maximum(out[:, :, :-d], x[:, :, d:], out=out[:, :, :-d])
        return out
    return _pool_same(x, (kt, 1, 1), (st, 1, 1), F.max_pool3d)


class FusedUnit3D(nn.Module):
    """One or more :class:`Unit3D` of equal kernel and stride that read the same input, as one
    convolution: each Sonnet BatchNorm folded into its conv (``fuse_conv_bn_weights``, eps 1e-3, no
    scale), output channels concatenated in the given order, ReLU in the same kernel."""

    def __init__(self, units: list[Unit3D]) -> None:
        super().__init__()
        u0 = units[0]
        if any(u.kernel != u0.kernel or u.stride != u0.stride or u.relu != u0.relu for u in units):
            raise ValueError("FusedUnit3D: units must share kernel, stride and ReLU")
        weights, biases = [], []
        for u in units:
            w, b = u.conv_3d.weight, u.conv_3d.bias
            if u.batch_norm is not None:
                bn = u.batch_norm
                w, b = fuse_conv_bn_weights(w, b, bn.moving_mean, bn.moving_variance, BN_EPS, None, bn.beta)
            weights.append(w.detach())
            biases.append(b.detach() if b is not None else torch.zeros(w.shape[0], dtype=w.dtype))
        self.register_buffer("weight", torch.cat(weights))
        self.register_buffer("bias", torch.cat(biases))
        self.kernel, self.stride, self.relu = u0.kernel, u0.stride, u0.relu

    def forward(self, x: Tensor) -> Tensor:
        flat, padding = _same_conv_padding(x, self.kernel, self.stride)
        if flat is not None:
            x = F.pad(x, flat)
        return conv_relu(x, self.weight, self.bias, self.stride, padding, self.relu)


class FusedMixed(nn.Module):
    """An inception block with its three 1x1x1 convolutions on the block input merged into one."""

    def __init__(self, m: Mixed) -> None:
        super().__init__()
        b1, b2 = list(m.Branch_1.values()), list(m.Branch_2.values())
        first = [m.Branch_0["Conv3d_0a_1x1"], b1[0], b2[0]]
        self.split = [u.conv_3d.out_channels for u in first]
        self.reduce = FusedUnit3D(first)
        self.branch_1, self.branch_2 = FusedUnit3D([b1[1]]), FusedUnit3D([b2[1]])
        self.branch_3 = FusedUnit3D([m.Branch_3["Conv3d_0b_1x1"]])

    def forward(self, x: Tensor) -> Tensor:
        y0, y1, y2 = torch.split(self.reduce(x), self.split, 1)
        y3 = self.branch_3(max_pool_same_fast(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([y0, self.branch_1(y1), self.branch_2(y2), y3], 1)


class FusedInceptionI3d(nn.Module):
    """:class:`InceptionI3d` for inference (see :mod:`~benchmark.metrics.extractors.inference`):
    BatchNorm folded, ReLU fused, the three 1x1x1 reductions of each block merged, SAME padding done
    by the convolutions and pools themselves where TF's is symmetric. Same input and output; equal
    to the reference within float32 rounding (tested to 1e-4). Built from a loaded reference net."""

    def __init__(self, net: InceptionI3d) -> None:
        super().__init__()
        if net.training:
            raise ValueError("FusedInceptionI3d: fold an eval() network (BatchNorm uses its moving statistics)")
        self.stem = nn.ModuleList([FusedUnit3D([net.Conv3d_1a_7x7]), FusedUnit3D([net.Conv3d_2b_1x1]),
                                   FusedUnit3D([net.Conv3d_2c_3x3])])
        self.mixed = nn.ModuleDict({name: FusedMixed(getattr(net, name)) for name in MIXED})
        self.logits = FusedUnit3D([net.Logits["Conv3d_0c_1x1"]])

    def forward(self, x: Tensor) -> Tensor:
        x = max_pool_same_fast(self.stem[0](x), (1, 3, 3), (1, 2, 2))
        x = max_pool_same_fast(self.stem[2](self.stem[1](x)), (1, 3, 3), (1, 2, 2))
        x = self.mixed["Mixed_3c"](self.mixed["Mixed_3b"](x))
        x = max_pool_same_fast(x, (3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = self.mixed[name](x)
        x = max_pool_same_fast(x, (2, 2, 2), (2, 2, 2))
        x = self.mixed["Mixed_5c"](self.mixed["Mixed_5b"](x))
        x = F.avg_pool3d(x, (2, 7, 7), (1, 1, 1))
        return self.logits(x).squeeze(-1).squeeze(-1).mean(-1)


def expected_shapes(model: nn.Module | None = None) -> dict[str, tuple[int, ...]]:
    """Every state_dict key of the torch I3D and its shape (what a weight file must hold)."""
    model = model or InceptionI3d()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def init_random_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Seeded random weights (He-normal convs, random BN statistics) for ``--weights random`` and tests.

    Deterministic for a seed; the activations keep a sane scale through the 20+ layers.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("conv_3d.weight"):
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif name.endswith("bias") or name.endswith("beta"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith("moving_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith("moving_variance"):
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
    return model


def check_state_dict(state: dict[str, Tensor], source: str, model: nn.Module | None = None) -> None:
    """Raise a clear error when keys or shapes differ from :class:`InceptionI3d`'s."""
    want = expected_shapes(model)
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    if missing or unexpected:
        raise VideoFormatError(f"{source}: not an I3D weight file for this network: "
                               f"{len(missing)} missing key(s) {missing[:5]}, {len(unexpected)} unexpected "
                               f"key(s) {unexpected[:5]}")
    bad = [f"{k}: {tuple(state[k].shape)} != {want[k]}" for k in want if tuple(state[k].shape) != want[k]]
    if bad:
        raise VideoFormatError(f"{source}: wrong shapes: {'; '.join(bad[:5])}")


def load_weights_file(path: str) -> dict[str, Tensor]:
    """Read a safetensors (or torch) I3D state_dict and check its keys and shapes."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    check_state_dict(state, str(path))
    return state


def preprocess(videos: Tensor, resolution: int = RESOLUTION) -> Tensor:
    """``(N, T, C, H, W)`` in [0, 1] -> ``(N, 3, T, 224, 224)`` in [-1, 1] as the reference:
    values 0..255, TF1 bilinear resize (no crop), ``2 x / 255 - 1``; gray repeated to 3 channels."""
    n, t, c, h, w = videos.shape
    if t < MIN_FRAMES:
        raise VideoFormatError(f"FVD/I3D needs clips of at least {MIN_FRAMES} frames (the logits' 2x7x7 "
                               f"average pool), got T={t}")
    x = videos.float() * 255.0
    if c == 1:
        x = x.expand(n, t, 3, h, w)
    x = tf1_resize_bilinear(x.reshape(n * t, 3, h, w), (resolution, resolution))
    x = 2.0 * x / 255.0 - 1.0
    return x.view(n, t, 3, resolution, resolution).permute(0, 2, 1, 3, 4).contiguous()


class I3DFeatures:
    """The FVD embedding, torch backend: ``__call__(videos (N, T, C, H, W) in [0, 1]) -> (N, 400)`` float64.

    Args:
        weights: ``"pinned"`` (the file pinned as ``i3d_kinetics400`` in manifests/weights.yaml, or
            ``weights_path``, hash-checked) or ``"random"`` (seeded; numbers not comparable).
        weights_path: an explicit weight file (still checked against the pin).
        device: torch device.
        batch_size: videos per forward pass (None: chosen for the device, see
            :func:`~benchmark.metrics.extractors.inference.choose_batch_size`).
        fused: run :class:`FusedInceptionI3d` (default) instead of the reference :class:`InceptionI3d`.
        split_threads: on CPU, run each batch as single-threaded streams (default; see
            :func:`~benchmark.metrics.extractors.inference.split_across_threads`).
        precision: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"`` (GPU; not comparable with
            float32 numbers, see :mod:`~benchmark.metrics.extractors.inference`).
    """

    name = "i3d_kinetics400"
    dim = NUM_CLASSES
    backend = "torch"
    CPU_BATCH = 4  # 2 clips per stream on 2 cores: ~8% more clips/s than 8 (benchmarks/fvd_perf.py)
    MAX_BATCH = 64
    #: live activations per frame at 224x224 in float32 (padded input, stem output and its pool,
    #: ~0.7 M values) with 4x headroom for convolution workspaces and the concatenations
    BYTES_PER_FRAME = 4 * 4 * 700_000

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, device: str = "cpu",
                 batch_size: int | None = None, fused: bool = True, precision: str = "float32",
                 split_threads: bool = True) -> None:
        from benchmark.weights import get_weights

        self.device = torch.device(device)
        check_precision(precision, self.device)
        self.weights = get_weights(self.name, weights, weights_path)
        net = InceptionI3d()
        if self.weights.mode == "random":
            init_random_(net)
        else:
            net.load_state_dict(load_weights_file(self.weights.path))
        net.eval().requires_grad_(False)
        self.model = FusedInceptionI3d(net) if fused else net
        # channels_last_3d: the layout oneDNN's and cuDNN's (tensor-core) 3-D convolutions want; on
        # this 2-core CPU ~1.1x faster than NCDHW for the reference network
        self.model.to(self.device, memory_format=torch.channels_last_3d)
        self.batch_size, self.fused, self.precision = batch_size, bool(fused), precision
        self.split_threads = bool(split_threads)

    @property
    def comparable(self) -> bool:
        return not self.not_comparable_reason

    @property
    def not_comparable_reason(self) -> str:
        return not_comparable_reason(self.precision, self.weights)

    def forward(self, x: Tensor) -> Tensor:
        """The network on preprocessed clips ``(B, 3, T, 224, 224)`` -> ``(B, 400)`` (inference mode,
        this extractor's precision; on CPU split across threads when ``split_threads``)."""
        def run(xs: Tensor) -> Tensor:
            with torch.inference_mode(), autocast(self.device, self.precision):
                return self.model(xs.contiguous(memory_format=torch.channels_last_3d))

        return split_across_threads(run, x) if self.split_threads else run(x)

    def batch_for(self, frames: int) -> int:
        """Videos per forward pass for clips of ``frames`` frames on this device."""
        if self.batch_size is not None:
            return int(self.batch_size)
        scale = 0.5 if self.precision != "float32" else 1.0
        return choose_batch_size(self.device, self.BYTES_PER_FRAME * frames * scale, self.CPU_BATCH, self.MAX_BATCH)

    def protocol(self) -> dict[str, Any]:
        """What is computed (the feature cache's key): network, preprocessing, weights, precision."""
        return {"network": "I3D Kinetics-400 (tfhub deepmind/i3d-kinetics-400/1 layout)",
                "backend": self.backend, "embedding": "400-d pre-softmax logits averaged over time",
                "resize": "TF1 legacy bilinear to 224x224 (align_corners=False, no half-pixel centres, "
                          "no crop; non-square frames stretched)",
                "value_range": "[-1, 1] (2 x / 255 - 1)", "grayscale": "repeated to 3 channels",
                "batchnorm_eps": BN_EPS, "padding": "TF SAME (asymmetric where TF is)",
                "min_frames": MIN_FRAMES, "precision": self.precision, "weights": self.weights.record()}

    def execution(self) -> dict[str, Any]:
        """How it is computed (recorded, not part of the cache key: float32 rounding only)."""
        return {"network": "fused (BatchNorm folded, conv+ReLU kernels)" if self.fused else "reference",
                "memory_format": "channels_last_3d", "device": str(self.device),
                "batch_size": self.batch_size or f"auto (CPU {self.CPU_BATCH}; GPU by free memory, <= {self.MAX_BATCH})",
                **({"cpu_threads": (f"{torch.get_num_threads()} single-threaded streams over the batch"
                                    if self.split_threads else f"{torch.get_num_threads()} intra-op threads")}
                   if self.device.type == "cpu" else {}),
                "precision": self.precision}

    def __call__(self, videos: Tensor) -> Tensor:
        out = []
        step = self.batch_for(videos.shape[1])
        with torch.inference_mode():
            for i in range(0, len(videos), step):
                out.append(self.forward(preprocess(videos[i:i + step].to(self.device))).double().cpu())
        if not out:
            return torch.zeros(0, self.dim, dtype=torch.float64)
        return torch.cat(out)  # outside inference_mode: an ordinary tensor
