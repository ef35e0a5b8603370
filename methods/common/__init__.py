"""Building blocks several reproduced papers share, so that a fix lands everywhere.

* :mod:`methods.common.init`      – weight initialisation (DCGAN/VGAN Gaussian init).
* :mod:`methods.common.dcgan`     – DCGAN-style 2D conv encoder/decoder for any power-of-two frame
  size (optional U-Net skips as in SVG's ``dcgan_64``), used per frame or as VGAN's background stream.
* :mod:`methods.common.video3d`   – VGAN-style 3D conv encoder (its discriminator trunk) and the
  one-/two-stream fractionally-strided 3D generators.
* :mod:`methods.common.recurrent` – an LSTM stack (SVG's frame predictor shape), a ConvLSTM cell and
  a GRU cell unrolled over a sequence (MoCoGAN's motion RNN, NAVSLP's transient RNN).
* :mod:`methods.common.optim`     – :class:`OptimizerGroup`, several optimisers stepped as one phase.

Everything here is a plain ``nn.Module`` built from explicit arguments, with no harness imports.
Videos inside 3D models are ``(N, C, T, H, W)``; :func:`methods.common.video3d.to_ncthw` converts
from the harness layout ``(N, T, C, H, W)``.
"""

from methods.common.dcgan import Conv2dDecoder, Conv2dEncoder, spatial_levels  # noqa: F401
from methods.common.init import init_normal_  # noqa: F401
from methods.common.norm import ScaleBatchNorm1d, ScaleBatchNorm2d, ScaleBatchNorm3d  # noqa: F401
from methods.common.optim import OptimizerGroup  # noqa: F401
from methods.common.recurrent import ConvLSTMCell, GRUSequence, LSTMStack  # noqa: F401
from methods.common.video3d import (  # noqa: F401
    Conv3dEncoder, OneStreamGenerator, TwoStreamGenerator, VideoTrunk3d, temporal_levels, to_ncthw, to_ntchw,
)
