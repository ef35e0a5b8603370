"""Latent ordinary differential equations (Chen et al. 2018, "Neural Ordinary Differential
Equations", NeurIPS, arXiv 1806.07366), solved with ``torchdiffeq``.

* :class:`ODEMLP` – a time-invariant dynamics function ``dz/dt = f(z)``: three linear layers with
  ELU between them (the latent-ODE function of torchdiffeq's ``examples/latent_ode.py`` and of
  EncODEDec).
* :func:`solve` – integrate ``z(t)`` from ``z(times[0]) = z0`` to every time in ``times`` with a
  named solver and tolerances (adaptive ``dopri5`` by default, torchdiffeq's defaults
  ``rtol=1e-7``, ``atol=1e-9``), optionally with the adjoint method for O(1) memory gradients.

torchdiffeq is imported when :func:`solve` runs, with a clear error when it is missing.
"""

from __future__ import annotations

from torch import Tensor, nn


class ODEMLP(nn.Module):
    """``f(t, z)``: ``(..., latent_dim)`` -> ``(..., latent_dim)``, independent of ``t``.

    Counts its function evaluations in ``nfe`` (reset it before a solve to read the solver's cost).

    >>> import torch
    >>> f = ODEMLP(4, 8)
    >>> tuple(f(torch.tensor(0.0), torch.zeros(2, 4)).shape), f.nfe
    ((2, 4), 1)
    """

    def __init__(self, latent_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ELU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.ELU(), nn.Linear(hidden_dim, latent_dim))
        self.nfe = 0

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        return self.net(z)


def solve(func: nn.Module, z0: Tensor, times: Tensor, method: str = "dopri5", rtol: float = 1e-7,
          atol: float = 1e-9, adjoint: bool = False, step_size: float | None = None) -> Tensor:
    """``z`` at each of ``times`` ``(T,)`` (strictly increasing, ``times[0]`` the time of ``z0``).

    Args:
        func: the dynamics ``f(t, z)`` (an ``nn.Module``; the adjoint method needs its parameters).
        z0: ``(B, D)`` state at ``times[0]``.
        times: ``(T,)`` float times, strictly increasing.
        method: a torchdiffeq solver name (``dopri5``, ``rk4``, ``euler``, ...).
        rtol, atol: tolerances of adaptive solvers.
        adjoint: backpropagate with the adjoint ODE (``odeint_adjoint``) instead of through the solver.
        step_size: step of fixed-grid solvers (None: their default, one step per output time).

    Returns:
        ``(T, B, D)``; ``[0]`` equals ``z0``.
    """
    try:
        import torchdiffeq
    except ImportError as e:  # pragma: no cover - pinned in requirements.txt
        raise ImportError("the latent ODE needs torchdiffeq (pinned in requirements.txt): "
                          "pip install torchdiffeq==0.2.5") from e
    if times.ndim != 1 or times.numel() < 1:
        raise ValueError(f"times must be a 1-D tensor of at least one time, got shape {tuple(times.shape)}")
    if times.numel() > 1 and not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"times must be strictly increasing, got {times.tolist()}")
    odeint = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    options = {"step_size": step_size} if step_size is not None else None
    return odeint(func, z0, times.to(z0), rtol=rtol, atol=atol, method=method, options=options)
