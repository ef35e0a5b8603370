"""VideoFlow's model: sizes against tensor2tensor's ``next_frame_glow_bair_quant``, exact
invertibility, log-determinants against autograd, and the flow's building blocks."""

from __future__ import annotations

import math

import pytest
import torch

from methods.common.glow import (ActNorm, AdditiveCoupling, AffineCoupling, FlowStep, InvertibleConv1x1,
                                 dilation_rates, squeeze2d, unsqueeze2d)
from methods.videoflow.config import VideoFlowConfig
from methods.videoflow.model import VideoFlowModel


def next_frame_glow_parameter_count(frame=(3, 64, 64), n_levels=3, depth=24, width=512, gatu=True, affine=True,
                                    num_cond=3, latent_width=256, latent_depth=5, rates=(1, 3), dilations=True):
    """Trainable variables tensor2tensor creates for ``NextFrameGlow`` (read off ``glow_ops.py``).

    ``conv`` = VALID conv after padding with one extra "edge" input channel (none for 1x1), then
    actnorm (bias + log-scale per channel; per time step in 3D) or, for ``conv_init="zeros"``, a bias
    and a log-scale. ``invertible_1x1_conv``: trainable ``L``, ``U`` (C x C each) and ``log_S`` (C);
    ``P`` and ``sign_S`` are not trainable. A coupling's ``conv_stack``: 3x3 conv -> 1x1 conv (two
    under "gatu") -> zero 3x3 conv. ``temporal_latent_to_dist``: ``latent_depth`` residual blocks,
    each a sum of 3D conv stacks (time kernel 2, one per allowed dilation), then a zero 1x1 conv.
    """
    def conv2d(cin, cout, k):
        return k * k * (cin + (k > 1)) * cout + 2 * cout

    def conv3d(cin, cout, kt, k, zero, steps):
        return kt * k * k * (cin + ((kt, k) != (1, 1))) * cout + (2 * cout if zero else 2 * cout * steps)

    def stack2d(cin, mid, cout):
        return conv2d(cin, mid, 3) + (2 if gatu else 1) * conv2d(mid, mid, 1) + conv2d(mid, cout, 3)

    def stack3d(c, mid):
        kt = 2 if num_cond > 1 else 1
        return (conv3d(c, mid, kt, 3, False, num_cond) + (2 if gatu else 1) * conv3d(mid, mid, 1, 1, False, num_cond)
                + conv3d(mid, c, kt, 3, True, num_cond))

    def temporal(c_in, c_out, height):
        stacks = 1 + (sum(3 + 2 * r <= height for r in rates) if dilations else 0)
        return latent_depth * stacks * stack3d(c_in, latent_width) + conv2d(c_in, 2 * c_out, 1)

    c, h, total = frame[0], frame[1], 0
    for level in range(n_levels):
        c, h = 4 * c, h // 2
        total += depth * (2 * c + 2 * c * c + c + stack2d(c // 2, width, c if affine else c // 2))
        if level < n_levels - 1:
            total += conv2d(c // 2, c, 3) + temporal(c, c // 2, h)   # level prior + conditional prior
            c //= 2
    return total + conv2d(c, 2 * c, 3) + temporal(c, c, h)            # top: unconditional + conditional


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tiny(**kw) -> VideoFlowModel:
    args = dict(n_levels=2, depth=2, coupling_width=8, activation="gatu", num_cond_latents=2,
                latent_encoder_width=8, latent_encoder_depth=1, latent_activation="gatu", latent_apply_dilations=True)
    args.update(kw)
    torch.manual_seed(0)
    return VideoFlowModel(3, (8, 8), **args)


def randomise_zero_inits(model: torch.nn.Module) -> None:
    """Zero-initialised last layers make a fresh flow nearly the identity; perturb every weight so
    the tests exercise non-trivial couplings and priors."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def test_bair_quant_parameter_count_matches_upstream_variables():
    cfg = VideoFlowConfig()  # = next_frame_glow_bair_quant at 64x64x3
    with torch.device("meta"):  # sizes only: no memory, no init
        model = VideoFlowModel(**cfg.model_kwargs())
    assert n_params(model) == next_frame_glow_parameter_count() == 67_493_660
    # Pieces: 3 levels x 24 steps of the flow; priors at levels 0, 1 and the top.
    flow = sum(n_params(steps) for steps in model.levels)
    assert flow == sum(24 * (2 * c + 2 * c * c + c + 9 * (c // 2 + 1) * 512 + 2 * 512 + 2 * (512 * 512 + 2 * 512)
                             + 9 * 513 * c + 2 * c) for c in (12, 24, 48))


def test_shapes_of_the_latents_at_bair_resolution():
    model = tiny(n_levels=3, depth=1)  # structure only: 3 levels on 8x8 frames
    enc = model.flow_forward(torch.rand(2, 3, 8, 8) - 0.5)
    assert [tuple(z.shape[1:]) for z in enc.z_levels] == [(6, 4, 4), (12, 2, 2)]
    assert tuple(enc.z_top.shape[1:]) == (48, 1, 1)
    # 64x64x3 (BAIR): levels 6x32x32, 12x16x16, top 48x8x8 (upstream get_z_top_shape: H/2^L, C*2^L*2)
    assert model.top_shape(5, (3, 64, 64)) == (5, 48, 8, 8)


def test_dilations_follow_get_dilation_rates():
    # 3 + 2 r must fit the latent height; rate r dilates by r + 1
    assert dilation_rates(32, (1, 3), True) == [1, 2, 4]
    assert dilation_rates(8, (1, 3), True) == [1, 2]
    assert dilation_rates(8, (1, 3), False) == [1]


@pytest.mark.parametrize("coupling", ["affine", "additive"])
def test_frame_flow_is_invertible(coupling):
    model = tiny(coupling=coupling)
    frames = torch.rand(3, 4, 3, 8, 8) - 0.5
    model.train()
    model.log_prob(frames, num_context=2)  # data-dependent init of every actnorm
    model.eval()
    randomise_zero_inits(model)
    history = []
    for t in range(4):
        cond = history[-2:] if len(history) >= 2 else None
        enc = model.flow_forward(frames[:, t], cond)
        back, _ = model.flow_reverse(enc.z_top, cond, z_levels=enc.z_levels)
        assert (back - frames[:, t]).abs().max() < 1e-4
        # reversing with the standardised noise the priors give reproduces the same latents
        history.append(enc.z_levels)


def _flatten_latents(enc) -> torch.Tensor:
    return torch.cat([z.flatten(1) for z in enc.z_levels] + [enc.z_top.flatten(1)], dim=1)


@pytest.mark.parametrize("coupling", ["affine", "additive"])
def test_logdet_matches_autograd_jacobian(coupling):
    model = tiny(coupling=coupling, depth=2)
    model.train()
    model.log_prob(torch.rand(4, 3, 3, 4, 4) - 0.5, num_context=1)
    model.eval()
    randomise_zero_inits(model)
    model.double()
    x = (torch.rand(1, 3, 4, 4, dtype=torch.float64) - 0.5)   # 4x4 -> 2x2 -> top 1x1: a 48x48 Jacobian
    jac = torch.autograd.functional.jacobian(lambda v: _flatten_latents(model.flow_forward(v.view(1, 3, 4, 4)))[0],
                                             x.flatten(), vectorize=True)
    assert jac.shape == (48, 48)
    sign, logabsdet = torch.linalg.slogdet(jac)
    ours = model.flow_forward(x).logdet[0].detach()
    assert abs(float(ours - logabsdet)) < 1e-6 * max(1.0, abs(float(logabsdet)))


@pytest.mark.parametrize("op", ["actnorm", "invconv", "affine", "additive", "step"])
def test_each_op_logdet_and_inverse(op):
    torch.manual_seed(0)
    c = 4
    module = {"actnorm": lambda: ActNorm(c), "invconv": lambda: InvertibleConv1x1(c),
              "affine": lambda: AffineCoupling(c, 6, "gatu"), "additive": lambda: AdditiveCoupling(c, 6),
              "step": lambda: FlowStep(c, 6, "affine", "relu")}[op]()
    x = torch.randn(5, c, 3, 3)
    module.train()
    module(x)
    module.eval()
    randomise_zero_inits(module)
    module.double()
    x = x.double()
    y, logdet = module(x)
    back, inv_logdet = module(y, reverse=True)
    assert (back - x).abs().max() < 1e-10
    assert torch.allclose(logdet, -inv_logdet)
    jac = torch.autograd.functional.jacobian(lambda v: module(v.view(1, c, 3, 3))[0].flatten(), x[0].flatten())
    assert abs(float(torch.linalg.slogdet(jac)[1] - logdet[0].detach())) < 1e-8


def test_actnorm_data_dependent_init():
    an = ActNorm(3)
    x = torch.randn(64, 3, 5, 5) * torch.tensor([1.0, 4.0, 0.5]).view(1, 3, 1, 1) + 3
    y, _ = an(x)
    assert y.mean((0, 2, 3)).abs().max() < 1e-5
    assert (y.std((0, 2, 3), unbiased=False) - 1).abs().max() < 1e-4
    assert bool(an.initialized)
    y2, _ = an(x * 2)  # initialised once only
    assert not torch.allclose(y, y2)


def test_squeeze_matches_upstream_channel_order():
    # upstream NHWC: reshape [h/2, 2, w/2, 2, c] -> transpose [0, 1, 3, 5, 2, 4]: channel = c*4 + 2*dy + dx
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    s = squeeze2d(x)
    assert s.shape == (1, 8, 2, 2)
    assert s[0, 4 + 2 * 1 + 0, 1, 0] == x[0, 1, 2 * 1 + 1, 2 * 0 + 0]
    assert torch.equal(unsqueeze2d(s), x)


def test_log_prob_scores_only_frames_after_the_context():
    model = tiny()
    model.train()
    frames = torch.rand(2, 4, 3, 8, 8) - 0.5
    model.log_prob(frames, 2)
    model.eval()
    randomise_zero_inits(model)
    with torch.no_grad():
        a = model.log_prob(frames, 2)
        changed = frames.clone()
        changed[:, 3] = torch.rand(2, 3, 8, 8) - 0.5
        b = model.log_prob(changed, 2)
        # frames 0..2 scored with 3 frames, the third frame alone: difference = frame 3's term
        c = model.log_prob(frames[:, :3], 2)
        d = model.log_prob(changed[:, :3], 2)
    assert not torch.allclose(a, b)
    assert torch.allclose(c, d)


def test_sampling_shapes_and_temperature_zero_is_deterministic():
    model = tiny(depth=1)
    model.train()
    model.log_prob(torch.rand(2, 3, 3, 8, 8) - 0.5, 1)
    model.eval()
    ctx = torch.rand(1, 2, 3, 8, 8) - 0.5
    a = model.sample(ctx, 2, temperature=0.0, generator=torch.Generator().manual_seed(0))
    b = model.sample(ctx, 2, temperature=0.0, generator=torch.Generator().manual_seed(1))
    assert a.shape == (1, 2, 3, 8, 8) and torch.allclose(a, b)
    c = model.sample(ctx, 2, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(c).all() and not torch.allclose(a, c)


def test_uniform_density_is_8_bits_per_dim_reference():
    # Sanity of the bits formula used by the method: log2(256) bits per dim for a density of 1 on
    # [-0.5, 0.5]^D with 256 bins per unit.
    assert math.isclose(-(0.0 - math.log(256)) / math.log(2), 8.0)


def test_copy_velocity_skips_the_mean_to_the_moved_previous_frame():
    """cpu option ``copy_velocity``: the top prior's mean is skip-connected to the latent of the previous frame
    moved one step along the field read off it and the frame before. With the prior network's output still
    at its zero init, the mean is that latent, so a temperature-0 rollout moves a dot one equal step a frame
    (a saturated field); upstream's skip (to the previous latent) holds it still. It needs latent_skip and a
    warm-up."""
    from tests.methods.velocity_helpers import dot_columns, saturate_along_x

    ctx = torch.full((1, 2, 3, 16, 16), -0.5)
    ctx[:, :, :, 8, 8] = 0.5
    columns = {}
    for moving in (False, True):
        torch.manual_seed(0)
        model = VideoFlowModel(3, (16, 16), n_levels=1, depth=1, coupling_width=8, num_cond_latents=2,
                               latent_encoder_width=8, latent_encoder_depth=1, copy_velocity=moving,
                               max_velocity=0.4)
        model.train()
        model.log_prob(torch.rand(4, 3, 3, 16, 16) - 0.5, 2)  # data-dependent actnorm init
        model.eval()
        if moving:
            saturate_along_x(model.velocity)  # 0.4 grid units = 3 pixels a step, read from the right
        out = model.sample(ctx, 3, temperature=0.0)
        columns[moving] = dot_columns(out[0, :, :1] + 0.5, row=8)
    assert columns[False] == [8, 8, 8]
    assert columns[True][:2] == [5, 2]  # then it reaches the border
    with pytest.raises(ValueError, match="copy_velocity needs"):
        VideoFlowConfig(copy_velocity=True)  # no warm-up
    with pytest.raises(ValueError, match="copy_velocity needs"):
        VideoFlowConfig(copy_velocity=True, velocity_warmup=3, latent_skip=False)
    with pytest.raises(ValueError, match="need copy_velocity"):
        VideoFlowConfig(velocity_warmup=3)


def test_carry_context_moves_the_context_by_the_step_count_not_the_snapped_frame_by_one_step():
    """cpu option ``carry_context``: when sampling, step h's skip is the last context frame carried h steps
    along the context's field. With a field of 0.45 px a step and frames made discrete after each step (here
    a threshold, as the profile's snap), a dot moved one step from the previous discrete frame snaps back
    every time and never moves; carried from the context it moves 0.45 h px: one pixel by h = 2, two by h = 4."""
    from tests.methods.velocity_helpers import dot_columns, saturate_along_x

    ctx = torch.full((1, 2, 3, 16, 16), -0.5)
    ctx[:, :, :, 8, 8] = 0.5
    threshold = lambda x, prev: torch.where(x > 0, 0.5, -0.5)  # noqa: E731
    columns = {}
    for carry in (False, True):
        torch.manual_seed(0)
        model = VideoFlowModel(3, (16, 16), n_levels=1, depth=1, coupling_width=8, num_cond_latents=2,
                               latent_encoder_width=8, latent_encoder_depth=1, copy_velocity=True,
                               max_velocity=0.45 * 2 / 15, carry_context=carry)  # 0.45 px in grid units
        model.train()
        model.log_prob(torch.rand(4, 3, 3, 16, 16) - 0.5, 2)  # data-dependent actnorm init
        model.eval()
        saturate_along_x(model.velocity)
        out = model.sample(ctx, 4, temperature=0.0, quantize=threshold)
        columns[carry] = dot_columns(out[0, :, :1] + 0.5, row=8)
    assert columns[False] == [8, 8, 8, 8]
    assert columns[True] == [8, 7, 7, 6]
    with pytest.raises(ValueError, match="carry_context needs copy_velocity"):
        VideoFlowConfig(carry_context=True)
