"""Render the HTML leaderboard of one dataset from the ``results.json`` files of its runs.

Reports only read results (see :mod:`benchmark.results`); they never run models. One call writes,
into ``out_dir``::

    index.html    the leaderboard: one table per (task, protocol), sample galleries, plots
    results.csv   the long-format table (header = benchmark.results.COLUMNS)
    leaderboard.tex, .md, .csv   the tables for a paper or a README (:mod:`~benchmark.report.tables`)
    assets/       copied galleries, manifests and results.json files, per-timestep and loss plots

The page is self-contained (inline CSS and JS, relative links only), so it works when opened from
disk. ``assets/`` is built in a temporary folder and swapped in whole; the two files are written
atomically; a failed render leaves the previous report as it was.

The parts: :mod:`~benchmark.report.format` (numbers, protocols, column order),
:mod:`~benchmark.report.runs` (reading results and logs), :mod:`~benchmark.report.plots`,
:mod:`~benchmark.report.views` (what each section shows) and this module (the page).

>>> from benchmark.report import render_report
>>> render_report("moving-shapes", Path("runs"), Path("reports/moving-shapes"))  # doctest: +SKIP
PosixPath('reports/moving-shapes/index.html')
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import benchmark
from benchmark.report.format import describe_protocol, format_metric, metric_direction, metric_order  # noqa: F401
from benchmark.report.runs import Run, load_runs, read_train_log  # noqa: F401
from benchmark.report.plots import plot_cache
from benchmark.report.views import Assets, build_section, build_training, crowd_studies, run_links
from benchmark.results import COLUMNS, load_table
from benchmark.utils import UserError, write_text_atomic

TASK_ORDER = ("synthesis", "prediction")


def figure_cache(out_dir: Path) -> Path:
    """Where the figures of the last rendering into ``out_dir`` are kept by content key
    (:func:`benchmark.report.plots.plot_cache`): vidbench's cache folder, one per report folder,
    so the report folder itself holds only the report."""
    from benchmark.utils import cache_home, sha256_bytes

    return cache_home() / "report-figures" / sha256_bytes(str(Path(out_dir).resolve()).encode())[:16]


def environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("benchmark.report", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def now() -> str:
    """UTC time of rendering (``SOURCE_DATE_EPOCH`` fixes it, for byte-identical rebuilds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def render_report(dataset: str, run_root: Path, out_dir: Path, profile: str | None = None) -> Path:
    """Write the leaderboard of ``dataset`` from every ``run_root/<dataset>/**/results.json``.

    Args:
        dataset: dataset name (the folder under ``run_root``).
        run_root: the runs folder, e.g. ``runs/``.
        out_dir: where to write ``index.html``, ``results.csv`` and ``assets/``.
        profile: only runs of this profile (real-data runs are always kept).

    Returns:
        The path of ``index.html``.

    Raises:
        UserError: no results found, or a results.json is unreadable.
    """
    run_root, out_dir = Path(run_root), Path(out_dir)
    runs = load_runs(dataset, run_root, profile)
    if not runs:
        where = run_root / dataset
        raise UserError(f"no results.json under {where}" + (f" for profile {profile!r}" if profile else "")
                        + "; run `benchmark evaluate` (or `benchmark run`) first")

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_assets = Path(tempfile.mkdtemp(prefix=".assets-", dir=out_dir))
    try:
        assets = Assets(tmp_assets)
        links = {r.slug: run_links(r, assets) for r in runs}

        grouped: dict[tuple[str, str], list[tuple[Run, dict[str, Any]]]] = {}
        for r in runs:
            for task, t in (r.data.get("tasks") or {}).items():
                if not isinstance(t, dict) or not isinstance(t.get("protocol"), dict):
                    raise UserError(f"{r.path}: task {task!r} has no protocol record")
                pname = str(t["protocol"].get("name") or task)
                grouped.setdefault((task, pname), []).append((r, t))
        keys = sorted(grouped, key=lambda k: (TASK_ORDER.index(k[0]) if k[0] in TASK_ORDER else 99, k))
        with plot_cache(figure_cache(out_dir)):  # unchanged figures are copied, not drawn again
            sections = [build_section(task, pname, grouped[(task, pname)], assets, links) for task, pname in keys]
            training = build_training(runs, assets)
        crowd = crowd_studies(out_dir, dataset, sections)

        from benchmark.report.tables import FORMATS, build_tables, render_tables

        leaderboards = build_tables(dataset, runs)
        table_texts = {f"leaderboard.{suffix}": render_tables(leaderboards, fmt) for fmt, suffix in FORMATS.items()}
        html = environment().get_template("index.html.j2").render(tables=list(table_texts),
            dataset=dataset, generated=now(), version=benchmark.__version__, profile=profile,
            run_root=str(run_root / dataset), n_runs=len(runs), sections=sections, training=training,
            methods=sorted({r.label() for r in runs if not r.is_real}),
            any_nc=any(not r.comparable for r in runs), crowd=crowd)

        table = load_table(r.path for r in runs)
        csv_text = table.to_csv(index=False, columns=list(COLUMNS))

        # Swap assets in whole, then write the two files (index last).
        final = out_dir / "assets"
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".assets-old-", dir=out_dir))
            os.replace(final, old / "assets")
        try:
            os.replace(tmp_assets, final)
        except OSError:
            if old is not None:
                os.replace(old / "assets", final)  # put the previous report's assets back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp_assets, ignore_errors=True)
        raise
    write_text_atomic(out_dir / "results.csv", csv_text)
    for name, text in table_texts.items():
        write_text_atomic(out_dir / name, text)
    return write_text_atomic(out_dir / "index.html", html)
