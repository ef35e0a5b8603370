"""Checkpoint files in the format of the SVG family's official releases, for import tests.

Upstream (``edenton/svg``, ``edenton/drnet-py``) saved ``torch.save({...: <module object>, 'opt':
<argparse.Namespace>})`` from PyTorch 0.4: pickles of module *objects* whose classes live in the
repositories' ``models.<file>`` modules, in the legacy (pre-zip) ``torch.save`` format. These
builders recreate that layout -- the class paths (``models.dcgan_64.encoder``, ``models.lstm.lstm``,
...), the attribute names and nesting (``c1.main.0``, ``upc5``, ``lstm.0`` LSTMCells, ...), so the
state dicts have upstream's names and order -- plus PyTorch 0.4's per-module ``_backend`` object
(class ``torch.nn.backends.thnn.THNNFunctionBackend``) and the LSTMs' cached ``hidden`` tensors.
The classes are registered under ``sys.modules['models...']`` only while saving.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import types
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

_FAKE: dict[str, types.ModuleType] = {}


def _module(name: str) -> types.ModuleType:
    if name not in _FAKE:
        _FAKE[name] = types.ModuleType(name)
    return _FAKE[name]


def _register(cls: type, module: str, name: str) -> type:
    cls.__module__, cls.__qualname__, cls.__name__ = module, name, name
    setattr(_module(module), name, cls)
    return cls


def _class(module: str, name: str) -> type:
    """The (one) fake class ``module.name``, an ``nn.Module`` subclass."""
    existing = getattr(_module(module), name, None)
    return existing if existing is not None else _register(type(name, (nn.Module,), {}), module, name)


class _Backend:
    """Stand-in for PyTorch 0.4's ``torch.nn.backends.thnn.THNNFunctionBackend`` (pickled per module)."""


_register(_Backend, "torch.nn.backends.thnn", "THNNFunctionBackend")


@contextlib.contextmanager
def _installed() -> Iterator[None]:
    """Make the fake ``models.*`` (and the old backend module) importable while pickling."""
    names = sorted(_FAKE)
    parents = {n.rsplit(".", 1)[0] for n in names if "." in n} - set(names)
    saved = {n: sys.modules.get(n) for n in [*names, *parents]}
    try:
        for p in parents:
            if p not in sys.modules:
                sys.modules[p] = types.ModuleType(p)
        for n in names:
            sys.modules[n] = _FAKE[n]
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def _old(module: nn.Module) -> nn.Module:
    """Give every submodule the ``_backend`` attribute PyTorch 0.4 pickled with it."""
    for m in module.modules():
        m.__dict__["_backend"] = _Backend()
    return module


# ------------------------------------------------------------------------------ SVG layout ---

def _conv_block(nin: int, nout: int, transposed: bool = False) -> nn.Module:
    block = nn.Module()
    conv = nn.ConvTranspose2d if transposed else nn.Conv2d
    block.main = nn.Sequential(conv(nin, nout, 4, 2, 1), nn.BatchNorm2d(nout), nn.LeakyReLU(0.2, inplace=True))
    return block


def _vgg_layer(nin: int, nout: int) -> nn.Module:
    layer = nn.Module()
    layer.main = nn.Sequential(nn.Conv2d(nin, nout, 3, 1, 1), nn.BatchNorm2d(nout), nn.LeakyReLU(0.2, inplace=True))
    return layer


def _classes(kind: str) -> tuple[type, type, type, type]:
    """Upstream's per-file helper and codec classes, registered at their paths."""
    mod = f"models.{kind}"
    helper = _class(mod, "vgg_layer" if kind.startswith("vgg") else "dcgan_conv")
    return helper, _class(mod, "dcgan_upconv"), _class(mod, "encoder"), _class(mod, "decoder")


def _retag(module: nn.Module, cls: type) -> nn.Module:
    module.__class__ = cls
    return module


def svg_codec(kind: str, dim: int, nc: int) -> tuple[nn.Module, nn.Module]:
    """Upstream ``models/<kind>.py`` ``encoder(dim, nc)`` / ``decoder(dim, nc)`` (kind: dcgan_64, vgg_64)."""
    helper, upcls, enc_cls, dec_cls = _classes(kind)
    enc, dec = nn.Module(), nn.Module()
    if kind == "dcgan_64":
        for i, (a, b) in enumerate([(nc, 64), (64, 128), (128, 256), (256, 512)], 1):
            setattr(enc, f"c{i}", _retag(_conv_block(a, b), helper))
        enc.c5 = nn.Sequential(nn.Conv2d(512, dim, 4, 1, 0), nn.BatchNorm2d(dim), nn.Tanh())
        dec.upc1 = nn.Sequential(nn.ConvTranspose2d(dim, 512, 4, 1, 0), nn.BatchNorm2d(512), nn.LeakyReLU(0.2, True))
        for i, (a, b) in enumerate([(1024, 256), (512, 128), (256, 64)], 2):
            setattr(dec, f"upc{i}", _retag(_conv_block(a, b, transposed=True), upcls))
        dec.upc5 = nn.Sequential(nn.ConvTranspose2d(128, nc, 4, 2, 1), nn.Sigmoid())
    elif kind == "vgg_64":
        stages = [[(nc, 64), (64, 64)], [(64, 128), (128, 128)], [(128, 256), (256, 256), (256, 256)],
                  [(256, 512), (512, 512), (512, 512)]]
        for i, st in enumerate(stages, 1):
            setattr(enc, f"c{i}", nn.Sequential(*[_retag(_vgg_layer(a, b), helper) for a, b in st]))
        enc.c5 = nn.Sequential(nn.Conv2d(512, dim, 4, 1, 0), nn.BatchNorm2d(dim), nn.Tanh())
        enc.mp = nn.MaxPool2d(2, 2, 0)
        dec.upc1 = nn.Sequential(nn.ConvTranspose2d(dim, 512, 4, 1, 0), nn.BatchNorm2d(512), nn.LeakyReLU(0.2, True))
        ups = [[(1024, 512), (512, 512), (512, 256)], [(512, 256), (256, 256), (256, 128)], [(256, 128), (128, 64)]]
        for i, st in enumerate(ups, 2):
            setattr(dec, f"upc{i}", nn.Sequential(*[_retag(_vgg_layer(a, b), helper) for a, b in st]))
        dec.upc5 = nn.Sequential(_retag(_vgg_layer(128, 64), helper), nn.ConvTranspose2d(64, nc, 3, 1, 1), nn.Sigmoid())
        dec.up = nn.UpsamplingNearest2d(scale_factor=2)
    else:
        raise ValueError(kind)
    enc.dim = dec.dim = dim
    return _retag(enc, enc_cls), _retag(dec, dec_cls)


def svg_lstm(kind: str, input_size: int, output_size: int, hidden: int, layers: int, batch: int = 4) -> nn.Module:
    """Upstream ``models/lstm.py`` ``lstm`` / ``gaussian_lstm`` with its cached ``hidden`` state."""
    cls = _class("models.lstm", kind)
    m = nn.Module()
    m.input_size, m.output_size, m.hidden_size, m.n_layers, m.batch_size = input_size, output_size, hidden, layers, batch
    m.embed = nn.Linear(input_size, hidden)
    m.lstm = nn.ModuleList([nn.LSTMCell(hidden, hidden) for _ in range(layers)])
    if kind == "lstm":
        m.output = nn.Sequential(nn.Linear(hidden, output_size), nn.Tanh())
    else:
        m.mu_net = nn.Linear(hidden, output_size)
        m.logvar_net = nn.Linear(hidden, output_size)
    m.hidden = [(torch.zeros(batch, hidden), torch.zeros(batch, hidden)) for _ in range(layers)]
    return _retag(m, cls)


def _randomise(*modules: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in modules:
            for name, t in module.state_dict().items():
                if t.is_floating_point():
                    t.copy_(torch.rand(t.shape, generator=g) + (0.5 if "running_var" in name else -0.5))


def save_svg_checkpoint(path: Path, *, learned_prior: bool = True, backbone: str = "dcgan", channels: int = 1,
                        g_dim: int = 128, z_dim: int = 10, n_past: int = 5, n_future: int = 10,
                        extra: dict[str, Any] | None = None) -> dict[str, nn.Module]:
    """An upstream-format SVG checkpoint (``train_svg_lp.py``/``train_svg_fp.py``'s ``model.pth``)
    with random weights; returns the modules written."""
    enc, dec = svg_codec(f"{backbone}_64", g_dim, channels)
    nets = {"encoder": enc, "decoder": dec,
            "frame_predictor": svg_lstm("lstm", g_dim + z_dim, g_dim, 256, 2),
            "posterior": svg_lstm("gaussian_lstm", g_dim, z_dim, 256, 1)}
    if learned_prior:
        nets["prior"] = svg_lstm("gaussian_lstm", g_dim, z_dim, 256, 1)
    _randomise(*nets.values())
    fields = dict(model=backbone, image_width=64, channels=channels, g_dim=g_dim, z_dim=z_dim, n_past=n_past,
                  n_future=n_future, last_frame_skip=False, beta=1e-4, lr=2e-3, beta1=0.9, rnn_size=256,
                  dataset="smmnist", optimizer=torch.optim.Adam)
    opt = argparse.Namespace(**{**fields, **(extra or {})})
    with _installed():
        torch.save({**{k: _old(v) for k, v in nets.items()}, "opt": opt}, path, _use_new_zipfile_serialization=False)
    return nets
