"""Seeds as an axis of every run: parsing ``--seeds`` and pooling one number over seeds.

``benchmark run --seeds 0,1,2`` (or ``--seeds 3``, meaning seeds 0, 1 and 2) runs each (method,
dataset, profile) once per seed, into ``runs/<dataset>/<method>/<profile>/seed<N>/``; results keep
one row per seed, and the leaderboard and the drift check pool them with :func:`mean_std`.

The pooled spread is the sample standard deviation over seeds (``ddof=1``: seeds are a sample of
the training randomness, and this is what papers report as "mean ± std over N seeds"); with one
seed there is no spread (``nan``), and a report shows that seed's own confidence interval instead.
Sums are in float64 (:func:`math.fsum`), so the mean of identical values is that value exactly.

>>> parse_seeds("0,1,2"), parse_seeds("3"), parse_seeds("5, 7")
([0, 1, 2], [0, 1, 2], [5, 7])
>>> mean_std([27.0, 28.0])
(27.5, 0.7071067811865476)
"""

from __future__ import annotations

import math
import re
from typing import Iterable

from benchmark.utils import UserError


def parse_seeds(text: str) -> list[int]:
    """The seeds of a ``--seeds`` value: a comma list (``"0,1,2"``, ``"3,5"``) of distinct seeds, or
    one number N meaning the first N seeds ``0..N-1`` (``"3"`` -> ``[0, 1, 2]``).

    A single seed other than the first is a one-element list: ``"7,"`` -> ``[7]`` (``--seed 7`` says
    the same). Raises :class:`~benchmark.utils.UserError` on anything else (empty, negative, not
    an integer, repeated seeds, ``"0"``).

    >>> parse_seeds("1"), parse_seeds("7,")
    ([0], [7])
    """
    raw = str(text).strip()
    how = "use a comma list of seeds (--seeds 0,1,2) or a count N for seeds 0..N-1 (--seeds 3)"
    if not raw:
        raise UserError(f"--seeds is empty; {how}")
    tokens = [t.strip() for t in raw.split(",")]
    if "," not in raw:  # a count
        if not re.fullmatch(r"\d+", raw):
            raise UserError(f"--seeds {raw!r} is not a count of seeds; {how}")
        n = int(raw)
        if n < 1:
            raise UserError(f"--seeds {raw!r}: the count must be at least 1; {how}")
        return list(range(n))
    if tokens[-1] == "":  # "7," = the one seed 7
        tokens = tokens[:-1]
    bad = [t for t in tokens if not re.fullmatch(r"\d+", t)]
    if bad or not tokens:
        raise UserError(f"--seeds {raw!r}: {', '.join(map(repr, bad)) or 'nothing'} is not a seed "
                        f"(a non-negative integer); {how}")
    seeds = [int(t) for t in tokens]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise UserError(f"--seeds {raw!r} repeats seed(s) {', '.join(map(str, repeated))}; each seed runs once")
    return seeds


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """``(mean, sample std)`` of one metric over seeds, in float64.

    The std has ``ddof=1`` and is ``nan`` for fewer than two values; the mean of no values is ``nan``.
    A non-finite value propagates (one NaN seed makes the mean NaN: a change worth seeing).

    >>> mean_std([2.0]), mean_std([1.0, 2.0, 3.0])
    ((2.0, nan), (2.0, 1.0))
    """
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan
    if not all(math.isfinite(x) for x in xs):
        mean = math.nan if any(math.isnan(x) for x in xs) or (math.inf in xs and -math.inf in xs) else \
            (math.inf if math.inf in xs else -math.inf)
        return mean, math.nan
    mean = math.fsum(xs) / n
    if n < 2:
        return mean, math.nan
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    return mean, math.sqrt(var)


def seeds_text(seeds: Iterable[int]) -> str:
    """``[0, 1, 2]`` -> ``"0 1 2"`` (how results.json seeds read in the long table and baselines).

    >>> seeds_text([2, 0, 1])
    '0 1 2'
    """
    return " ".join(str(s) for s in sorted(set(int(s) for s in seeds)))
