"""Formatting for the leaderboard: numbers with their intervals, protocols in words, metric order.

Metric direction and column order come from the metric classes (:mod:`benchmark.metrics.facts`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from benchmark.metrics import facts

#: Column order of the sample-reduction variants of one metric (``psnr``, ``psnr_best``, ...).
VARIANT_ORDER = ("", "best", "mean", "worst")


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _decimals(magnitude: float, significant: int) -> int:
    """Decimals that show ``significant`` digits of ``magnitude`` (clamped to 0..6)."""
    if magnitude == 0 or not math.isfinite(magnitude):
        return 2
    return max(0, min(6, significant - 1 - math.floor(math.log10(abs(magnitude)))))


def sort_key(value: Any) -> str:
    """The ``data-value`` attribute of a cell: a JS-parsable number, or "" when missing/NaN."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return ""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value))


def format_metric(value: Any, ci_low: Any = None, ci_high: Any = None, n: Any = None) -> dict[str, str]:
    """Display parts of one number: ``{"value": "27.31", "ci": "± 0.42", "n": "(n=128)"}``.

    The half-width of the 95% CI is shown with two significant digits and the value to the same
    decimals. A missing/NaN interval leaves ``ci`` empty; a missing/NaN value reads "—".

    >>> format_metric(27.3123, 26.8923, 27.7323, 128)
    {'value': '27.31', 'ci': '± 0.42', 'n': '(n=128)'}
    >>> format_metric(0.5, None, None, 3)
    {'value': '0.5000', 'ci': '', 'n': '(n=3)'}
    """
    n_text = f"(n={int(n)})" if finite(n) and n > 0 else ""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return {"value": "—", "ci": "", "n": n_text}
    if math.isinf(value):
        return {"value": "∞" if value > 0 else "−∞", "ci": "", "n": n_text}
    if finite(ci_low) and finite(ci_high) and ci_high >= ci_low:
        half = (ci_high - ci_low) / 2
        d = _decimals(half, 2) if half > 0 else _decimals(value, 4)
        return {"value": f"{value:.{d}f}", "ci": f"± {half:.{d}f}", "n": n_text}
    return {"value": f"{value:.{_decimals(value, 4)}f}", "ci": "", "n": n_text}


def metric_direction(name: str, declared: bool | None) -> bool | None:
    """``True`` if higher is better, ``False`` if lower, ``None`` if unknown (the value's own
    declaration first, then the metric class's)."""
    return facts.direction(name, declared)


def metric_order(name: str) -> tuple:
    """Sort key of a result column: the metric class's ``display_order``, then name, then variant."""
    cls = facts.metric_facts(name)
    family = cls.name if cls is not None else name.partition("_")[0]
    variant = name[len(family):].lstrip("_")
    var = VARIANT_ORDER.index(variant) if variant in VARIANT_ORDER else len(VARIANT_ORDER)
    return (facts.display_order(name), family, var, variant)


def describe_protocol(p: dict[str, Any]) -> list[str]:
    """Human-readable parts of a ``Protocol.to_dict()``, e.g. ``["5 context → 15 future frames", ...]``."""
    parts = []
    task = p.get("task", "")
    c, f = p.get("context_frames", 0) or 0, p.get("future_frames")
    if task == "prediction":
        parts.append(f"{c} context → {f} future frames")
    elif c:
        parts.append(f"{f} frames conditioned on {c}")
    else:
        parts.append(f"{f} frames")
    res = p.get("resolution")
    if isinstance(res, (list, tuple)) and len(res) == 2:
        parts.append(f"{res[0]}×{res[1]} px")
    ch = p.get("channels")
    if ch is not None:
        parts.append({1: "1 channel (gray)", 3: "3 channels (RGB)"}.get(ch, f"{ch} channels"))
    if p.get("split"):
        parts.append(f"split: {p['split']}")
    nv = p.get("num_videos")
    parts.append(f"n = {nv} clips" if nv else "n = all clips of the split")
    if task == "prediction":
        parts.append(f"k = {p.get('samples_per_context', 1)} samples per context")
    if p.get("stride", 1) not in (1, None):
        parts.append(f"stride {p['stride']}")
    return parts


#: What a metric setting means, for the leaderboard's settings table (a metric class may add its own
#: in a ``setting_meanings`` dict; unknown names show without a meaning rather than not at all).
SETTING_MEANINGS: dict[str, str] = {
    "kind": "how the metric is fed: paired (sample vs ground truth), set (vs real clips), intrinsic (one set)",
    "higher_is_better": "direction of the number",
    "data_range": "pixel value range the formula assumes (1 for [0,1] frames, 255 for uint8, 2 for [-1,1])",
    "value_range": "pixel value range fed to the network",
    "window": "SSIM window size (pixels)", "gaussian": "Gaussian (else uniform) SSIM window",
    "sigma": "width of the Gaussian window", "reduction": "how channels/pixels are pooled into one number",
    "context_counted": "whether the given context frames are included in the score",
    "conditioning_frames_included": "whether the given context frames are included in both sets",
    "network": "feature network", "features": "the feature network and its input preparation",
    "extractor": "feature network", "weights": "feature-network weights (pinned file, or random: not comparable)",
    "comparable": "made with pinned weights (comparable with other runs and, protocol permitting, papers)",
    "resize": "frames resized to this size before the network", "resolution": "frames resized to this size",
    "frames": "frames per clip the network sees", "min_frames": "shortest clip the metric accepts",
    "grayscale": "how one-channel frames are given to an RGB network",
    "splits": "number of splits the score is averaged over (mean ± std across them)",
    "split_assignment": "how samples are assigned to splits", "repeats": "repeated draws averaged",
    "statistics": "what the streaming state holds", "backend": "implementation used for the network",
    "offset": "added inside the log (the bound real-vs-real is log10(offset))", "formula": "the definition",
    "averaging": "how per-pair/per-video vectors are averaged", "difference": "what is differenced between frames",
    "magnitude": "signed or absolute differences", "normalize": "input normalisation", "pooling": "feature pooling",
    "include_first_frame": "whether the first frame counts in the consistency score",
    "n_real": "real clips scored", "n_fake": "generated clips scored",
    "real_bound_sides": "the two real sets of the real-data bound (split, n, overlap)",
    "bound_real_vs_real": "what two identical real sets score", "unit": "unit of the number",
    "softmax": "how class probabilities are made from logits", "layer": "network layer used",
}


def settings_rows(settings: Any, meanings: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The rows of a metric's settings table: ``{"name", "value", "meaning"}`` per setting (its
    ``name`` left out: the table's header says it).

    >>> settings_rows({"name": "ssim", "window": 11, "features": {"net": "alex"}})[1]
    {'name': 'features', 'value': 'net=alex', 'meaning': 'the feature network and its input preparation'}
    """
    if not isinstance(settings, dict):
        return [{"name": "settings", "value": settings_text(settings), "meaning": ""}]
    known = {**SETTING_MEANINGS, **(meanings or {})}
    return [{"name": str(k), "value": settings_text(v) if isinstance(v, dict) else
             (json.dumps(v, default=str) if isinstance(v, (list, tuple)) else str(v)),
             "meaning": known.get(str(k), "")} for k, v in settings.items() if k != "name"]


def comparable_with(protocol: dict[str, Any], dataset: str = "") -> str:
    """The protocol line's "comparable with": what these numbers may be set beside.

    >>> comparable_with({"split": "test", "num_videos": 64}, "moving-shapes").startswith("other rows")
    True
    """
    where = f"split {protocol.get('split', '?')}"
    n = protocol.get("num_videos")
    same = f"{dataset + ' ' if dataset else ''}{where}, {f'{n} clips' if n else 'all clips'}"
    text = (f"other rows of this table (same {same}, frames and resolution, and the metric settings "
            f"below; rows that differ are flagged and never ranked)")
    if dataset == "moving-shapes":
        return text + "; moving-shapes is vidbench's own data: never with published numbers"
    return text + ("; with a paper's numbers only where its dataset, split, clip count and metric settings "
                   "match and the feature weights are pinned")


def settings_text(d: Any) -> str:
    if not isinstance(d, dict):
        return json.dumps(d, default=str)
    return ", ".join(f"{k}={v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, default=str)}"
                     for k, v in d.items())


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"
