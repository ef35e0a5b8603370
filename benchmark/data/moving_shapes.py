"""``moving-shapes``: the embedded procedural dataset (no download).

Each video shows one or two objects with known *static* factors (shape, colour, size, and the
background colour) moving with known *motion* factors (start position, velocity, wall bounces) on
a 64x64 RGB canvas. Everything is deterministic from a seed; splits draw from disjoint seed
streams and are checked to share no video. The per-video factors are exposed in ``meta`` so tests
can run oracle checks (e.g. a predictor that knows the physics must score perfectly).

Two class labels derive from the factors (:meth:`MovingShapes.label_specs`): ``identity`` = the
background colour (a static factor, 4 classes) and ``action`` = the direction quadrant of the first
object's velocity (a motion factor: right, down, left, up).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import LabelSpec, Protocol, SplitData, TaskProtocols, VideoDataset
from benchmark.data.two_ended import two_ended as two_ended_protocols
from benchmark.registry import DATASETS
from benchmark.utils import atomic_path, sha256_array, sha256_json, write_json_atomic

log = logging.getLogger(__name__)

SHAPES = ("circle", "square", "triangle")
# Saturated object colours and dark backgrounds, so objects always stand out.
OBJECT_COLOURS = ((230, 60, 60), (60, 200, 80), (70, 110, 240), (240, 210, 60), (220, 90, 220), (60, 210, 220))
BACKGROUNDS = ((20, 20, 30), (40, 30, 20), (20, 40, 35), (45, 45, 45))
BACKGROUND_NAMES = ("dark-blue", "dark-brown", "dark-green", "dark-grey")
DIRECTIONS = ("right", "down", "left", "up")  # image coordinates: +y is down
SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class MovingShapesConfig:
    """Generation parameters; their hash keys the on-disk cache."""

    size: int = 64
    num_frames: int = 20
    max_objects: int = 2
    min_radius: int = 5
    max_radius: int = 11
    max_speed: float = 3.0
    split_sizes: dict[str, int] = field(default_factory=lambda: {"train": 512, "val": 64, "test": 128})
    seed: int = 0
    version: int = 1  # bump when the generator's output changes


def default_data_root() -> Path:
    """Where prepared data lives: ``$VIDBENCH_DATA`` or ``./data``."""
    return Path(os.environ.get("VIDBENCH_DATA", "data"))


def _trajectory(p0: float, v: float, lo: float, hi: float, t: int) -> tuple[np.ndarray, int]:
    """Positions over ``t`` frames with elastic bounces between ``lo`` and ``hi``; also the bounce count."""
    pos, _, bounces = trajectory_with_velocity(p0, v, lo, hi, t)
    return pos, bounces


def trajectory_with_velocity(p0: float, v: float, lo: float, hi: float, t: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Positions ``(t,)``, the velocity each frame moves on with ``(t,)`` (its sign flips at a bounce)
    and the bounce count of one coordinate bouncing elastically between ``lo`` and ``hi``."""
    pos, vel = np.empty(t), np.empty(t)
    p, bounces = p0, 0
    for i in range(t):
        pos[i], vel[i] = p, v
        p += v
        if p < lo or p > hi:
            p = 2 * lo - p if p < lo else 2 * hi - p
            v = -v
            bounces += 1
    return pos, vel, bounces


def object_velocities(obj: dict[str, Any], size: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame velocities ``(vx, vy)``, each ``(num_frames,)``, of one object of a video's factors
    on a ``size`` canvas (replays its bounces from ``x0, y0, vx, vy``)."""
    r = obj["size"]
    lo, hi = float(r), float(size - 1 - r)
    _, vx, _ = trajectory_with_velocity(obj["x0"], obj["vx"], lo, hi, num_frames)
    _, vy, _ = trajectory_with_velocity(obj["y0"], obj["vy"], lo, hi, num_frames)
    return vx, vy


def _object_mask(obj: dict[str, Any], yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Pixels covered by one object in every frame: bool ``(T, H, W)``."""
    r = obj["size"]
    dy = yy[None] - np.asarray(obj["ys"], np.float32)[:, None, None]
    dx = xx[None] - np.asarray(obj["xs"], np.float32)[:, None, None]
    if obj["shape"] == "circle":
        return dx * dx + dy * dy <= r * r
    if obj["shape"] == "square":
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)  # upward triangle in the radius-r box


def render_video(factors: dict[str, Any], size: int, num_frames: int) -> np.ndarray:
    """Draw one video from its factors: uint8 ``(T, 3, H, W)``. Objects are painted in order (later on top)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # Channel-first from the start: filling and masking (T, 3, H, W) planes is ~4x faster than a
    # (T, H, W, 3) image with per-pixel colour triplets plus a transpose (same bytes).
    video = np.empty((num_frames, 3, size, size), np.uint8)
    video[:] = np.asarray(factors["background"], np.uint8)[:, None, None]
    for obj in factors["objects"]:
        np.copyto(video, np.asarray(obj["color"], np.uint8)[:, None, None],
                  where=_object_mask(obj, yy, xx)[:num_frames, None])
    return video


def object_masks(factors: dict[str, Any], size: int, num_frames: int, visible: bool = True) -> np.ndarray:
    """Per-object pixel masks of one video: bool ``(num_objects, T, H, W)``, in the order of
    ``factors["objects"]`` (the paint order). ``visible=True`` removes what later objects cover, so
    the masks are disjoint and equal the pixels that show each object's colour; ``False`` gives
    each object's full silhouette. For oracle checks of object-centric models.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    masks = np.stack([_object_mask(obj, yy, xx)[:num_frames] for obj in factors["objects"]])
    if visible:
        for i in range(len(masks) - 1):
            masks[i] &= ~masks[i + 1:].any(0)
    return masks


def sample_factors(rng: np.random.Generator, cfg: MovingShapesConfig) -> dict[str, Any]:
    """Draw the static and motion factors of one video."""
    objects = []
    for _ in range(int(rng.integers(1, cfg.max_objects + 1))):
        r = int(rng.integers(cfg.min_radius, cfg.max_radius + 1))
        lo, hi = float(r), float(cfg.size - 1 - r)
        x0, y0 = rng.uniform(lo, hi, size=2)
        speed = rng.uniform(1.0, cfg.max_speed)
        angle = rng.uniform(0, 2 * np.pi)
        vx, vy = speed * np.cos(angle), speed * np.sin(angle)
        xs, bx = _trajectory(x0, vx, lo, hi, cfg.num_frames)
        ys, by = _trajectory(y0, vy, lo, hi, cfg.num_frames)
        objects.append({
            "shape": SHAPES[int(rng.integers(len(SHAPES)))],
            "color": list(OBJECT_COLOURS[int(rng.integers(len(OBJECT_COLOURS)))]),
            "size": r,
            "x0": float(x0), "y0": float(y0), "vx": float(vx), "vy": float(vy),
            "bounces": int(bx + by),
            "xs": xs.round(3).tolist(), "ys": ys.round(3).tolist(),
        })
    return {"background": list(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]), "objects": objects}


def derived_labels(factors: dict[str, Any]) -> dict[str, str]:
    """The class labels of one video: its background's name and its first object's direction quadrant."""
    obj = factors["objects"][0]
    quadrant = int(round(np.arctan2(obj["vy"], obj["vx"]) / (np.pi / 2))) % 4
    return {"background_name": BACKGROUND_NAMES[BACKGROUNDS.index(tuple(factors["background"]))],
            "direction": DIRECTIONS[quadrant]}


def generate_split(cfg: MovingShapesConfig, split: str, exclude: set[str] | None = None
                   ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Generate one split: uint8 ``(N, T, 3, H, W)`` and per-video factors.

    Each video ``i`` comes from its own seed stream ``(seed, split, i)``; a video whose bytes
    already occur in ``exclude`` (other splits) or earlier in this split is redrawn from the next
    attempt of the same stream, so splits never share a video.
    """
    n = cfg.split_sizes[split]
    videos = np.empty((n, cfg.num_frames, 3, cfg.size, cfg.size), np.uint8)
    meta: list[dict[str, Any]] = []
    seen = set(exclude or ())
    for i in range(n):
        attempt = 0
        while True:
            rng = np.random.default_rng([cfg.seed, SPLIT_STREAM[split], i, attempt])
            factors = sample_factors(rng, cfg)
            video = render_video(factors, cfg.size, cfg.num_frames)
            digest = sha256_array(video)
            if digest not in seen:
                break
            attempt += 1
        seen.add(digest)
        videos[i] = video
        meta.append({"index": i, "split": split, "sha256": digest, **factors})
    return videos, meta


@DATASETS.register("moving-shapes")
class MovingShapes(VideoDataset):
    """Embedded procedural dataset: 64x64 RGB moving shapes with known factors."""

    name = "moving-shapes"
    description = ("Procedural moving circles/squares/triangles on static backgrounds; "
                   "deterministic from a seed; ships with the code.")

    def __init__(self, root: str | os.PathLike | None = None, two_ended: bool = False, **config: Any) -> None:
        self.config = MovingShapesConfig(**config)
        self.two_ended = bool(two_ended)
        self.root = Path(root) if root is not None else default_data_root()
        s = self.config.size
        self.protocols = {
            "synthesis": TaskProtocols(
                train=Protocol("synthesis-16", "synthesis", "train", 0, 16, (s, s), 3),
                test=Protocol("synthesis-16", "synthesis", "test", 0, 16, (s, s), 3),
            ),
            "prediction": TaskProtocols(
                train=Protocol("prediction-5to10", "prediction", "train", 5, 10, (s, s), 3),
                # k = 5 samples per context (best-of-5): sampling and scoring k samples of 128 clips is
                # most of a stochastic method's time in the main job, which must fit 15 min on 2 cores;
                # the real datasets keep their papers' k (100)
                test=Protocol("prediction-5to15", "prediction", "test", 5, 15, (s, s), 3,
                              samples_per_context=5),
            ),
        }
        if self.two_ended:  # P2P's protocol: start frame + end frame given (benchmark.data.two_ended)
            self.protocols["prediction"] = two_ended_protocols(self.protocols["prediction"])
        self._cache: dict[str, SplitData] = {}

    def identity(self) -> dict[str, Any]:
        ident = {"name": self.name, "version": self.config.version, "generator": asdict(self.config)}
        if self.two_ended:
            ident["two_ended"] = True
        return ident

    def train_frames(self, split: str = "train") -> int:
        return self.config.num_frames  # every split holds whole videos

    def label_specs(self) -> dict[str, LabelSpec]:
        return {"identity": LabelSpec("background_name", BACKGROUND_NAMES), "action": LabelSpec("direction", DIRECTIONS)}

    @property
    def cache_dir(self) -> Path:
        """``<root>/moving-shapes/<hash of the generation parameters>``."""
        return self.root / self.name / sha256_json(asdict(self.config))[:16]

    def prepare(self) -> Path:
        """Generate every split once (cached by parameter hash) and return the folder."""
        d = self.cache_dir
        if (d / "index.json").exists():
            return d
        d.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        index: dict[str, Any] = {"config": asdict(self.config), "splits": {}}
        from tqdm.auto import tqdm

        for split in tqdm(self.splits, desc="moving-shapes: generating", unit="split", leave=False, disable=None):
            videos, meta = generate_split(self.config, split, exclude=seen)
            seen.update(m["sha256"] for m in meta)
            with atomic_path(d / f"{split}.npy") as tmp:
                np.save(tmp, videos)  # plain .npy: memory-mappable
            write_json_atomic(d / f"{split}.meta.json", meta)
            index["splits"][split] = {"num_videos": len(videos), "shape": list(videos.shape[1:]),
                                      "sha256": sha256_array(videos)}
        write_json_atomic(d / "index.json", index)  # written last: marks the cache complete
        return d

    def load_split(self, split: str) -> SplitData:
        if split not in self.splits:
            raise ValueError(f"moving-shapes has splits {self.splits}, not {split!r}")
        if split not in self._cache:
            d = self.prepare()
            index = json.loads((d / "index.json").read_text())
            videos = np.load(d / f"{split}.npy", mmap_mode="r")
            meta = [{**m, **derived_labels(m)} for m in json.loads((d / f"{split}.meta.json").read_text())]
            self._cache[split] = SplitData(videos, meta, index["splits"][split]["sha256"])
        return self._cache[split]
