"""Importing upstream DRNet checkpoints (``edenton/drnet-py``: train_drnet.py's ``model.pth`` of whole
pickled ``netEC``/``netEP``/``netD`` modules, train_lstm.py's of ``lstm``): the restricted loader, the
config read from class paths, shapes and ``opt``, and our networks computing what upstream's compute
on the mapped weights (the stand-ins of ``tests/methods/official_format.py`` run upstream's forward)."""

from __future__ import annotations

import pytest
import torch

from benchmark.legacy_checkpoint import class_path, load_checkpoint, module_state
from methods.drnet import config as C
from methods.drnet.model import DRNet
from methods.drnet.official import OfficialCheckpointError, config_from_official, load_official_state
from tests.methods.official_format import (ref_dcgan_decode, ref_dcgan_encode, ref_lstm_step, ref_pose_encode,
                                          save_drnet_checkpoints)

SMALL = dict(nc=3, nf=8, content_dim=16, pose_dim=4, rnn_size=32)


def _read(*paths):
    nets, options = {}, {}
    for p in paths:
        tree = load_checkpoint(p)
        nets |= {k: (class_path(v), module_state(v)) for k, v in tree.items() if k != "opt"}
        options = {**tree["opt"].fields(), **options}
    return nets, options


@pytest.mark.parametrize("normalize", [False, True])
def test_imported_drnet_networks_match_upstreams_forward(tmp_path, normalize):
    up = save_drnet_checkpoints(tmp_path / "model.pth", tmp_path / "lstm.pth", normalize=normalize, **SMALL)
    nets, options = _read(tmp_path / "model.pth", tmp_path / "lstm.pth")
    assert class_path(load_checkpoint(tmp_path / "model.pth")["netEC"]) == "models.dcgan_unet_64.content_encoder"
    cfg = config_from_official(nets, options, C.DRNetConfig(channels=3))
    assert (cfg.width, cfg.content_dim, cfg.pose_dim, cfg.rnn_size, cfg.rnn_layers, cfg.normalize,
            cfg.content_model, cfg.pose_model) == (8, 16, 4, 32, 2, normalize, "dcgan_unet", "dcgan")
    model = DRNet(cfg)
    assert load_official_state(model, nets) == ["netC"]  # the scene discriminator is not released
    for m in (model, *up.values()):
        m.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 64, 64, generator=g)
    with torch.no_grad():
        hc_ref, skips_ref = ref_dcgan_encode(up["netEC"], x)
        hc, skips = model.content(x)
        torch.testing.assert_close(hc, hc_ref, rtol=1e-5, atol=1e-5)
        hp_ref = ref_pose_encode(up["netEP"], x)
        hp = model.pose_encoder(x)
        torch.testing.assert_close(hp, hp_ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.decode(hc, skips, hp),
                                   ref_dcgan_decode(up["netD"], torch.cat([hc_ref, hp_ref], 1), skips_ref),
                                   rtol=1e-5, atol=1e-5)
        hidden = [(torch.zeros(3, 32), torch.zeros(3, 32)) for _ in up["lstm"].lstm]
        state, inp = None, torch.cat([hp, hc], 1)
        for t in range(3):
            ref, hidden = ref_lstm_step(up["lstm"], inp, hidden)
            out, state = model.lstm(inp, state)
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5, msg=f"lstm step {t}")
            inp = torch.cat([out, hc], 1)


def test_mismatches_are_refused_clearly(tmp_path):
    save_drnet_checkpoints(tmp_path / "model.pth", **SMALL)
    nets, options = _read(tmp_path / "model.pth")
    with pytest.raises(OfficialCheckpointError, match="for 64x64 frames, the data is 32x32"):
        config_from_official(nets, options, C.DRNetConfig(channels=3, resolution=(32, 32)))
    bad = dict(nets)
    bad["netEC"] = ("models.vgg_64.encoder", nets["netEC"][1])
    with pytest.raises(OfficialCheckpointError, match="unexpected classes"):
        config_from_official(bad, options, C.DRNetConfig(channels=3))
