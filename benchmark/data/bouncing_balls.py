"""``bouncing-balls``: DDPAE's bouncing balls (generated locally, no download).

Hsieh et al., "Learning to Decompose and Disentangle Representations for Video Prediction",
NeurIPS 2018, arXiv 1806.04166, evaluate on 4 balls bouncing elastically in a box, generated with
the Neural Physics Engine's simulator (Chang et al., ICLR 2017; the DDPAE authors' copy
``jthsieh/dynamics``, ``src/js/common.js`` and the ``balls`` scene of ``demo/js/Examples.js``,
command ``generate.js -e balls -n 4 -t 60``) and drawn by ``data/bouncing_balls.py`` of
``jthsieh/DDPAE-video-prediction``. This module is our own generator with the same parameters:

* an 800x800 world with walls at its borders; 4 balls of radius 60 and equal mass 1 (no
  ``-m`` flag), restitution 1, no friction, no gravity, no rotation;
* start positions: integers uniform in ``[61, 738]`` per coordinate, redrawn (rejection
  sampling, ball by ball) while closer than ``2.5 * 60`` to a ball placed before;
* start velocities: integers uniform in ``[-20, 20]`` per component, in world units per frame
  (one simulator step per frame);
* 60 frames per video (``-t 60``); 50,000 training and 2,000 test videos;
* drawing (upstream ``BouncingBalls.__getitem__``): at ``size`` pixels, ``scale = size / 800``,
  each ball a filled white disk of radius ``int(60 * scale)`` (9 px at 128) at the rounded scaled
  centre, on black; one channel. The paper's resolution is 128x128.

Protocol (upstream defaults, ``--n_frames_input 10 --n_frames_output 10``): 10 -> 10. Training
clips are random 20-frame windows of the 60-frame videos (upstream draws a random start per
item); test clips are the first 20 frames of each test video (upstream ``start = 0``).

Deviation: the simulator resolves collisions with Matter.js's iterative position/velocity solver
(approximately elastic, and it rejects a run whose speed exceeds 60 or that leaves the world); we
integrate the motion *exactly* between events (event-driven: advance to the next wall or ball
contact, reflect, repeat), so kinetic energy and momentum through a collision are conserved to
rounding and balls never overlap. With equal masses and |v| <= 20 per component no speed can
exceed ``sqrt(4 * 2 * 20^2) < 60``, so upstream's rejection never applies.

Clip ``i`` of a split depends only on ``(seed, split, i)``: the split is a virtual array generated
per index (50,000 x 60 x 128 x 128 bytes would be 49 GB), like ``mmnist``'s training clips.
:func:`simulate` gives a video's ball trajectories for oracle checks; :meth:`BallVideos.centres` (and
:meth:`BouncingBalls.ball_centres` for a set of clips) where the balls are drawn in each frame, in
``[0, 1]`` image coordinates: the ground-truth states of DDPAE's velocity evaluation.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import Protocol, SplitData, TaskProtocols, VideoDataset
from benchmark.data.generated import GeneratedVideos
from benchmark.registry import DATASETS
from benchmark.utils import UserError, sha256_json

SPLIT_STREAM = {"train": 0, "test": 1}


@dataclass(frozen=True)
class BouncingBallsConfig:
    """Generation parameters (upstream's, in its 800x800 world units); their hash keys the content."""

    num_balls: int = 4            # generate.js -n 4
    num_frames: int = 60          # generate.js -t 60
    size: int = 128               # drawn frame side (DDPAE's train_balls.sh --image_size 128 128)
    world: float = 800.0          # demo.config.cx = cy = 400
    radius: float = 60.0          # object_base_size.ball
    max_v0: int = 20              # params.max_v0: integer velocity components in [-20, 20]
    min_start_distance: float = 150.0   # initialize_positions: 2.5 * radius
    split_sizes: dict[str, int] = field(default_factory=lambda: {"train": 50_000, "test": 2_000})
    seed: int = 0
    version: int = 1              # bump when the generator's output changes


def initial_state(rng: np.random.Generator, cfg: BouncingBallsConfig) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and velocities, each float64 ``(num_balls, 2)`` (x, y) in world units (upstream
    ``initialize_positions`` with ``rand_pos`` and ``initialize_velocities``)."""
    r = cfg.radius
    lo, hi = int(r) + 1, int(cfg.world - r) - 1         # rand_pos: floor(U * (hi - lo)) + lo
    pos: list[np.ndarray] = []
    while len(pos) < cfg.num_balls:
        p = rng.integers(lo, hi, size=2).astype(np.float64)
        if all(np.hypot(*(p - q)) >= cfg.min_start_distance for q in pos):
            pos.append(p)
    vel = rng.integers(-cfg.max_v0, cfg.max_v0 + 1, size=(cfg.num_balls, 2)).astype(np.float64)
    return np.stack(pos), vel


def _next_event(pos: np.ndarray, vel: np.ndarray, r: float, world: float) -> tuple[float, tuple[str, int, int]]:
    """Time to the first wall or ball contact from now (inf if none) and what it is:
    ``("wall", ball, axis)`` or ``("pair", i, j)``. Only approaching contacts count."""
    best, what = np.inf, ("none", -1, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_wall = np.where(vel > 0, (world - r - pos) / vel, np.where(vel < 0, (r - pos) / vel, np.inf))
    to_wall = np.maximum(to_wall, 0.0)
    k = int(np.argmin(to_wall))
    if to_wall.flat[k] < best:
        best, what = float(to_wall.flat[k]), ("wall", k // 2, k % 2)
    n = len(pos)
    for i in range(n):
        for j in range(i + 1, n):
            dp, dv = pos[j] - pos[i], vel[j] - vel[i]
            b = float(dp @ dv)
            if b >= 0:  # not approaching
                continue
            a, c = float(dv @ dv), float(dp @ dp) - (2 * r) ** 2
            disc = b * b - a * c
            if disc < 0:
                continue
            t = max(0.0, (-b - np.sqrt(disc)) / a)
            if t < best:
                best, what = t, ("pair", i, j)
    return best, what


def simulate(pos: np.ndarray, vel: np.ndarray, num_frames: int, cfg: BouncingBallsConfig
             ) -> tuple[np.ndarray, np.ndarray]:
    """Exact elastic motion of equal-mass balls in the box: positions and velocities at every frame,
    each float64 ``(num_frames, num_balls, 2)`` (frame 0 is the start; one time unit per frame)."""
    pos, vel = pos.astype(np.float64).copy(), vel.astype(np.float64).copy()
    r, world = cfg.radius, cfg.world
    positions, velocities = np.empty((num_frames, len(pos), 2)), np.empty((num_frames, len(pos), 2))
    for f in range(num_frames):
        positions[f], velocities[f] = pos, vel
        left = 1.0
        for _ in range(10_000):  # events within one frame (a handful in practice)
            t, (kind, a, b) = _next_event(pos, vel, r, world)
            if t >= left:
                break
            pos += vel * t
            left -= t
            if kind == "wall":
                vel[a, b] = -vel[a, b]
                pos[a, b] = min(max(pos[a, b], r), world - r)
            else:  # equal masses: exchange the velocity components along the line of centres
                n = pos[b] - pos[a]
                n /= np.linalg.norm(n)
                exchange = float((vel[a] - vel[b]) @ n) * n
                vel[a] -= exchange
                vel[b] += exchange
        else:  # pragma: no cover - would need a degenerate state
            raise RuntimeError("bouncing-balls: too many collisions within one frame")
        pos += vel * left
    return positions, velocities


def _pixel_centres(positions: np.ndarray, cfg: BouncingBallsConfig) -> np.ndarray:
    """The pixel (column, row) at which each ball is drawn: world positions scaled and rounded (upstream)."""
    return np.round(positions * (cfg.size / cfg.world)).astype(np.int64)


def drawn_centres(positions: np.ndarray, cfg: BouncingBallsConfig) -> np.ndarray:
    """Where :func:`render` draws balls at world positions ``(..., 2)``: float64 ``(..., 2)`` ``(x, y)`` in
    ``[0, 1]`` image coordinates (``x`` along the width), pixel ``i``'s centre at ``(i + 0.5) / size``
    (the convention of ``align_corners=False`` grids, e.g. spatial transformers' window centres).

    Upstream's evaluation (``data/bouncing_balls.py``, ``return_positions``) takes the same rounded
    pixel centres, divided by the size without the half pixel (a constant shift: velocities are equal).

    >>> drawn_centres(np.array([[400.0, 0.0]]), BouncingBallsConfig(size=128)).tolist()
    [[0.50390625, 0.00390625]]
    """
    return (_pixel_centres(positions, cfg) + 0.5) / cfg.size


def render(positions: np.ndarray, cfg: BouncingBallsConfig) -> np.ndarray:
    """Draw ball centres ``(T, num_balls, 2)`` (world units): uint8 ``(T, 1, size, size)``, white disks of
    radius ``int(radius * scale)`` on black at the rounded scaled centres (upstream's drawing)."""
    s = cfg.size
    scale = s / cfg.world
    rad = int(cfg.radius * scale)
    centres = _pixel_centres(positions, cfg)
    out = np.zeros((len(positions), 1, s, s), np.uint8)
    off = np.arange(-rad, rad + 1)
    disk = off[:, None] ** 2 + off[None, :] ** 2 <= rad * rad
    for t, frame in enumerate(centres):
        for x, y in frame:
            y0, x0 = y - rad, x - rad
            ys, xs = slice(max(0, y0), min(s, y + rad + 1)), slice(max(0, x0), min(s, x + rad + 1))
            patch = disk[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
            out[t, 0, ys, xs][patch] = 255
    return out


class BallVideos(GeneratedVideos):
    """Virtual uint8 ``(N, T, 1, size, size)`` array of one split, each video generated from its index."""

    def __init__(self, cfg: BouncingBallsConfig, split: str, n: int, num_frames: int | None = None) -> None:
        self.cfg, self.split = cfg, split
        self.t = cfg.num_frames if num_frames is None else num_frames
        self.shape = (n, self.t, 1, cfg.size, cfg.size)

    def trajectory(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Ball positions and velocities of video ``i``: float64 ``(T, num_balls, 2)`` each, world units."""
        if not 0 <= i < self.n:
            raise IndexError(f"bouncing-balls/{self.split}: video {i} out of range [0, {self.n})")
        rng = np.random.default_rng([self.cfg.seed, SPLIT_STREAM[self.split], i])
        pos, vel = initial_state(rng, self.cfg)
        return simulate(pos, vel, self.t, self.cfg)

    def centres(self, i: int) -> np.ndarray:
        """Where the balls of video ``i`` are drawn: float64 ``(T, num_balls, 2)`` ``(x, y)`` in ``[0, 1]``
        image coordinates (:func:`drawn_centres`)."""
        return drawn_centres(self.trajectory(i)[0], self.cfg)

    def clip(self, i: int) -> np.ndarray:
        return render(self.trajectory(i)[0], self.cfg)


@DATASETS.register("bouncing-balls")
class BouncingBalls(VideoDataset):
    """DDPAE's bouncing balls: 4 balls, elastic collisions, 128x128 gray; generated per index."""

    name = "bouncing-balls"
    description = ("4 balls bouncing elastically in a box (DDPAE, NeurIPS 2018), 128x128 gray, 60-frame "
                   "videos, 10 -> 10; generated from a seed, no download.")
    splits = ("train", "test")

    def __init__(self, root: Any = None, **config: Any) -> None:
        self.config = BouncingBallsConfig(**config)
        cfg = self.config
        if cfg.num_frames < 20:
            raise UserError(f"bouncing-balls: num_frames must be >= 20 (the 10 -> 10 protocol), got {cfg.num_frames}")
        if cfg.size < 8:
            raise UserError(f"bouncing-balls: size must be >= 8 pixels, got {cfg.size}")
        side = cfg.world - 2 * cfg.radius
        if cfg.num_balls < 1 or side <= 2:
            raise UserError("bouncing-balls: needs at least one ball and a world wider than a ball")
        # nothing is stored: every clip is generated when read
        self.root = Path(root) if root is not None else Path(os.environ.get("VIDBENCH_DATA", "data"))
        s = (cfg.size, cfg.size)
        self.protocols = {"prediction": TaskProtocols(
            train=Protocol("prediction-10to10", "prediction", "train", 10, 10, s, 1),
            test=Protocol("prediction-10to10", "prediction", "test", 10, 10, s, 1, samples_per_context=1))}
        self._cache: dict[str, SplitData] = {}

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.config.version, "generator": asdict(self.config)}

    def train_frames(self, split: str = "train") -> int:
        return self.config.num_frames  # whole 60-frame videos: training clips are random windows of them

    def prepare(self) -> Path:
        """Nothing to fetch or write: every clip is generated from its index when read."""
        return self.root

    def load_split(self, split: str) -> SplitData:
        if split not in self.splits:
            raise ValueError(f"bouncing-balls has splits {self.splits}, not {split!r}")
        if split not in self._cache:
            n = int(self.config.split_sizes.get(split, 0))
            if n < 1:
                raise UserError(f"bouncing-balls: split_sizes[{split!r}] must be >= 1, got {n}")
            h = sha256_json({"generator": asdict(self.config), "split": split})
            self._cache[split] = SplitData(videos=BallVideos(self.config, split, n), meta=[],  # type: ignore[arg-type]
                                           content_hash=h)
        return self._cache[split]

    def clips(self, protocol: Protocol, max_clips: int | None = None) -> SplitData:
        """The first ``num_frames`` frames of the first videos of the protocol's split (upstream's test
        clips start at frame 0), still virtual."""
        data = self.load_split(protocol.split)
        n = min(max_clips or protocol.num_videos or len(data.videos), len(data.videos))
        videos = BallVideos(self.config, protocol.split, n, protocol.num_frames)
        h = sha256_json({"split": data.content_hash, "n": n, "frames": protocol.num_frames})
        return SplitData(videos=videos, meta=[], content_hash=h)  # type: ignore[arg-type]

    def ball_centres(self, clips: SplitData, indices: Any = None) -> np.ndarray:
        """Ground-truth ball states of clips from :meth:`clips` (or :meth:`reference`): float64
        ``(N, T, num_balls, 2)``, where each ball is drawn in each frame, ``(x, y)`` in ``[0, 1]`` image
        coordinates (:func:`drawn_centres`); ``indices`` picks clips (default all)."""
        videos = clips.videos
        if not isinstance(videos, BallVideos):
            raise TypeError(f"bouncing-balls: ball_centres needs clips of this dataset, got {type(videos).__name__}")
        idx = range(len(videos)) if indices is None else indices
        return np.stack([videos.centres(int(i)) for i in idx]) if len(idx) else \
            np.zeros((0, videos.t, self.config.num_balls, 2))

    def split_info(self, split: str) -> dict[str, Any]:
        v = self.load_split(split).videos
        return {"num_videos": len(v), "num_clips": len(v), "frames": v.shape[1], "frame_shape": list(v.shape[2:]),
                "generated": True}
