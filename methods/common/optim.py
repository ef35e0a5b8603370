"""Several optimisers driven as one, for a training-loop phase that updates parameter sets with
different optimisers from one loss (NAVSLP's stage 2: SGD with momentum on the latent vectors and
Adam on the RNN, Aich et al. 2020 supplementary B).

:class:`OptimizerGroup` has the slice of the ``torch.optim.Optimizer`` interface the shared loop
uses: ``zero_grad``, ``step``, ``param_groups`` (concatenated; the loop logs ``param_groups[0]``'s
learning rate and all-reduces/clips the parameters of every group), ``state_dict`` and
``load_state_dict``.
"""

from __future__ import annotations

from typing import Any

import torch


class OptimizerGroup:
    """``OptimizerGroup(sgd, adam)`` steps both; its state dict holds each one's.

    >>> a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    >>> opt = OptimizerGroup(torch.optim.SGD([a], lr=1.0), torch.optim.Adam([b], lr=0.1))
    >>> (a.sum() + b.sum()).backward(); opt.step()
    >>> a.tolist(), len(opt.param_groups)
    ([0.0, 0.0], 2)
    """

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        if not optimizers:
            raise ValueError("OptimizerGroup needs at least one optimizer")
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        states = state["optimizers"]
        if len(states) != len(self.optimizers):
            raise ValueError(f"OptimizerGroup: state of {len(states)} optimizers, this group has {len(self.optimizers)}")
        for opt, s in zip(self.optimizers, states):
            opt.load_state_dict(s)
