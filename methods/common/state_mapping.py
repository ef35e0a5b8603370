"""Load upstream weights into our modules when the two have the same layers in the same order.

The SVG-family networks here (:mod:`methods.common.frame_codecs`, :mod:`methods.common.lstm`)
register their layers in upstream's order, with upstream's shapes; only the names differ
(``c1.main.0.weight`` upstream vs ``stages.0.layers.0.conv.weight`` here, ``lstm.1.weight_ih``
vs ``lstm.weight_ih_l1``). :func:`map_state_by_order` pairs the two state dicts entry by entry,
checking at each pair that the entry kind (weight, bias, running mean, ...) and the shape agree,
so any architectural mismatch is an error naming the first entry that differs.

BatchNorm's ``num_batches_tracked`` (absent from PyTorch 0.4.0 checkpoints) is matched by name
when upstream has it and set to 0 otherwise; it only matters for ``momentum=None``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

COUNTER = "num_batches_tracked"


def entry_kind(name: str) -> str:
    """The kind of a state entry: its last name component without an LSTM layer suffix.

    >>> entry_kind("lstm.weight_ih_l1"), entry_kind("lstm.1.weight_ih"), entry_kind("c1.main.1.running_var")
    ('weight_ih', 'weight_ih', 'running_var')
    """
    return re.sub(r"_l\d+$", "", name.rsplit(".", 1)[-1])


class StateMappingError(ValueError):
    """Upstream's state does not fit our module (the message names the first mismatch)."""


def pair_state_by_order(module: nn.Module, theirs: Mapping[str, Tensor], what: str = "") -> list[tuple[str, str]]:
    """``(our name, upstream name)`` of every state entry (counters aside), paired in order, each pair
    checked for the same kind and shape.

    Raises :class:`StateMappingError` naming the first pair that differs, or -- when the numbers of
    entries differ -- the entries left without a counterpart (missing in upstream / unexpected).

    >>> a = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    >>> b = nn.ModuleDict({"fc": nn.Linear(3, 4), "bn": nn.BatchNorm1d(4)})
    >>> pair_state_by_order(a, b.state_dict())[:2]
    [('0.weight', 'fc.weight'), ('0.bias', 'fc.bias')]
    >>> try:
    ...     pair_state_by_order(a, nn.Linear(3, 4).state_dict())
    ... except StateMappingError as e:
    ...     print(e)
    upstream has 2 tensors, ours 6 (different architecture: check the backbone, widths and layer counts); ours without a counterpart: 1.weight, 1.bias, 1.running_mean, 1.running_var
    """
    label = f"{what}: " if what else ""
    ours = module.state_dict()
    our_names = [k for k in ours if entry_kind(k) != COUNTER]
    their_names = [k for k in theirs if entry_kind(k) != COUNTER]
    pairs = list(zip(our_names, their_names))
    for mine, other in pairs:
        t = theirs[other]
        if entry_kind(mine) != entry_kind(other) or tuple(ours[mine].shape) != tuple(t.shape):
            raise StateMappingError(f"{label}upstream {other} {tuple(t.shape)} does not match our {mine} "
                                    f"{tuple(ours[mine].shape)}")
    if len(our_names) != len(their_names):
        extra = (f"ours without a counterpart: {', '.join(our_names[len(pairs):])}" if len(our_names) > len(pairs)
                 else f"unexpected upstream entries: {', '.join(their_names[len(pairs):])}")
        raise StateMappingError(f"{label}upstream has {len(their_names)} tensors, ours {len(our_names)} "
                                f"(different architecture: check the backbone, widths and layer counts); {extra}")
    return pairs


def map_state_by_order(module: nn.Module, theirs: Mapping[str, Tensor], what: str = "") -> dict[str, Tensor]:
    """Our ``state_dict`` filled with ``theirs`` entry by entry, in order (counters aside), by the
    pairs of :func:`pair_state_by_order`.

    >>> a = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    >>> b = nn.ModuleDict({"fc": nn.Linear(3, 4), "bn": nn.BatchNorm1d(4)})
    >>> mapped = map_state_by_order(a, b.state_dict())
    >>> sorted(mapped)[:2]
    ['0.bias', '0.weight']
    """
    ours = module.state_dict()
    out: dict[str, Tensor] = {}
    for mine, other in pair_state_by_order(module, theirs, what):
        out[mine] = theirs[other].detach().to(ours[mine].dtype).clone()
    # Counters: pair them by the module they belong to, in order.
    our_counters = [k for k in ours if entry_kind(k) == COUNTER]
    their_counters = [k for k in theirs if entry_kind(k) == COUNTER]
    for i, mine in enumerate(our_counters):
        out[mine] = (theirs[their_counters[i]].detach().clone().to(torch.long)
                     if len(their_counters) == len(our_counters) else torch.zeros((), dtype=torch.long))
    return {k: out[k] for k in ours}
