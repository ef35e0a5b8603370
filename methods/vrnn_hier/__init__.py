"""Hierarchical conditional VRNN (Castrejón, Ballas & Courville 2019, ICCV, arXiv 1904.12165).

Official code: ``facebookresearch/improved_vrnn`` (PyTorch). See README.md for the profiles and deviations.
"""

from methods.vrnn_hier import method  # noqa: F401  (registers "vrnn_hier")
