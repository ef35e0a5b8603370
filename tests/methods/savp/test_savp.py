"""SAVP and its ablations: forward shapes, transformation kernels, the losses of each variant, a smoke
train step + prediction, profiles per dataset; the slow test shows each learns on moving-shapes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark.data.base import Protocol, TaskProtocols
from benchmark.methods import DataSpec, TrainData
from benchmark.registry import METHODS
from benchmark.training.loop import Batch
from methods.savp import config as C
from methods.savp.method import cosine_distance, ground_truth_mask, kl_standard_normal, linear_ramp, random_clips
from methods.savp.model import PosteriorEncoder, SAVPGenerator, VideoDiscriminator
from tests.methods.velocity_helpers import dot_columns, saturate_along_x

NAMES = ("savp", "savp_vae", "savp_gan", "savp_det")


def _spec(dataset: str = "moving-shapes", channels: int = 3, size: int = 64, c: int = 5, p: int = 10,
          test_p: int = 15) -> DataSpec:
    train = Protocol(f"prediction-{c}to{p}", "prediction", "train", c, p, (size, size), channels)
    test = Protocol(f"prediction-{c}to{test_p}", "prediction", "test", c, test_p, (size, size), channels,
                    samples_per_context=10)
    return DataSpec(dataset, channels, (size, size), {"prediction": TaskProtocols(train, test)})


def test_generator_forward_shapes_and_normalised_kernels():
    torch.manual_seed(0)
    g = SAVPGenerator(3, (64, 64), ngf=4, nz=2)
    frames = torch.rand(2, 2, 3, 64, 64)
    out = g(frames, 2, zs=torch.randn(2, 2, 2))
    assert out.shape == (2, 2, 3, 64, 64) and torch.isfinite(out).all()
    img, state, aux = g.step(frames[:, 0], frames[:, 0], torch.randn(2, 2), None, None)
    assert aux["kernels"].shape == (2, 4, 5, 5)
    assert torch.allclose(aux["kernels"].sum((2, 3)), torch.ones(2, 4)) and (aux["kernels"] > 0).all()
    # upstream adds the identity kernel before normalising: the centre tap dominates at initialisation
    centre = aux["kernels"][:, :, 2, 2]
    assert (centre > 3 * (1 - centre) / 24).all()
    assert aux["masks"].shape == (2, 7, 1, 64, 64) and torch.allclose(aux["masks"].sum(1), torch.ones(2, 1, 64, 64))
    assert aux["transformed"].shape == (2, 7, 3, 64, 64)
    assert len(state["conv_rnn"]) == 5 and "rnn_z" in state
    # the previous-frame and first-frame candidates are the inputs themselves (upstream's backgrounds)
    assert torch.equal(aux["transformed"][:, 4], frames[:, 0]) and torch.equal(aux["transformed"][:, 5], frames[:, 0])
    # 32x32 frames: two scales; DNA kernels per pixel
    g32 = SAVPGenerator(1, (32, 32), ngf=4, nz=0, transformation="dna")
    img, _, aux = g32.step(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32), None, None, None)
    assert img.shape == (1, 1, 32, 32) and aux["kernels"].shape == (1, 4, 5, 5, 32, 32)
    assert torch.allclose(aux["kernels"].sum((2, 3)), torch.ones(1, 4, 32, 32))


def test_generator_uses_truth_only_where_asked_and_validates_inputs():
    g = SAVPGenerator(1, (32, 32), ngf=4, nz=0)
    frames = torch.rand(2, 4, 1, 32, 32)
    truth = torch.tensor([[True, True, False], [True, True, True]])
    a = g(frames, 3, use_truth=truth)
    b = g(frames, 3)  # default: the true frames while they last (all 3 steps here)
    assert torch.equal(a[1], b[1]) and not torch.equal(a[0, 2], b[0, 2])
    with pytest.raises(ValueError, match="beyond"):
        g(frames[:, :2], 3, use_truth=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="nz=0"):
        g(frames, 3, zs=torch.zeros(2, 3, 1))
    ga = SAVPGenerator(1, (32, 32), ngf=4, nz=0, action_dim=4)
    with pytest.raises(ValueError, match="actions"):
        ga(frames, 3)
    assert ga(frames, 3, actions=torch.rand(2, 3, 4)).shape == (2, 3, 1, 32, 32)


def test_encoder_and_discriminator_shapes():
    enc = PosteriorEncoder(3, 8, action_dim=4, nef=8)
    mu, lss = enc(torch.rand(2, 6, 3, 64, 64), torch.rand(2, 6, 4))
    assert mu.shape == lss.shape == (2, 5, 8) and lss.abs().max() <= 10
    d = VideoDiscriminator(3, 10, (64, 64), ndf=4)
    feats, logits = d(torch.rand(2, 10, 3, 64, 64))
    assert logits.shape == (2, 1) and len(feats) == 7 and feats[-1].shape == (2, 32, 4, 8, 8)


def test_loss_helpers_closed_forms():
    assert kl_standard_normal(torch.zeros(3, 4, 5), torch.zeros(3, 4, 5)).item() == 0.0
    mu = torch.ones(1, 1, 2)
    assert kl_standard_normal(mu, torch.zeros(1, 1, 2)).item() == pytest.approx(1.0)  # 2 x 0.5 mu^2
    a = torch.rand(2, 3, 4, 5)
    assert cosine_distance(a, 2 * a).item() == pytest.approx(0.0, abs=1e-6)
    assert cosine_distance(a, -a).item() == pytest.approx(2.0, abs=1e-6)
    assert [linear_ramp(s, 10, 20) for s in (0, 10, 15, 20, 30)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert linear_ramp(5, 5, 5) == 1.0 and linear_ramp(4, 5, 5) == 0.0
    g = torch.Generator().manual_seed(0)
    early = ground_truth_mask(0, 64, 9, 5, 900.0, g, torch.device("cpu"))
    late = ground_truth_mask(20_000, 64, 9, 5, 900.0, g, torch.device("cpu"))
    assert early[:, :5].all() and early[:, 5:].float().mean() > 0.95  # p = 900/901 at step 0
    assert late[:, :5].all() and not late[:, 5:].any()                # p < 0.001: fully autoregressive
    clips = random_clips(torch.arange(10.0).view(1, 10).expand(6, 10), 4, g)
    assert clips.shape == (6, 4) and ((clips[:, 1:] - clips[:, :-1]) == 1).all()


@pytest.mark.parametrize("name", NAMES)
def test_variant_modules_and_validation(name):
    cls = METHODS.get(name)
    m = cls.from_profile("smoke", _spec())
    mods = set(m.modules())
    expected = {"savp": {"generator", "encoder", "discriminator", "discriminator_enc"},
                "savp_vae": {"generator", "encoder"}, "savp_gan": {"generator", "discriminator"},
                "savp_det": {"generator"}}[name]
    assert mods == expected and cls.stochastic == (name != "savp_det") and cls.tasks == ("prediction",)
    assert m.conditioning_inputs("prediction") == ()
    with pytest.raises(ValueError):
        cls(dataclasses.replace(m.config, nz=0 if cls.stochastic else 4), m.spec)


def _batch(m, b: int = 2, step: int = 0):
    cfg = m.config
    x = torch.rand(b, cfg.context_frames + cfg.future_frames, cfg.channels, *cfg.resolution)
    return Batch(videos=x, index=torch.zeros(b, dtype=torch.long), start=torch.zeros(b, dtype=torch.long), step=step,
                 generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", NAMES)
def test_each_variant_trains_the_losses_of_its_definition(name):
    m = METHODS.get(name).from_profile("smoke", _spec(size=32, c=2, p=4))
    out = m._forward_train(_batch(m, step=10))
    # GAN-only and deterministic: the prior path only; VAE-only: the posterior path only; SAVP: both
    assert ("gen_enc" in out) == (name in ("savp", "savp_vae"))
    assert ("gen" in out) == (name in ("savp", "savp_gan", "savp_det"))
    loss, extras = m._g_loss(out)
    expected = {"savp": {"l1", "kl", "gan", "vae_gan", "vae_gan_cdist"}, "savp_vae": {"l1", "kl"},
                "savp_gan": {"l1", "gan", "gan_cdist"}, "savp_det": {"l1"}}[name]
    assert set(extras) == expected and torch.isfinite(loss)
    loss.backward()
    assert m.generator.cdna_kernels.weight.grad is not None
    if m.disc is not None:
        assert m.disc.fc.parametrizations.weight.original.grad is None  # no D weight gradients in G's phase
        d_loss, d_extras = m._d_loss(out)
        assert set(d_extras) == {"gan", "vae_gan"} & set(expected) and torch.isfinite(d_loss)


# SAVP exercises every module; the ablations share its code (and the registry-wide tests fit each one)
@pytest.mark.parametrize("name", ["savp"] + [pytest.param(n, marks=pytest.mark.slow) for n in NAMES[1:]])
def test_smoke_fit_and_predict_shapes(name, tmp_path):
    spec = _spec(size=32, c=2, p=3, test_p=4)
    m = METHODS.get(name).from_profile("smoke", spec, {"train.steps": 2, "train.checkpoint_every": 1})
    videos = np.random.default_rng(0).integers(0, 256, (6, 8, 3, 32, 32), dtype=np.uint8)
    summary = m.fit(TrainData(videos, {"prediction": spec.train_protocol("prediction")}), tmp_path, seed=0,
                    progress=False)
    assert summary["step"] == 2 and np.isfinite(list(summary["losses"].values())).all()
    ctx = torch.rand(3, 2, 3, 32, 32)
    a = m.predict_frames(ctx, 4, 5, None, seed=1)
    assert a.shape == (3, 5 if m.stochastic else 1, 4, 3, 32, 32) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, m.predict_frames(ctx, 4, 5, None, seed=1))
    if m.stochastic:
        assert not torch.equal(a[:, 0], a[:, 1])  # the samples differ


def test_paper_profiles_per_dataset():
    kth = C.paper("savp")(_spec("kth", channels=1, c=10, p=10, test_p=30))
    assert (kth.nz, kth.kl_weight, kth.gan_weight, kth.vae_gan_weight, kth.l1_weight, kth.lr, kth.beta1,
            kth.train.batch_size, kth.channels, kth.context_frames, kth.train.steps) == \
        (32, 0.01, 0.1, 0.1, 100.0, 2e-4, 0.5, 16, 1, 10, 300_000)
    bair = C.paper("savp")(_spec("bair", c=2, p=10, test_p=28))
    assert (bair.nz, bair.kl_weight, bair.vae_gan_feature_cdist_weight, bair.clip_length) == (8, 1.0, 10.0, 10)
    vae = C.paper("vae")(_spec("kth", channels=1, c=10, p=10))
    assert (vae.kl_weight, vae.l1_weight, vae.lr, vae.beta1, vae.train.batch_size, vae.gan_weight) == \
        (1e-5, 1.0, 1e-3, 0.9, 32, 0.0)
    gan = C.paper("gan")(_spec("bair", c=2, p=10))
    assert (gan.encoder, gan.kl_weight, gan.gan_weight, gan.gan_feature_cdist_weight) == (False, 0.0, 0.1, 10.0)
    det = C.paper("deterministic")(_spec("kth", channels=1, c=10, p=10))
    assert (det.nz, det.encoder, det.l1_weight) == (0, False, 1.0)
    with pytest.raises(C.ProfileUnavailable):
        C.paper("savp")(_spec(size=16))
    cpu = C.cpu("savp")(_spec())
    assert cpu.frame_scale == 2 and cpu.train.steps <= 400


@pytest.mark.parametrize("name", ["savp", "savp_det"])
def test_copy_velocity_moves_the_previous_image_candidate_and_trains_the_velocity_net(name):
    """``copy_velocity`` + ``copy_mask_bias`` (cpu options): the previous-image mask starts dominant; the
    candidate is the frame the step reads while it reads the context, then the last context frame carried
    along the field (a saturated field moves a dot by equal steps); the velocity terms join G's loss and
    the net trains in its own Adam group."""
    m = METHODS.get(name).from_profile("smoke", _spec(size=32, c=2, p=4), {
        "copy_velocity": "true", "velocity_loss": "1.0", "velocity_divergence": "0.5", "copy_mask_bias": "6",
        "velocity_lr": "0.01"})
    x = torch.rand(2, 2, 3, 32, 32)
    zs = torch.zeros(2, 5, m.config.nz) if m.config.nz else None
    backgrounds, _ = m.backgrounds(x, 5)
    with torch.no_grad():
        _, _, aux = m.generator.step(x[:, 1], x[:, 0], None if zs is None else zs[:, 1], None, None,
                                     backgrounds[:, 1])
    prev = m.generator.num_transformed
    assert torch.equal(aux["transformed"][:, prev], backgrounds[:, 1])
    assert float(aux["masks"][:, prev].mean()) > 0.8
    saturate_along_x(m.velocity)
    dot = torch.zeros(1, 2, 3, 32, 32)
    dot[:, :, :, 16, 16] = 1.0
    columns = dot_columns(m.backgrounds(dot, 4)[0][0, 1:, :1])
    assert columns[0] < 16 and columns[0] - columns[1] == columns[1] - columns[2] > 0
    torch.nn.init.normal_(m.velocity.net[-1].weight, std=0.3)  # a field with divergence
    out = m._forward_train(_batch(m, step=10))
    loss, extras = m._g_loss(out)
    assert {"velocity_mse", "velocity_divergence"} <= set(extras) and extras["velocity_divergence"].item() > 0
    if name == "savp_det":  # L1 + the velocity terms, nothing else
        expected = m.config.l1_weight * extras["l1"] + extras["velocity_mse"] + 0.5 * extras["velocity_divergence"]
        assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert float(m.velocity.net[-1].weight.grad.abs().sum()) > 0
    assert [g["lr"] for g in m.generator_optimizer().param_groups] == [m.config.lr, 0.01]
    with pytest.raises(ValueError, match="need copy_velocity"):
        METHODS.get(name)(dataclasses.replace(m.config, copy_velocity=False), m.spec)
    with pytest.raises(ValueError, match="need copy_velocity"):  # velocity_lr alone would be ignored without a word
        METHODS.get(name)(dataclasses.replace(m.config, copy_velocity=False, velocity_loss=0.0,
                                              velocity_divergence=0.0), m.spec)
