"""Shared blocks of the latent-variable predictors: Gaussians, spatial transformers, latent ODE,
GroupNorm residual/ConvLSTM blocks, frame resizing."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from methods.common.gaussian import gaussian_kl, gaussian_log_prob, sample_gaussian
from methods.common.latent_ode import ODEMLP, solve
from methods.common.resblocks import GroupNormConvLSTMCell, PreActResBlock, ScaledResBlock, group_norm
from methods.common.resize import resize_frames
from methods.common.spatial_transformer import crop_objects, invert_pose, place_objects, window_centres


def test_gaussian_kl_and_log_prob_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(50, generator=g) for _ in range(4))
    ref = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp()))
    assert torch.allclose(gaussian_kl(mq, lq, mp, lp), ref, atol=1e-5)
    x = torch.randn(50, generator=g)
    assert torch.allclose(gaussian_log_prob(x, mq, lq), Normal(mq, (0.5 * lq).exp()).log_prob(x), atol=1e-5)
    assert torch.allclose(gaussian_log_prob(x, 0.0, 2 * math.log(0.3)), Normal(0.0, 0.3).log_prob(x), atol=1e-5)


def test_gaussian_samples_are_seeded_and_reparameterised():
    mean, logvar = torch.zeros(20000, requires_grad=True), torch.full((20000,), math.log(4.0))
    a = sample_gaussian(mean, logvar, torch.Generator().manual_seed(3))
    b = sample_gaussian(mean, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and abs(float(a.detach().std()) - 2.0) < 0.05
    a.sum().backward()
    assert torch.equal(mean.grad, torch.ones(20000))


def test_place_then_crop_recovers_the_object_and_centres_are_where_it_lands():
    obj = torch.rand(3, 2, 16, 16)
    pose = torch.tensor([[2.0, 0.0, 0.0], [2.0, 0.5, -0.5], [2.0, -0.75, 0.25]])  # whole-pixel shifts
    canvas = place_objects(obj, pose, (32, 32))
    back = crop_objects(canvas, pose, (16, 16))
    assert torch.allclose(back[:, :, 1:-1, 1:-1], obj[:, :, 1:-1, 1:-1], atol=1e-5)
    u, v = window_centres(pose).unbind(-1)
    for i in range(3):
        ys, xs = torch.nonzero(canvas[i].sum(0) > 1e-3, as_tuple=True)
        assert abs(float(xs.float().mean() + 0.5) / 32 - float(u[i])) < 0.05
        assert abs(float(ys.float().mean() + 0.5) / 32 - float(v[i])) < 0.05
    assert torch.allclose(invert_pose(invert_pose(pose)), pose)


def test_ode_solution_of_a_linear_system_is_exact():
    """dz/dt = A z with A = -I: z(t) = z0 exp(-t), at any times, adaptive and fixed-grid."""
    class Linear(torch.nn.Module):
        def forward(self, t, z):
            return -z

    z0 = torch.randn(4, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 0.3, 1.7, 2.0], dtype=torch.float64)
    exact = z0[None] * torch.exp(-t)[:, None, None]
    assert torch.allclose(solve(Linear(), z0, t), exact, atol=1e-7)
    assert torch.allclose(solve(Linear(), z0, t, method="rk4", step_size=0.01), exact, atol=1e-6)
    with pytest.raises(ValueError, match="strictly increasing"):
        solve(Linear(), z0, torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64))


def test_ode_mlp_adjoint_gradients_match_backprop_through_the_solver():
    torch.manual_seed(0)
    f = ODEMLP(3, 8).double()
    z0 = torch.randn(2, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        f.zero_grad()
        solve(f, z0, t, adjoint=adjoint, rtol=1e-9, atol=1e-10).pow(2).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in f.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-4)  # the adjoint solve has its own error


def test_residual_and_recurrent_blocks_shapes_and_group_counts():
    assert tuple(PreActResBlock(8, 4, "up")(torch.zeros(2, 8, 4, 4)).shape) == (2, 4, 8, 8)
    assert tuple(ScaledResBlock(4, 4)(torch.zeros(1, 4, 5, 5)).shape) == (1, 4, 5, 5)
    assert group_norm(16, 2048).num_groups == 16 and group_norm(16, 8).num_groups == 8
    cell = GroupNormConvLSTMCell(3, 8)
    h, (h2, c) = cell(torch.zeros(2, 3, 6, 6))
    assert h.shape == c.shape == (2, 8, 6, 6) and torch.equal(h, h2)
    with pytest.raises(ValueError):
        PreActResBlock(2, 2, "sideways")


def test_resize_frames_round_trip_of_a_smooth_video():
    x = torch.linspace(0, 1, 64).expand(2, 3, 1, 64, 64).contiguous()
    small = resize_frames(x, (32, 32))
    assert small.shape == (2, 3, 1, 32, 32) and resize_frames(x, (64, 64)) is x
    assert (resize_frames(small, (64, 64)) - x).abs().max() < 0.03
