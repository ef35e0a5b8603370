"""DRNet (Denton & Birodkar 2017, arXiv 1705.10915): ``drnet``. Importing this package registers it;
see README.md."""

from methods.drnet import method  # noqa: F401
