"""DDPAE (Hsieh et al. 2018, NeurIPS, arXiv 1806.04166): components with fixed content and RNN-predicted poses.

Official code: ``jthsieh/DDPAE-video-prediction`` (PyTorch + Pyro). See README.md for the profiles and deviations.
"""

from methods.ddpae import method  # noqa: F401  (registers "ddpae")
