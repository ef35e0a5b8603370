"""SAVP (Lee et al. 2018) and its VAE-only, GAN-only and deterministic ablations.

Official code: ``alexlee-gk/video_prediction`` (TF1). See README.md for the profiles and deviations.
"""

from methods.savp import method  # noqa: F401  (registers "savp", "savp_vae", "savp_gan", "savp_det")
