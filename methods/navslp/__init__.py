"""NAVSLP (Aich et al. 2020): non-adversarial video synthesis with learned static and
transient latent priors, a DCGAN generator and a GRU.

Official code: ``abhishekaich27/Navsynth`` (PyTorch). See README.md for profiles and deviations.
"""

from methods.navslp import method  # noqa: F401  (registers "navslp")
