"""Imported upstream SVG weights compute what upstream's networks compute: the stand-ins of
``tests/methods/official_format.py`` run upstream's forward (``ref_*``) and ours run on the mapped
weights, on the same inputs, in eval mode (BatchNorm running statistics)."""

from __future__ import annotations

import pytest
import torch

from benchmark.legacy_checkpoint import class_path, load_checkpoint, module_state
from methods.svg import config as C
from methods.svg.model import SVGModel
from methods.svg.official import config_from_official, load_official_state
from tests.methods.official_format import (ref_dcgan_decode, ref_dcgan_encode, ref_lstm_step, ref_vgg_decode,
                                          ref_vgg_encode, save_svg_checkpoint)

SMALL = dict(channels=1, nf=8, g_dim=16, z_dim=4, rnn_size=32, n_past=5, n_future=10)
CODECS = {"dcgan": (ref_dcgan_encode, ref_dcgan_decode), "vgg": (ref_vgg_encode, ref_vgg_decode)}


def _imported(path, learned_prior=True, backbone="dcgan", image_width=64):
    written = save_svg_checkpoint(path, learned_prior=learned_prior, backbone=backbone, image_width=image_width,
                                  **SMALL)
    tree = load_checkpoint(path)
    nets = {k: (class_path(v), module_state(v)) for k, v in tree.items() if k != "opt"}
    cfg = config_from_official(nets, tree["opt"].fields(), "learned" if learned_prior else "fixed", C.SVGConfig())
    model = SVGModel(cfg)
    load_official_state(model, nets)
    for m in (model, *written.values()):
        m.eval()
    return model, written


# SM-MNIST's models (DCGAN-64); KTH's and BAIR's (VGG-64); the 128x128 variants (KTH 128).
@pytest.mark.parametrize("backbone,image_width", [("dcgan", 64), ("vgg", 64), ("dcgan", 128), ("vgg", 128)])
def test_imported_svg_networks_match_upstreams_forward(tmp_path, backbone, image_width):
    model, up = _imported(tmp_path / "model.pth", backbone=backbone, image_width=image_width)
    assert (model.cfg.backbone, model.cfg.resolution, model.cfg.width, model.cfg.g_dim, model.cfg.z_dim,
            model.cfg.rnn_size) == (backbone, (image_width, image_width), 8, 16, 4, 32)
    ref_encode, ref_decode = CODECS[backbone]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, image_width, image_width, generator=g)
    with torch.no_grad():
        h_ref, skips_ref = ref_encode(up["encoder"], x)
        h, skips = model.encoder(x)
        torch.testing.assert_close(h, h_ref, rtol=1e-5, atol=1e-5)
        assert len(skips) == len(skips_ref) == (4 if image_width == 64 else 5)
        for a, b in zip(skips, skips_ref):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.decoder(h, skips), ref_decode(up["decoder"], h_ref, skips_ref),
                                   rtol=1e-5, atol=1e-5)
        # Two recurrent steps of each LSTM from a zero state (upstream: LSTMCells; ours: nn.LSTM).
        for name, width in (("frame_predictor", 16 + 4), ("posterior", 16), ("prior", 16)):
            inputs = torch.randn(2, 3, width, generator=g)
            hidden = [(torch.zeros(3, 32), torch.zeros(3, 32)) for _ in up[name].lstm]
            state = None
            for t in range(2):
                ref, hidden = ref_lstm_step(up[name], inputs[t], hidden)
                out, state = getattr(model, name)(inputs[t], state)
                if name == "frame_predictor":
                    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5, msg=f"{name} step {t}")
                else:  # (z, mu, logvar) vs (mu, logvar)
                    torch.testing.assert_close(out[1], ref[0], rtol=1e-5, atol=1e-5, msg=f"{name} mu step {t}")
                    torch.testing.assert_close(out[2], ref[1], rtol=1e-5, atol=1e-5, msg=f"{name} logvar {t}")
