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
from tests.methods.official_format import (ref_content_encode, ref_dcgan_decode, ref_dcgan_encode, ref_drnet_decode,
                                          ref_lstm_step, ref_pose_encode, save_drnet_checkpoints)

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


# Every network train_drnet.py can build: --content_model dcgan_unet | vgg_unet | dcgan x --pose_model
# dcgan | resnet x --image_width 64 | 128 (the default dcgan_unet + dcgan at 64 is the test above).
VARIANTS = [pytest.param(c, p, w, id=f"{c}-{p}-{w}") for w in (64, 128) for c in ("dcgan_unet", "vgg_unet", "dcgan")
            for p in ("dcgan", "resnet") if (c, p, w) != ("dcgan_unet", "dcgan", 64)]


def _tensors(module):
    return [t for k, t in module.state_dict().items() if not k.endswith("num_batches_tracked")]


@pytest.mark.parametrize("content_model,pose_model,width", VARIANTS)
def test_every_upstream_variant_imports_and_computes_upstreams_forward(tmp_path, content_model, pose_model, width):
    normalize = pose_model == "resnet"  # --normalize on the ResNet runs: both pose paths see it
    up = save_drnet_checkpoints(tmp_path / "model.pth", content_model=content_model, pose_model=pose_model,
                                image_width=width, normalize=normalize, **SMALL)
    tree = load_checkpoint(tmp_path / "model.pth")
    assert class_path(tree["netEC"]) == f"models.{content_model}_{width}.content_encoder"
    assert class_path(tree["netD"]) == f"models.{content_model}_{width}.decoder"
    assert class_path(tree["netEP"]) == f"models.{pose_model}_{width}.pose_encoder"
    nets, options = _read(tmp_path / "model.pth")
    if pose_model == "resnet":  # upstream's names survive: main = resnet18, layer5 only at 128x128
        assert "main.layer4.0.downsample.0.weight" in nets["netEP"][1]
        assert ("main.layer5.1.conv2.weight" in nets["netEP"][1]) == (width == 128)
    cfg = config_from_official(nets, options, C.DRNetConfig(channels=3, resolution=(width, width)))
    assert (cfg.content_model, cfg.pose_model, cfg.resolution, cfg.width, cfg.content_dim, cfg.pose_dim,
            cfg.normalize) == (content_model, pose_model, (width, width), 8, 16, 4, normalize)
    model = DRNet(cfg)
    assert load_official_state(model, nets) == ["netC", "lstm"]  # no train_lstm.py file given
    for name in ("netEC", "netEP", "netD"):
        ours, theirs = _tensors(model.networks()[name]), _tensors(up[name])
        assert len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs)), name
    for m in (model, *up.values()):
        m.eval()
    x = torch.rand(2, 3, width, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hc_ref, skips_ref = ref_content_encode(up["netEC"], x)
        hc, skips = model.content(x)
        torch.testing.assert_close(hc, hc_ref, rtol=1e-5, atol=1e-5)
        assert len(skips) == len(skips_ref) == (0 if content_model == "dcgan" else 4 if width == 64 else 5)
        for a, b in zip(skips, skips_ref):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        hp_ref = ref_pose_encode(up["netEP"], x)
        hp = model.pose_encoder(x)
        torch.testing.assert_close(hp, hp_ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.decode(hc, skips, hp),
                                   ref_drnet_decode(up["netD"], torch.cat([hc_ref, hp_ref], 1), skips_ref),
                                   rtol=1e-5, atol=1e-5)


def test_mismatches_are_refused_clearly(tmp_path):
    save_drnet_checkpoints(tmp_path / "model.pth", **SMALL)
    nets, options = _read(tmp_path / "model.pth")
    with pytest.raises(OfficialCheckpointError, match="for 64x64 frames, the data is 32x32"):
        config_from_official(nets, options, C.DRNetConfig(channels=3, resolution=(32, 32)))
    bad = dict(nets)
    bad["netEC"] = ("models.vgg_64.encoder", nets["netEC"][1])
    with pytest.raises(OfficialCheckpointError, match="unexpected classes"):
        config_from_official(bad, options, C.DRNetConfig(channels=3))
    bad = dict(nets)
    bad["netD"] = ("models.dcgan_64.decoder", nets["netD"][1])  # a skip-less decoder with the U-Net encoder
    with pytest.raises(OfficialCheckpointError, match="content model dcgan_unet at 64x64 has 'models.dcgan_unet_64"):
        config_from_official(bad, options, C.DRNetConfig(channels=3))
    with pytest.raises(OfficialCheckpointError, match="opt says content_model='vgg_unet'"):
        config_from_official(nets, {**options, "content_model": "vgg_unet"}, C.DRNetConfig(channels=3))


def test_a_128_checkpoint_is_refused_for_64_data(tmp_path):
    save_drnet_checkpoints(tmp_path / "model.pth", image_width=128, **SMALL)
    nets, options = _read(tmp_path / "model.pth")
    with pytest.raises(OfficialCheckpointError, match="for 128x128 frames, the data is 64x64"):
        config_from_official(nets, options, C.DRNetConfig(channels=3))


def test_upstream_unet_64_variant_is_refused_as_unsupported(tmp_path):
    # models/unet_64.py (ind_pose_encoder, a multi-pose decoder) is in upstream's tree and in
    # train_drnet.py's --pose_model help, but train_drnet.py builds only dcgan / resnet pose encoders.
    save_drnet_checkpoints(tmp_path / "model.pth", **SMALL)
    nets, options = _read(tmp_path / "model.pth")
    nets["netEP"] = ("models.unet_64.pose_encoder", nets["netEP"][1])
    with pytest.raises(OfficialCheckpointError, match=r"models/unet_64\.py .*only train_drnet\.py's --content_model"):
        config_from_official(nets, options, C.DRNetConfig(channels=3))
