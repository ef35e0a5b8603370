"""BatchNorm with a learned scale ``gamma`` but no shift ``beta`` (Chainer's
``BatchNormalization(use_beta=False)``, used by TGAN's "no-beta" configs, ``pfnet-research/tgan``).

>>> import torch
>>> bn = ScaleBatchNorm3d(4)
>>> [n for n, _ in bn.named_parameters()], tuple(bn(torch.randn(2, 4, 3, 5, 5)).shape)
(['weight'], (2, 4, 3, 5, 5))
"""

from __future__ import annotations

from torch import nn


class _NoShift:
    def _drop_shift(self) -> None:
        self.bias = None  # F.batch_norm treats a None bias as zero; no parameter is registered


class ScaleBatchNorm1d(nn.BatchNorm1d, _NoShift):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True)
        self._drop_shift()


class ScaleBatchNorm2d(nn.BatchNorm2d, _NoShift):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True)
        self._drop_shift()


class ScaleBatchNorm3d(nn.BatchNorm3d, _NoShift):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True)
        self._drop_shift()
