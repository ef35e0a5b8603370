"""DRNet: parameter counts of the paper profiles equal upstream's (``edenton/drnet-py`` at 240cf6e),
forward shapes, both stages' objectives and the rollout.

Upstream counts, derived from ``models/{dcgan_unet,dcgan,vgg_unet,resnet}_{64,128}.py``,
``models/classifiers.py`` and ``models/lstm.py`` (convs and linears keep their biases; BatchNorm
weight + bias; nf = 64, content_dim 128, pose_dim 10, sd_nf 100, rnn 2 x 256):

* content encoder = DCGAN encoder (4x4 stride-2 convs nc->64->128->256->512 (->512 at 128x128), head
  4x4 512->128 + BN): 64x64: 3,805,376 + 1,024 (nc - 1); 128x128: 8,001,216 + 1,024 (nc - 1).
* pose encoder = the same trunk with a 512->10 head (8,202 + 20 instead of 1,048,704 + 256):
  64x64: 2,838,366 + 1,024 (nc - 1); 128x128: 7,034,206 + 1,024 (nc - 1).
* U-Net decoder: ConvT 4x4 (128 + 10)->512 + BN, then the DCGAN decoder's skip-doubled inputs, out
  ConvT 128->nc: 64x64: 6,640,449 + 2,049 (nc - 1); 128x128: 15,030,593 + 2,049 (nc - 1).
* scene discriminator: Linear 20->100, 100->100, 100->1: 2,100 + 10,100 + 101 = 12,301.
* pose LSTM lstm(138, 256, 10, 2): 138 x 256 + 256 + 2 x 526,336 + 2,570 = 1,090,826.
* ResNet-18 pose encoder at 128x128, nc = 3 (conv1 5x5 3->64, stages 64-128-256-512-1024 of two basic
  blocks, 1x1 downsample convs, 3x3 head 1024->10): 44,838,686; VGG U-Net content 15,772,096 and
  decoder 21,346,371 (nc = 3).

KTH models are RGB (nc = 3): upstream reads KTH's gray PNGs as RGB with its default --channels 3.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.data.kth import KTH
from benchmark.data.mmnist import MovingMNIST
from benchmark.data.moving_shapes import MovingShapes
from benchmark.methods import ProfileUnavailable
from benchmark.pipeline import data_spec
from methods.drnet import config as C
from methods.common.frame_codecs import init_copy_mask_
from methods.drnet.model import DRNet
from tests.methods.velocity_helpers import dot_columns, saturate_along_x

UPSTREAM = {
    "kth64": {"netEC": 3_807_424, "netEP": 2_840_414, "netD": 6_644_547, "netC": 12_301, "lstm": 1_090_826},
    "kth128": {"netEC": 8_003_264, "netEP": 7_036_254, "netD": 15_034_691, "netC": 12_301, "lstm": 1_090_826},
    "mmnist": {"netEC": 3_805_376, "netEP": 2_838_366, "netD": 6_640_449, "netC": 12_301, "lstm": 1_090_826},
}


def _spec(name: str):
    ds = {"kth64": lambda: KTH(size=64), "kth128": lambda: KTH(size=128), "mmnist": lambda: MovingMNIST()}[name]()
    return data_spec(ds, ("prediction",))


def _counts(model: DRNet) -> dict[str, int]:
    return {k: sum(p.numel() for p in v.parameters()) for k, v in model.networks().items()}


@pytest.mark.parametrize("dataset", sorted(UPSTREAM))
def test_paper_profile_parameter_counts_match_upstream(dataset):
    cfg = C.paper(_spec(dataset))
    with torch.device("meta"):
        model = DRNet(cfg)
    assert _counts(model) == UPSTREAM[dataset]


def test_variant_parameter_counts_match_upstream():
    cfg = dataclasses.replace(C.paper(_spec("kth128")), content_model="vgg_unet", pose_model="resnet")
    with torch.device("meta"):
        counts = _counts(DRNet(cfg))
    assert (counts["netEC"], counts["netEP"], counts["netD"]) == (15_772_096, 44_838_686, 21_346_371)
    cfg = dataclasses.replace(C.paper(_spec("kth64")), content_model="dcgan", model_channels=None)
    with torch.device("meta"):
        counts = _counts(DRNet(cfg))
    assert counts["netD"] == 3_886_913  # plain DCGAN decoder (no skips), nc = 1


def test_paper_profile_settings_and_refusal(small_dataset):
    cfg = C.paper(_spec("kth128"))
    assert (cfg.content_dim, cfg.pose_dim, cfg.sd_weight, cfg.sd_width, cfg.lr, cfg.beta1) == (128, 10, 1e-4, 100, 2e-3, 0.5)
    assert (cfg.net_channels, cfg.lstm_lr, cfg.lstm_beta1, cfg.context_frames, cfg.future_frames) == (3, 2e-4, 0.9, 10, 10)
    other = C.paper(data_spec(small_dataset, ("prediction",)))   # upstream's defaults elsewhere
    assert (other.content_dim, other.pose_dim, other.net_channels) == (128, 10, 3)
    with pytest.raises(ProfileUnavailable, match="64x64 and 128x128"):
        C.paper(data_spec(MovingShapes(root=small_dataset.root, size=32), ("prediction",)))


def _tiny(**kw) -> C.DRNetConfig:
    base = dict(channels=1, resolution=(32, 32), width=4, content_dim=8, pose_dim=3, sd_width=8, rnn_size=8,
                context_frames=3, future_frames=4)
    return C.DRNetConfig(**{**base, **kw})


@pytest.mark.parametrize("content,pose", [("dcgan_unet", "dcgan"), pytest.param("vgg_unet", "dcgan", marks=pytest.mark.slow),
                                          pytest.param("dcgan", "dcgan", marks=pytest.mark.slow)])
def test_stage_losses_and_rollout_shapes(content, pose):
    torch.manual_seed(0)
    model = DRNet(_tiny(content_model=content, pose_model=pose))
    x = [torch.rand(4, 1, 32, 32) for _ in range(4)]
    d_loss, d_parts = model.discriminator_loss(x[0], x[1], torch.randperm(2))
    loss, parts = model.disentangle_losses(*x)
    (d_loss + loss).backward()
    assert set(parts) == {"sim", "rec", "sd"} and 0 <= float(d_parts["acc"]) <= 1
    # Content of x_c2 is a target (detached): only the x_c1 path trains the content encoder.
    assert model.content_encoder.head.layers[0].weight.grad is not None
    lstm_loss, _ = model.lstm_loss(torch.rand(2, 7, 1, 32, 32), context=3)
    lstm_loss.backward()
    model.eval()
    assert model.rollout(torch.rand(2, 3, 1, 32, 32), 5).shape == (2, 5, 1, 32, 32)


def test_resnet_pose_encoder_shapes():
    model = DRNet(C.DRNetConfig(channels=1, resolution=(64, 64), width=4, content_dim=8, pose_dim=3, sd_width=8,
                                rnn_size=8, pose_model="resnet"))
    assert model.pose_encoder(torch.rand(2, 1, 64, 64)).shape == (2, 3)


def test_gray_data_through_rgb_networks():
    """KTH paper profile: gray frames replicated to the networks' 3 channels, predictions back to gray."""
    model = DRNet(_tiny(model_channels=3)).eval()
    assert model.content_encoder.stages[0].layers[0].conv.in_channels == 3
    assert model.rollout(torch.rand(1, 3, 1, 32, 32), 2).shape == (1, 2, 1, 32, 32)


def test_scene_discriminator_pairs_half_the_batch_across_clips():
    torch.manual_seed(0)
    model = DRNet(_tiny())
    x1, x2 = torch.rand(6, 1, 32, 32), torch.rand(6, 1, 32, 32)
    perm = torch.tensor([2, 0, 1])
    with torch.no_grad():
        h1, h2 = model.pose_encoder(x1), model.pose_encoder(x2)
        want = torch.nn.functional.binary_cross_entropy(
            model.scene_discriminator(h1, torch.cat([h2[:3][perm], h2[3:]])),
            torch.tensor([[1.0]] * 3 + [[0.0]] * 3))
        got, _ = model.discriminator_loss(x1, x2, perm)
    assert torch.allclose(got, want, atol=1e-6)


def test_cpu_profile_copy_mask_starts_as_a_copy(small_dataset):
    """cpu profile: the copy mask's logit starts at ``mask_bias`` (3), so the untrained decoder already
    copies the content frame (m ~ sigmoid(3) = 0.95) instead of blending in half its drawing."""
    from methods.drnet.method import DRNetMethod

    spec = data_spec(small_dataset, ("prediction",))
    cfg = C.cpu(spec)
    assert cfg.copy_mask and cfg.mask_bias == 3.0
    model = DRNetMethod(cfg, spec).model.eval()
    x = model.adapt(torch.rand(2, 1, spec.channels, *spec.resolution))[:, 0]
    with torch.no_grad():
        h_c, skips = model.content(x)
        mask = model.decoder(torch.cat([h_c, model.pose_encoder(x)], 1), skips)[:, -1]
    assert float(mask.min()) > 0.9
    assert C.smoke(spec).mask_bias == 0.0 and not C.smoke(spec).copy_mask
    with pytest.raises(ValueError, match="needs copy_mask"):
        dataclasses.replace(cfg, copy_mask=False)


def test_copy_velocity_moves_the_content_frame_the_mask_copies():
    """cpu option ``copy_velocity``: the rollout's copy source for the frame ``h`` steps after the context is the
    last context frame carried ``h x`` the field read off the last two context frames (a saturated field and a
    mask that copies: a dot moves by equal steps); in training the content frame is moved by the (signed) time
    to the pose frame. It needs the copy mask and a warm-up (the velocity net trains only there)."""
    cfg = _tiny(copy_mask=True, mask_bias=20.0, copy_velocity=True, velocity_warmup=5)
    torch.manual_seed(0)
    model = DRNet(cfg)
    init_copy_mask_(model.decoder, cfg.mask_bias)
    model.velocity.reset_parameters()
    saturate_along_x(model.velocity)
    dot = torch.zeros(1, 3, 1, 32, 32)
    dot[:, :, 0, 16, 16] = 1.0
    model.eval()
    columns = dot_columns(model.rollout(dot, 3)[0])
    assert columns[0] < 16 and columns[0] - columns[1] == columns[1] - columns[2] > 0
    def column(h: float) -> int:  # of the dot in the content frame moved h steps (training: h < 0 as well)
        return dot_columns(model.moved_content_frame(dot[:, 0], dot[:, 1], torch.tensor([h])))[0]

    assert column(2.0) < 16 < column(-2.0) and 16 - column(2.0) == column(-2.0) - 16
    assert DRNet(_tiny()).velocity is None
    with pytest.raises(ValueError, match="velocity_warmup > 0"):
        _tiny(copy_mask=True, copy_velocity=True)
    with pytest.raises(ValueError, match="need copy_velocity"):
        _tiny(velocity_warmup=5)
