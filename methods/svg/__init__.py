"""SVG (Denton & Fergus 2018, arXiv 1802.07687): ``svg_lp`` and ``svg_fp``. Importing this package
registers both; see README.md."""

from methods.svg import method  # noqa: F401
