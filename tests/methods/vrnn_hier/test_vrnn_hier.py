"""Hierarchical VRNN: sizes against the official code, latent shapes, training and learning.

The paper profile has ~208M parameters; counts and shapes are taken on the ``meta`` device (no
memory, no arithmetic), so they cost milliseconds.
"""

from __future__ import annotations

import pytest
import torch

from benchmark.registry import METHODS
from methods.vrnn_hier import config as C
from methods.vrnn_hier.model import VRNNHierModel, encoder_sizes, encoder_widths, official_latent_channels
from tests.methods.latent_zoo_helpers import (best_of_k_ssim, cond, prediction_clips, run_recipe_smoke, shapes_train,
                                              spec_of)
from tests.methods.velocity_helpers import dot_columns, saturate_along_x


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _meta(cfg) -> VRNNHierModel:
    with torch.device("meta"):
        return VRNNHierModel(cfg)


def test_paper_profile_matches_the_official_parameter_counts():
    """``facebookresearch/improved_vrnn`` (c370ede1) ``models/vrnn_hier.py`` ``Model(img_ch, n_ctx)`` with
    its defaults (n_hid 64, n_z 10) counts 207,890,619 parameters on BAIR (3 channels, 2 context frames)
    and 260,680,313 on SM-MNIST (1 channel, 5 context frames: the context-initialisation convs grow
    with n_ctx); the one-level ``models/vrnn.py`` 151,423,931 on BAIR."""
    bair = C.paper(spec_of("bair"))
    assert (bair.context_frames, bair.width, bair.latent_blocks) == (2, 64, (0, 2, 4))
    assert bair.latent_channels == (10, 512, 128)
    assert (bair.reconstruction, bair.lr, bair.weight_decay, bair.train.batch_size) == ("l1", 1e-4, 1e-4, 16)
    m = _meta(bair)
    # encoder: 1x1 conv + residual blocks, widths 64-128-256-512-512-512
    assert [_count(level) for level in m.encoder] == [74_304, 414_784, 1_656_960, 6_623_488, 9_442_304, 9_442_304]
    # decoder block 0: ConvLSTM(512 + 10 -> 512) 19,072,000 + ConvT(512, 512, 4) + GN 4,195,840
    #                  + context init (2 * 512 channels -> 2 * 512) 2,103,296
    assert _count(m.render[0]) == 19_072_000 + 4_195_840 + 2_103_296
    assert _count(m.render) == 84_263_491 + 7_003_392       # upstream render_nets + init_nets
    assert _count(m.priors) == 40_073_660 + 4_339_200       # prior_nets + prior_init_nets
    assert _count(m.posteriors) == 40_217_532 + 4_339_200   # posterior read-outs also see coarser z
    assert _count(m) == 207_890_619
    sm = C.paper(spec_of("mmnist", motion="stochastic"))
    assert (sm.channels, sm.context_frames, sm.reconstruction) == (1, 5, "bce")
    assert _count(_meta(sm)) == 260_680_313
    assert _count(_meta(C.paper_1l(spec_of("bair")))) == 151_423_931


def test_latent_levels_sit_at_the_decoder_blocks_with_the_official_sizes():
    assert encoder_sizes((64, 64)) == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (1, 1)]
    assert encoder_widths(64, 6) == [64, 128, 256, 512, 512, 512]
    assert official_latent_channels(64, 10, (0, 2, 4), 6) == (10, 512, 128)
    m = _meta(C.paper(spec_of("bair")))
    emb = m.embed(torch.zeros(2, 3, 3, 64, 64, device="meta"))
    assert [tuple(e.shape[2:]) for e in emb] == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8),
                                                 (512, 4, 4), (512, 1, 1)]
    states = m._initial_states(emb)
    shapes = []
    for j, blk in enumerate(m.latent_blocks):
        mean, logvar, _ = m.priors[j].step(emb[m._level_of(blk)][:, 1], states["prior"][j])
        shapes.append(tuple(mean.shape[1:]))
    assert shapes == [(10, 1, 1), (512, 8, 8), (128, 32, 32)]  # z at 1x1, 8x8, 32x32


@pytest.mark.parametrize("name", ["kth", "moving-shapes"])
def test_paper_profile_is_unavailable_where_the_paper_did_not_run(name):
    from benchmark.methods import ProfileUnavailable

    spec = spec_of(name) if name != "moving-shapes" else spec_of(name, split_sizes={"train": 1, "val": 1, "test": 1})
    with pytest.raises(ProfileUnavailable, match="BAIR"):
        C.paper(spec)
    with pytest.raises(ProfileUnavailable):
        C.paper(spec_of("mmnist"))  # deterministic Moving MNIST 10 -> 10 is not in the paper


def _tiny(**changes) -> VRNNHierModel:
    cfg = C.VRNNHierConfig(channels=1, resolution=(32, 32), context_frames=2, width=4, latent_blocks=(0, 2, 4),
                           latent_channels=(3, 2, 2), **changes)
    torch.manual_seed(0)
    return VRNNHierModel(cfg)


def test_posterior_and_prior_start_equal_and_kl_is_per_level():
    """The q/p heads start at zero weight (upstream), so the KL starts near 0 and grows with training signal."""
    m = _tiny()
    x = torch.rand(2, 4, 1, 32, 32)
    with torch.no_grad():
        preds, kl, kls = m.teacher_forced(x, torch.Generator().manual_seed(0))
    assert preds.shape == (2, 2, 1, 32, 32) and len(kls) == 3
    numel = 2 * (3 * 1 + 2 * 8 * 8 + 2 * 32 * 32)  # steps x latent elements of the three levels
    assert torch.allclose(kl, sum(kls)) and float(kl.max()) / numel < 1e-5
    with torch.no_grad():
        for level in m.posteriors:
            level.out[1].weight.fill_(1.0)
    with torch.no_grad():
        _, kl2, _ = m.teacher_forced(x, torch.Generator().manual_seed(0))
    assert float(kl2.min()) / numel > 1e-3


def test_rollout_uses_the_priors_and_needs_the_trained_context_length():
    m = _tiny().eval()
    ctx = torch.rand(1, 2, 1, 32, 32)
    with torch.no_grad():
        a = m.rollout(ctx, 2, torch.Generator().manual_seed(1))
        b = m.rollout(ctx, 2, torch.Generator().manual_seed(1))
        c = m.rollout(ctx, 2, torch.Generator().manual_seed(2))
    assert a.shape == (1, 2, 1, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="2 context frames"):
        m.rollout(torch.rand(2, 3, 1, 32, 32), 5)


def test_copy_mask_starts_near_a_copy_of_its_reference_frame():
    """``copy_mask`` + ``mask_bias`` (cpu profile): the mask's logit is the last output map of the last decoder
    block, its bias starts at ``mask_bias`` (sigmoid(3) = 0.95), so the untrained model's frames are ~95% the
    reference frame (the frame before, or the last context frame with ``copy_from="context"``); He init
    does not overwrite that bias, and the q/p heads keep their zero init (q = p at the start)."""
    for copy_from in ("previous", "context"):
        m = _tiny(copy_mask=True, mask_bias=3.0, he_init=True, group_norm=False, copy_from=copy_from)
        assert m.render[-1].to_image.out_channels == 2 and float(m.render[-1].to_image.bias[-1].detach()) == 3.0
        assert all(float(q.out[0].weight.detach().abs().max()) == 0 for q in (*m.priors, *m.posteriors))
        x = torch.rand(2, 5, 1, 32, 32)
        with torch.no_grad():
            preds, _, _ = m.teacher_forced(x, torch.Generator().manual_seed(0))
            rolled = m.eval().rollout(x[:, :2], 3, torch.Generator().manual_seed(0))
        ref = x[:, 1:4] if copy_from == "previous" else x[:, 1:2].expand(-1, 3, -1, -1, -1)
        assert float((preds - ref).abs().max()) < 0.06  # |m - 1| <= 1 - sigmoid(3) = 0.047 of a [0, 1] difference
        assert float((rolled[:, 0] - x[:, 1]).abs().max()) < 0.06  # the first sampled frame copies the last context
    m = _tiny()  # the defaults (paper/smoke): no mask map, upstream init
    assert m.render[-1].to_image.out_channels == 1
    with pytest.raises(ValueError, match="needs copy_mask"):
        C.VRNNHierConfig(mask_bias=3.0)
    with pytest.raises(ValueError, match="copy_from"):
        C.VRNNHierConfig(copy_mask=True, copy_from="first")


def test_copy_velocity_moves_the_reference_with_the_horizon_and_trains_from_its_own_loss():
    """``copy_velocity`` (cpu profile): the reference of the frame ``h`` steps after the context is the last
    context frame warped by ``h x`` the velocity net's field; the net starts at zero (a plain copy of the last
    context frame, as without it), a field of constant ``v`` shifts a dot by ``h`` times as much, and the
    direct ``velocity_loss`` reaches the net's weights."""
    from methods.common.warp import backward_warp

    m = _tiny(copy_mask=True, mask_bias=3.0, group_norm=False, copy_from="context", copy_velocity=True,
              velocity_pool=1)
    plain = _tiny(copy_mask=True, mask_bias=3.0, group_norm=False, copy_from="context")
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), m.state_dict().values()))  # built last
    x = torch.rand(2, 5, 1, 32, 32)
    refs = m.references(x)
    assert refs.shape == (2, 3, 1, 32, 32) and torch.allclose(refs, x[:, 1:2].expand(-1, 3, -1, -1, -1), atol=1e-5)
    saturate_along_x(m.velocity)  # v = max_velocity along x
    dot = torch.zeros(1, 2, 1, 32, 32)
    dot[:, 1, 0, 16, 16] = 1.0
    refs = m.context_references(dot, 3)
    v = m.cfg.max_velocity
    for h in (1, 2, 3):
        flow = torch.zeros(1, 2, 32, 32)
        flow[:, 0] = h * v
        assert torch.allclose(refs[:, h - 1], backward_warp(dot[:, 1], flow), atol=1e-5)
    columns = dot_columns(refs[0])
    assert columns[0] < 16 and columns[0] - columns[1] == columns[1] - columns[2] > 0  # equal steps, one way
    with torch.no_grad():
        rolled = m.eval().rollout(dot, 3, torch.Generator().manual_seed(0))
    assert float((rolled - refs).abs().max()) < 0.06  # the mask starts at 0.95: frames follow the moved dot
    clip = torch.rand(2, 5, 1, 32, 32)
    loss = ((m.references(clip) - clip[:, 2:]) ** 2).sum()
    loss.backward()
    assert float(m.velocity.net[-1].weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="copy_velocity needs"):
        C.VRNNHierConfig(copy_mask=True, copy_velocity=True)  # copy_from defaults to "previous"
    for field in ("velocity_loss", "velocity_divergence"):
        with pytest.raises(ValueError, match="need copy_velocity"):
            C.VRNNHierConfig(**{field: 1.0})
    assert _tiny().velocity is None  # the defaults (paper/smoke): no velocity net


def test_he_init_gives_the_cpu_encoder_distinct_embeddings():
    """Without GroupNorm, PyTorch's default init shrinks the narrow encoder's features layer by layer; He
    init (``he_init``, cpu profile) keeps the top (1x1) embedding's spread across frames of order one."""
    x = torch.rand(8, 1, 1, 32, 32)
    spread = {}
    for he in (False, True):
        m = _tiny(group_norm=False, he_init=he)
        with torch.no_grad():
            top = m.embed(x)[-1][:, 0].flatten(1)
        spread[he] = float(top.std(0).mean())
    assert spread[True] > 3 * spread[False]


@pytest.fixture(scope="module")
def smoke_method(small_dataset, tmp_path_factory):
    spec, data = shapes_train(small_dataset)
    method = METHODS.get("vrnn_hier").from_profile("smoke", spec, {"train.steps": 2})
    summary = method.fit(data, tmp_path_factory.mktemp("vrnn_hier"), seed=0, progress=False)
    assert summary["step"] == 2
    return method


def test_smoke_trains_and_predicts_k_samples(smoke_method, small_dataset):
    ctx, fut = prediction_clips(small_dataset, 2)
    fut = fut[:, :4]  # a few frames keep the test fast; the rollout is the same at any length
    out = smoke_method.sample("prediction", cond(ctx, fut.shape[1], 3), seed=0)
    assert out.shape == (2, 3, *fut.shape[1:]) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert torch.equal(out, smoke_method.sample("prediction", cond(ctx, fut.shape[1], 3), seed=0))
    assert not torch.equal(out[:, 0], out[:, 1])  # samples differ


def test_velocity_loss_is_added_to_the_training_objective(small_dataset, tmp_path):
    """With ``velocity_loss`` the logged objective is rec + beta * KL + velocity_loss * (l2 of the warped
    references against the true frames), and the smoke profile's objective has no such term."""
    spec, data = shapes_train(small_dataset)
    overrides = {"copy_mask": True, "copy_from": "context", "copy_velocity": True, "velocity_loss": 2.0,
                 "train.steps": 1}
    method = METHODS.get("vrnn_hier").from_profile("smoke", spec, overrides)
    losses = method.fit(data, tmp_path / "run", seed=0, progress=False)["losses"]
    assert losses["elbo/warp_rec"] > 0
    expected = losses["elbo/rec"] + losses["elbo/kl"] + 2.0 * losses["elbo/warp_rec"]
    assert losses["elbo"] == pytest.approx(expected, rel=1e-5)
    assert "elbo/warp_rec" not in METHODS.get("vrnn_hier").from_profile("smoke", spec, {"train.steps": 1}).fit(
        data, tmp_path / "plain", seed=0, progress=False)["losses"]
    # velocity_divergence: + that weight x the mean squared divergence of the pooled field (zero at init,
    # so read after a second step)
    overrides.update({"velocity_divergence": 0.5, "train.steps": 2, "train.log_every": 1})
    method = METHODS.get("vrnn_hier").from_profile("smoke", spec, overrides)
    losses = method.fit(data, tmp_path / "div", seed=0, progress=False)["losses"]
    assert losses["elbo/divergence"] > 0
    expected = losses["elbo/rec"] + losses["elbo/kl"] + 2.0 * losses["elbo/warp_rec"] + 0.5 * losses["elbo/divergence"]
    assert losses["elbo"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_cpu_profile_learns_and_beats_copy_last(tmp_path):
    """Moving-shapes, ``cpu`` profile (measured: best-of-5 SSIM 0.7961 vs copy_last 0.7644 on 64 test clips,
    seed 0; 0.7885 before the velocity field at 120 steps; 0.770 before the He-init encoder and the copy mask,
    60 steps)."""
    from benchmark.data.moving_shapes import MovingShapes

    ds = MovingShapes(root=tmp_path / "data")
    spec, data = shapes_train(ds)
    method = METHODS.get("vrnn_hier").from_profile("cpu", spec)
    method.fit(data, tmp_path / "run", seed=0, progress=False)
    ctx, fut = prediction_clips(ds, 64)
    ours = best_of_k_ssim(method.sample("prediction", cond(ctx, fut.shape[1], 5), seed=0), fut)
    copy_last = best_of_k_ssim(ctx[:, -1:, None].expand(-1, 1, fut.shape[1], -1, -1, -1), fut)
    print(f"vrnn_hier cpu: best-of-5 SSIM {ours:.4f} vs copy_last {copy_last:.4f}")
    assert ours > copy_last


@pytest.mark.slow
def test_vrnn_bair_recipe_runs_with_the_smoke_profile(tmp_path):
    """Both rows (hierarchical and one-level) train, sample and score on a tiny moving-shapes."""
    record = run_recipe_smoke("vrnn_bair", tmp_path)
    assert {o["row"] for o in record["ours"]} == {"vrnn_hier", "vrnn_hier 1L"}
    assert {r["metric"] for r in record["reported"]} == {"fvd", "ssim", "lpips"}
