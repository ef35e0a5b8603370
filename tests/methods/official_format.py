"""Checkpoint files in the format of the SVG family's official releases, for import tests.

Upstream (``edenton/svg``, ``edenton/drnet-py``) saved ``torch.save({...: <module object>, 'opt':
<argparse.Namespace>})`` from PyTorch 0.4: pickles of module *objects* whose classes live in the
repositories' ``models.<file>`` modules, in the legacy (pre-zip) ``torch.save`` format. These
builders recreate that layout -- the class paths (``models.dcgan_64.encoder``, ``models.lstm.lstm``,
...), the attribute names and nesting (``c1.main.0``, ``upc5``, ``lstm.0`` LSTMCells, ...), so the
state dicts have upstream's names and order -- plus PyTorch 0.4's per-module ``_backend`` object
(class ``torch.nn.backends.thnn.THNNFunctionBackend``) and the LSTMs' cached ``hidden`` tensors.
The classes are registered under ``sys.modules['models...']`` only while saving.

Variants: SVG's ``--model dcgan | vgg`` at ``--image_width 64 | 128``; DRNet's ``--content_model
dcgan_unet | vgg_unet | dcgan`` x ``--pose_model dcgan | resnet`` at 64 | 128. The ``ref_*`` functions
restate upstream's forwards on these stand-ins (which have none) for output comparisons.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
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


# ----------------------------------------------------------------- shared conv layouts ---

def _conv_block(nin: int, nout: int, transposed: bool = False) -> nn.Module:
    """Upstream ``dcgan_conv`` / ``dcgan_upconv``: ``main`` = 4x4/2 (transposed) conv, BN, LeakyReLU."""
    block = nn.Module()
    conv = nn.ConvTranspose2d if transposed else nn.Conv2d
    block.main = nn.Sequential(conv(nin, nout, 4, 2, 1), nn.BatchNorm2d(nout), nn.LeakyReLU(0.2, inplace=True))
    return block


def _vgg_layer(nin: int, nout: int) -> nn.Module:
    """Upstream ``vgg_layer``: ``main`` = 3x3 conv, BN, LeakyReLU."""
    layer = nn.Module()
    layer.main = nn.Sequential(nn.Conv2d(nin, nout, 3, 1, 1), nn.BatchNorm2d(nout), nn.LeakyReLU(0.2, inplace=True))
    return layer


def _retag(module: nn.Module, cls: type) -> nn.Module:
    module.__class__ = cls
    return module


def _head(c_in: int, dim: int) -> nn.Sequential:
    """The 4x4 valid conv to the vector, BN, tanh that ends every upstream encoder."""
    return nn.Sequential(nn.Conv2d(c_in, dim, 4, 1, 0), nn.BatchNorm2d(dim), nn.Tanh())


def _vector_up(dim: int, c_out: int) -> nn.Sequential:
    """``upc1`` of every upstream U-Net decoder: the vector to a 4x4 map (4x4 transposed conv, BN, LeakyReLU)."""
    return nn.Sequential(nn.ConvTranspose2d(dim, c_out, 4, 1, 0), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True))


# The (in, out) channels of each block as written out in upstream's ``models/<file>.py`` for
# --image_width 64 and 128 (nf = 64 there; a parameter here only to keep tests fast).

def _dcgan_encoder_blocks(nc: int, nf: int, width: int) -> list[tuple[int, int]]:
    """``dcgan_conv`` blocks of the DCGAN encoders, finest first (128x128: one more at nf * 8)."""
    blocks = [(nc, nf), (nf, nf * 2), (nf * 2, nf * 4), (nf * 4, nf * 8)]
    return blocks + [(nf * 8, nf * 8)] if width == 128 else blocks


def _dcgan_decoder_blocks(nf: int, width: int, skip: bool) -> list[tuple[int, int]]:
    """``dcgan_upconv`` blocks after ``upc1``; with U-Net skips each input is doubled."""
    m = 2 if skip else 1
    blocks = [(nf * 8 * m, nf * 4), (nf * 4 * m, nf * 2), (nf * 2 * m, nf)]
    return [(nf * 8 * m, nf * 8)] + blocks if width == 128 else blocks


def _vgg_encoder_stages(nc: int, nf: int, width: int) -> list[list[tuple[int, int]]]:
    """``vgg_layer`` stages ``c1, c2, ...`` of the VGG encoders (128x128: a fifth stage at nf * 8)."""
    stages = [[(nc, nf), (nf, nf)], [(nf, nf * 2), (nf * 2, nf * 2)],
              [(nf * 2, nf * 4), (nf * 4, nf * 4), (nf * 4, nf * 4)],
              [(nf * 4, nf * 8), (nf * 8, nf * 8), (nf * 8, nf * 8)]]
    return stages + [[(nf * 8, nf * 8)] * 3] if width == 128 else stages


def _vgg_decoder_stages(nf: int, width: int) -> list[list[tuple[int, int]]]:
    """``vgg_layer`` stages ``upc2, ...`` of the VGG decoders before the last one (inputs doubled by the skip)."""
    stages = [[(nf * 16, nf * 8), (nf * 8, nf * 8), (nf * 8, nf * 4)],
              [(nf * 8, nf * 4), (nf * 4, nf * 4), (nf * 4, nf * 2)],
              [(nf * 4, nf * 2), (nf * 2, nf)]]
    return [[(nf * 16, nf * 8), (nf * 8, nf * 8), (nf * 8, nf * 8)]] + stages if width == 128 else stages


def unet_codec(module: str, names: tuple[str, str], backbone: str, width: int, nc: int, enc_dim: int, dec_dim: int,
               nf: int = 64, dim_attr: bool = True) -> tuple[nn.Module, nn.Module]:
    """An upstream encoder/decoder pair with U-Net skips, classes ``module.names[0|1]``: SVG's
    ``dcgan_{64,128}`` / ``vgg_{64,128}`` ``encoder``/``decoder`` (``dim_attr``: they keep ``self.dim``)
    and DRNet's ``dcgan_unet_*`` / ``vgg_unet_*`` ``content_encoder``/``decoder``.

    Encoder: ``c1 .. cL`` (blocks or stages) then ``c{L+1}`` the vector head (VGG: ``mp`` last);
    decoder: ``upc1`` from the vector, ``upc2 .. upc{L}``, ``upc{L+1}`` to the frame (VGG: ``up``)."""
    enc, dec = nn.Module(), nn.Module()
    if backbone == "dcgan":
        conv, upconv = _class(module, "dcgan_conv"), _class(module, "dcgan_upconv")
        blocks = _dcgan_encoder_blocks(nc, nf, width)
        for i, (a, b) in enumerate(blocks, 1):
            setattr(enc, f"c{i}", _retag(_conv_block(a, b), conv))
        top = blocks[-1][1]
        setattr(enc, f"c{len(blocks) + 1}", _head(top, enc_dim))
        dec.upc1 = _vector_up(dec_dim, top)
        ups = _dcgan_decoder_blocks(nf, width, skip=True)
        for i, (a, b) in enumerate(ups, 2):
            setattr(dec, f"upc{i}", _retag(_conv_block(a, b, transposed=True), upconv))
        setattr(dec, f"upc{len(ups) + 2}", nn.Sequential(nn.ConvTranspose2d(nf * 2, nc, 4, 2, 1), nn.Sigmoid()))
    elif backbone == "vgg":
        layer = _class(module, "vgg_layer")
        stages = _vgg_encoder_stages(nc, nf, width)
        for i, st in enumerate(stages, 1):
            setattr(enc, f"c{i}", nn.Sequential(*[_retag(_vgg_layer(a, b), layer) for a, b in st]))
        top = stages[-1][-1][1]
        setattr(enc, f"c{len(stages) + 1}", _head(top, enc_dim))
        enc.mp = nn.MaxPool2d(2, 2, 0)
        dec.upc1 = _vector_up(dec_dim, top)
        ups = _vgg_decoder_stages(nf, width)
        for i, st in enumerate(ups, 2):
            setattr(dec, f"upc{i}", nn.Sequential(*[_retag(_vgg_layer(a, b), layer) for a, b in st]))
        setattr(dec, f"upc{len(ups) + 2}", nn.Sequential(_retag(_vgg_layer(nf * 2, nf), layer),
                                                         nn.ConvTranspose2d(nf, nc, 3, 1, 1), nn.Sigmoid()))
        dec.up = nn.UpsamplingNearest2d(scale_factor=2)
    else:
        raise ValueError(backbone)
    if dim_attr:
        enc.dim, dec.dim = enc_dim, dec_dim
    return _retag(enc, _class(module, names[0])), _retag(dec, _class(module, names[1]))


# ------------------------------------------------------------------------------ SVG layout ---

def svg_codec(kind: str, dim: int, nc: int, nf: int = 64) -> tuple[nn.Module, nn.Module]:
    """Upstream ``models/<kind>.py`` ``encoder(dim, nc)`` / ``decoder(dim, nc)`` (kind: dcgan_64,
    vgg_64, dcgan_128, vgg_128).

    ``nf``: upstream's first-stage width, fixed at 64 there; smaller here only to keep tests fast."""
    backbone, width = kind.rsplit("_", 1)
    if backbone not in ("dcgan", "vgg") or width not in ("64", "128"):
        raise ValueError(kind)
    return unet_codec(f"models.{kind}", ("encoder", "decoder"), backbone, int(width), nc, dim, dim, nf)


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
                        rnn_size: int = 256, image_width: int = 64,
                        extra: dict[str, Any] | None = None) -> dict[str, nn.Module]:
    """An upstream-format SVG checkpoint (``train_svg_lp.py``/``train_svg_fp.py``'s ``model.pth``,
    ``--model backbone --image_width image_width``) with random weights; returns the modules written
    (``nf``, ``rnn_size``: smaller for fast tests)."""
    enc, dec = svg_codec(f"{backbone}_{image_width}", g_dim, channels, nf)
    nets = {"encoder": enc, "decoder": dec,
            "frame_predictor": svg_lstm("lstm", g_dim + z_dim, g_dim, rnn_size, 2),
            "posterior": svg_lstm("gaussian_lstm", g_dim, z_dim, rnn_size, 1)}
    if learned_prior:
        nets["prior"] = svg_lstm("gaussian_lstm", g_dim, z_dim, rnn_size, 1)
    _randomise(*nets.values())
    fields = dict(model=backbone, image_width=image_width, channels=channels, g_dim=g_dim, z_dim=z_dim, n_past=n_past,
                  n_future=n_future, last_frame_skip=False, beta=1e-4, lr=2e-3, beta1=0.9, rnn_size=rnn_size,
                  dataset="smmnist", optimizer=torch.optim.Adam)
    opt = argparse.Namespace(**{**fields, **(extra or {})})
    with _installed():
        torch.save({**{k: _old(v) for k, v in nets.items()}, "opt": opt}, path, _use_new_zipfile_serialization=False)
    return nets


# --------------------------------------------------------------------- upstream's forwards ---
# Written from upstream's ``forward`` methods (what each network computes), for comparing outputs
# of the stand-ins with ours on the same weights; the stand-in classes themselves have no forward.

def _count(module: nn.Module, prefix: str) -> int:
    """How many of ``prefix1, prefix2, ...`` the module has (``c`` / ``upc``: 5 at 64x64, 6 at 128x128)."""
    n = 0
    while hasattr(module, f"{prefix}{n + 1}"):
        n += 1
    return n


def ref_dcgan_encode(enc: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """SVG ``dcgan_*.encoder`` / DRNet ``dcgan_unet_*.content_encoder``: ``(h (N, dim), [h1..hL])``."""
    skips, h, n = [], x, _count(enc, "c")
    for i in range(1, n):
        h = getattr(enc, f"c{i}").main(h)
        skips.append(h)
    return getattr(enc, f"c{n}")(h).flatten(1), skips


def _run(seq: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A Sequential whose helper blocks (``vgg_layer``, ``dcgan_conv``) are stand-ins without forward."""
    for layer in seq:
        x = layer.main(x) if hasattr(layer, "main") else layer(x)
    return x


def ref_vgg_encode(enc: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """SVG ``vgg_*.encoder`` / DRNet ``vgg_unet_*.content_encoder``: stage 1 at full size, each later
    stage (and the head) after a 2x2 max-pool."""
    skips, h, n = [], x, _count(enc, "c")
    for i in range(1, n):
        h = _run(getattr(enc, f"c{i}"), h if i == 1 else enc.mp(h))
        skips.append(h)
    return getattr(enc, f"c{n}")(enc.mp(h)).flatten(1), skips


def ref_vgg_decode(dec: nn.Module, vec: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
    """SVG ``vgg_*.decoder`` / DRNet ``vgg_unet_*.decoder``: ``upc1`` on the vector, then upsample x2,
    join the skip (coarsest first), next stage."""
    d, n = dec.upc1(vec[:, :, None, None]), _count(dec, "upc")
    for i in range(2, n + 1):
        d = _run(getattr(dec, f"upc{i}"), torch.cat([dec.up(d), skips[n - i]], 1))
    return d


def ref_dcgan_decode(dec: nn.Module, vec: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
    """SVG ``dcgan_*.decoder`` / DRNet ``dcgan_unet_*.decoder``: ``upc1`` on the vector, then each
    stage on ``[previous, skip]`` from the coarsest skip to the finest."""
    d, n = dec.upc1(vec[:, :, None, None]), _count(dec, "upc")
    for i in range(2, n):
        d = getattr(dec, f"upc{i}").main(torch.cat([d, skips[n - i]], 1))
    return getattr(dec, f"upc{n}")(torch.cat([d, skips[0]], 1))


def ref_resnet_trunk(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """DRNet ``resnet_*.resnet18``: conv1, BN, ReLU, max-pool, ``layer1 ..`` of ``BasicBlock``s
    (``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + residual)``), conv_out, BN, tanh."""
    h = net.maxpool(F.relu(net.bn1(net.conv1(x))))
    for i in range(1, _count(net, "layer") + 1):
        for b in getattr(net, f"layer{i}"):
            out = b.bn2(b.conv2(F.relu(b.bn1(b.conv1(h)))))
            h = F.relu(out + (h if b.downsample is None else b.downsample(h)))
    return torch.tanh(net.bn_out(net.conv_out(h)))


def ref_pose_encode(ep: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """DRNet ``dcgan_*.pose_encoder`` (its ``main`` stack) or ``resnet_*.pose_encoder`` (``main`` a
    ``resnet18``), flattened, L2-normalised when ``normalize``."""
    h = ref_resnet_trunk(ep.main, x) if hasattr(ep.main, "conv1") else _run(ep.main, x)
    h = h.flatten(1)
    return F.normalize(h, p=2) if ep.normalize else h


def ref_content_encode(ec: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """DRNet ``content_encoder`` of any content model: ``dcgan_*`` (a ``main`` stack, no skips),
    ``vgg_unet_*`` or ``dcgan_unet_*``."""
    if hasattr(ec, "main"):
        return _run(ec.main, x).flatten(1), []
    return (ref_vgg_encode if hasattr(ec, "mp") else ref_dcgan_encode)(ec, x)


def ref_drnet_decode(dec: nn.Module, vec: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
    """DRNet ``decoder`` of any content model on ``vec = [h_c, h_p]`` (N, content_dim + pose_dim)."""
    if hasattr(dec, "main"):
        return _run(dec.main, vec[:, :, None, None])
    return (ref_vgg_decode if hasattr(dec, "up") else ref_dcgan_decode)(dec, vec, skips)


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
        out = F.normalize(out, p=2)
    return out, new


# ---------------------------------------------------------------------------- DRNet layout ---

def _dcgan_stack(module: str, nc: int, dim: int, nf: int, width: int) -> nn.Sequential:
    """DRNet ``dcgan_*`` ``content_encoder`` / ``pose_encoder``'s ``main``: the ``dcgan_conv`` blocks and the head."""
    conv = _class(module, "dcgan_conv")
    blocks = _dcgan_encoder_blocks(nc, nf, width)
    return nn.Sequential(*[_retag(_conv_block(a, b), conv) for a, b in blocks], *_head(blocks[-1][1], dim))


def _basic_block(inplanes: int, planes: int, stride: int, cls: type) -> nn.Module:
    """DRNet ``resnet_*.BasicBlock`` (3x3 convs with biases; ``downsample`` a 1x1 conv + BN or None)."""
    b = nn.Module()
    b.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1)
    b.bn1 = nn.BatchNorm2d(planes)
    b.relu = nn.ReLU(inplace=True)
    b.conv2 = nn.Conv2d(planes, planes, 3, 1, 1)
    b.bn2 = nn.BatchNorm2d(planes)
    down = (nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride), nn.BatchNorm2d(planes))
            if stride != 1 or inplanes != planes else None)
    b.downsample = down
    b.stride = stride
    return _retag(b, cls)


def _resnet18(module: str, nc: int, pose_dim: int, nf: int, width: int) -> nn.Module:
    """DRNet ``resnet_{64,128}.resnet18(pose_dim, nc)``: layers [2, 2, 2, 2] (+ ``layer5`` of 2 at
    nf * 16 for 128x128), ``conv_out`` 3x3 valid."""
    block = _class(module, "BasicBlock")
    net = nn.Module()
    net.conv1 = nn.Conv2d(nc, nf, 5, 2, 3)
    net.bn1 = nn.BatchNorm2d(nf)
    net.relu = nn.ReLU(inplace=True)
    net.tanh = nn.Tanh()
    net.maxpool = nn.MaxPool2d(3, 2, 1)
    planes = [nf, nf * 2, nf * 4, nf * 8] + ([nf * 16] if width == 128 else [])
    inplanes = nf
    for i, p in enumerate(planes, 1):
        setattr(net, f"layer{i}", nn.Sequential(_basic_block(inplanes, p, 1 if i == 1 else 2, block),
                                                _basic_block(p, p, 1, block)))
        inplanes = p
    net.inplanes = inplanes
    net.conv_out = nn.Conv2d(inplanes, pose_dim, 3)
    net.bn_out = nn.BatchNorm2d(pose_dim)
    return _retag(net, _class(module, "resnet18"))


def drnet_networks(*, nc: int = 3, nf: int = 64, content_dim: int = 128, pose_dim: int = 10, rnn_size: int = 256,
                   rnn_layers: int = 2, normalize: bool = False, batch: int = 4, content_model: str = "dcgan_unet",
                   pose_model: str = "dcgan", image_width: int = 64) -> dict[str, nn.Module]:
    """train_drnet.py's ``netEC`` / ``netD`` (``--content_model dcgan_unet | vgg_unet | dcgan``) and
    ``netEP`` (``--pose_model dcgan | resnet``) at ``--image_width 64 | 128``, and train_lstm.py's
    ``lstm`` (``models.lstm.lstm``)."""
    w = image_width
    if content_model in ("dcgan_unet", "vgg_unet"):
        ec, dec = unet_codec(f"models.{content_model}_{w}", ("content_encoder", "decoder"), content_model[:-5], w, nc,
                             content_dim, content_dim + pose_dim, nf, dim_attr=False)
    elif content_model == "dcgan":
        mod = f"models.dcgan_{w}"
        ec, dec = nn.Module(), nn.Module()
        ec.main = _dcgan_stack(mod, nc, content_dim, nf, w)
        upconv, top = _class(mod, "dcgan_upconv"), nf * 8
        dec.main = nn.Sequential(nn.ConvTranspose2d(content_dim + pose_dim, top, 4, 1, 0), nn.BatchNorm2d(top),
                                 nn.LeakyReLU(0.2, inplace=True),
                                 *[_retag(_conv_block(a, b, transposed=True), upconv)
                                   for a, b in _dcgan_decoder_blocks(nf, w, skip=False)],
                                 nn.ConvTranspose2d(nf, nc, 4, 2, 1), nn.Sigmoid())
        ec, dec = _retag(ec, _class(mod, "content_encoder")), _retag(dec, _class(mod, "decoder"))
    else:
        raise ValueError(content_model)
    ep = nn.Module()
    if pose_model == "dcgan":
        ep.main = _dcgan_stack(f"models.dcgan_{w}", nc, pose_dim, nf, w)
    elif pose_model == "resnet":
        ep.main = _resnet18(f"models.resnet_{w}", nc, pose_dim, nf, w)
    else:
        raise ValueError(pose_model)
    ep.normalize = normalize
    lstm = svg_lstm("lstm", pose_dim + content_dim, pose_dim, rnn_size, rnn_layers, batch)
    lstm.normalize = normalize
    return {"netEC": ec, "netD": dec, "netEP": _retag(ep, _class(f"models.{pose_model}_{w}", "pose_encoder")),
            "lstm": lstm}


def save_drnet_checkpoints(model_path: Path, lstm_path: Path | None = None, *, nc: int = 3, nf: int = 64,
                           content_dim: int = 128, pose_dim: int = 10, rnn_size: int = 256, n_past: int = 10,
                           n_future: int = 10, normalize: bool = False, content_model: str = "dcgan_unet",
                           pose_model: str = "dcgan", image_width: int = 64) -> dict[str, nn.Module]:
    """train_drnet.py's ``model.pth`` (``netD``, ``netEP``, ``netEC``, ``opt``) and, with ``lstm_path``,
    train_lstm.py's (``lstm``, ``opt``), with random weights; returns the modules written."""
    nets = drnet_networks(nc=nc, nf=nf, content_dim=content_dim, pose_dim=pose_dim, rnn_size=rnn_size,
                          normalize=normalize, content_model=content_model, pose_model=pose_model,
                          image_width=image_width)
    _randomise(*nets.values(), seed=1)
    opt = argparse.Namespace(lr=2e-3, beta1=0.5, batch_size=100, optimizer=torch.optim.Adam, niter=200,
                             epoch_size=600, content_dim=content_dim, pose_dim=pose_dim, image_width=image_width,
                             channels=nc, dataset="kth", max_step=20, sd_weight=1e-4, sd_nf=100,
                             content_model=content_model, pose_model=pose_model, normalize=normalize)
    with _installed():
        torch.save({"netD": _old(nets["netD"]), "netEP": _old(nets["netEP"]), "netEC": _old(nets["netEC"]),
                    "opt": opt}, model_path, _use_new_zipfile_serialization=False)
        if lstm_path is not None:
            lstm_opt = argparse.Namespace(lr=2e-4, beta1=0.9, batch_size=100, optimizer=torch.optim.Adam,
                                          image_width=image_width, channels=nc, data="kth", n_past=n_past,
                                          n_future=n_future, rnn_size=rnn_size, rnn_layers=2, normalize=normalize,
                                          content_dim=content_dim, pose_dim=pose_dim)
            torch.save({"lstm": _old(nets["lstm"]), "opt": lstm_opt}, lstm_path, _use_new_zipfile_serialization=False)
    return nets


def official_step_parity_script() -> types.ModuleType:
    """``benchmarks/official_step_parity.py`` loaded as a module (a script, not a package)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "official_step_parity.py"
    spec = importlib.util.spec_from_file_location("official_step_parity", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
