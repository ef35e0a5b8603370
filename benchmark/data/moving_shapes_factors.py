"""The known factors of a moving-shapes clip, as class labels (what the embedded evaluator learns).

A clip is a window ``[start, start + length)`` of one generated video (its factors are the video's
``meta`` entry, see :mod:`benchmark.data.moving_shapes`). A video has one or two objects and
nothing visible tells which object is "first", so every per-object factor is the **set** of values
over the clip's objects (one class per non-empty set of at most 2 values: e.g. the shapes classes
are circle, square, triangle, circle+square, circle+triangle, square+triangle). Sizes and speeds
are measured relative to the canvas (in pixels of a 64-pixel canvas), so a 32x32 rendering with
half-size objects gets the same classes as the default 64x64 one.

========== ================================================ ===========================
factor     values (per object; the class is their set)       kind
========== ================================================ ===========================
background the 4 background colours (one per clip)          static
count      1 object, 2 objects                               static
shapes     circle, square, triangle                          static
colours    the 6 object colours                              static
sizes      radius < 7.5, < 9.5, >= 9.5 (64-px units)         static
directions right, down, left, up: the velocity's quadrant    motion (bounces flip it)
           at the clip's first frame
speeds     < 5/3, < 7/3, >= 7/3 px/frame (64-px units)       motion (constant: elastic)
========== ================================================ ===========================

>>> from benchmark.data.moving_shapes_factors import FACTORS
>>> [f.name for f in FACTORS]
['background', 'count', 'shapes', 'colours', 'sizes', 'directions', 'speeds']
>>> FACTORS[2].classes
('circle', 'square', 'triangle', 'circle+square', 'circle+triangle', 'square+triangle')
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from benchmark.data.moving_shapes import (BACKGROUND_NAMES, BACKGROUNDS, DIRECTIONS, OBJECT_COLOURS, SHAPES,
                                          object_velocities)

#: factor sizes and speeds are expressed in pixels of a canvas this wide
REFERENCE_SIZE = 64
SIZE_EDGES = (7.5, 9.5)  # radius: 5-7 small, 8-9 medium, 10-11 large at 64x64
SPEED_EDGES = (5 / 3, 7 / 3)  # px/frame: thirds of the default 1..3 range
COLOUR_NAMES = ("red", "green", "blue", "yellow", "magenta", "cyan")


@dataclass(frozen=True)
class Factor:
    """One categorical factor: its name, class names, and whether it is static or motion."""

    name: str
    classes: tuple[str, ...]
    kind: str  # "static" | "motion"

    @property
    def num_classes(self) -> int:
        return len(self.classes)


MAX_OBJECTS = 2  # the generator's default; sets have at most this many values


def set_classes(values: tuple[str, ...]) -> tuple[str, ...]:
    """The non-empty sets of at most :data:`MAX_OBJECTS` values, singletons first, as ``a+b`` names."""
    return tuple("+".join(c) for k in range(1, MAX_OBJECTS + 1) for c in combinations(values, k))


SIZE_NAMES = ("small", "medium", "large")
SPEED_NAMES = ("slow", "medium", "fast")
FACTORS: tuple[Factor, ...] = (
    Factor("background", BACKGROUND_NAMES, "static"),
    Factor("count", ("1", "2"), "static"),
    Factor("shapes", set_classes(SHAPES), "static"),
    Factor("colours", set_classes(COLOUR_NAMES), "static"),
    Factor("sizes", set_classes(SIZE_NAMES), "static"),
    Factor("directions", set_classes(DIRECTIONS), "motion"),
    Factor("speeds", set_classes(SPEED_NAMES), "motion"),
)
FACTOR_INDEX = {f.name: f for f in FACTORS}


def _bin(value: float, edges: tuple[float, ...]) -> int:
    return int(np.searchsorted(np.asarray(edges), value, side="right"))


def direction_class(vx: float, vy: float) -> int:
    """Quadrant of a velocity in image coordinates (+y down): 0 right, 1 down, 2 left, 3 up
    (the rule of :func:`benchmark.data.moving_shapes.derived_labels`)."""
    return int(round(np.arctan2(vy, vx) / (np.pi / 2))) % 4


def _set_class(factor: str, values: list[str]) -> int:
    order = {v: i for i, v in enumerate(FACTOR_INDEX[factor].classes[:_singletons(factor)])}
    distinct = sorted(set(values), key=order.__getitem__)
    if len(distinct) > MAX_OBJECTS:
        raise ValueError(f"moving-shapes factors: {len(distinct)} distinct {factor}; the evaluator's classes "
                         f"cover at most {MAX_OBJECTS} objects")
    return FACTOR_INDEX[factor].classes.index("+".join(distinct))


def _singletons(factor: str) -> int:
    return sum("+" not in c for c in FACTOR_INDEX[factor].classes)


def clip_factor_labels(factors: dict[str, Any], size: int, start: int = 0, num_frames: int | None = None
                       ) -> dict[str, int]:
    """The factor classes of the window starting at frame ``start`` of one video.

    Args:
        factors: the video's factors (a moving-shapes ``meta`` entry: ``background``, ``objects``).
        size: the canvas size the video was rendered at.
        start: the window's first frame (directions are read there).
        num_frames: frames of the video (for replaying bounces); default ``start + 1``.

    Returns:
        ``{factor name: class index}`` for every factor of :data:`FACTORS`.
    """
    objects = factors["objects"]
    if len(objects) > MAX_OBJECTS:
        raise ValueError(f"moving-shapes factors: {len(objects)} objects; the evaluator's classes cover at most "
                         f"{MAX_OBJECTS}")
    scale = REFERENCE_SIZE / size
    directions, speeds = [], []
    for obj in objects:
        vx, vy = object_velocities(obj, size, max(num_frames or 0, start + 1))
        directions.append(DIRECTIONS[direction_class(vx[start], vy[start])])
        speeds.append(SPEED_NAMES[_bin(float(np.hypot(obj["vx"], obj["vy"])) * scale, SPEED_EDGES)])
    return {
        "background": BACKGROUNDS.index(tuple(factors["background"])),
        "count": len(objects) - 1,
        "shapes": _set_class("shapes", [o["shape"] for o in objects]),
        "colours": _set_class("colours", [COLOUR_NAMES[OBJECT_COLOURS.index(tuple(o["color"]))] for o in objects]),
        "sizes": _set_class("sizes", [SIZE_NAMES[_bin(o["size"] * scale, SIZE_EDGES)] for o in objects]),
        "directions": _set_class("directions", directions),
        "speeds": _set_class("speeds", speeds),
    }


def factor_label_arrays(metas: list[dict[str, Any]], size: int, starts: list[int] | np.ndarray,
                        num_frames: int) -> dict[str, np.ndarray]:
    """:func:`clip_factor_labels` of many windows, stacked: ``{factor: (N,) int64}``."""
    rows = [clip_factor_labels(m, size, int(s), num_frames) for m, s in zip(metas, starts)]
    return {f.name: np.array([r[f.name] for r in rows], np.int64) for f in FACTORS}
