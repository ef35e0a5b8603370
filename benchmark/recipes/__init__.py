"""The papers' experiments as recipes (see :mod:`benchmark.reproduce`).

One module per paper; each calls :func:`benchmark.reproduce.register_recipe` at import. Add a
module here with an explicit import (no entry-point magic), e.g. ``from benchmark.recipes import navslp``.
"""

from benchmark.recipes import tgan, vgan  # noqa: F401
from benchmark.recipes import navslp  # noqa: F401
from benchmark.recipes import ddpae, encodedec, vrnn_hier  # noqa: F401
from benchmark.recipes import svg_family  # noqa: F401
from benchmark.recipes import video_vqvae, videoflow  # noqa: F401
from benchmark.recipes import savp  # noqa: F401
from benchmark.recipes import metric_sensitivity  # noqa: F401
