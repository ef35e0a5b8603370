"""SV2P: forward shapes, CDNA kernels and masks as tensor2tensor composes them, the three training phases,
scheduled sampling by count, a smoke train step + prediction, and the profiles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark.data.base import Protocol, TaskProtocols
from benchmark.methods import DataSpec, TrainData
from benchmark.registry import METHODS
from benchmark.training.loop import Batch
from methods.common.transforms import shift_kernels
from methods.sv2p import config as C
from methods.sv2p.method import beta_schedule, ground_truth_count_mask, kl_sum_per_video
from methods.sv2p.model import LatentTower, SV2PPredictor
from tests.methods.velocity_helpers import dot_columns, saturate_along_x


def _spec(dataset: str = "moving-shapes", channels: int = 3, size: int = 64, c: int = 5, p: int = 10) -> DataSpec:
    train = Protocol(f"prediction-{c}to{p}", "prediction", "train", c, p, (size, size), channels)
    return DataSpec(dataset, channels, (size, size), {"prediction": TaskProtocols(train, train)})


def test_predictor_shapes_kernels_and_the_unused_last_cdna_image():
    torch.manual_seed(0)
    g = SV2PPredictor(3, (32, 32), num_masks=4, width_divisor=8)
    img = torch.rand(2, 3, 32, 32)
    out, state, aux = g.step(img, torch.randn(2, 1, 4, 4), None, None)
    assert out.shape == (2, 3, 32, 32) and len(state) == 7
    assert aux["kernels"].shape == (2, 4, 5, 5) and torch.allclose(aux["kernels"].sum((2, 3)), torch.ones(2, 4))
    assert aux["masks"].shape == (2, 5, 1, 32, 32) and torch.allclose(aux["masks"].sum(1), torch.ones(2, 1, 32, 32))
    # candidates weighed by the 5 masks: previous frame, scratch image, CDNA images 0..2 (not 3: upstream's zip)
    assert aux["transformed"].shape == (2, 5, 3, 32, 32) and torch.equal(aux["transformed"][:, 0], img)
    out.sum().backward()
    grad = g.cdna_params.weight.grad.view(4, 25, -1)
    assert grad[:3].abs().sum() > 0 and grad[3].abs().sum() == 0
    frames = torch.rand(2, 3, 3, 32, 32)
    assert g(frames, 4, latent=torch.randn(2, 1, 4, 4)).shape == (2, 4, 3, 32, 32)
    assert g(frames, 4, latent=torch.randn(2, 4, 1, 4, 4)).shape == (2, 4, 3, 32, 32)  # time-variant
    with pytest.raises(ValueError, match="latent"):
        g(frames, 2)


def test_dna_variant_and_action_injection():
    g = SV2PPredictor(1, (16, 16), num_masks=1, model="dna", latent_channels=0, action_dim=4, width_divisor=8)
    out, _, aux = g.step(torch.rand(2, 1, 16, 16), None, torch.rand(2, 4), None)
    assert out.shape == (2, 1, 16, 16) and aux["kernels"].shape == (2, 1, 5, 5, 16, 16)
    assert torch.allclose(aux["kernels"].sum((2, 3)), torch.ones(2, 1, 16, 16))
    with pytest.raises(ValueError, match="one mask"):
        SV2PPredictor(1, (16, 16), num_masks=2, model="dna")
    with pytest.raises(ValueError, match="action"):
        g.step(torch.rand(2, 1, 16, 16), None, None, None)


def test_latent_tower_reads_all_frames():
    tower = LatentTower(3, 6, width_divisor=8)
    mean, log_var = tower(torch.rand(2, 6, 3, 32, 32))
    assert mean.shape == log_var.shape == (2, 1, 4, 4) and (log_var >= -5).all()
    with pytest.raises(ValueError, match="6 frames"):
        tower(torch.rand(2, 5, 3, 32, 32))


def test_schedules_closed_forms():
    cfg = C.SV2PConfig()
    assert [beta_schedule(s, cfg) for s in (0, 99_999, 100_000, 110_000, 120_000, 190_000)] == \
        pytest.approx([0, 0, 0, 5e-4, 1e-3, 1e-3])
    assert kl_sum_per_video(torch.zeros(4, 1, 8, 8), torch.zeros(4, 1, 8, 8)).item() == 0.0
    # one element with mean 2: KL = 0.5 * 4 = 2, summed over the map, averaged over 2 videos -> 1
    mean = torch.zeros(2, 1, 2, 2)
    mean[0, 0, 0, 0] = 2.0
    assert kl_sum_per_video(mean, torch.zeros_like(mean)).item() == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    m0 = ground_truth_count_mask(0, 16, 9, 2, 900.0, g, torch.device("cpu"))
    assert m0.all()  # round(16 * 900 / 901) = 16 true frames at step 0
    m = ground_truth_count_mask(6_000, 16, 9, 2, 900.0, g, torch.device("cpu"))
    n_true = round(16 * 900 / (900 + np.exp(6_000 / 900)))
    assert m[:, :2].all() and (m[:, 2:].sum(0) == n_true).all()


def _batch(m, step: int, b: int = 2):
    cfg = m.config
    x = torch.rand(b, cfg.context_frames + cfg.future_frames, cfg.channels, *cfg.resolution)
    return Batch(videos=x, index=torch.zeros(b, dtype=torch.long), start=torch.zeros(b, dtype=torch.long), step=step,
                 generator=torch.Generator().manual_seed(0))


def test_three_phases():
    m = METHODS.get("sv2p").from_profile("smoke", _spec(size=32, c=2, p=3))
    cfg = m.config
    phase3 = cfg.stage1_steps + cfg.stage2_steps
    for step, tower_used, kl_in_loss in ((0, False, False), (cfg.stage1_steps, True, False),
                                         (phase3 + cfg.kl_ramp_steps, True, True)):
        for p in m.modules().values():
            p.zero_grad(set_to_none=True)
        loss, extras = m._loss(_batch(m, step))
        loss.backward()
        tower_grad = m.tower.latent_mean.weight.grad
        assert (tower_grad is not None and tower_grad.abs().sum() > 0) == tower_used, step
        assert ("kl" in extras) == tower_used
        expected = extras["mse"] + extras["mse_context"]
        if kl_in_loss:
            expected = expected + cfg.kl_weight * extras["kl"] / (cfg.context_frames + cfg.future_frames - 1)
        assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_smoke_fit_and_predict(tmp_path):
    spec = _spec(size=32, c=2, p=3)
    m = METHODS.get("sv2p").from_profile("smoke", spec, {"train.steps": 2, "train.checkpoint_every": 1})
    videos = np.random.default_rng(0).integers(0, 256, (6, 8, 3, 32, 32), dtype=np.uint8)
    summary = m.fit(TrainData(videos, {"prediction": spec.train_protocol("prediction")}), tmp_path, seed=0,
                    progress=False)
    assert summary["step"] == 2
    ctx = torch.rand(3, 2, 3, 32, 32)
    a = m.predict_frames(ctx, 4, 5, None, seed=1)
    assert a.shape == (3, 5, 4, 3, 32, 32) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, m.predict_frames(ctx, 4, 5, None, seed=1)) and not torch.equal(a[:, 0], a[:, 1])
    det = METHODS.get("sv2p")(dataclasses.replace(m.config, latent_channels=0), spec)
    assert det.tower is None and det.predict_frames(ctx, 4, 5, None, seed=1).shape[1] == 1


def test_profiles():
    kth = C.paper(_spec("kth", channels=1, c=10, p=10))
    assert (kth.num_masks, kth.latent_channels, kth.lr, kth.beta1, kth.beta2, kth.eps, kth.train.batch_size,
            kth.train.grad_clip, kth.stage1_steps, kth.stage2_steps, kth.train.steps, kth.kl_weight) == \
        (10, 1, 1e-3, 0.85, 0.997, 1e-6, 16, 1.0, 50_000, 50_000, 200_000, 1e-3)
    assert (kth.context_frames, kth.future_frames, kth.channels) == (10, 10, 1)
    with pytest.raises(C.ProfileUnavailable):
        C.paper(_spec(size=60))
    cpu = C.cpu(_spec())
    assert cpu.frame_scale == 2 and cpu.future_frames == 5 and cpu.stage1_steps < cpu.train.steps


@torch.no_grad()
def test_cpu_options_shift_kernels_and_copy_bias_at_initialisation():
    """``cdna_shift_init``: every CDNA kernel starts as one of the identity / whole-pixel shifts (upstream's
    random kernels do not); ``copy_mask_bias``: mask 0 (the copied frame) starts dominant."""
    torch.manual_seed(0)
    img = torch.rand(2, 3, 32, 32)
    shifted = SV2PPredictor(3, (32, 32), num_masks=10, width_divisor=8, cdna_shift_init=0.1, copy_mask_bias=6.0)
    _, _, aux = shifted.step(img, torch.randn(2, 1, 4, 4), None, None)
    targets = shift_kernels(10, 5).flatten(1).argmax(1)
    assert torch.equal(aux["kernels"].flatten(2).argmax(2), targets.expand(2, -1))
    assert float(aux["kernels"].flatten(2).max(2).values.min()) > 0.3  # the shift tap dominates
    assert float(aux["masks"][:, 0].mean()) > 0.9
    plain = SV2PPredictor(3, (32, 32), num_masks=10, width_divisor=8)
    _, _, aux = plain.step(img, torch.randn(2, 1, 4, 4), None, None)
    assert not torch.equal(aux["kernels"].flatten(2).argmax(2), targets.expand(2, -1))
    assert float(aux["masks"][:, 0].mean()) < 0.2


def test_copy_velocity_moves_what_mask_0_copies_and_trains_the_velocity_net():
    """``copy_velocity`` (cpu option): the steps that read the context copy the frame they read; the step
    predicting the frame ``h`` after the context copies the last context frame carried ``h x`` the field (a
    saturated field moves a dot by equal steps); the direct loss and the L1 reconstruction are logged and the
    velocity net gets gradients and its own learning rate."""
    spec = _spec(size=32, c=2, p=3)
    m = METHODS.get("sv2p").from_profile("smoke", spec, {"copy_velocity": "true", "velocity_loss": "1.0",
                                                        "velocity_divergence": "0.5", "recon_loss": "l1",
                                                        "velocity_lr": "0.01"})
    x = torch.rand(2, 2, 3, 32, 32)
    backgrounds, field = m.backgrounds(x, 4)
    assert backgrounds.shape == (2, 4, 3, 32, 32) and torch.equal(backgrounds[:, 0], x[:, 0])
    assert torch.allclose(backgrounds[:, 1:], x[:, 1:].expand(-1, 3, -1, -1, -1), atol=1e-5)  # zero field at init
    saturate_along_x(m.velocity)
    dot = torch.zeros(1, 2, 1, 32, 32).expand(-1, -1, 3, -1, -1).clone()
    dot[:, :, :, 16, 16] = 1.0
    columns = dot_columns(m.backgrounds(dot, 4)[0][0, 1:, :1])
    assert columns[0] < 16 and columns[0] - columns[1] == columns[1] - columns[2] > 0
    torch.nn.init.normal_(m.velocity.net[-1].weight, std=0.3)  # a field with divergence
    loss, extras = m._loss(_batch(m, step=0))
    assert extras["velocity_divergence"].item() > 0
    expected = extras["l1"] + extras["l1_context"] + extras["velocity_mse"] + 0.5 * extras["velocity_divergence"]
    assert "mse" not in extras and loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert float(m.velocity.net[-1].weight.grad.abs().sum()) > 0
    assert [(g["lr"], len(g["params"])) for g in m.optimizer().param_groups] == \
        [(m.config.lr, sum(1 for n, mod in m.modules().items() if n != "velocity" for _ in mod.parameters())),
         (0.01, len(list(m.velocity.parameters())))]
    for field in ("velocity_loss", "velocity_lr"):  # each would be ignored without a word
        with pytest.raises(ValueError, match="need copy_velocity"):
            C.SV2PConfig(**{field: 0.01})
    with pytest.raises(ValueError, match="recon_loss"):
        C.SV2PConfig(recon_loss="l2")
