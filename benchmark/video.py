"""The video tensor contract and all video I/O.

Across module boundaries a batch of videos is ``(N, T, C, H, W)``: ``uint8`` 0..255 on disk and
``float32`` in [0, 1] in memory. This module owns the conversions and the file formats
(``.npz``, ``.mp4``, ``.gif``); models and extractors convert internally to what they need.

>>> import torch
>>> v = torch.rand(2, 4, 3, 8, 8)
>>> to_uint8(v).shape
torch.Size([2, 4, 3, 8, 8])
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from benchmark.utils import UserError, atomic_path, sha256_array

VIDEO_SUFFIXES = (".mp4", ".gif", ".avi", ".webm", ".mov")


class VideoFormatError(UserError):
    """A video file or array is malformed (wrong shape, dtype, range, corrupt or truncated)."""


#: tensors whose values are known to lie in [0, 1] (see :func:`values_in_range`)
_IN_RANGE: contextvars.ContextVar[tuple[torch.Tensor, ...]] = contextvars.ContextVar("vidbench_in_range", default=())


@contextlib.contextmanager
def values_in_range(*tensors: torch.Tensor) -> Iterator[None]:
    """Within the block, :func:`check_videos` skips its value scan (range, NaN) for ``tensors`` and any
    view of them; shapes and dtypes are still checked.

    For batches valid by construction, :func:`to_float` of uint8 frames: the scoring loop feeds one
    batch to every metric, and each metric validating the same hundreds of MB again cost more than
    some metrics. Only views share the storage, so a tensor computed from these is still scanned.

    >>> v = to_float(torch.zeros(1, 2, 1, 4, 4, dtype=torch.uint8))
    >>> with values_in_range(v):
    ...     check_videos(v[:, 1:]).shape
    torch.Size([1, 1, 1, 4, 4])
    """
    token = _IN_RANGE.set(_IN_RANGE.get() + tensors)
    try:
        yield
    finally:
        _IN_RANGE.reset(token)


def _known_in_range(x: torch.Tensor) -> bool:
    known = _IN_RANGE.get()
    if not known:
        return False
    ptr = x.untyped_storage().data_ptr()
    return any(t.untyped_storage().data_ptr() == ptr and t.dtype == x.dtype for t in known)


def check_videos(x: torch.Tensor, name: str = "videos") -> torch.Tensor:
    """Validate an in-memory batch: 5-D ``(N, T, C, H, W)`` float in [0, 1], C in {1, 3}, no NaN
    (the value scan is skipped for tensors known to be in range, :func:`values_in_range`)."""
    if not isinstance(x, torch.Tensor):
        raise VideoFormatError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 5:
        raise VideoFormatError(f"{name}: expected shape (N, T, C, H, W), got {tuple(x.shape)}")
    if x.shape[2] not in (1, 3):
        raise VideoFormatError(f"{name}: channel dim C={x.shape[2]} must be 1 or 3 "
                               f"(shape {tuple(x.shape)} is read as (N, T, C, H, W))")
    if not x.is_floating_point():
        raise VideoFormatError(f"{name}: expected float in [0, 1], got dtype {x.dtype}; "
                               f"use benchmark.video.to_float")
    if x.numel() == 0 or _known_in_range(x):
        return x
    # One pass (aminmax) instead of three (isfinite, min, max): every metric validates its input and
    # a batch of k samples is hundreds of MB. NaN propagates into lo/hi and fails the range test too.
    lo, hi = (float(v) for v in torch.aminmax(x))
    if lo >= -1e-4 and hi <= 1 + 1e-4:
        return x
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).flatten(1).any(1).nonzero().flatten().tolist()
        raise VideoFormatError(f"{name}: contains NaN/inf values (videos {bad[:10]}"
                               f"{'...' if len(bad) > 10 else ''}); the model produced invalid output")
    raise VideoFormatError(f"{name}: values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]")


def to_float(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 ``(N, T, C, H, W)`` 0..255 -> float32 in [0, 1]."""
    if isinstance(x, np.ndarray):
        if not x.flags.writeable:  # memory-mapped stores are read-only; torch wants writable memory
            x = x.copy()
        x = torch.from_numpy(x)
    if x.dtype != torch.uint8:
        raise VideoFormatError(f"to_float expects uint8, got {x.dtype}")
    return x.float().div_(255.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float in [0, 1] -> uint8 0..255 (rounded, clamped)."""
    return x.detach().mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def count_distinct(videos: np.ndarray | torch.Tensor) -> int:
    """The number of distinct videos among ``videos`` ``(N, ...)``, compared byte for byte (a clip and
    its exact copies count once). On the saved uint8 samples this finds a generator that repeats itself,
    e.g. one drawing from a finite dictionary of learned latents, which a Fréchet distance cannot see.

    >>> v = np.zeros((3, 2, 1, 2, 2), np.uint8); v[2] = 7
    >>> count_distinct(v)
    2
    """
    a = videos.cpu().numpy() if isinstance(videos, torch.Tensor) else np.asarray(videos)
    return len({sha256_array(clip) for clip in a})


def to_thwc(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """``(..., T, C, H, W)`` -> numpy ``(..., T, H, W, C)`` (the layout of files and of the FVD reference)."""
    a = x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.moveaxis(a, -3, -1)


def from_thwc(a: np.ndarray) -> np.ndarray:
    """numpy ``(..., T, H, W, C)`` -> ``(..., T, C, H, W)``."""
    return np.moveaxis(np.asarray(a), -1, -3)


# --------------------------------------------------------------------------------------- npz ---

def normalize_layout(arr: np.ndarray, source: str = "array") -> np.ndarray:
    """Bring a uint8 video array to ``(N, T, C, H, W)``.

    Accepts ``(N, T, H, W, C)`` (the FVD reference layout, preferred) and ``(N, T, C, H, W)`` when
    unambiguous, plus ``(N, T, H, W)`` grayscale. Anything else is a :class:`VideoFormatError`.
    """
    if arr.dtype != np.uint8:
        raise VideoFormatError(f"{source}: expected dtype uint8 (0..255), got {arr.dtype}")
    if arr.ndim == 4:
        return arr[:, :, None]
    if arr.ndim != 5:
        raise VideoFormatError(f"{source}: expected a 5-D array (N, T, H, W, C) or (N, T, C, H, W), "
                               f"got shape {arr.shape}")
    last_is_c, third_is_c = arr.shape[4] in (1, 3), arr.shape[2] in (1, 3)
    if last_is_c and not third_is_c:
        return from_thwc(arr)
    if third_is_c and not last_is_c:
        return arr
    if last_is_c and third_is_c:
        raise VideoFormatError(f"{source}: ambiguous layout {arr.shape} (axes 2 and 4 could both be "
                               f"channels); store (N, T, H, W, C)")
    raise VideoFormatError(f"{source}: no channel axis of size 1 or 3 in shape {arr.shape}; "
                           f"expected (N, T, H, W, C) or (N, T, C, H, W)")


#: zlib level of :func:`save_npz`: 1 compresses the samples of a k = 5 prediction run (157 MB of
#: uint8) about 5x faster than ``np.savez_compressed``'s default 6 (1.5 vs 7.9 CPU-s) for 11% more bytes
NPZ_COMPRESSLEVEL = 1


def save_npz(path: str | os.PathLike, videos: torch.Tensor | np.ndarray, **extra: np.ndarray) -> Path:
    """Write videos atomically as ``videos`` = uint8 ``(N, T, H, W, C)`` in a compressed npz
    (a zip of ``.npy`` files, as ``np.savez_compressed`` writes, at zlib level ``NPZ_COMPRESSLEVEL``).

    ``videos`` is float ``(N, T, C, H, W)`` in [0, 1] or already uint8.
    """
    if isinstance(videos, torch.Tensor):
        videos = to_uint8(videos) if videos.is_floating_point() else videos
    arr = to_thwc(videos).astype(np.uint8, copy=False)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=NPZ_COMPRESSLEVEL) as z:
            for name, value in {"videos": arr, **extra}.items():
                with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
    return Path(path)


def load_npz(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """Read uint8 videos ``(N, T, C, H, W)`` from an npz (key ``videos`` or its only array)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            if key is None:
                if "videos" in keys:
                    key = "videos"
                elif len(keys) == 1:
                    key = keys[0]
                else:
                    raise VideoFormatError(f"{path}: holds arrays {keys}; name the videos array "
                                           f"'videos' or keep a single array")
            if key not in keys:
                raise VideoFormatError(f"{path}: no array {key!r} (has {keys})")
            arr = z[key]
    except VideoFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
        raise VideoFormatError(f"{path}: corrupt or truncated npz ({e}); re-create the file") from e
    return normalize_layout(arr, str(path))


# ------------------------------------------------------------------------------- mp4 / gif ---

def write_video(path: str | os.PathLike, video: torch.Tensor | np.ndarray, fps: int = 8) -> Path:
    """Write one video ``(T, C, H, W)`` (float [0,1] or uint8) to ``.mp4`` (lossless H.264) or ``.gif``."""
    path = Path(path)
    if isinstance(video, torch.Tensor):
        video = to_uint8(video) if video.is_floating_point() else video
    frames = to_thwc(video).astype(np.uint8)  # (T, H, W, C)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            from PIL import Image

            imgs = [_gif_frame(f) for f in frames]
            # GIF stores durations in centiseconds. Pillow merges identical consecutive frames into
            # one frame with the summed duration; the comment lets read_video restore them (a
            # static video must keep its T frames), exactly since durations are whole centiseconds.
            frame_ms = max(10, round(100 / fps) * 10)
            imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:],
                         duration=frame_ms, loop=0, optimize=False,
                         comment=f"{_GIF_TAG}frames={len(frames)};frame_ms={frame_ms}".encode())
        elif suffix == ".mp4":
            _write_mp4(tmp, frames, fps)
        else:
            raise VideoFormatError(f"{path}: unsupported video suffix {suffix!r} (use .mp4 or .gif)")
    return path


def _gif_frame(frame: np.ndarray):
    """One uint8 RGB frame ``(H, W, 3)`` as a palette image for a GIF: exact when it has at most 256 colours
    (a GIF frame's limit; its own palette), else Pillow's fast octree quantisation. Pillow's default for
    RGB (median cut) takes ~30x longer on noisy frames (real data, untrained samples), for a preview."""
    from PIL import Image

    packed = (frame[..., 0].astype(np.int32) << 16) | (frame[..., 1].astype(np.int32) << 8) | frame[..., 2]
    colours, index = np.unique(packed.ravel(), return_inverse=True)
    if len(colours) > 256:
        return Image.fromarray(frame).quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    img = Image.fromarray(index.reshape(packed.shape).astype(np.uint8), mode="P")
    img.putpalette(np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], 1).astype(np.uint8).tobytes())
    return img


def _write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    import av

    h, w = frames.shape[1:3]
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "rgb24"
        stream.options = {"crf": "0", "preset": "ultrafast"}  # lossless: metrics see the exact pixels
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_stimulus_mp4(path: str | os.PathLike, video: np.ndarray, fps: int, kbps: int, scale: int = 2) -> Path:
    """Encode one video ``(T, C, H, W)`` uint8 for people to watch: H.264 Main profile, 4:2:0, constant bitrate.

    Unlike :func:`write_video` (lossless RGB, for metrics), this is the format every browser plays.
    Frames are enlarged ``scale`` times by pixel repetition first, so 4:2:0 chroma keeps every
    source pixel's colour (and the size is even). The rate is constant in the strict sense
    (``nal-hrd=cbr``: the encoder pads each frame with filler data), so the file size says almost
    nothing about the content; :func:`pad_mp4` removes the last few bytes of difference.
    """
    import av

    path = Path(path)
    frames = to_thwc(np.asarray(video)).astype(np.uint8)  # (T, H, W, C)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    if scale > 1:
        frames = np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise VideoFormatError(f"{path}: 4:2:0 H.264 needs an even frame size, got {w}x{h} (use an even scale)")
    options = {"preset": "fast", "profile": "main", "threads": "1",
               # No B-frames and no macroblock-tree rate control: with them x264 was seen to code
               # the same tiny input differently from run to run (a study must re-encode byte for byte).
               "x264-params": (f"nal-hrd=cbr:force-cfr=1:vbv-maxrate={kbps}:vbv-bufsize={max(1, kbps // 2)}"
                               f":keyint={len(frames)}:min-keyint={len(frames)}:scenecut=0:bframes=0:mbtree=0")}
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "faststart"}) as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = w, h
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = kbps * 1000
            cc = stream.codec_context
            # BT.601, limited range, said in the stream so players convert back exactly as we converted
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 6, 6, 6, 1  # SMPTE170M, MPEG range
            cc.options = options
            for i, f in enumerate(frames):
                frame = _yuv420_frame(f)
                frame.pts, frame.time_base = i, Fraction(1, fps)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path


_BT601 = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, U, V planes of one uint8 RGB frame ``(H, W, 3)`` (H, W even).

    Chroma is the mean of each 2x2 block. Done here in float64 rather than by libswscale, whose
    SIMD paths depend on buffer alignment: the same frame then always encodes to the same bytes.
    """
    yuv = rgb.astype(np.float64) / 255 @ _BT601.T + np.array([16.0, 128.0, 128.0])
    h, w = rgb.shape[:2]
    chroma = yuv[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    to8 = lambda x: np.clip(np.rint(x), 0, 255).astype(np.uint8)  # noqa: E731
    return to8(yuv[..., 0]), to8(chroma[..., 0]), to8(chroma[..., 1])


def _yuv420_frame(rgb: np.ndarray):
    import av

    h, w = rgb.shape[:2]
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, rgb_to_yuv420(rgb)):
        rows = np.zeros((plane.height, plane.line_size), dtype=np.uint8)
        rows[:, :plane.width] = data
        plane.update(rows.tobytes())
    return frame


def pad_mp4(path: str | os.PathLike, size: int) -> Path:
    """Append a ``free`` box so the file is exactly ``size`` bytes (players skip ``free`` boxes).

    Needs at least 8 bytes of room (the box header); the padding is zeros.
    """
    path = Path(path)
    pad = size - path.stat().st_size
    if pad == 0:
        return path
    if pad < 8:
        raise VideoFormatError(f"{path}: cannot pad {path.stat().st_size} bytes to {size} (a free box needs 8)")
    with open(path, "ab") as f:
        f.write(pad.to_bytes(4, "big") + b"free" + bytes(pad - 8))
        f.flush()
        os.fsync(f.fileno())
    return path


def equalize_mp4_frames(paths: list[Path]) -> list[int]:
    """Make frame ``i`` of every H.264 mp4 in ``paths`` exactly as large in bytes, for every ``i``.

    Each coded frame gets a filler-data NAL unit (type 12, which decoders skip) that brings it to
    the largest size of that frame over all files plus the filler's minimal size, and the files are
    remuxed (no re-encoding). Afterwards no per-frame size in the sample tables, no ``mdat`` size
    and no file size tells two of the videos apart. The decoded frames are unchanged.

    Returns:
        The per-frame sizes in bytes that every file now has.
    """
    import av

    packets = {}
    nal_len = 4
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            nal_len = (stream.codec_context.extradata[4] & 3) + 1  # avcC lengthSizeMinusOne
            packets[path] = [bytes(p) for p in container.demux(stream) if p.size]
    counts = {len(v) for v in packets.values()}
    if len(counts) != 1:
        raise VideoFormatError(f"cannot equalize videos with different frame counts {sorted(counts)}")
    targets = [max(sizes) + nal_len + 2 for sizes in zip(*([len(b) for b in v] for v in packets.values()))]
    for path in paths:
        with av.open(str(path)) as inp, atomic_path(path) as tmp:
            stream = inp.streams.video[0]
            with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "faststart"}) as out:
                out_stream = out.add_stream_from_template(stream)
                frames = (p for p in inp.demux(stream) if p.size)
                for target, packet in zip(targets, frames):
                    data = bytes(packet)
                    k = target - len(data) - nal_len - 2  # 0xff bytes between the NAL header and its trailing bits
                    filler = (k + 2).to_bytes(nal_len, "big") + b"\x0c" + b"\xff" * k + b"\x80"
                    padded = av.Packet(data + filler)
                    padded.pts, padded.dts, padded.duration = packet.pts, packet.dts, packet.duration
                    padded.time_base, padded.is_keyframe = packet.time_base, packet.is_keyframe
                    padded.stream = out_stream
                    out.mux(padded)
    return targets


def mp4_packets(path: str | os.PathLike) -> list[bytes]:
    """The coded video packets (one per frame) of an mp4 file, as stored."""
    import av

    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


_GIF_TAG = "vidbench:"


def _restore_gif_frames(path: Path, frames: list[np.ndarray], durations: list[int],
                        comment: bytes | str) -> list[np.ndarray]:
    """Undo Pillow's merging of identical consecutive frames in GIFs written by :func:`write_video`.

    Pillow writes a run of identical frames as one frame whose duration is the sum; the comment
    ``vidbench:frames=T;frame_ms=D`` records T and the duration D of one frame, so each decoded
    frame stands for ``duration / D`` frames. GIFs from elsewhere (no comment) are returned as decoded.
    """
    if isinstance(comment, bytes):
        comment = comment.decode("utf-8", "replace")
    if not comment.startswith(_GIF_TAG):
        return frames
    try:
        fields = dict(kv.split("=", 1) for kv in comment[len(_GIF_TAG):].split(";"))
        expected, frame_ms = int(fields["frames"]), float(fields["frame_ms"])
    except (ValueError, KeyError):
        return frames
    if len(frames) == expected:
        return frames
    repeats = [max(1, round(d / frame_ms)) for d in durations]
    if sum(repeats) != expected:
        raise VideoFormatError(f"{path}: GIF declares {expected} frames but its {len(frames)} frames' "
                               f"durations give {sum(repeats)}; the file was altered or truncated")
    return [f for f, r in zip(frames, repeats) for _ in range(r)]


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode one video file to uint8 ``(T, C, H, W)`` (RGB). Corrupt files raise VideoFormatError."""
    path = Path(path)
    if not path.exists():
        raise VideoFormatError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".gif":
            from PIL import Image, ImageSequence

            with Image.open(path) as im:
                comment = im.info.get("comment", b"")
                frames, durations = [], []
                for f in ImageSequence.Iterator(im):
                    frames.append(np.asarray(f.convert("RGB")))
                    durations.append(f.info.get("duration", 0))
            frames = _restore_gif_frames(path, frames, durations, comment)
        else:
            import av

            with av.open(str(path)) as container:
                frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except VideoFormatError:
        raise
    except Exception as e:  # PyAV/PIL raise many types for corrupt input
        raise VideoFormatError(f"{path}: cannot decode ({type(e).__name__}: {e}); "
                               f"the file is corrupt or truncated") from e
    if not frames:
        raise VideoFormatError(f"{path}: no decodable frames (corrupt or truncated file)")
    return from_thwc(np.stack(frames))


def load_video_set(source: str | os.PathLike, max_videos: int | None = None) -> np.ndarray:
    """Load a set of videos as uint8 ``(N, T, C, H, W)``.

    ``source`` is an ``.npz`` file, or a folder of ``.npz`` / video files (sorted by name). All
    videos must share one shape; grayscale GIF/MP4 frames decode as RGB.
    """
    source = Path(source)
    if not source.exists():
        raise VideoFormatError(f"{source}: no such file or folder")
    if source.is_file():
        if source.suffix.lower() == ".npz":
            arr = load_npz(source)
        elif source.suffix.lower() in VIDEO_SUFFIXES:
            arr = read_video(source)[None]
        else:
            raise VideoFormatError(f"{source}: expected an .npz or a video file ({', '.join(VIDEO_SUFFIXES)})")
        return arr[:max_videos] if max_videos else arr
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".npz", *VIDEO_SUFFIXES))
    if not files:
        raise VideoFormatError(f"{source}: folder holds no .npz or video files")
    parts: list[np.ndarray] = []
    total = 0
    for f in files:
        arr = load_npz(f) if f.suffix.lower() == ".npz" else read_video(f)[None]
        if parts and arr.shape[1:] != parts[0].shape[1:]:
            raise VideoFormatError(f"{f}: video shape (T, C, H, W)={arr.shape[1:]} differs from "
                                   f"{files[0].name}'s {parts[0].shape[1:]}; all videos must match")
        parts.append(arr)
        total += len(arr)
        if max_videos and total >= max_videos:
            break
    out = np.concatenate(parts)
    return out[:max_videos] if max_videos else out


def video_grid(videos: torch.Tensor | np.ndarray, ncol: int = 4, pad: int = 2) -> np.ndarray:
    """Tile ``(N, T, C, H, W)`` videos into one uint8 video ``(T, C, H', W')`` for galleries."""
    v = videos
    if isinstance(v, torch.Tensor):
        v = (to_uint8(v) if v.is_floating_point() else v).cpu().numpy()
    v = np.asarray(v)
    n, t, c, h, w = v.shape
    ncol = min(ncol, n)
    nrow = -(-n // ncol)
    grid = np.full((t, c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), 255, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, :, y:y + h, x:x + w] = v[i]
    return grid


def iter_batches(x: np.ndarray | torch.Tensor, batch_size: int) -> Iterable:
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size]
