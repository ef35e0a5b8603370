"""P2P (Wang et al. 2019, arXiv 1904.02912): ``p2p``, two-ended prediction. Importing this package
registers it; see README.md."""

from methods.p2p import method  # noqa: F401
