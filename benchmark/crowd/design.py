"""Build a 2AFC study from existing runs: systems, pairing plan, balanced order, attention checks.

A study is fully determined by its inputs (runs' samples, the real clips, the options and the seed):
the same inputs give the same ``study.json`` (byte for byte) and the same ``hash``. The file is the
experimenter's key: it maps the opaque video and trial tokens to systems and is never served.

>>> cfg = StudyConfig(dataset="moving-shapes", task="prediction", systems=("real", "svg_lp"))
>>> study_dir = design_study(cfg, Path("runs"), Path("studies/demo"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.crowd import STUDY_SCHEMA
from benchmark.paths import samples as samples_file
from benchmark.results import REAL
from benchmark.utils import UserError, read_json, sha256_array, sha256_json, write_json_atomic

QUESTION = "Which video is more realistic?"
ANSWER_SETS = {
    2: ("left", "right"),
    3: ("left", "right", "same"),
}
ANSWER_LABELS = {"left": "Left video", "right": "Right video", "same": "No preference"}
CHECK_KINDS = ("shuffle", "noise")


@dataclass(frozen=True)
class StudyConfig:
    """The inputs of a study (everything but the videos themselves).

    Attributes:
        dataset: dataset name (``runs/<dataset>/...``).
        task: ``"prediction"`` (both videos of a pair share the context frames) or ``"synthesis"``.
        systems: method names; ``"real"`` means the dataset's real test clips.
        pairs: ``()`` for all pairs of ``systems``, else explicit ``(a, b)`` pairs.
        judgements_per_pair: trials per pair of systems (left/right balanced within each pair).
        answers: 2 (left/right, as papers/002) or 3 (with "no preference", as papers/003).
        checks: attention-check trials (a real clip against a broken copy of itself).
        check_kinds: how the broken copy is made (``shuffle``: frames out of order; ``noise``).
        question: the question shown above every pair.
        seed: drives every random choice of the design.
        profile, run_seed: which run folder of each method (``<method>/<profile>/seed<run_seed>``).
        fps: playback rate of the encoded videos.
        name: a label for the study (default: ``<dataset>-<task>``).
    """

    dataset: str
    task: str
    systems: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...] = ()
    judgements_per_pair: int = 20
    answers: int = 2
    checks: int = 4
    check_kinds: tuple[str, ...] = CHECK_KINDS
    question: str = QUESTION
    seed: int = 0
    profile: str = "smoke"
    run_seed: int = 0
    fps: int = 8
    name: str = ""

    def validate(self) -> None:
        if self.task not in ("prediction", "synthesis"):
            raise UserError(f"task must be 'prediction' or 'synthesis', got {self.task!r}")
        if len(set(self.systems)) != len(self.systems) or len(self.systems) < 2:
            raise UserError(f"need two or more distinct systems, got {list(self.systems)}")
        if self.answers not in ANSWER_SETS:
            raise UserError(f"answers must be 2 (left/right) or 3 (with 'no preference'), got {self.answers}")
        if self.judgements_per_pair < 1:
            raise UserError("judgements_per_pair must be >= 1")
        if self.checks < 0:
            raise UserError("checks must be >= 0")
        bad = [k for k in self.check_kinds if k not in CHECK_KINDS]
        if bad or not self.check_kinds:
            raise UserError(f"check kinds must be among {CHECK_KINDS}, got {list(self.check_kinds)}")
        for a, b in self.pairs:
            if a == b or a not in self.systems or b not in self.systems:
                raise UserError(f"pair {a}:{b} must name two different systems of {list(self.systems)}")
        if not self.question.strip():
            raise UserError("the question must not be empty")

    def pair_plan(self) -> list[tuple[str, str]]:
        if self.pairs:
            seen, out = set(), []
            for a, b in self.pairs:
                key = frozenset((a, b))
                if key in seen:
                    raise UserError(f"pair {a}:{b} listed twice")
                seen.add(key)
                out.append((a, b))
            return out
        return list(itertools.combinations(self.systems, 2))


@dataclass
class SystemVideos:
    """One system's videos for the study task: uint8 ``(N, T, C, H, W)``, ``k`` samples per clip."""

    name: str
    videos: np.ndarray
    k: int
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def num_clips(self) -> int:
        return len(self.videos) // self.k

    def video(self, clip: int, sample: int) -> np.ndarray:
        return self.videos[clip * self.k + sample]


# ----------------------------------------------------------------------------- loading ---

def run_dir(runs: Path, dataset: str, method: str, profile: str, seed: int) -> Path:
    """The run folder of ``method`` under the runs root ``runs`` (:func:`benchmark.paths.run_folder`)."""
    from benchmark.paths import run_folder

    return run_folder(runs, dataset, method, profile, seed)


def load_system(runs: Path, cfg: StudyConfig, method: str) -> SystemVideos:
    """A method's saved samples for the study task (``samples/<task>.npz`` of its run)."""
    from benchmark.video import load_npz

    folder = run_dir(runs, cfg.dataset, method, cfg.profile, cfg.run_seed)
    path = folder / samples_file(cfg.task)
    results = folder / "results.json"
    if results.is_file():  # the results record names the samples file; trust it over the default
        rel = (read_json(results).get("tasks", {}).get(cfg.task) or {}).get("samples")
        if rel:
            path = folder / rel
    if not path.is_file():
        raise UserError(f"{method}: no {cfg.task} samples at {path}; run `benchmark run --methods {method} "
                        f"--dataset {cfg.dataset}` first")
    videos = load_npz(path)
    k = 1
    if cfg.task == "prediction":
        with np.load(path, allow_pickle=False) as z:
            if "num_samples" in z.files:
                k = int(z["num_samples"])
    if k < 1 or len(videos) % k:
        raise UserError(f"{path}: {len(videos)} videos is not a multiple of k={k} samples per clip")
    return SystemVideos(method, videos, k, {"run": str(folder), "samples": str(path),
                                            "sha256": sha256_array(videos), "k": k})


def load_real(cfg: StudyConfig, data_root: Path | None = None, runs: Path | None = None,
              real_source: str = "dataset", dataset_options: dict[str, Any] | None = None) -> SystemVideos:
    """The real test clips of the study task (from the dataset, or from a real run's saved clips)."""
    if real_source == "run":
        if runs is None:
            raise UserError("real_source='run' needs the runs folder")
        sv = load_system(runs, cfg, REAL)
        sv.k = 1
        sv.source["k"] = 1
        return sv
    from benchmark.data import load_dataset

    ds = load_dataset(cfg.dataset, data_root, **(dataset_options or {}))
    protocol, ref = ds.reference(cfg.task)
    videos = np.asarray(ref.videos)
    return SystemVideos(REAL, videos, 1, {"dataset": cfg.dataset, "split": protocol.split,
                                          "protocol": protocol.name, "sha256": ref.content_hash, "k": 1})


# ------------------------------------------------------------------------------ design ---

def _token(key: bytes, *parts: Any, n: int = 24) -> str:
    msg = "|".join(str(p) for p in parts).encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:n]


def broken_video(video: np.ndarray, kind: str, context: int, rng: np.random.Generator) -> np.ndarray:
    """An obviously broken copy of ``video`` ``(T, C, H, W)``; the first ``context`` frames are kept.

    ``shuffle`` permutes the remaining frames (never the identity) and flips every other one
    upside down; ``noise`` blends them half-and-half with uniform noise.
    """
    out = video.copy()
    t = len(video) - context
    if t < 1:
        raise UserError("an attention check needs at least one frame after the context")
    if kind == "shuffle":
        perm = np.arange(t)
        if t > 1:
            while np.array_equal(perm, np.arange(t)):
                perm = rng.permutation(t)
        future = video[context:][perm].copy()
        future[1::2] = future[1::2, :, ::-1]
        out[context:] = future
    elif kind == "noise":
        noise = rng.integers(0, 256, size=out[context:].shape, dtype=np.uint16)
        out[context:] = ((out[context:].astype(np.uint16) + noise) // 2).astype(np.uint8)
    else:
        raise UserError(f"unknown check kind {kind!r}")
    return out


def _balanced_sides(n: int, rng: np.random.Generator) -> list[bool]:
    """``n`` booleans ("first system on the left"), as even as possible, in random order."""
    sides = [True] * ((n + 1) // 2) + [False] * (n // 2)
    if n % 2 and rng.random() < 0.5:
        sides = [not s for s in sides]
    return [sides[i] for i in rng.permutation(n)]


def build_study(cfg: StudyConfig, systems: dict[str, SystemVideos], real: SystemVideos | None) -> tuple[dict, dict]:
    """The study record and the videos to encode (``{token: uint8 (T, C, H, W)}``), deterministically."""
    cfg.validate()
    missing = [s for s in cfg.systems if s not in systems]
    if missing:
        raise UserError(f"no videos for systems {missing}")
    if cfg.checks and real is None:
        raise UserError("attention checks need the real clips")
    shapes = {s: v.videos.shape[1:] for s, v in systems.items()}
    if real is not None:
        shapes[REAL] = real.videos.shape[1:]
    if len(set(shapes.values())) != 1:
        raise UserError(f"systems' videos differ in shape (T, C, H, W): {shapes}")
    num_clips = min(v.num_clips for v in systems.values())
    if real is not None:
        num_clips = min(num_clips, real.num_clips)
    if num_clips < 1:
        raise UserError("no clips to compare")
    frames = next(iter(shapes.values()))[0]
    context = 0
    if cfg.task == "prediction":
        ctx = {s: int(v.source.get("context_frames", -1)) for s, v in systems.items()}
        context = max([c for c in ctx.values() if c >= 0] or [0])
    sources = {s: {k: v for k, v in sv.source.items() if k not in ("run", "samples")}
               for s, sv in sorted(systems.items())}
    if real is not None:
        sources.setdefault(REAL, {k: v for k, v in real.source.items() if k not in ("run", "samples")})
    inputs = {"config": asdict(cfg), "sources": sources}
    key = hashlib.sha256(("vidbench-crowd|" + sha256_json(inputs)).encode()).digest()
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, int.from_bytes(key[:4], "little")]))

    videos: dict[str, dict[str, Any]] = {}
    arrays: dict[str, np.ndarray] = {}

    def add_video(system: str, clip: int, sample: int, check: str | None = None) -> str:
        token = _token(key, "video", system, clip, sample, check or "")
        if token not in videos:
            if check is None:
                arr = systems[system].video(clip, sample) if system in systems else real.video(clip, 0)
            else:
                arr = broken_video(real.video(clip, 0), check, context, rng)
            arrays[token] = arr
            videos[token] = {"system": system, "clip": clip, "sample": sample, "check": check,
                             "sha256": sha256_array(arr), "file": f"media/{token}.mp4"}
        return token

    trials: list[dict[str, Any]] = []
    for a, b in cfg.pair_plan():
        n = cfg.judgements_per_pair
        clips = np.concatenate([rng.permutation(num_clips) for _ in range(math.ceil(n / num_clips))])[:n]
        for clip, a_left in zip(clips.tolist(), _balanced_sides(n, rng)):
            va = add_video(a, clip, int(rng.integers(systems[a].k)) if a in systems else 0)
            vb = add_video(b, clip if cfg.task == "prediction" else int(rng.integers(num_clips)),
                           int(rng.integers(systems[b].k)) if b in systems else 0)
            left, right = (va, vb) if a_left else (vb, va)
            trials.append({"pair": [a, b], "left": left, "right": right,
                           "left_system": a if a_left else b, "clip": clip, "check": None})
    if cfg.checks:
        clips = np.concatenate([rng.permutation(num_clips)
                                for _ in range(math.ceil(cfg.checks / num_clips))])[:cfg.checks]
        for i, (clip, real_left) in enumerate(zip(clips.tolist(), _balanced_sides(cfg.checks, rng))):
            kind = cfg.check_kinds[i % len(cfg.check_kinds)]
            vr, vx = add_video(REAL, clip, 0), add_video(REAL, clip, 0, check=kind)
            left, right = (vr, vx) if real_left else (vx, vr)
            trials.append({"pair": [REAL, f"{REAL}:{kind}"], "left": left, "right": right,
                           "left_system": REAL if real_left else f"{REAL}:{kind}", "clip": clip,
                           "check": kind, "expected": "left" if real_left else "right"})
    order = rng.permutation(len(trials))
    trials = [trials[i] for i in order]
    for i, t in enumerate(trials):
        t["id"] = _token(key, "trial", i, n=20)

    answers = list(ANSWER_SETS[cfg.answers])
    study = {"schema": STUDY_SCHEMA, "name": cfg.name or f"{cfg.dataset}-{cfg.task}",
             "dataset": cfg.dataset, "task": cfg.task, "seed": cfg.seed, "config": asdict(cfg),
             "question": cfg.question, "answers": answers,
             "answer_labels": {a: ANSWER_LABELS[a] for a in answers},
             "systems": list(cfg.systems), "pairs": [list(p) for p in cfg.pair_plan()],
             "context_frames": context, "frames": int(frames), "num_clips": int(num_clips),
             "sources": sources, "videos": dict(sorted(videos.items())), "trials": trials}
    study["hash"] = study_hash(study)
    return study, arrays


def study_hash(study: dict[str, Any]) -> str:
    """sha256 of the study's canonical JSON without its ``hash`` field (videos enter by content hash)."""
    return sha256_json({k: v for k, v in study.items() if k != "hash"})


def design_study(cfg: StudyConfig, runs: Path, out: Path, data_root: Path | None = None,
                 real_source: str = "dataset", dataset_options: dict[str, Any] | None = None) -> Path:
    """Build the study, encode its videos to ``out/media/<token>.mp4`` and write ``out/study.json``.

    Returns:
        The path of ``study.json``.
    """
    from benchmark.video import write_video

    cfg.validate()
    systems: dict[str, SystemVideos] = {}
    for s in cfg.systems:
        if s != REAL:
            systems[s] = load_system(Path(runs), cfg, s)
            if cfg.task == "prediction":
                with np.load(systems[s].source["samples"], allow_pickle=False) as z:
                    if "context_frames" in z.files:
                        systems[s].source["context_frames"] = int(z["context_frames"])
    real = None
    if REAL in cfg.systems or cfg.checks:
        real = load_real(cfg, data_root, Path(runs), real_source, dataset_options)
    if REAL in cfg.systems:
        systems[REAL] = real
    study, arrays = build_study(cfg, systems, real)
    out = Path(out)
    media = out / "media"
    if media.exists():
        shutil.rmtree(media)
    media.mkdir(parents=True)
    for token, arr in sorted(arrays.items()):
        write_video(media / f"{token}.mp4", arr, fps=cfg.fps)
    return write_json_atomic(out / "study.json", study)


def load_study(path: str | Path) -> tuple[dict[str, Any], Path]:
    """Read a study (its folder or its ``study.json``) and check its hash; returns (study, folder)."""
    path = Path(path)
    file = path / "study.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"{path}: no study.json (build one with `benchmark crowd design`)")
    study = read_json(file)
    if study.get("schema") != STUDY_SCHEMA:
        raise UserError(f"{file}: not a vidbench study (schema {study.get('schema')!r})")
    if study.get("hash") != study_hash(study):
        raise UserError(f"{file}: hash mismatch — the study file was edited after it was designed")
    return study, file.parent
