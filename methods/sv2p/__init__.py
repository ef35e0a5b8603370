"""SV2P (Babaeizadeh et al. 2018): CDNA predictor with a latent from an inference network, 3-phase training.

Official code: ``tensorflow/tensor2tensor`` (TF1). See README.md for the profiles and deviations.
"""

from methods.sv2p import method  # noqa: F401  (registers "sv2p")
