"""Build a 2AFC study from existing runs: systems, pairing plan, balanced order, attention checks.

A study is determined by its inputs (runs' samples, the real clips, the options and the seed) and a
random **secret** drawn when it is designed and stored in ``study.json``: every token (trial ids,
video file names) and every random choice (clips, sides, order) is keyed by it, so re-running the
design without the secret reveals nothing about which file is which. With the same secret the same
inputs give the same ``study.json`` byte for byte. The file is the experimenter's key: it maps the
opaque tokens to systems and is never served.

Blinding by construction: every trial gets its **own copy** of each of its two videos (the real clip
of an attention check too), encoded as constant-bitrate H.264 (4:2:0, Main profile) with an
imperceptible per-copy dither, so no two files share a coded frame, and every file of a study is
padded to the same size. Neither a file's size nor how often its bytes recur says which system
made it.

>>> cfg = StudyConfig(dataset="moving-shapes", task="prediction", systems=("real", "svg_lp"))
>>> study_dir = design_study(cfg, Path("runs"), Path("studies/demo"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import secrets
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.crowd import STUDY_SCHEMA, STUDY_SCHEMAS_OLD
from benchmark.paths import samples as samples_file
from benchmark.results import REAL
from benchmark.utils import UserError, read_json, sha256_array, sha256_json, write_text_atomic

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
        answers: 2 (left/right, as Vondrick et al. 2016) or 3 (with "no preference", as Walker et al. 2021).
        checks: attention-check trials (a real clip against a broken copy of itself).
        check_kinds: how the broken copy is made (``shuffle``: frames out of order; ``noise``).
        question: the question shown above every pair.
        seed: drives every random choice of the design.
        profile, run_seed: which run folder of each method (``<method>/<profile>/seed<run_seed>``).
        fps: playback rate of the encoded videos.
        name: a label for the study (default: ``<dataset>-<task>``).
        kbps: the constant bit rate of every video (0: 0.5 bit per displayed pixel and frame, >= 32).
        scale: frames are shown enlarged this many times (pixel repetition, so 4:2:0 keeps colours).
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
    kbps: int = 0
    scale: int = 2

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
        if not 1 <= self.fps <= 120:
            raise UserError(f"fps must be 1..120, got {self.fps}")
        if self.kbps < 0:
            raise UserError(f"kbps must be >= 0 (0 picks a rate from the frame size), got {self.kbps}")
        if not 1 <= self.scale <= 8:
            raise UserError(f"scale must be 1..8, got {self.scale}")

    def bitrate(self, height: int, width: int) -> int:
        """kbit/s of the encoded videos for source frames ``height`` x ``width``."""
        if self.kbps:
            return self.kbps
        return max(32, round(0.5 * height * width * self.scale ** 2 * self.fps / 1000))

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


def _group(trial: dict[str, Any]) -> tuple[str, ...]:
    """Trials whose sides are balanced together: one group per pair of systems and per check kind."""
    return ("check", trial["check"]) if trial["check"] else ("pair", *trial["pair"])


def balanced_sides(trials: list[dict[str, Any]], rng: Any) -> list[bool]:
    """For each trial, whether its first video (``pair[0]``'s) is shown on the left.

    Within every group (a pair of systems, or one kind of attention check) the two sides differ by
    at most one, so neither the pair nor the check kind predicts the side; the odd trial of each
    group goes where it evens out its systems' overall left/right counts. ``rng`` is a
    ``random.Random`` or a numpy ``Generator``.
    """
    def shuffled(items: list) -> list:
        order = rng.permutation(len(items)).tolist() if hasattr(rng, "permutation") else \
            rng.sample(range(len(items)), len(items))
        return [items[i] for i in order]

    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, t in enumerate(trials):
        groups[_group(t)].append(i)
    balance: Counter[str] = Counter()  # system -> (times on the left) - (times on the right)
    out = [True] * len(trials)
    for key in shuffled(sorted(groups)):
        idx = groups[key]
        a, b = trials[idx[0]]["pair"]
        half = len(idx) // 2
        sides = [True] * half + [False] * half
        if len(idx) % 2:
            lean = balance[a] - balance[b]
            sides.append(lean < 0 if lean else bool(rng.random() < 0.5))
        sides = shuffled(sides)
        for i, side in zip(idx, sides):
            out[i] = side
        d = sum(1 if x else -1 for x in sides)
        balance[a] += d
        balance[b] -= d
    return out


def shown_order(trial: dict[str, Any], a_left: bool) -> tuple[str, str]:
    """(left, right) video tokens of ``trial`` when its first video is on the left iff ``a_left``."""
    va, vb = trial["videos"]
    return (va, vb) if a_left else (vb, va)


def build_study(cfg: StudyConfig, systems: dict[str, SystemVideos], real: SystemVideos | None,
                secret: bytes) -> tuple[dict, dict]:
    """The study record and the videos to encode (``{token: uint8 (T, C, H, W)}``, one per trial side).

    Deterministic given the inputs and ``secret`` (32 random bytes; :func:`design_study` draws it).
    """
    cfg.validate()
    if len(secret) < 16:
        raise UserError("the study secret must be at least 16 random bytes")
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
    frames, _, height, width = next(iter(shapes.values()))
    context = 0
    if cfg.task == "prediction":
        ctx = {s: int(v.source.get("context_frames", -1)) for s, v in systems.items()}
        context = max([c for c in ctx.values() if c >= 0] or [0])
    sources = {s: {k: v for k, v in sv.source.items() if k not in ("run", "samples")}
               for s, sv in sorted(systems.items())}
    if real is not None:
        sources.setdefault(REAL, {k: v for k, v in real.source.items() if k not in ("run", "samples")})
    inputs = {"config": asdict(cfg), "sources": sources}
    # Every token and random choice is keyed by the secret: the inputs alone (which anyone with the
    # runs can rebuild) say nothing about which file or trial id is which.
    key = hmac.new(secret, ("vidbench-crowd|" + sha256_json(inputs)).encode(), hashlib.sha256).digest()
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, *np.frombuffer(key, dtype=np.uint32).tolist()]))

    sources_of: list[tuple[np.ndarray, dict[str, Any]]] = []  # per trial side: (video, description)

    def source(system: str, clip: int, sample: int, check: str | None = None) -> tuple[np.ndarray, dict]:
        if check is None:
            arr = systems[system].video(clip, sample) if system in systems else real.video(clip, 0)
        else:
            arr = broken_video(real.video(clip, 0), check, context, rng)
        return arr, {"system": system, "clip": clip, "sample": sample, "check": check, "sha256": sha256_array(arr)}

    trials: list[dict[str, Any]] = []
    for a, b in cfg.pair_plan():
        n = cfg.judgements_per_pair
        clips = np.concatenate([rng.permutation(num_clips) for _ in range(math.ceil(n / num_clips))])[:n]
        for clip in clips.tolist():
            sa = source(a, clip, int(rng.integers(systems[a].k)) if a in systems else 0)
            sb = source(b, clip if cfg.task == "prediction" else int(rng.integers(num_clips)),
                        int(rng.integers(systems[b].k)) if b in systems else 0)
            trials.append({"pair": [a, b], "clip": clip, "check": None, "sources": (sa, sb)})
    if cfg.checks:
        clips = np.concatenate([rng.permutation(num_clips)
                                for _ in range(math.ceil(cfg.checks / num_clips))])[:cfg.checks]
        for i, clip in enumerate(clips.tolist()):
            kind = cfg.check_kinds[i % len(cfg.check_kinds)]
            trials.append({"pair": [REAL, f"{REAL}:{kind}"], "clip": clip, "check": kind,
                           "sources": (source(REAL, clip, 0), source(REAL, clip, 0, check=kind))})
    order = rng.permutation(len(trials))
    trials = [trials[i] for i in order]
    sides = balanced_sides(trials, rng)  # the order a crowd platform shows (the lab app balances per rater)

    videos: dict[str, dict[str, Any]] = {}
    arrays: dict[str, np.ndarray] = {}
    for i, (t, a_left) in enumerate(zip(trials, sides)):
        t["id"] = _token(key, "trial", i, n=20)
        tokens = []
        for side, (arr, desc) in zip("ab", t.pop("sources")):
            token = _token(key, "video", i, side)  # one copy per trial side: no file recurs
            arrays[token] = arr
            videos[token] = {**desc, "trial": t["id"], "file": f"media/{token}.mp4"}
            tokens.append(token)
        t["videos"] = tokens
        t["a_left"] = bool(a_left)
    trials = [{k: t[k] for k in ("id", "pair", "videos", "a_left", "clip", "check")} for t in trials]

    answers = list(ANSWER_SETS[cfg.answers])
    study = {"schema": STUDY_SCHEMA, "name": cfg.name or f"{cfg.dataset}-{cfg.task}",
             "dataset": cfg.dataset, "task": cfg.task, "seed": cfg.seed, "config": asdict(cfg),
             "question": cfg.question, "answers": answers,
             "answer_labels": {a: ANSWER_LABELS[a] for a in answers},
             "systems": list(cfg.systems), "pairs": [list(p) for p in cfg.pair_plan()],
             "context_frames": context, "frames": int(frames), "num_clips": int(num_clips),
             "media": {"format": "mp4, H.264 Main, yuv420p, constant bit rate, padded to one size",
                       "kbps": cfg.bitrate(int(height), int(width)), "scale": cfg.scale, "fps": cfg.fps},
             "secret": secret.hex(), "sources": sources, "videos": dict(sorted(videos.items())), "trials": trials}
    study["hash"] = study_hash(study)
    return study, arrays


def expected_answer(study: dict[str, Any], left: str, right: str) -> str:
    """The correct answer of an attention check shown as (left, right): the side of the intact clip."""
    return "left" if study["videos"][left]["check"] is None else "right"


def loop_seconds(study: dict[str, Any]) -> float:
    """How long one full play of a study video lasts."""
    return study["frames"] / study["config"]["fps"]


def study_hash(study: dict[str, Any]) -> str:
    """sha256 of the study's canonical JSON without its ``hash`` field (videos enter by content hash)."""
    return sha256_json({k: v for k, v in study.items() if k != "hash"})


DITHER_LEVEL = 2          # +-2 of 255: far below what people see or what H.264 keeps in textured areas
DITHER_SHARE = 0.02       # of the pixels of each frame (at least 4)


def _dither(video: np.ndarray, key: bytes, token: str, attempt: int) -> np.ndarray:
    """``video`` (T, C, H, W) with a few pixels per frame nudged by +-DITHER_LEVEL (a per-copy pattern).

    Two copies of one clip then differ in every coded frame, so a file's bytes never recur in
    another trial (which would let a bot count how often a clip is used without watching it).
    Retry ``attempt`` nudges by ``DITHER_LEVEL * (attempt + 1)``: on flat, static content the encoder
    can quantise a +-2 nudge away entirely (an all-skip frame, the same bytes in every copy), and a
    new pattern at the same level then fails again (about 3 studies in 100 ran out of attempts).
    """
    seed = int.from_bytes(hmac.new(key, f"dither|{token}|{attempt}".encode(), hashlib.sha256).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    t, c, h, w = video.shape
    count = max(4, round(DITHER_SHARE * h * w))
    out = video.astype(np.int16)
    for f in range(t):
        flat = rng.choice(h * w, size=min(count, h * w), replace=False)
        ys, xs = np.divmod(flat, w)
        level = DITHER_LEVEL * (attempt + 1)
        out[f, :, ys, xs] += rng.choice(np.array([-level, level]), size=len(flat))[:, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def encode_media(study: dict[str, Any], arrays: dict[str, np.ndarray], media: Path) -> int:
    """Encode every copy to ``media/<token>.mp4``, frame ``i`` of every copy the same number of bytes,
    every file the same size; returns that size in bytes."""
    from benchmark.video import equalize_mp4_frames, mp4_packets, pad_mp4, write_stimulus_mp4

    key = bytes.fromhex(study["secret"])
    m = study["media"]
    seen: dict[str, str] = {}  # sha256 of a coded frame -> the copy holding it
    for token in sorted(arrays):
        for attempt in range(8):
            path = write_stimulus_mp4(media / f"{token}.mp4", _dither(arrays[token], key, token, attempt),
                                      fps=m["fps"], kbps=m["kbps"], scale=m["scale"])
            digests = [hashlib.sha256(p).hexdigest() for p in mp4_packets(path)]
            if not any(d in seen for d in digests):
                break
        else:  # eight patterns in a row each repeated a frame of another copy: never seen in practice
            raise UserError(f"{path}: could not make this copy differ from the others in every frame")
        seen.update((d, token) for d in digests)
    # Constant bit rate leaves a little slack (a simple clip comes out a few bytes smaller): pad each
    # coded frame to the largest of its rank across the study, then each file to one size.
    paths = [media / f"{token}.mp4" for token in sorted(arrays)]
    equalize_mp4_frames(paths)
    sizes = {p: p.stat().st_size for p in paths}
    size = -(-(max(sizes.values()) + 8) // 1024) * 1024  # rounded up: not even the largest size shows
    for path in paths:
        pad_mp4(path, size)
    return size


def _existing(out: Path) -> dict[str, Any] | None:
    file = out / "study.json"
    if not file.exists():
        return None
    try:
        study = read_json(file)
        return study if isinstance(study, dict) else {}
    except (OSError, ValueError):
        return {}  # unreadable: treated as another study


def design_study(cfg: StudyConfig, runs: Path, out: Path, data_root: Path | None = None,
                 real_source: str = "dataset", dataset_options: dict[str, Any] | None = None,
                 force: bool = False, secret: bytes | None = None) -> Path:
    """Build the study, encode its videos to ``out/media/<token>.mp4`` and write ``out/study.json``.

    A folder that already holds a study is only reused for the *same* study (same inputs; its
    secret is kept). Otherwise it is refused unless ``force``: when ``study.json`` holds another
    study, when a database (``*.sqlite``) is there, or when ``media/`` holds files that are not
    videos of the old study. ``force`` keeps the old key as ``study-<hash12>.json`` and removes only
    the old study's own videos; other files are never deleted.

    Returns:
        The path of ``study.json``.
    """
    cfg.validate()
    out = Path(out)
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

    old = _existing(out)
    study = arrays = None
    if secret is None and old and isinstance(old.get("secret"), str):
        try:  # the same inputs in the same folder: the same study (its links and judgements stay valid)
            study, arrays = build_study(cfg, systems, real, bytes.fromhex(old["secret"]))
        except ValueError:
            study = None
        if study is not None and study["hash"] != old.get("hash"):
            study = None
    if study is None:
        study, arrays = build_study(cfg, systems, real, secret if secret is not None else secrets.token_bytes(32))
    same = old is not None and old.get("hash") == study["hash"]

    media = out / "media"
    old_videos = {Path(v.get("file", "")).name for v in (old or {}).get("videos", {}).values()
                  if isinstance(v, dict)} if old else set()
    foreign = sorted(p.name for p in media.iterdir() if p.name not in old_videos) if media.is_dir() else []
    databases = sorted(p.name for p in out.glob("*.sqlite")) if out.is_dir() else []
    problems = []
    if old is not None and not same:
        problems.append(f"study.json holds another study ({str(old.get('name'))[:60]}, hash "
                        f"{str(old.get('hash'))[:12]}); replacing it loses the trial -> system map")
    if databases and not same:
        problems.append(f"databases {databases} hold judgements of the study that is there")
    if foreign:
        problems.append(f"media/ holds {len(foreign)} files that are not videos of the study there "
                        f"(e.g. {foreign[0]})")
    if problems and not force:
        raise UserError(f"{out}: refusing to design here: " + "; ".join(problems)
                        + ". Choose another --out, or pass --force (the old study.json is kept as "
                          "study-<hash>.json; only the old study's own videos are removed, other files stay)")

    media.mkdir(parents=True, exist_ok=True)
    encode_media(study, arrays, media)
    if old is not None and not same:
        if old:
            tag = str(old.get("hash") or "unreadable")[:12]
            write_text_atomic(out / f"study-{tag}.json", (out / "study.json").read_text(errors="replace"),
                              mode=0o600)
        new_files = {Path(v["file"]).name for v in study["videos"].values()}
        for name in sorted(old_videos - new_files):
            (media / name).unlink(missing_ok=True)
    study_file = out / "study.json"
    write_text_atomic(study_file, json.dumps(study, indent=2) + "\n", mode=0o600)  # the key and the secret
    return study_file


def load_study(path: str | Path) -> tuple[dict[str, Any], Path]:
    """Read a study (its folder or its ``study.json``) and check its hash; returns (study, folder)."""
    path = Path(path)
    file = path / "study.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"{path}: no study.json (build one with `benchmark crowd design`)")
    study = read_json(file)
    if isinstance(study, dict) and study.get("schema") in STUDY_SCHEMAS_OLD:
        raise UserError(f"{file}: designed by an older vidbench (schema {study['schema']}) whose videos "
                        f"and ids leak the systems; design it again (`benchmark crowd design ... --force`)")
    if not isinstance(study, dict) or study.get("schema") != STUDY_SCHEMA:
        raise UserError(f"{file}: not a vidbench study (schema {study.get('schema') if isinstance(study, dict) else None!r})")
    if study.get("hash") != study_hash(study):
        raise UserError(f"{file}: hash mismatch — the study file was edited after it was designed")
    return study, file.parent
