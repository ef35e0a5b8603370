"""TGAN (Saito, Matsumoto & Saito 2017): temporal generator -> per-frame latents -> image generator,
WGAN critic with singular value clipping. Importing this package registers ``tgan``; see README.md."""

from methods.tgan import method  # noqa: F401
