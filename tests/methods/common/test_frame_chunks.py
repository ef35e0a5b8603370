"""Encoding / decoding a clip a few time steps per call (``encode_clip`` / ``decode_clip``, used by the
SVG and P2P training steps at paper-size batches) computes what one call per clip computes, up to
float rounding; with the whole clip in one call it is the one-call path itself."""

from __future__ import annotations

import pytest
import torch

from benchmark.data.mmnist import MovingMNIST
from benchmark.pipeline import data_spec
from methods.common import frame_codecs
from methods.common.frame_codecs import DCGANFrameDecoder, DCGANFrameEncoder, decode_clip, encode_clip, frames_per_call
from methods.common.lstm import init_svg_


def _codec():
    torch.manual_seed(0)
    return DCGANFrameEncoder(1, 8, (32, 32), width=4).train(), DCGANFrameDecoder(8, 1, (32, 32), width=4).train()


@pytest.mark.parametrize("per_call", [1, 2, 5])
def test_chunked_clip_equals_one_call_per_clip(per_call):
    enc, dec = _codec()
    x = torch.rand(3, 5, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    sources = [0, 1, 1, 3]
    # Reference: the whole clip in one call, statistics per time step, skips gathered by frame.
    h_ref, skips = enc(x.transpose(0, 1).reshape(15, 1, 32, 32), groups=5)
    idx = torch.tensor(sources)
    y_ref = dec(h_ref.view(5, 3, -1)[1:].reshape(12, -1), [s.view(5, 3, *s.shape[1:])[idx].reshape(12, *s.shape[1:])
                                                           for s in skips], groups=4)
    g_ref = torch.autograd.grad(y_ref.square().sum(), list(enc.parameters()) + list(dec.parameters()))
    enc2, dec2 = _codec()
    h, clip_skips = encode_clip(enc2, x, per_call)
    y = decode_clip(dec2, h[1:], clip_skips, sources, per_call)
    g = torch.autograd.grad(y.square().sum(), list(enc2.parameters()) + list(dec2.parameters()))
    exact = per_call == 5
    assert torch.equal(y, y_ref) if exact else torch.allclose(y, y_ref, atol=1e-6)
    for a, b in zip(g, g_ref):
        assert torch.equal(a, b) if exact else torch.allclose(a, b, rtol=1e-4, atol=1e-5 * g_ref[0].abs().max())
    for a, b in zip(enc2.state_dict().values(), enc.state_dict().values()):  # running statistics
        assert torch.allclose(a.float(), b.float(), atol=1e-6)


def test_frames_per_call_keeps_feature_maps_under_the_budget():
    enc = DCGANFrameEncoder(1, 128, (64, 64))            # 512 KiB at the largest map per frame and clip
    assert frames_per_call(enc, (64, 64), 100, 15) == 1   # the paper's batch: one frame per call
    assert frames_per_call(enc, (64, 64), 16, 30) == 4
    assert frames_per_call(enc, (64, 64), 2, 30, budget=2 ** 40) == 30


def _svg_step(monkeypatch, budget):
    from methods.svg import config
    from methods.svg.model import SVGModel
    monkeypatch.setattr(frame_codecs, "CALL_BYTES", budget)
    cfg = config.smoke_profile("learned")(data_spec(MovingMNIST(motion="stochastic"), ("prediction",)))
    torch.manual_seed(0)
    model = init_svg_(SVGModel(cfg)).train()
    t = cfg.context_frames + cfg.future_frames
    x = torch.rand(4, t, cfg.channels, *cfg.resolution, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(4, t - 1, cfg.z_dim, generator=torch.Generator().manual_seed(2))
    loss, _ = model.loss(model(x, posterior_noise=noise))
    return loss, torch.autograd.grad(loss, list(model.parameters()))


def test_svg_training_step_chunked_equals_one_call(monkeypatch):
    loss1, g1 = _svg_step(monkeypatch, 2 ** 40)
    loss2, g2 = _svg_step(monkeypatch, 1)      # one frame per call
    assert torch.allclose(loss1, loss2, rtol=1e-6)
    scale = max(g.abs().max() for g in g1)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


def _p2p_step(monkeypatch, budget):
    from methods.p2p import config
    from methods.p2p.model import P2PModel, kept_steps
    monkeypatch.setattr(frame_codecs, "CALL_BYTES", budget)
    cfg = config.smoke(data_spec(MovingMNIST(motion="stochastic", two_ended=True), ("prediction",)))
    torch.manual_seed(0)
    model = init_svg_(P2PModel(cfg)).train()
    t = cfg.max_seq_len
    x = torch.rand(4, t, cfg.channels, *cfg.resolution, generator=torch.Generator().manual_seed(1))
    kept = kept_steps(t, cfg.context_frames, 0.5, torch.rand(t - 1, generator=torch.Generator().manual_seed(3)))
    noise = torch.randn(4, len(kept), cfg.z_dim, generator=torch.Generator().manual_seed(2))
    main, prior = model.losses(model(x, kept, posterior_noise=noise, cpc_noise=torch.zeros(4, cfg.z_dim)))
    return torch.stack([main, prior]), torch.autograd.grad(main + prior, list(model.parameters()))


def test_p2p_training_step_chunked_equals_one_call(monkeypatch):
    loss1, g1 = _p2p_step(monkeypatch, 2 ** 40)
    loss2, g2 = _p2p_step(monkeypatch, 1)
    assert torch.allclose(loss1, loss2, rtol=1e-6)
    scale = max(g.abs().max() for g in g1)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale)
