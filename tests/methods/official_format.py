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
import warnings
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
        # torch.save warns that the (fake) classes' source cannot be read; expected here.
        warnings.filterwarnings("ignore", message="Couldn't retrieve source code", category=UserWarning)
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


def svg_codec(kind: str, dim: int, nc: int, nf: int = 64) -> tuple[nn.Module, nn.Module]:
    """Upstream ``models/<kind>.py`` ``encoder(dim, nc)`` / ``decoder(dim, nc)`` (kind: dcgan_64, vgg_64).

    ``nf``: upstream's first-stage width, fixed at 64 there; smaller here only to keep tests fast."""
    helper, upcls, enc_cls, dec_cls = _classes(kind)
    enc, dec = nn.Module(), nn.Module()
    if kind == "dcgan_64":
        w = [nf, nf * 2, nf * 4, nf * 8]
        for i, (a, b) in enumerate([(nc, w[0]), (w[0], w[1]), (w[1], w[2]), (w[2], w[3])], 1):
            setattr(enc, f"c{i}", _retag(_conv_block(a, b), helper))
        enc.c5 = nn.Sequential(nn.Conv2d(w[3], dim, 4, 1, 0), nn.BatchNorm2d(dim), nn.Tanh())
        dec.upc1 = nn.Sequential(nn.ConvTranspose2d(dim, w[3], 4, 1, 0), nn.BatchNorm2d(w[3]),
                                 nn.LeakyReLU(0.2, True))
        for i, (a, b) in enumerate([(w[3] * 2, w[2]), (w[2] * 2, w[1]), (w[1] * 2, w[0])], 2):
            setattr(dec, f"upc{i}", _retag(_conv_block(a, b, transposed=True), upcls))
        dec.upc5 = nn.Sequential(nn.ConvTranspose2d(w[0] * 2, nc, 4, 2, 1), nn.Sigmoid())
    elif kind == "vgg_64":
        w = [nf, nf * 2, nf * 4, nf * 8]
        stages = [[(nc, w[0]), (w[0], w[0])], [(w[0], w[1]), (w[1], w[1])], [(w[1], w[2]), (w[2], w[2]), (w[2], w[2])],
                  [(w[2], w[3]), (w[3], w[3]), (w[3], w[3])]]
        for i, st in enumerate(stages, 1):
            setattr(enc, f"c{i}", nn.Sequential(*[_retag(_vgg_layer(a, b), helper) for a, b in st]))
        enc.c5 = nn.Sequential(nn.Conv2d(w[3], dim, 4, 1, 0), nn.BatchNorm2d(dim), nn.Tanh())
        enc.mp = nn.MaxPool2d(2, 2, 0)
        dec.upc1 = nn.Sequential(nn.ConvTranspose2d(dim, w[3], 4, 1, 0), nn.BatchNorm2d(w[3]),
                                 nn.LeakyReLU(0.2, True))
        ups = [[(w[3] * 2, w[3]), (w[3], w[3]), (w[3], w[2])], [(w[2] * 2, w[2]), (w[2], w[2]), (w[2], w[1])],
               [(w[1] * 2, w[1]), (w[1], w[0])]]
        for i, st in enumerate(ups, 2):
            setattr(dec, f"upc{i}", nn.Sequential(*[_retag(_vgg_layer(a, b), helper) for a, b in st]))
        dec.upc5 = nn.Sequential(_retag(_vgg_layer(w[0] * 2, w[0]), helper), nn.ConvTranspose2d(w[0], nc, 3, 1, 1),
                                 nn.Sigmoid())
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
                        g_dim: int = 128, z_dim: int = 10, n_past: int = 5, n_future: int = 10, nf: int = 64,
                        rnn_size: int = 256, extra: dict[str, Any] | None = None) -> dict[str, nn.Module]:
    """An upstream-format SVG checkpoint (``train_svg_lp.py``/``train_svg_fp.py``'s ``model.pth``)
    with random weights; returns the modules written (``nf``, ``rnn_size``: smaller for fast tests)."""
    enc, dec = svg_codec(f"{backbone}_64", g_dim, channels, nf)
    nets = {"encoder": enc, "decoder": dec,
            "frame_predictor": svg_lstm("lstm", g_dim + z_dim, g_dim, rnn_size, 2),
            "posterior": svg_lstm("gaussian_lstm", g_dim, z_dim, rnn_size, 1)}
    if learned_prior:
        nets["prior"] = svg_lstm("gaussian_lstm", g_dim, z_dim, rnn_size, 1)
    _randomise(*nets.values())
    fields = dict(model=backbone, image_width=64, channels=channels, g_dim=g_dim, z_dim=z_dim, n_past=n_past,
                  n_future=n_future, last_frame_skip=False, beta=1e-4, lr=2e-3, beta1=0.9, rnn_size=rnn_size,
                  dataset="smmnist", optimizer=torch.optim.Adam)
    opt = argparse.Namespace(**{**fields, **(extra or {})})
    with _installed():
        torch.save({**{k: _old(v) for k, v in nets.items()}, "opt": opt}, path, _use_new_zipfile_serialization=False)
    return nets


# --------------------------------------------------------------------- upstream's forwards ---
# Written from upstream's ``forward`` methods (what each network computes), for comparing outputs
# of the stand-ins with ours on the same weights; the stand-in classes themselves have no forward.

def ref_dcgan_encode(enc: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """SVG ``dcgan_64.encoder`` / DRNet ``dcgan_unet_64.content_encoder``: ``(h (N, dim), [h1..h4])``."""
    skips, h = [], x
    for i in range(1, 5):
        h = getattr(enc, f"c{i}").main(h)
        skips.append(h)
    return enc.c5(h).flatten(1), skips


def _run(seq: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A Sequential whose helper blocks (``vgg_layer``, ``dcgan_conv``) are stand-ins without forward."""
    for layer in seq:
        x = layer.main(x) if hasattr(layer, "main") else layer(x)
    return x


def ref_vgg_encode(enc: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """SVG ``vgg_64.encoder``: stage 1 at full size, each later stage (and ``c5``) after a 2x2 max-pool."""
    skips, h = [], x
    for i in range(1, 5):
        h = _run(getattr(enc, f"c{i}"), h if i == 1 else enc.mp(h))
        skips.append(h)
    return enc.c5(enc.mp(h)).flatten(1), skips


def ref_vgg_decode(dec: nn.Module, vec: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
    """SVG ``vgg_64.decoder``: ``upc1`` on the vector, then upsample x2, join the skip, next stage."""
    d = dec.upc1(vec[:, :, None, None])
    for i, skip in zip(range(2, 6), (skips[3], skips[2], skips[1], skips[0])):
        d = _run(getattr(dec, f"upc{i}"), torch.cat([dec.up(d), skip], 1))
    return d


def ref_dcgan_decode(dec: nn.Module, vec: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
    """SVG ``dcgan_64.decoder`` / DRNet ``dcgan_unet_64.decoder``: ``upc1`` on the vector, then each
    stage on ``[previous, skip]`` from the coarsest skip to the finest."""
    d = dec.upc1(vec[:, :, None, None])
    for i, skip in zip(range(2, 5), (skips[3], skips[2], skips[1])):
        d = getattr(dec, f"upc{i}").main(torch.cat([d, skip], 1))
    return dec.upc5(torch.cat([d, skips[0]], 1))


def ref_pose_encode(ep: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """DRNet ``dcgan_64.pose_encoder``: its ``main`` stack, flattened, L2-normalised when ``normalize``."""
    h = x
    for layer in ep.main:
        h = layer.main(h) if hasattr(layer, "main") else layer(h)  # dcgan_conv blocks, then conv/BN/tanh
    h = h.flatten(1)
    return torch.nn.functional.normalize(h, p=2) if ep.normalize else h


def ref_lstm_step(m: nn.Module, x: torch.Tensor, hidden: list[tuple[torch.Tensor, torch.Tensor]]
                  ) -> tuple[torch.Tensor | tuple[torch.Tensor, torch.Tensor], list]:
    """One step of ``models.lstm.lstm`` (output) or ``gaussian_lstm`` (``(mu, logvar)``): embed, the
    stacked LSTMCells, the head; returns the output and the new per-layer ``(h, c)``."""
    h_in, new = m.embed(x), []
    for i, cell in enumerate(m.lstm):
        new.append(cell(h_in, hidden[i]))
        h_in = new[-1][0]
    if hasattr(m, "mu_net"):
        return (m.mu_net(h_in), m.logvar_net(h_in)), new
    out = m.output(h_in)
    if getattr(m, "normalize", False):
        out = torch.nn.functional.normalize(out, p=2)
    return out, new


# ---------------------------------------------------------------------------- DRNet layout ---

def drnet_networks(*, nc: int = 3, nf: int = 64, content_dim: int = 128, pose_dim: int = 10, rnn_size: int = 256,
                   rnn_layers: int = 2, normalize: bool = False, batch: int = 4) -> dict[str, nn.Module]:
    """Upstream's ``dcgan_unet_64.content_encoder`` / ``decoder``, ``dcgan_64.pose_encoder`` and
    ``lstm.lstm`` (train_drnet.py's default --content_model dcgan_unet --pose_model dcgan)."""
    w = [nf, nf * 2, nf * 4, nf * 8]
    conv_u, upconv_u = _class("models.dcgan_unet_64", "dcgan_conv"), _class("models.dcgan_unet_64", "dcgan_upconv")
    conv_p = _class("models.dcgan_64", "dcgan_conv")
    ec = nn.Module()
    for i, (a, b) in enumerate([(nc, w[0]), (w[0], w[1]), (w[1], w[2]), (w[2], w[3])], 1):
        setattr(ec, f"c{i}", _retag(_conv_block(a, b), conv_u))
    ec.c5 = nn.Sequential(nn.Conv2d(w[3], content_dim, 4, 1, 0), nn.BatchNorm2d(content_dim), nn.Tanh())
    dec = nn.Module()
    dec.upc1 = nn.Sequential(nn.ConvTranspose2d(content_dim + pose_dim, w[3], 4, 1, 0), nn.BatchNorm2d(w[3]),
                             nn.LeakyReLU(0.2, True))
    for i, (a, b) in enumerate([(w[3] * 2, w[2]), (w[2] * 2, w[1]), (w[1] * 2, w[0])], 2):
        setattr(dec, f"upc{i}", _retag(_conv_block(a, b, transposed=True), upconv_u))
    dec.upc5 = nn.Sequential(nn.ConvTranspose2d(w[0] * 2, nc, 4, 2, 1), nn.Sigmoid())
    ep = nn.Module()
    ep.normalize = normalize
    ep.main = nn.Sequential(*[_retag(_conv_block(a, b), conv_p) for a, b in
                              [(nc, w[0]), (w[0], w[1]), (w[1], w[2]), (w[2], w[3])]],
                            nn.Conv2d(w[3], pose_dim, 4, 1, 0), nn.BatchNorm2d(pose_dim), nn.Tanh())
    lstm = svg_lstm("lstm", pose_dim + content_dim, pose_dim, rnn_size, rnn_layers, batch)
    lstm.normalize = normalize
    return {"netEC": _retag(ec, _class("models.dcgan_unet_64", "content_encoder")),
            "netD": _retag(dec, _class("models.dcgan_unet_64", "decoder")),
            "netEP": _retag(ep, _class("models.dcgan_64", "pose_encoder")), "lstm": lstm}


def save_drnet_checkpoints(model_path: Path, lstm_path: Path | None = None, *, nc: int = 3, nf: int = 64,
                           content_dim: int = 128, pose_dim: int = 10, rnn_size: int = 256, n_past: int = 10,
                           n_future: int = 10, normalize: bool = False) -> dict[str, nn.Module]:
    """train_drnet.py's ``model.pth`` (``netD``, ``netEP``, ``netEC``, ``opt``) and, with ``lstm_path``,
    train_lstm.py's (``lstm``, ``opt``), with random weights; returns the modules written."""
    nets = drnet_networks(nc=nc, nf=nf, content_dim=content_dim, pose_dim=pose_dim, rnn_size=rnn_size,
                          normalize=normalize)
    _randomise(*nets.values(), seed=1)
    opt = argparse.Namespace(lr=2e-3, beta1=0.5, batch_size=100, optimizer=torch.optim.Adam, niter=200,
                             epoch_size=600, content_dim=content_dim, pose_dim=pose_dim, image_width=64,
                             channels=nc, dataset="kth", max_step=20, sd_weight=1e-4, sd_nf=100,
                             content_model="dcgan_unet", pose_model="dcgan", normalize=normalize)
    with _installed():
        torch.save({"netD": _old(nets["netD"]), "netEP": _old(nets["netEP"]), "netEC": _old(nets["netEC"]),
                    "opt": opt}, model_path, _use_new_zipfile_serialization=False)
        if lstm_path is not None:
            lstm_opt = argparse.Namespace(lr=2e-4, beta1=0.9, batch_size=100, optimizer=torch.optim.Adam,
                                          image_width=64, channels=nc, data="kth", n_past=n_past,
                                          n_future=n_future, rnn_size=rnn_size, rnn_layers=2, normalize=normalize,
                                          content_dim=content_dim, pose_dim=pose_dim)
            torch.save({"lstm": _old(nets["lstm"]), "opt": lstm_opt}, lstm_path, _use_new_zipfile_serialization=False)
    return nets
