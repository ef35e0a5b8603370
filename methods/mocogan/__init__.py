"""MoCoGAN (Tulyakov et al. 2018): content code + GRU motion codes, image and video discriminators.

Official code: ``sergeytulyakov/mocogan`` (PyTorch). See README.md for the profiles and deviations.
"""

from methods.mocogan import method  # noqa: F401  (registers "mocogan")
