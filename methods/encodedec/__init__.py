"""EncODEDec (Voleti, Kahou & Pal 2019, arXiv 2109.03292): encoder -> latent neural ODE -> decoder.

Official code: voletiv's torchdiffeq fork, branch ``vikram/mmnist_rnn``. See README.md for the profiles and deviations.
"""

from methods.encodedec import method  # noqa: F401  (registers "encodedec")
