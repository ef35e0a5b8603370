"""HTML leaderboards rendered from run results (reports only read results; they never run models).

>>> from benchmark.report import render_report  # render_report(dataset, run_root, out_dir, profile)
"""

from benchmark.report.render import render_report

__all__ = ["render_report"]
