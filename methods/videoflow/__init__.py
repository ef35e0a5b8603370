"""VideoFlow (Kumar et al. 2020, ICLR, arXiv 1903.01434): ``videoflow``. Importing this package
registers it; see README.md."""

from methods.videoflow import method  # noqa: F401
