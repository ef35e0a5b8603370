"""Metric drift check: compare fresh results with a committed baseline under tolerance bands.

CI runs the smoke benchmark on the embedded dataset, then::

    benchmark check --baseline reports/baseline/moving-shapes.json

which exits 0 when every baseline number is reproduced within its band and 1 otherwise, printing a
table of what drifted (old, new, band). Exit code 2 means the check could not run (no baseline, an
invalid baseline, no results). A baseline is (re)written from the current results with::

    benchmark check --update-baseline --baseline reports/baseline/moving-shapes.json [--abs A --rel R]

Baseline file (JSON, meant to be read and edited by hand)::

    {
      "schema": "vidbench.baseline/1",
      "dataset": "moving-shapes",
      "profile": "smoke",
      "created": "2025-01-01T00:00:00+00:00",
      "default_band": {"abs": 0.001, "rel": 0.01},
      "metric_bands": {"psnr": {"abs": 0.5, "rel": 0.0}, ...},     # optional, see below
      "entries": [
        {"method": "copy_last", "task": "prediction", "protocol": "10->10", "metric": "psnr_best",
         "value": 21.734, "abs": 0.5, "rel": 0.0, "seeds": "0"},
        ...
      ]
    }

* An entry is keyed by ``(method, task, protocol, metric)``; the dataset and profile are the file's.
  Fresh rows of other datasets/profiles are ignored (rows with an empty profile and the ``real``
  data-bound rows are kept, as in :func:`benchmark.results.find_results`).
* ``abs`` / ``rel`` on an entry are its band; an entry without them uses ``default_band``.
  Edit an entry's band by hand to loosen or tighten one number.
* ``value`` is a JSON number, ``null`` for "no finite value" (NaN / None), or the strings
  ``"Infinity"`` / ``"-Infinity"`` (so the file stays strict JSON).
* ``seeds`` (optional) is the space-separated seed list the value was computed with. Several fresh
  rows with the same key (several seed folders, ``benchmark run --seeds``) are averaged (the mean
  over seeds, :func:`benchmark.seeds.mean_std`). When the fresh results hold every baseline seed
  (and maybe more), ``value`` is compared with the fresh mean over the *baseline's* seeds (the
  extra seeds are named in the note); when a baseline seed is absent, the number is
  ``not-comparable``.
* ``per_seed`` (optional, written for entries of several seeds) maps each seed to its own value,
  ``{"0": 21.0, "1": 22.0}``; each is checked against that seed's fresh value under the entry's
  band (rows with ``seed`` = the seed; the row of ``value`` then says ``mean``). An entry of one
  seed holds no ``per_seed``: its ``value`` is that seed's, so single-seed baselines read as before.
* ``metric_bands`` (optional) maps a metric family (``psnr`` for ``psnr_best``), an exact metric name,
  or an ``fnmatch`` pattern to a band; ``--update-baseline`` uses it for entries it adds.

The band rule (:func:`within_band`)::

    |new - old| <= max(abs, rel * |old|)

so ``abs`` is a floor that matters near zero and ``rel`` scales with the number. Non-finite values:
NaN (or None) matches only NaN; +inf matches only +inf and -inf only -inf; a NaN or inf appearing
where a finite number was (or the reverse) is drift.

Row statuses (:class:`CheckRow`):

``ok``             within band.
``drift``          outside band — failure.
``missing``        in the baseline, absent from the fresh results — failure.
``new``            in the fresh results, not in the baseline — reported; failure only with ``strict``.
``not-comparable`` the fresh number was made with unpinned/random feature weights
                   (``comparable: false``) or with other seeds. Failure when the baseline holds that
                   metric (a random-weight number must never pass for a real one); a non-comparable
                   metric the baseline does not hold is reported and fails only with ``strict``.

Default bands for the smoke profile, and why. The smoke profile trains tiny models for a few
iterations on CPU with fixed seeds, so on one machine a rerun is bit-identical. Across CPUs and
BLAS/oneDNN builds the reduction order of float sums changes, those last-bit differences are
amplified by every SGD step, and the trained weights end up differing in the 3rd-4th digit. The
bands absorb that, while staying well below the size of a real regression (a wrong data range,
a broken conditioning path, an off-by-one frame or a swapped SSIM window moves these numbers by
several dB / tenths of SSIM). Each metric class states its band (``VideoMetric.drift_band``, with
the reason beside it: e.g. PSNR 0.5 dB, SSIM/FCS/LPIPS 0.02, MCS 0.1, FVD/FID max(1, 5%), IS
max(0.05, 2%)); :func:`metric_class_bands` collects them for a new baseline file, which records
them in its ``metric_bands`` so the file stands on its own. A metric without a band gets the
file's ``default_band`` (1e-3 absolute, 1% relative). On the ``cpu`` profile, whose methods train
for tens of seconds, new entries of trained methods get :data:`TRAINED_BAND_SCALE` times that band
(recorded as the file's ``trained_band_scale``); baselines, untrained references and the real bound
keep it.

Example:
    >>> within_band(20.0, 20.4, abs_tol=0.5, rel_tol=0.0)
    True
    >>> within_band(1000.0, 1040.0, abs_tol=1.0, rel_tol=0.05)   # band = max(1, 50) = 50
    True
    >>> within_band(float("nan"), 1.0, 0.5, 0.0)
    False
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from benchmark.results import COLUMNS, REAL, find_results, load_table
from benchmark.seeds import mean_std
from benchmark.utils import UserError, read_json, write_json_atomic

SCHEMA = "vidbench.baseline/1"
KEY_FIELDS = ("method", "task", "protocol", "metric")
STATUSES = ("ok", "drift", "missing", "new", "not-comparable")

DEFAULT_ABS = 1e-3
DEFAULT_REL = 1e-2
#: New entries of a *trained* method get this multiple of their metric's band on profiles that train
#: for real (``cpu``): a 30-second training amplifies last-bit float differences between CPUs and
#: BLAS builds far more than the few smoke steps do, while evaluation alone (baselines, untrained
#: references, the real bound) stays within the metric's own band. Still far below a real
#: regression (a wrong data range or an off-by-one frame moves SSIM by tenths).
TRAINED_BAND_SCALE = {"smoke": 1.0, "cpu": 3.0, "paper": 3.0}


def metric_class_bands() -> dict[str, dict[str, float]]:
    """Metric name (and ``name_*`` pattern) -> the drift band its class declares (``VideoMetric.drift_band``).

    >>> metric_class_bands()["psnr"]
    {'abs': 0.5, 'rel': 0.0}
    >>> band_for("factors_shapes_static", metric_class_bands(), {"abs": 1e-3, "rel": 1e-2})
    {'abs': 0.02, 'rel': 0.0}
    """
    from benchmark.registry import METRICS

    bands: dict[str, dict[str, float]] = {}
    for n in METRICS.list():
        band = getattr(METRICS.info(n), "drift_band", None)
        if band:
            # ``n_*`` too: a metric's result keys are its name or ``name_<suffix>`` (factors_shapes_static,
            # diversity_l1); a family lookup would miss a name that itself contains ``_``.
            bands[n] = dict(band)
            bands[f"{n}_*"] = dict(band)
    return bands


Key = tuple[str, str, str, str]


# --------------------------------------------------------------------------------------------
# The band rule
# --------------------------------------------------------------------------------------------

def to_float(x: Any) -> float:
    """A number from a JSON/CSV cell: None, ``null``, ``""`` and ``"NaN"`` become NaN.

    >>> to_float("Infinity"), to_float(None), to_float("2.5")
    (inf, nan, 2.5)
    """
    if x is None:
        return math.nan
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, str):
        s = x.strip().lower()
        if s in ("", "nan", "none", "null", "na", "<na>"):
            return math.nan
        if s in ("inf", "+inf", "infinity", "+infinity"):
            return math.inf
        if s in ("-inf", "-infinity"):
            return -math.inf
        return float(s)
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan  # pandas.NA and friends


def within_band(old: float | None, new: float | None, abs_tol: float, rel_tol: float) -> bool:
    """Whether ``new`` reproduces ``old``: ``|new - old| <= max(abs_tol, rel_tol * |old|)``.

    None counts as NaN. NaN matches only NaN, an infinity only the same infinity; any mix of a
    finite and a non-finite value is outside every band.

    Args:
        old: the baseline value.
        new: the fresh value.
        abs_tol: absolute tolerance (>= 0), in the metric's units.
        rel_tol: relative tolerance (>= 0), a fraction of ``|old|``.

    >>> within_band(0.0, 0.0009, abs_tol=1e-3, rel_tol=0.5)   # near zero the abs floor decides
    True
    >>> within_band(100.0, 104.0, abs_tol=1e-3, rel_tol=0.05)  # band = 5
    True
    """
    if abs_tol < 0 or rel_tol < 0:
        raise ValueError(f"tolerances must be >= 0, got abs={abs_tol}, rel={rel_tol}")
    o, n = to_float(old), to_float(new)
    if math.isnan(o) or math.isnan(n):
        return math.isnan(o) and math.isnan(n)
    if math.isinf(o) or math.isinf(n):
        return o == n
    return abs(n - o) <= max(abs_tol, rel_tol * abs(o))


def band_width(old: float | None, abs_tol: float, rel_tol: float) -> float:
    """The half-width ``max(abs, rel * |old|)`` of the band around ``old`` (abs for non-finite)."""
    o = to_float(old)
    return abs_tol if not math.isfinite(o) else max(abs_tol, rel_tol * abs(o))


def metric_family(metric: str) -> str:
    """``psnr_best`` -> ``psnr``; ``fvd.i3d_400`` -> ``fvd``."""
    return re.split(r"[^a-z0-9]", metric.lower(), maxsplit=1)[0]


def band_for(metric: str, per_metric: dict[str, dict[str, float]] | None,
             default: dict[str, float]) -> dict[str, float]:
    """The band of ``metric``: exact name, then family, then fnmatch patterns of ``per_metric`` (a
    baseline file's ``metric_bands``, e.g. :func:`metric_class_bands`), then ``default``.

    A per-metric band may give only ``abs`` or only ``rel``; the other comes from ``default``.

    >>> band_for("psnr_best", metric_class_bands(), {"abs": 1e-3, "rel": 1e-2})
    {'abs': 0.5, 'rel': 0.0}
    """
    per_metric = per_metric or {}
    spec = per_metric.get(metric) or per_metric.get(metric_family(metric))
    if spec is None:
        spec = next((v for k, v in per_metric.items() if fnmatch.fnmatchcase(metric, k)), None)
    spec = spec or {}
    return {"abs": float(spec.get("abs", default["abs"])), "rel": float(spec.get("rel", default["rel"]))}


# --------------------------------------------------------------------------------------------
# Fresh results -> one value per key
# --------------------------------------------------------------------------------------------

def _cell(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    try:
        import pandas as pd

        if pd.isna(x):
            return ""
    except (TypeError, ValueError):
        pass
    return str(x).strip()


def _truthy(x: Any) -> bool:
    """``comparable`` from results.json (bool) or CSV (``True``/``false``/``1``); missing = True."""
    if isinstance(x, bool):
        return x
    s = _cell(x).lower()
    if s in ("", "true", "1", "yes", "1.0"):
        return True
    if s in ("false", "0", "no", "0.0"):
        return False
    raise UserError(f"cannot read comparable={x!r} as true/false")


def _seeds(x: Any) -> tuple[int, ...]:
    """``"0 1"`` / ``0`` / ``0.0`` / ``[0, 1]`` -> ``(0, 1)``; unreadable tokens are ignored."""
    if isinstance(x, (list, tuple)):
        tokens = [str(t) for t in x]
    else:
        tokens = re.split(r"[\s,]+", _cell(x))
    out = set()
    for t in tokens:
        try:
            out.add(int(float(t)))
        except ValueError:
            continue
    return tuple(sorted(out))


def _seeds_str(seeds: Iterable[int]) -> str:
    return " ".join(str(s) for s in seeds)


@dataclass
class _Fresh:
    value: float
    comparable: bool
    seeds: tuple[int, ...]
    #: seed -> (value, comparable), from the rows of exactly one seed (one seed folder each)
    per_seed: dict[int, tuple[float, bool]] = field(default_factory=dict)

    def over(self, seeds: tuple[int, ...]) -> "_Fresh | None":
        """The fresh number restricted to ``seeds`` (their mean), or None if a seed has no row of its own."""
        if not all(s in self.per_seed for s in seeds):
            return None
        values = [self.per_seed[s] for s in seeds]
        return _Fresh(mean_std(v for v, _ in values)[0], all(c for _, c in values), tuple(seeds),
                      {s: self.per_seed[s] for s in seeds})


def select(table, dataset: str | None, profile: str | None):
    """The rows of a long-format table that belong to ``dataset`` and ``profile``.

    Rows with an empty profile and rows of the ``real`` data bound are kept for any profile.
    """
    mask = [True] * len(table)
    if dataset and "dataset" in table.columns:
        mask = [m and (_cell(d) in ("", dataset)) for m, d in zip(mask, table["dataset"])]
    if profile and "profile" in table.columns:
        methods = table["method"] if "method" in table.columns else [""] * len(table)
        mask = [m and (_cell(p) in ("", profile) or _cell(me) == REAL)
                for m, p, me in zip(mask, table["profile"], methods)]
    return table[mask]


def _collect(table) -> dict[Key, _Fresh]:
    """One value per key (mean over duplicate rows, e.g. several seed folders)."""
    missing = [c for c in ("method", "metric", "value") if c not in table.columns]
    if missing:
        raise UserError(f"results table lacks column(s) {missing}; expected the long format "
                        f"{', '.join(COLUMNS)}")
    groups: dict[Key, list[tuple[float, bool, tuple[int, ...]]]] = {}
    for rec in table.to_dict("records"):
        key = tuple(_cell(rec.get(k)) for k in KEY_FIELDS)
        try:
            value = to_float(rec.get("value"))
        except ValueError:
            raise UserError(f"results row {'/'.join(key)}: value {rec.get('value')!r} is not a number")
        groups.setdefault(key, []).append((value, _truthy(rec.get("comparable")), _seeds(rec.get("seeds"))))
    out = {}
    for key, vals in groups.items():
        # NaN propagates on purpose (mean_std): one NaN seed is a change worth seeing
        mean = mean_std(v for v, _, _ in vals)[0]
        seeds = tuple(sorted({s for _, _, ss in vals for s in ss}))
        by_seed: dict[int, list[tuple[float, bool]]] = {}
        for v, c, ss in vals:
            if len(ss) == 1:
                by_seed.setdefault(ss[0], []).append((v, c))
        per_seed = {s: (mean_std(v for v, _ in vs)[0], all(c for _, c in vs)) for s, vs in sorted(by_seed.items())}
        out[key] = _Fresh(mean, all(c for _, c, _ in vals), seeds, per_seed)
    return out


# --------------------------------------------------------------------------------------------
# Baseline files
# --------------------------------------------------------------------------------------------

def _encode(x: float) -> float | str | None:
    x = to_float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def make_baseline(table, dataset: str, profile: str, abs_tol: float | None = None,
                  rel_tol: float | None = None, per_metric: dict[str, dict] | None = None,
                  skip_incomparable: bool = False) -> dict[str, Any]:
    """A baseline dict from a long-format results table (columns :data:`benchmark.results.COLUMNS`).

    Args:
        table: long-format results (``pandas.DataFrame``); rows of other datasets/profiles are ignored.
        dataset: the dataset the baseline is for (e.g. ``moving-shapes``).
        profile: the profile the baseline is for (e.g. ``smoke``).
        abs_tol: default absolute band (default :data:`DEFAULT_ABS`).
        rel_tol: default relative band (default :data:`DEFAULT_REL`).
        per_metric: bands by metric family / name / fnmatch pattern; None = the metric classes' bands
            (:func:`metric_class_bands`).
        skip_incomparable: leave out rows with ``comparable == False`` instead of refusing.

    Raises:
        UserError: no rows for ``dataset``/``profile``, or non-comparable rows (unless skipped).

    >>> import pandas as pd
    >>> t = pd.DataFrame([{"method": "m", "dataset": "d", "task": "prediction", "protocol": "2->2",
    ...                    "metric": "psnr_best", "value": 20.0, "profile": "smoke", "comparable": True}])
    >>> make_baseline(t, "d", "smoke")["entries"][0]["abs"]
    0.5
    """
    default = {"abs": DEFAULT_ABS if abs_tol is None else float(abs_tol),
               "rel": DEFAULT_REL if rel_tol is None else float(rel_tol)}
    if default["abs"] < 0 or default["rel"] < 0:
        raise UserError(f"tolerances must be >= 0, got abs={default['abs']}, rel={default['rel']}")
    per_metric = metric_class_bands() if per_metric is None else per_metric
    fresh = _collect(select(table, dataset, profile))
    if not fresh:
        raise UserError(f"no results for dataset {dataset!r}, profile {profile!r}: nothing to put "
                        f"in a baseline (run `benchmark run --dataset {dataset}` first)")
    bad = sorted(k for k, f in fresh.items() if not f.comparable)
    if bad and not skip_incomparable:
        shown = "\n".join("  " + "/".join(k) for k in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise UserError(
            f"{len(bad)} result(s) are marked comparable=false (computed with unpinned or random "
            f"feature weights) and cannot enter a baseline:\n{shown}{more}\n"
            "Install the pinned weights (manifests/weights.yaml) and rerun, or leave these metrics "
            "out of the baseline with --skip-incomparable.")
    from benchmark.registry import is_trained_method

    entries = []
    for key in sorted(fresh):
        f = fresh[key]
        if not f.comparable:
            continue
        band = band_for(key[3], per_metric, default)
        scale = TRAINED_BAND_SCALE.get(profile, 1.0) if is_trained_method(key[0]) else 1.0
        band = {k: v * scale for k, v in band.items()}
        entry: dict[str, Any] = dict(zip(KEY_FIELDS, key))
        entry.update(value=_encode(f.value), abs=band["abs"], rel=band["rel"])
        if f.seeds:
            entry["seeds"] = _seeds_str(f.seeds)
        if len(f.seeds) > 1 and all(s in f.per_seed for s in f.seeds):
            entry["per_seed"] = {str(s): _encode(f.per_seed[s][0]) for s in f.seeds}
        entries.append(entry)
    baseline: dict[str, Any] = {"schema": SCHEMA, "dataset": dataset, "profile": profile,
                                "created": _now(), "default_band": default,
                                "trained_band_scale": TRAINED_BAND_SCALE.get(profile, 1.0)}
    if per_metric:
        baseline["metric_bands"] = {k: dict(v) for k, v in per_metric.items()}
    baseline["entries"] = entries
    return baseline


def validate_baseline(baseline: Any, source: str = "baseline") -> dict[str, Any]:
    """Check a baseline dict's shape; return it. Raises UserError naming the first problem."""
    def bad(msg: str) -> UserError:
        return UserError(f"{source}: invalid baseline: {msg}")

    if not isinstance(baseline, dict):
        raise bad("top level must be a JSON object")
    if baseline.get("schema") != SCHEMA:
        raise bad(f"schema is {baseline.get('schema')!r}, expected {SCHEMA!r}")
    for k in ("dataset", "profile"):
        if not isinstance(baseline.get(k), str) or not baseline[k]:
            raise bad(f"{k!r} must be a non-empty string")
    default = baseline.get("default_band", {"abs": DEFAULT_ABS, "rel": DEFAULT_REL})
    _check_band(default, "default_band", bad, need_both=True)
    for name, b in (baseline.get("metric_bands") or {}).items():
        _check_band(b, f"metric_bands[{name!r}]", bad)
    entries = baseline.get("entries")
    if not isinstance(entries, list):
        raise bad("'entries' must be a list")
    seen: set[Key] = set()
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise bad(f"entries[{i}] must be an object")
        absent = [k for k in (*KEY_FIELDS, "value") if k not in e]
        if absent:
            raise bad(f"entries[{i}] lacks {absent}")
        try:
            to_float(e["value"])
        except (TypeError, ValueError):
            raise bad(f"entries[{i}] value {e['value']!r} is not a number, null or '(-)Infinity'")
        _check_band(e, f"entries[{i}]", bad)
        per_seed = e.get("per_seed")
        if per_seed is not None:
            if not isinstance(per_seed, dict):
                raise bad(f"entries[{i}] per_seed must be an object of seed -> value")
            for seed, v in per_seed.items():
                try:
                    int(seed), to_float(v)
                except (TypeError, ValueError):
                    raise bad(f"entries[{i}] per_seed {seed!r}: {v!r} (a seed -> a number, null or '(-)Infinity')")
        key = tuple(str(e[k]) for k in KEY_FIELDS)
        if key in seen:
            raise bad(f"entries[{i}] duplicates {'/'.join(key)}")
        seen.add(key)
    return baseline


def _check_band(b: Any, where: str, bad, need_both: bool = False) -> None:
    if not isinstance(b, dict):
        raise bad(f"{where} must be an object with 'abs' and 'rel'")
    for k in ("abs", "rel"):
        if k not in b:
            if need_both:
                raise bad(f"{where} lacks {k!r}")
            continue
        v = b[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or math.isinf(v):
            raise bad(f"{where} {k}={v!r} must be a finite number >= 0")


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read and validate a baseline file. Raises UserError (with how to create one) if missing."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"baseline {path} does not exist. Create it from current results with:\n"
                        f"  benchmark check --update-baseline --baseline {path} "
                        "[--results CSV | --runs DIR] [--dataset NAME --profile smoke]")
    try:
        data = read_json(path)
    except (ValueError, OSError) as e:
        raise UserError(f"{path}: not valid JSON ({e}). Fix it by hand or recreate it with "
                        f"`benchmark check --update-baseline --baseline {path}`") from e
    return validate_baseline(data, str(path))


def write_baseline(path: str | Path, baseline: dict[str, Any]) -> Path:
    """Validate and write a baseline atomically (strict JSON: no NaN/Infinity tokens)."""
    baseline = dict(baseline)
    baseline["entries"] = [{**e, "value": _encode(e["value"])} for e in baseline["entries"]]
    validate_baseline(baseline, str(path))
    return write_json_atomic(path, baseline)


# --------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------

@dataclass
class CheckRow:
    """One compared metric. ``band`` is ``(abs, rel)``; ``failed`` says if it fails the check."""

    method: str
    task: str
    protocol: str
    metric: str
    old: float | None
    new: float | None
    band: tuple[float, float] | None
    status: str
    failed: bool = False
    note: str = ""
    #: "" for an entry of one seed (or none recorded); for an entry of several: "mean" (its ``value``,
    #: the mean over its seeds) or the one seed a ``per_seed`` row checks
    seed: str = ""

    @property
    def key(self) -> Key:
        return (self.method, self.task, self.protocol, self.metric)

    @property
    def width(self) -> float | None:
        """The band's half-width around ``old``."""
        return None if self.band is None else band_width(self.old, *self.band)


@dataclass
class CheckReport:
    """The result of :func:`check`; ``exit_code`` is 0 when nothing failed, else 1."""

    rows: list[CheckRow] = field(default_factory=list)
    dataset: str = ""
    profile: str = ""
    strict: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def n_checked(self) -> int:
        """Baseline entries compared (the rows that carry a band)."""
        return sum(r.band is not None for r in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if r.failed]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``benchmark check --json``): non-finite numbers as strings."""
        def num(x: float | None) -> float | str | None:
            return _encode(x) if x is not None else None

        return {"dataset": self.dataset, "profile": self.profile, "strict": self.strict, "passed": self.passed,
                "exit_code": self.exit_code, "checked": self.n_checked,
                "counts": {s: self.count(s) for s in STATUSES}, "summary": self.summary(),
                "rows": [{"method": r.method, "task": r.task, "protocol": r.protocol, "metric": r.metric,
                          "seed": r.seed, "old": num(r.old), "new": num(r.new),
                          "band": None if r.band is None else {"abs": r.band[0], "rel": r.band[1]},
                          "status": r.status, "failed": r.failed, "note": r.note} for r in self.rows]}

    def summary(self) -> str:
        parts = [f"{self.n_checked} metrics checked", f"{self.count('drift')} drifted"]
        for status in ("missing", "new", "not-comparable"):
            if n := self.count(status):
                parts.append(f"{n} {status}")
        verdict = "PASS" if self.passed else f"FAIL ({len(self.failures)} failing)"
        where = f" [{self.dataset}/{self.profile}]" if self.dataset else ""
        return ", ".join(parts) + f"{where}: {verdict}" + (" (strict)" if self.strict else "")


def check(table, baseline: dict[str, Any], strict: bool = False) -> CheckReport:
    """Compare a long-format results table with a baseline dict.

    Args:
        table: fresh results (``pandas.DataFrame`` with the columns of ``benchmark.results.COLUMNS``).
        baseline: a baseline dict (see the module docstring), e.g. from :func:`load_baseline`.
        strict: also fail on metrics the baseline does not hold (``new`` / non-comparable extras).

    Returns:
        A :class:`CheckReport`: baseline entries first (in file order), then the new metrics.

    >>> import pandas as pd
    >>> t = pd.DataFrame([{"method": "m", "dataset": "d", "task": "t", "protocol": "p",
    ...                    "metric": "psnr", "value": 20.2, "profile": "s", "comparable": True}])
    >>> b = make_baseline(t.assign(value=20.0), "d", "s")
    >>> check(t, b).exit_code, check(t.assign(value=21.0), b).rows[0].status
    (0, 'drift')
    """
    baseline = validate_baseline(baseline)
    default = baseline.get("default_band", {"abs": DEFAULT_ABS, "rel": DEFAULT_REL})
    fresh = _collect(select(table, baseline["dataset"], baseline["profile"]))
    report = CheckReport(dataset=baseline["dataset"], profile=baseline["profile"], strict=strict)
    in_baseline: set[Key] = set()
    for e in baseline["entries"]:
        key: Key = tuple(str(e[k]) for k in KEY_FIELDS)  # type: ignore[assignment]
        in_baseline.add(key)
        band = (float(e.get("abs", default["abs"])), float(e.get("rel", default["rel"])))
        old = to_float(e["value"])
        f = fresh.get(key)
        old_seeds = _seeds(e.get("seeds"))
        per_seed = {int(k): to_float(v) for k, v in (e.get("per_seed") or {}).items()}
        which = "mean" if len(old_seeds) > 1 or per_seed else ""
        note = ""
        if f is not None and old_seeds and f.seeds and old_seeds != f.seeds and f.over(old_seeds):
            # every baseline seed was rerun (and more): compare the mean over the baseline's seeds
            note = f"fresh seed(s) {_seeds_str(sorted(set(f.seeds) - set(old_seeds)))} not in the baseline"
            f = f.over(old_seeds)
        report.rows.append(_compare(key, old, f, band, old_seeds, which, note))
        for seed, value in sorted(per_seed.items()):
            fs = None if f is None or seed not in f.per_seed else _Fresh(*f.per_seed[seed], (seed,))
            report.rows.append(_compare(key, value, fs, band, (seed,), str(seed), ""))
    for key in sorted(set(fresh) - in_baseline):
        f = fresh[key]
        status = "new" if f.comparable else "not-comparable"
        note = "not in the baseline" + ("" if f.comparable else "; made with unpinned/random weights")
        report.rows.append(CheckRow(*key, old=None, new=f.value, band=None, status=status,
                                    failed=strict, note=note))
    return report


def _compare(key: Key, old: float, f: _Fresh | None, band: tuple[float, float], old_seeds: tuple[int, ...],
             seed: str, note: str) -> CheckRow:
    """One baseline number against its fresh counterpart (``seed``: the row's :attr:`CheckRow.seed`)."""
    if f is None:
        what = f"seed {seed}" if seed and seed != "mean" else "in the baseline"
        return CheckRow(*key, old=old, new=None, band=band, status="missing", failed=True, seed=seed,
                        note=f"{what}, not in the fresh results")
    if not f.comparable:
        return CheckRow(*key, old=old, new=f.value, band=band, status="not-comparable", failed=True, seed=seed,
                        note="fresh value made with unpinned/random weights")
    if old_seeds and f.seeds and old_seeds != f.seeds:
        return CheckRow(*key, old=old, new=f.value, band=band, status="not-comparable", failed=True, seed=seed,
                        note=f"seeds {_seeds_str(old_seeds)} -> {_seeds_str(f.seeds)}")
    if within_band(old, f.value, *band):
        return CheckRow(*key, old=old, new=f.value, band=band, status="ok", seed=seed, note=note)
    return CheckRow(*key, old=old, new=f.value, band=band, status="drift", failed=True, seed=seed, note=note)


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    x = to_float(x)
    return "nan" if math.isnan(x) else f"{x:.6g}"


def _fmt_band(r: CheckRow) -> str:
    if r.band is None:
        return "-"
    a, rel = r.band
    return f"±{r.width:.4g} (abs {a:g}, rel {rel:g})"


def format_report(report: CheckReport, show_all: bool = False) -> str:
    """A plain-text table (old, new, delta, band, status) of the non-ok rows, then a summary line.

    Plain text rather than a rich table so CI logs and ``grep`` see every cell unwrapped.
    """
    rows = report.rows if show_all else [r for r in report.rows if r.status != "ok"]
    lines = []
    if rows:
        header = ("method", "task", "protocol", "metric", "old", "new", "delta", "band", "status", "note")
        with_seed = any(r.seed for r in rows)  # a column of its own only when some entry has several seeds
        if with_seed:
            header = header[:4] + ("seed",) + header[4:]
        cells = []
        for r in rows:
            delta = "-"
            if r.old is not None and r.new is not None:
                d = to_float(r.new) - to_float(r.old)
                delta = "nan" if math.isnan(d) else f"{d:+.4g}"
            status = r.status.upper() if r.failed else r.status
            cells.append((r.method, r.task, r.protocol, r.metric, *((r.seed,) if with_seed else ()),
                          _fmt(r.old), _fmt(r.new), delta, _fmt_band(r), status, r.note))
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
        fmt = lambda c: "  ".join(s.ljust(w) for s, w in zip(c, widths)).rstrip()  # noqa: E731
        lines += [fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, cells), ""]
    lines.append(report.summary())
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Entry points for the CLI
# --------------------------------------------------------------------------------------------

def load_results_csv(path: str | Path):
    """A long-format results CSV (e.g. ``reports/<dataset>/results.csv``) as a DataFrame."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"results file {path} does not exist (run `benchmark report` or pass --runs)")
    # Everything as text: keeps protocol names like "10->30" and seeds like "0 1" intact; the
    # check converts values itself (NaN, inf, empty).
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_fresh(results: str | Path | None = None, run_root: str | Path = "runs",
               dataset: str | None = None, profile: str | None = None):
    """Fresh results: a long-format CSV if ``results`` is given, else every results.json under
    ``run_root`` for ``dataset`` / ``profile``. Raises UserError when there is nothing."""
    if results is not None:
        return load_results_csv(results)
    paths = find_results(run_root, dataset, profile)
    if not paths:
        where = Path(run_root) / (dataset or "*")
        raise UserError(f"no results.json under {where} (profile {profile or 'any'}); run "
                        f"`benchmark run --dataset {dataset or 'NAME'}` first or pass --results CSV")
    return load_table(paths)


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def run_check(baseline_path: str | Path, results: str | Path | None = None,
              run_root: str | Path = "runs", strict: bool = False, show_all: bool = False,
              as_json: bool = False) -> int:
    """``benchmark check``: print the drift report (``as_json``: as JSON, every row); return 0 (pass),
    1 (drift) or 2 (cannot check)."""
    try:
        baseline = load_baseline(baseline_path)
        table = load_fresh(results, run_root, baseline["dataset"], baseline["profile"])
        if len(table) and not len(select(table, baseline["dataset"], baseline["profile"])):
            raise UserError(
                f"the results hold no rows for dataset {baseline['dataset']!r}, profile "
                f"{baseline['profile']!r} (found datasets {_values(table, 'dataset')}, profiles "
                f"{_values(table, 'profile')})")
        report = check(table, baseline, strict=strict)
    except UserError as e:
        return _fail(str(e))
    if as_json:
        import json

        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report, show_all=show_all))
    return report.exit_code


def _values(table, column: str) -> list[str]:
    return sorted({_cell(x) for x in table[column]}) if column in table.columns else []


def update_baseline(table, old: dict[str, Any] | None, dataset: str, profile: str,
                    abs_tol: float | None = None, rel_tol: float | None = None,
                    skip_incomparable: bool = False) -> dict[str, Any]:
    """A new baseline from ``table`` that keeps the bands of entries ``old`` already holds.

    New entries get ``old``'s ``metric_bands``/``default_band`` — unless ``abs_tol``/``rel_tol``
    are given, in which case they become the default band and new entries get exactly it (an
    explicit ``--abs/--rel`` means "this band", not "this band except for known families").
    """
    explicit = abs_tol is not None or rel_tol is not None
    old_default = (old or {}).get("default_band") or {"abs": DEFAULT_ABS, "rel": DEFAULT_REL}
    a = old_default["abs"] if abs_tol is None else abs_tol
    r = old_default["rel"] if rel_tol is None else rel_tol
    if explicit:
        per_metric: dict[str, dict] = {}
    elif old is not None:
        # The file's own bands win; metrics it does not know yet (added since it was written) get
        # their class's band rather than the 1e-3 default, which is far below cross-machine noise.
        per_metric = {**metric_class_bands(), **(old.get("metric_bands") or {})}
    else:
        per_metric = metric_class_bands()
    new = make_baseline(table, dataset, profile, a, r, per_metric, skip_incomparable)
    kept = {tuple(str(e[k]) for k in KEY_FIELDS): e for e in (old or {}).get("entries", [])}
    for e in new["entries"]:
        prev = kept.get(tuple(e[k] for k in KEY_FIELDS))
        if prev is not None:
            e["abs"] = float(prev.get("abs", old_default["abs"]))
            e["rel"] = float(prev.get("rel", old_default["rel"]))
    return new


def run_update_baseline(baseline_path: str | Path, results: str | Path | None = None,
                        run_root: str | Path = "runs", dataset: str | None = None,
                        profile: str | None = None, abs_tol: float | None = None,
                        rel_tol: float | None = None, skip_incomparable: bool = False) -> int:
    """``benchmark check --update-baseline``: (re)write the baseline from the current results.

    ``dataset``/``profile`` default to the existing baseline's, else to the only dataset in the
    results and ``smoke``. Entries that already exist keep their (possibly hand-edited) bands.
    Returns 0 on success, 2 with a message otherwise.
    """
    path = Path(baseline_path)
    try:
        old = load_baseline(path) if path.exists() else None
        dataset = dataset or (old or {}).get("dataset")
        profile = profile or (old or {}).get("profile") or "smoke"
        table = load_fresh(results, run_root, dataset, profile)
        if not dataset:
            found = [d for d in _values(table, "dataset") if d]
            if len(found) != 1:
                raise UserError(f"pass --dataset: the results hold datasets {found}")
            dataset = found[0]
        new = update_baseline(table, old, dataset, profile, abs_tol, rel_tol, skip_incomparable)
        write_baseline(path, new)
    except UserError as e:
        return _fail(str(e))
    old_keys = {tuple(str(e[k]) for k in KEY_FIELDS) for e in (old or {}).get("entries", [])}
    new_keys = {tuple(e[k] for k in KEY_FIELDS) for e in new["entries"]}
    print(f"wrote {path}: {len(new_keys)} entries for {dataset}/{profile} "
          f"({len(new_keys & old_keys)} kept their bands, {len(new_keys - old_keys)} added, "
          f"{len(old_keys - new_keys)} dropped)")
    return 0
