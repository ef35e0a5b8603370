"""The moving-shapes evaluator: a small 3D-conv network trained on the generator's known factors.

The field's feature networks (I3D, C3D, Inception) cannot ship with the code, so the embedded
dataset has its own: a 3D CNN trained (by :mod:`benchmark.metrics.extractors.train_shapes_evaluator`,
``benchmark weights train-embedded``) to recognise the factors of
:mod:`benchmark.data.moving_shapes_factors` (background, object count, and the sets of the
objects' shapes, colours, sizes, motion directions and speeds). Its weights ship in the
repository (``benchmark/assets/moving_shapes_evaluator.safetensors``, pinned as
``moving_shapes_evaluator`` in ``manifests/weights.yaml``). Numbers made with it are comparable
**within vidbench on moving-shapes only**, never with published FVD/IS values.

Input protocol (:meth:`ShapesEvaluator.preprocess`), videos ``(N, T, C, H, W)`` in [0, 1]:

* frames: the first 16 (``FRAMES``); a clip with 8..15 frames is used whole (the network pools
  over time and was trained on 8..16-frame windows); fewer than 8 is an error.
* channels: RGB; a gray clip is repeated to 3 channels (moving-shapes is RGB).
* resolution: every frame is resized to 32x32 (``INPUT_SIZE``): larger frames by area averaging
  (``F.interpolate(mode="area")``: for 64x64 an exact 2x2 box filter), smaller ones bilinearly;
  32x32 frames pass unchanged. Non-square frames are stretched. The network was trained on 64x64
  clips of the default configuration (downsampled so) and on 32x32 clips rendered with half-size
  objects, so it serves both resolutions.
* values: ``2x - 1`` (to [-1, 1]).

Network (:class:`ShapesEvaluatorNet`, ``(N, 3, T, 32, 32)`` -> ``(N, 64)`` features + head logits;
188k parameters): four Conv3d blocks (BatchNorm, ReLU) 3->16 (kernel 3x3x3, stride 2,2,2) ->32
(1x3x3 at 16x16: shape needs that resolution) ->48 (3x3x3, stride 1,2,2) ->96 (3x3x3, stride
2,2,2); the mean and the max over time and space, concatenated (192); Linear 192->64 + ReLU = the
64-d **penultimate features** (the Fréchet distance's embedding); one linear head per factor.
BatchNorm uses its stored statistics (eval mode), so a clip's outputs never depend on its batch.

>>> import torch
>>> from benchmark.metrics.extractors.shapes_evaluator import ShapesEvaluator
>>> ev = ShapesEvaluator(weights="random")          # seeded random net: numbers not comparable
>>> ev(torch.rand(2, 16, 3, 64, 64)).shape
torch.Size([2, 64])
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.data.moving_shapes_factors import FACTORS
from benchmark.metrics.extractors import check_state_shapes
from benchmark.video import VideoFormatError

WEIGHTS_NAME = "moving_shapes_evaluator"
FILE_FORMAT = "vidbench.shapes_evaluator/1"
INPUT_SIZE = 32
FRAMES = 16
MIN_FRAMES = 8
SCOPE = ("dataset-specific: comparable within vidbench on moving-shapes only (the embedded evaluator), "
         "never with published FVD/IS numbers")


Layer = tuple[int, tuple[int, int, int], tuple[int, int, int]]  # (channels, kernel, stride), (T, H, W) order


@dataclass(frozen=True)
class EvaluatorConfig:
    """Architecture of :class:`ShapesEvaluatorNet` (stored in the weight file's metadata).

    ``layers``: Conv3d blocks (BatchNorm, ReLU), each ``(channels, kernel, stride)``. The default:
    a 3x3x3 stem that halves time and space, a 1x3x3 layer at 16x16 (shape needs that resolution),
    then two 3x3x3 layers down to 4x4 (T/4).
    """

    layers: tuple[Layer, ...] = ((16, (3, 3, 3), (2, 2, 2)), (32, (1, 3, 3), (1, 1, 1)),
                                 (48, (3, 3, 3), (1, 2, 2)), (96, (3, 3, 3), (2, 2, 2)))
    feature_dim: int = 64

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EvaluatorConfig":
        layers = tuple((int(c), tuple(k), tuple(s)) for c, k, s in d.get("layers", cls.layers))
        return cls(layers=layers, feature_dim=int(d.get("feature_dim", cls.feature_dim)))  # type: ignore[arg-type]


def head_sizes() -> dict[str, int]:
    """Output units (classes) per factor head."""
    return {f.name: f.num_classes for f in FACTORS}


class ShapesEvaluatorNet(nn.Module):
    """``forward(x (N, 3, T, 32, 32) in [-1, 1])`` -> ``(features (N, D), {factor: logits (N, K)})``."""

    def __init__(self, config: EvaluatorConfig = EvaluatorConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        cin = 3
        for cout, kernel, stride in config.layers:
            layers += [nn.Conv3d(cin, cout, kernel, stride, tuple(k // 2 for k in kernel), bias=False),
                       nn.BatchNorm3d(cout), nn.ReLU()]
            cin = cout
        self.trunk = nn.Sequential(*layers)
        self.embed = nn.Linear(2 * cin, config.feature_dim)
        self.heads = nn.ModuleDict({k: nn.Linear(config.feature_dim, n) for k, n in head_sizes().items()})

    def features(self, x: Tensor) -> Tensor:
        """The penultimate features ``(N, feature_dim)``."""
        h = self.trunk(x)
        # mean and max over time and space: the max keeps a small object's evidence undiluted
        return F.relu(self.embed(torch.cat([h.mean((2, 3, 4)), h.amax((2, 3, 4))], 1)))

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        f = self.features(x)
        return f, {k: head(f) for k, head in self.heads.items()}


def preprocess(videos: Tensor) -> Tensor:
    """``(N, T, C, H, W)`` in [0, 1] -> the network input ``(N, 3, min(T, 16), 32, 32)`` in [-1, 1]
    (see the module docstring)."""
    if videos.ndim != 5:
        raise VideoFormatError(f"moving-shapes evaluator: expected videos (N, T, C, H, W), got {tuple(videos.shape)}")
    n, t, c, h, w = videos.shape
    if t < MIN_FRAMES:
        raise VideoFormatError(f"moving-shapes evaluator needs at least {MIN_FRAMES} frames per clip, got T={t}")
    if c not in (1, 3):
        raise VideoFormatError(f"moving-shapes evaluator takes 1 or 3 channels, got C={c}")
    t = min(t, FRAMES)
    x = videos[:, :t].float().reshape(n * t, c, h, w)
    if (h, w) != (INPUT_SIZE, INPUT_SIZE):  # resize first: the later steps then touch 4x less data
        mode = "area" if h >= INPUT_SIZE and w >= INPUT_SIZE else "bilinear"
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode=mode,
                          **({"align_corners": False} if mode == "bilinear" else {}))
    x = x.view(n, t, c, INPUT_SIZE, INPUT_SIZE).expand(-1, -1, 3, -1, -1).permute(0, 2, 1, 3, 4)
    return (x * 2 - 1).contiguous()


# ------------------------------------------------------------------------------ weight file ---

def expected_shapes(config: EvaluatorConfig = EvaluatorConfig()) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in ShapesEvaluatorNet(config).state_dict().items()}


def save_weights(net: ShapesEvaluatorNet, path: str | Path, record: dict[str, Any] | None = None) -> None:
    """Write ``net`` as safetensors (float32 weights and BatchNorm statistics; one metadata key, so the
    bytes are deterministic)."""
    from safetensors.torch import save_file

    meta = {"format": FILE_FORMAT, "config": asdict(net.config), **(record or {})}
    state = {k: (v.detach().to(torch.float32) if v.is_floating_point() else v.detach()).contiguous()
             for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata={"vidbench": json.dumps(meta, sort_keys=True)})


def load_weights(path: str | Path) -> tuple[ShapesEvaluatorNet, dict[str, Any]]:
    """Build the network from a weight file (safetensors: no pickle); returns it with its metadata."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta_raw = (f.metadata() or {}).get("vidbench")
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for a malformed header
        raise VideoFormatError(f"{path}: not a safetensors file ({e})") from e
    if not meta_raw:
        raise VideoFormatError(f"{path}: no 'vidbench' metadata; not a moving-shapes evaluator file "
                               f"(rebuild it with `benchmark weights train-embedded`)")
    meta = json.loads(meta_raw)
    if meta.get("format") != FILE_FORMAT:
        raise VideoFormatError(f"{path}: format {meta.get('format')!r}, expected {FILE_FORMAT!r}")
    config = EvaluatorConfig.from_dict(meta.get("config") or {})
    check_state_shapes(state, expected_shapes(config), str(path), "the moving-shapes evaluator")
    net = ShapesEvaluatorNet(config)
    net.load_state_dict(state)
    return net, meta


def state_hash(net: nn.Module) -> str:
    """sha256 over a network's state dict (names, dtypes, shapes and bytes, in order)."""
    import hashlib

    h = hashlib.sha256()
    for k, v in net.state_dict().items():
        t = v.detach().cpu().contiguous().reshape(-1)
        h.update(f"{k}|{t.dtype}|{tuple(v.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def random_network(seed: int = 0) -> ShapesEvaluatorNet:
    """The network with PyTorch's default initialisation under a fixed seed (``--weights random``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ShapesEvaluatorNet()


# ------------------------------------------------------------------------------ extractor ---

class ShapesEvaluator:
    """``__call__(videos (N, T, C, H, W) in [0, 1])`` -> penultimate features ``(N, 64)`` float64.

    :meth:`outputs` also gives every head's probabilities. Follows the extractor interface of
    :mod:`benchmark.metrics.extractors` (``name``, ``dim``, ``weights``, ``protocol()``).

    Args:
        weights: ``"pinned"`` (the shipped file, hash-checked) or ``"random"`` (seeded random net,
            numbers labelled not comparable).
        weights_path: an explicit weight file (checked against the pin).
        network: a ready :class:`ShapesEvaluatorNet` (training and tests; labelled not comparable).
        device, batch_size: where and how many clips per forward pass.
    """

    name = WEIGHTS_NAME

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, network: ShapesEvaluatorNet | None = None,
                 device: str = "cpu", batch_size: int = 64) -> None:
        from benchmark.weights import ResolvedWeights, get_weights

        if network is not None:
            # a hash of the network's state, not a constant: the feature cache keys by it, and two
            # in-memory networks must never share cached features
            self.weights = ResolvedWeights(name=self.name, mode="given", path=None,
                                           sha256=f"in-memory-{state_hash(network)}", verified=False, comparable=False,
                                           note="an in-memory evaluator network, not the pinned file")
            self.net, self.meta = network, {}
        else:
            self.weights = get_weights(self.name, weights, weights_path)
            if self.weights.mode == "random":
                self.net, self.meta = random_network(), {}
            else:
                self.net, self.meta = load_weights(self.weights.path)
        self.net.eval().requires_grad_(False).to(device)
        self.device, self.batch_size = torch.device(device), int(batch_size)
        self.dim = self.net.config.feature_dim

    @property
    def comparable(self) -> bool:
        return bool(self.weights.comparable)

    def protocol(self) -> dict[str, Any]:
        return {"network": f"moving-shapes evaluator (3D CNN on the generator's factors, {FILE_FORMAT})",
                "scope": SCOPE,
                "frames": f"the first {FRAMES} ({MIN_FRAMES}..{FRAMES - 1}-frame clips whole)",
                "resize": f"to {INPUT_SIZE}x{INPUT_SIZE}: area averaging from larger frames, bilinear from "
                          f"smaller; non-square stretched",
                "channels": "RGB (gray repeated)", "values": "2x - 1",
                "features": f"{self.dim}-d penultimate (ReLU of the embedding layer), float64",
                "weights": self.weights.record()}

    @torch.no_grad()
    def outputs(self, videos: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Features ``(N, D)`` float64 and ``{factor: class probabilities (N, K)}`` float64 (softmax)."""
        feats: list[Tensor] = []
        logits: dict[str, list[Tensor]] = {k: [] for k in head_sizes()}
        for i in range(0, len(videos), self.batch_size):
            f, out = self.net(preprocess(videos[i:i + self.batch_size]).to(self.device))
            feats.append(f.double().cpu())
            for k, v in out.items():
                logits[k].append(v.double().cpu())
        if not feats:
            return torch.zeros(0, self.dim, dtype=torch.float64), {
                k: torch.zeros(0, n, dtype=torch.float64) for k, n in head_sizes().items()}
        return torch.cat(feats), {k: torch.softmax(torch.cat(v), 1) for k, v in logits.items()}

    def __call__(self, videos: Tensor) -> Tensor:
        return self.outputs(videos)[0]
