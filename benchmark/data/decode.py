"""Decoding and resizing shared by the real-video loaders (PyAV decode, crops, Pillow resizes)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from benchmark.data.real import CorruptInputError
from benchmark.utils import UserError

log = logging.getLogger(__name__)


def decode_video(data_or_path: Any, name: str, fmt: str | None = None, max_frames: int | None = None,
                 pix_fmt: str = "rgb24") -> np.ndarray:
    """Decode a video (path or file-like) with PyAV: uint8 ``(T, H, W, 3)`` for ``rgb24``,
    ``(T, H, W)`` for ``gray``.

    A readable prefix of a truncated stream is kept; no decodable frame raises
    :class:`CorruptInputError` naming ``name``.
    """
    import av

    frames: list[np.ndarray] = []
    try:
        with av.open(data_or_path, mode="r", format=fmt) as container:
            stream = container.streams.video[0]
            try:
                for frame in container.decode(stream):
                    frames.append(frame.to_ndarray(format=pix_fmt))
                    if max_frames and len(frames) >= max_frames:
                        break
            except (av.error.FFmpegError, EOFError) as e:
                if not frames:
                    raise
                log.warning("%s: decoding stopped after %d frames (%s)", name, len(frames), e)
    except (av.error.FFmpegError, IndexError, EOFError, OSError, ValueError) as e:
        raise CorruptInputError(f"{name}: cannot decode ({type(e).__name__}: {e})") from e
    if not frames:
        raise CorruptInputError(f"{name}: no decodable frame")
    return np.stack(frames)


def center_crop(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    """Centre ``h`` x ``w`` crop of ``(T, H, W, C)``."""
    H, W = frames.shape[1:3]
    y, x = (H - h) // 2, (W - w) // 2
    return frames[:, y:y + h, x:x + w]


def resize_rgb(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` -> ``(T, 3, h, w)`` (``size`` = (h, w)), Pillow bilinear (antialiased)."""
    from PIL import Image

    h, w = size
    out = np.empty((len(frames), 3, h, w), np.uint8)
    for i, f in enumerate(frames):
        img = f if f.shape[:2] == (h, w) else np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR))
        out[i] = img.transpose(2, 0, 1)
    return out


def square(frames: np.ndarray, size: int, crop: str) -> np.ndarray:
    """``(T, H, W, 3)`` -> ``(T, 3, size, size)``: centre square crop (``crop="center"``) or not, then resize."""
    if crop == "center":
        s = min(frames.shape[1:3])
        frames = center_crop(frames, s, s)
    elif crop != "none":
        raise UserError(f"crop must be 'none' or 'center', got {crop!r}")
    return resize_rgb(frames, (size, size))
