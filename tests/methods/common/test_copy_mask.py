"""The ``copy_mask`` option of the SVG-family ``cpu`` profiles: a saturated mask copies the right frame.

With the decoder's output conv zeroed and the mask map's bias large, every predicted frame must equal
the frame the method names as the mask's source (SVG and conv_lstm: the last context frame; P2P:
upstream's skip frame c - 2; DRNet: the content frame, the last context frame); without the mask the
same network writes 0.5 grey in its first colours.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods.baselines.conv_lstm import ConvLSTMConfig, ConvLSTMModel
from methods.common import Conv2dDecoder, init_normal_
from methods.common.frame_codecs import DCGANFrameDecoder, VGGFrameDecoder, composite_copy, init_copy_mask_
from methods.common.lstm import init_svg_
from methods.drnet.config import DRNetConfig
from methods.drnet.model import DRNet
from methods.p2p.config import P2PConfig
from methods.p2p.model import P2PModel
from methods.svg.config import SVGConfig
from methods.svg.model import SVGModel

C, RES, CTX, FUT = 3, (32, 32), 4, 3


def _saturate(decoder: nn.Module) -> None:
    """Zero the decoder's output conv; bias +30 on the mask map (the last), 0 on the colours."""
    conv = [m for m in decoder.modules() if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d))][-1]
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.bias[-1] = 30.0


def _rollout(name: str, copy_mask: bool, context: torch.Tensor) -> torch.Tensor:
    """Frames ``(B, FUT, C, H, W)`` of a tiny model of ``name`` with its output conv saturated."""
    torch.manual_seed(0)
    if name == "svg":
        model = SVGModel(SVGConfig(channels=C, resolution=RES, width=4, g_dim=8, z_dim=2, rnn_size=8,
                                   context_frames=CTX, skip_from="paper", copy_mask=copy_mask)).eval()
        _saturate(model.decoder)
        return model.rollout(context, FUT, 1)[:, 0]
    if name == "conv_lstm":
        model = ConvLSTMModel(ConvLSTMConfig(channels=C, resolution=RES, width=4, dim=8, hidden=8,
                                             context_frames=CTX, copy_mask=copy_mask)).eval()
        _saturate(model.decoder)
        return model.rollout(context, FUT)
    if name == "p2p":
        model = P2PModel(P2PConfig(channels=C, resolution=RES, width=4, g_dim=8, z_dim=2, rnn_size=8,
                                   context_frames=CTX, copy_mask=copy_mask)).eval()
        _saturate(model.decoder)
        return model.rollout(context, context[:, -1], FUT, 1)[:, 0]
    model = DRNet(DRNetConfig(channels=C, resolution=RES, width=4, content_dim=8, pose_dim=2, rnn_size=8,
                              context_frames=CTX, copy_mask=copy_mask)).eval()
    _saturate(model.decoder)
    return model.rollout(context, FUT)


SOURCE = {"svg": CTX - 1, "conv_lstm": CTX - 1, "p2p": CTX - 2, "drnet": CTX - 1}


@pytest.mark.parametrize("name", sorted(SOURCE))
def test_saturated_copy_mask_repeats_the_source_frame(name):
    context = torch.rand(2, CTX, C, *RES)
    frames = _rollout(name, True, context)
    assert frames.shape == (2, FUT, C, *RES)
    expected = context[:, SOURCE[name]][:, None].expand_as(frames)
    torch.testing.assert_close(frames, expected, atol=1e-6, rtol=0)
    # The flag off: the same conv has no mask map; its first colours are sigmoid(0) = 0.5 grey.
    drawn = _rollout(name, False, context)[:, :, :-1]
    torch.testing.assert_close(drawn, torch.full_like(drawn, 0.5), atol=1e-6, rtol=0)


def test_composite_copy_blends_and_passes_gradients_to_the_mask():
    ref, drawn = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    mask = torch.full((1, 1, 2, 2), 0.25, requires_grad=True)
    out = composite_copy(torch.cat([drawn, mask], dim=1), ref)
    torch.testing.assert_close(out, torch.full_like(out, 0.75))
    out.sum().backward()
    assert mask.grad is not None and bool((mask.grad != 0).all())


DECODERS = {  # name -> an initialised 32x32 decoder of C colours + 1 mask map, with skips off
    "dcgan": lambda: init_svg_(DCGANFrameDecoder(8, C + 1, RES, width=4, skip=False)),
    "vgg": lambda: init_svg_(VGGFrameDecoder(8, C + 1, RES, width=4, skip=False)),
    "conv2d": lambda: init_normal_(Conv2dDecoder(8, C + 1, RES, width=4), std=0.02),
}


@pytest.mark.parametrize("kind", sorted(DECODERS))
def test_init_copy_mask_starts_the_mask_saturated(kind):
    """``init_copy_mask_(decoder, 3)``: the mask map of the initialised decoder is ~sigmoid(3) = 0.95
    everywhere (vs ~0.5 from the plain init); the colour maps are untouched."""
    torch.manual_seed(0)
    decoder, h = DECODERS[kind]().train().requires_grad_(False), torch.randn(4, 8)
    before = decoder(h)
    assert abs(float(before[:, -1].mean()) - 0.5) < 0.1
    assert init_copy_mask_(decoder, 3.0) is decoder
    after = decoder(h)
    assert float(after[:, -1].min()) > 0.9
    torch.testing.assert_close(after[:, :-1], before[:, :-1])


def test_init_copy_mask_needs_an_output_bias():
    with pytest.raises(ValueError, match="no output conv with a bias"):
        init_copy_mask_(Conv2dDecoder(8, C + 1, RES, width=4, out_bias=False), 3.0)


# Methods whose cpu profile has a copy mask, with the mask_bias that profile starts it at (the others
# measured no gain from 3: README "cpu profile" of svg / p2p, methods/baselines/README.md).
CPU_MASK_BIAS = {"drnet": 3.0, "svg_lp": 0.0, "svg_fp": 0.0, "p2p": 0.0, "conv_lstm": 0.0}


def _cpu_spec(name: str):
    from benchmark.data.moving_shapes import MovingShapes
    from benchmark.pipeline import data_spec

    return data_spec(MovingShapes(two_ended=name == "p2p"), ("prediction",))


@pytest.mark.parametrize("name", sorted(CPU_MASK_BIAS))
def test_mask_bias_reaches_the_built_decoder(name):
    """The cpu profile's ``mask_bias`` (and an override of it) is the bias of the mask's logit in the
    method's built decoder; the paper and smoke profiles have none (their numbers do not move)."""
    import dataclasses

    from benchmark.registry import METHODS

    cls, spec = METHODS.get(name), _cpu_spec(name)
    cfg = cls.profile_config("cpu", spec)
    assert cfg.copy_mask and cfg.mask_bias == CPU_MASK_BIAS[name]
    for bias in (3.0, 1.5):
        decoder = cls(dataclasses.replace(cfg, mask_bias=bias), spec).model.decoder
        out = [m for m in decoder.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
        assert float(out.bias[-1].detach()) == bias and float(out.bias[:-1].detach().abs().max()) < 1.0
    assert cls.profile_config("smoke", spec).mask_bias == 0.0
    with pytest.raises(ValueError, match="needs copy_mask"):
        dataclasses.replace(cfg, copy_mask=False, mask_bias=3.0)
