"""Video VQ-VAE (Walker, Razavi & van den Oord 2021, arXiv 2103.01950): ``video_vqvae``. Importing
this package registers it; see README.md."""

from methods.video_vqvae import method  # noqa: F401
