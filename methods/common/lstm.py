"""The vector LSTMs of the SVG family: a deterministic predictor and a Gaussian LSTM.

SVG (Denton & Fergus 2018, ``edenton/svg`` ``models/lstm.py``), DRNet's pose LSTM (Denton &
Birodkar 2017, ``edenton/drnet-py`` ``models/lstm.py``) and P2P (Wang et al. 2019,
``yccyenchicheng/p2pvg`` ``models/lstm.py``) all use the same two networks:

* :class:`VectorLSTM` (upstream ``lstm``): ``Linear(in, hidden)`` embedding, ``L`` stacked LSTM
  layers, ``Linear(hidden, out)`` + tanh (optionally L2-normalised: DRNet's ``--normalize``).
* :class:`GaussianLSTM` (upstream ``gaussian_lstm``): the same trunk with two linear heads giving
  ``mu`` and ``logvar``, and a reparameterised sample ``z = mu + exp(logvar / 2) * eps``.

Upstream steps ``nn.LSTMCell``s one time step at a time with the state kept on the module. Here
the state is explicit and a whole sequence can go through one ``nn.LSTM`` call (its weights and
parameter count are exactly those of the stacked cells: ``weight_ih_l{k}`` = cell ``k``'s
``weight_ih`` and so on), which is how teacher-forced training runs; generation steps with
sequences of length 1. Inputs are ``(B, T, in)`` (batch first) or ``(B, in)`` for one step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LSTMState = tuple[Tensor, Tensor]


class _Trunk(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, num_layers: int) -> None:
        super().__init__()
        self.input_dim, self.hidden_dim, self.num_layers = input_dim, hidden_dim, num_layers
        self.embed = nn.Linear(input_dim, hidden_dim)
        self.lstm = nn.LSTM(hidden_dim, hidden_dim, num_layers=num_layers, batch_first=True)

    def trunk(self, x: Tensor, state: LSTMState | None) -> tuple[Tensor, LSTMState, bool]:
        single = x.ndim == 2
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"{type(self).__name__}: input has {x.shape[-1]} features, expected {self.input_dim}")
        y, state = self.lstm(self.embed(x[:, None] if single else x), state)
        return y, state, single


class VectorLSTM(_Trunk):
    """Deterministic LSTM: ``(B, [T,] in) -> (B, [T,] out)`` and the new state.

    >>> lstm = VectorLSTM(8, 16, 4, num_layers=2)
    >>> y, state = lstm(torch.zeros(3, 5, 8))     # a teacher-forced sequence
    >>> y1, state = lstm(torch.zeros(3, 8), state)  # one more step
    >>> tuple(y.shape), tuple(y1.shape)
    ((3, 5, 4), (3, 4))
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int = 2,
                 normalize: bool = False) -> None:
        super().__init__(input_dim, hidden_dim, num_layers)
        self.output_dim, self.normalize = output_dim, normalize
        self.output = nn.Sequential(nn.Linear(hidden_dim, output_dim), nn.Tanh())

    def forward(self, x: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        y, state, single = self.trunk(x, state)
        out = self.output(y)
        if self.normalize:
            out = F.normalize(out, p=2, dim=-1)
        return (out[:, 0] if single else out), state


class GaussianLSTM(_Trunk):
    """Diagonal-Gaussian LSTM: ``(z, mu, logvar)`` each ``(B, [T,] out)``, and the new state.

    ``noise`` (same shape as ``mu``) replaces the standard normal draw (for reproducible sampling
    with a generator, or equality tests); by default it is drawn with ``generator``.

    >>> q = GaussianLSTM(8, 16, 4)
    >>> (z, mu, logvar), state = q(torch.zeros(3, 5, 8))
    >>> tuple(z.shape), tuple(mu.shape)
    ((3, 5, 4), (3, 5, 4))
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int = 1) -> None:
        super().__init__(input_dim, hidden_dim, num_layers)
        self.output_dim = output_dim
        self.mu_net = nn.Linear(hidden_dim, output_dim)
        self.logvar_net = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: Tensor, state: LSTMState | None = None, *, noise: Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[tuple[Tensor, Tensor, Tensor], LSTMState]:
        y, state, single = self.trunk(x, state)
        if single:
            y = y[:, 0]
        mu, logvar = self.mu_net(y), self.logvar_net(y)
        if noise is None:
            noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * noise
        return (z, mu, logvar), state


def gaussian_kl(mu1: Tensor, logvar1: Tensor, mu2: Tensor, logvar2: Tensor) -> Tensor:
    """Elementwise ``KL(N(mu1, exp(logvar1)) || N(mu2, exp(logvar2)))`` (SVG-LP's ``kl_criterion``
    before its sum; with ``mu2 = logvar2 = 0`` it is SVG-FP's KL to N(0, I)).

    >>> float(gaussian_kl(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1)))
    0.0
    """
    return 0.5 * (logvar2 - logvar1) + (logvar1.exp() + (mu1 - mu2) ** 2) / (2 * logvar2.exp()) - 0.5


def init_svg_(module: nn.Module) -> nn.Module:
    """Upstream's ``utils.init_weights`` applied with ``module.apply``: every ``Conv*`` and
    ``Linear`` weight ~ N(0, 0.02) with zero bias, ``BatchNorm*`` weight ~ N(1, 0.02) with zero bias;
    LSTM weights keep PyTorch's default uniform init (upstream's class-name test skips ``LSTMCell``)."""
    from methods.common.init import init_normal_

    return init_normal_(module, std=0.02, linear=True)
