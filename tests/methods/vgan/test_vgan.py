"""VGAN family (Vondrick et al. 2016): paper-profile architecture against upstream ``cvondrick/videogan``,
the two-stream composition, the image-conditioned variant's contract, exact resume and the streams
shown in the report."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.data.moving_shapes import MovingShapes
from benchmark.methods import Conditioning, DataSpec, TrainData
from benchmark.registry import METHODS
from methods.vgan import config as C
from methods.common.velocity_warmup import WARMUP_DIR
from methods.common.warp import VelocityNet
from methods.vgan.model import FutureGenerator, build_discriminator, build_generator

TINY = {"train.steps": 2, "train.batch_size": 4, "train.checkpoint_every": 1, "train.log_every": 1}

# Upstream layers as (kind, c_in, c_out, kernel, followed_by_batchnorm); every Torch conv has a bias.
# main.lua, 64x64x32:
UPSTREAM_G = [("sfc", 100, 512, (4, 4), True), ("sfc", 512, 256, (4, 4), True), ("sfc", 256, 128, (4, 4), True),
              ("sfc", 128, 64, (4, 4), True), ("sfc", 64, 3, (4, 4), False),
              ("vfc", 100, 512, (2, 4, 4), True), ("vfc", 512, 256, (4, 4, 4), True),
              ("vfc", 256, 128, (4, 4, 4), True), ("vfc", 128, 64, (4, 4, 4), True),
              ("vfc", 64, 1, (4, 4, 4), False), ("vfc", 64, 3, (4, 4, 4), False)]
UPSTREAM_D = [("vc", 3, 64, (4, 4, 4), False), ("vc", 64, 128, (4, 4, 4), True), ("vc", 128, 256, (4, 4, 4), True),
              ("vc", 256, 512, (4, 4, 4), True), ("vc", 512, 2, (2, 4, 4), False)]
# main_conditional.lua (encoder + two-stream generator from the 4x4x1024 map; D twice as wide):
UPSTREAM_FUTURE_G = [("sc", 3, 128, (4, 4), False), ("sc", 128, 256, (4, 4), True), ("sc", 256, 512, (4, 4), True),
                     ("sc", 512, 1024, (4, 4), True),
                     ("sfc", 1024, 512, (4, 4), True), ("sfc", 512, 256, (4, 4), True), ("sfc", 256, 128, (4, 4), True),
                     ("sfc", 128, 3, (4, 4), False),
                     ("vfc", 1024, 1024, (2, 1, 1), True), ("vfc", 1024, 512, (4, 4, 4), True),
                     ("vfc", 512, 256, (4, 4, 4), True), ("vfc", 256, 128, (4, 4, 4), True),
                     ("vfc", 128, 1, (4, 4, 4), False), ("vfc", 128, 3, (4, 4, 4), False)]
UPSTREAM_FUTURE_D = [("vc", 3, 128, (4, 4, 4), False), ("vc", 128, 256, (4, 4, 4), True),
                     ("vc", 256, 512, (4, 4, 4), True), ("vc", 512, 1024, (4, 4, 4), True),
                     ("vc", 1024, 2, (2, 4, 4), False)]


def _upstream_params(layers) -> tuple[int, int]:
    """(parameters upstream, biases of convs followed by BatchNorm — dead, dropped by us)."""
    total = dead = 0
    for _, cin, cout, k, bn in layers:
        total += cin * cout * int(np.prod(k)) + cout + (2 * cout if bn else 0)
        dead += cout if bn else 0
    return total, dead


def _weight_shapes(layers) -> list[tuple[int, ...]]:
    # Torch7 (Full)Convolution weights are laid out as PyTorch's: conv (out, in, k..), transposed (in, out, k..)
    return sorted(((cout, cin, *k) if kind in ("sc", "vc") else (cin, cout, *k)) for kind, cin, cout, k, _ in layers)


def _our_shapes(module: nn.Module) -> list[tuple[int, ...]]:
    convs = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    return sorted(tuple(m.weight.shape) for m in module.modules() if isinstance(m, convs))


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


SPEC = DataSpec("ucf-like", 3, (64, 64), {})


def test_paper_config_is_the_papers():
    cfg = C.vgan_paper(SPEC)
    assert (cfg.frames, cfg.z_dim, cfg.g_width, cfg.d_width) == (32, 100, 64, 64)
    assert (cfg.lr, cfg.beta1, cfg.train.batch_size, cfg.init_std, cfg.mask_l1) == (2e-4, 0.5, 64, 0.01, 0.1)
    assert cfg.two_stream and not C.one_stream_paper(SPEC).two_stream
    fut = C.VGANFutureConfig()
    assert (fut.width, fut.d_width, fut.train.batch_size, fut.recon_weight) == (128, 128, 32, 10.0)


def test_two_stream_paper_matches_upstream_layers_and_parameter_count():
    cfg = C.vgan_paper(SPEC)
    g = build_generator(cfg.z_dim, 3, cfg.frames, cfg.resolution, cfg.g_width, True)
    d = build_discriminator(3, cfg.frames, cfg.resolution, cfg.d_width)
    assert _our_shapes(g) == _weight_shapes(UPSTREAM_G)
    assert _our_shapes(d) == _weight_shapes(UPSTREAM_D)
    (g_up, g_dead), (d_up, d_dead) = _upstream_params(UPSTREAM_G), _upstream_params(UPSTREAM_D)
    assert _count(g) == g_up - g_dead == 16_243_463  # 16.25 M upstream, less 1,920 dead biases
    assert _count(d) == d_up - d_dead == 11_056_962
    assert [m.eps for m in d.modules() if isinstance(m, nn.BatchNorm3d)] == [1e-3] * 3


def test_one_stream_paper_is_the_foreground_pathway():
    g = build_generator(100, 3, 32, (64, 64), 64, two_stream=False)
    layers = [l for l in UPSTREAM_G if l[0] == "vfc" and l[2] != 1]
    assert _our_shapes(g) == _weight_shapes(layers)
    up, dead = _upstream_params(layers)
    assert _count(g) == up - dead


def test_future_paper_matches_main_conditional():
    cfg = C.VGANFutureConfig()
    g = FutureGenerator(3, cfg.frames, cfg.resolution, cfg.width)
    d = build_discriminator(3, cfg.frames, cfg.resolution, cfg.d_width)
    assert _our_shapes(g) == _weight_shapes(UPSTREAM_FUTURE_G)
    assert _our_shapes(d) == _weight_shapes(UPSTREAM_FUTURE_D)
    g_up, g_dead = _upstream_params(UPSTREAM_FUTURE_G)
    d_up, d_dead = _upstream_params(UPSTREAM_FUTURE_D)
    assert _count(g) == g_up - g_dead == 68_211_847
    assert _count(d) == d_up - d_dead == 44_134_018


def test_paper_shapes_on_the_meta_device():
    with torch.device("meta"):
        g = build_generator(100, 3, 32, (64, 64), 64, True)
        d = build_discriminator(3, 32, (64, 64), 64)
        video, (f, m, b) = g(torch.zeros(2, 100), return_streams=True)
        logits = d(video)
        fut = FutureGenerator(3, 32, (64, 64), 128)(torch.zeros(2, 3, 64, 64))
    assert tuple(video.shape) == (2, 3, 32, 64, 64) and tuple(f.shape) == (2, 3, 32, 64, 64)
    assert tuple(m.shape) == (2, 1, 32, 64, 64) and tuple(b.shape) == (2, 3, 64, 64)
    assert tuple(logits.shape) == (2, 2) and tuple(fut.shape) == (2, 3, 32, 64, 64)


def test_temporal_depth_follows_the_protocol():
    ds = MovingShapes(root="/nonexistent")  # protocols only; nothing is generated
    spec = DataSpec(ds.name, 3, (64, 64), ds.protocols)
    assert C.vgan_smoke(spec).frames == 16 and C.vgan_paper(spec).frames == 32
    assert C.future_smoke(spec).frames == 16  # 1 conditioning frame + 15 future (test protocol 5 -> 15)


def test_two_stream_composition_and_static_background():
    torch.manual_seed(0)
    g = build_generator(100, 3, 16, (32, 32), 4, True).eval()
    with torch.no_grad():
        video, (f, m, b) = g(torch.randn(3, 100), return_streams=True)
    assert torch.allclose(video, m * f + (1 - m) * b[:, :, None])
    assert float(m.min()) >= 0 and float(m.max()) <= 1 and m.shape[1] == 1


# ------------------------------------------------------------------------------ training ---

@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    ds = MovingShapes(root=tmp_path_factory.mktemp("data"), size=32, split_sizes={"train": 12, "val": 2, "test": 4})
    spec = DataSpec(ds.name, 3, (32, 32), ds.protocols)
    train = ds.load_split("train")
    data = TrainData(np.asarray(train.videos), {t: p.train for t, p in ds.protocols.items()}, train.content_hash)
    return spec, data, np.asarray(ds.load_split("test").videos)


def _weights(method):
    return {f"{k}.{n}": t.clone() for k, m in method.modules().items() for n, t in m.state_dict().items()}


#: vgan_future's cpu-profile options (not the paper's) at smoke size: the moving background, its net's warm-up
VELOCITY = {"copy_background": True, "copy_velocity": True, "velocity_warmup": 3, "velocity_lr": 1e-3,
            "copy_mask_bias": 3.0}


@pytest.mark.parametrize("name, options", [("vgan", {}), ("vgan_future", {}), ("vgan_future", VELOCITY)],
                         ids=["vgan", "vgan_future", "vgan_future-velocity"])
def test_gan_phases_logged_and_exact_resume(name, options, shapes, tmp_path):
    spec, data, _ = shapes
    cls = METHODS.get(name)
    full = cls.from_profile("smoke", spec, {**TINY, "train.steps": 4, **options})
    full.fit(data, tmp_path / "full", seed=1, progress=False)
    log = (tmp_path / "full" / "train_log.jsonl").read_text()
    assert '"discriminator"' in log and '"generator"' in log
    assert ('"generator/mask_l1"' in log) == (name == "vgan")
    assert ('"generator/first_frame"' in log) == (name == "vgan_future")

    from benchmark.training import loop

    part = cls.from_profile("smoke", spec, {**TINY, "train.steps": 4, **options})
    real_train = loop.train

    def killed(parts, *a, **kw):  # the adversarial stage dies after step 2 (its checkpoint stays)
        if parts.method.endswith(WARMUP_DIR):   # a finished warm-up: the stage after it was running
            return real_train(parts, *a, **kw)
        return real_train(parts, *a, **{**kw, "stop_after": 2})

    loop.train = killed
    try:
        part.fit(data, tmp_path / "part", seed=1, progress=False)
    finally:
        loop.train = real_train
    part.fit(data, tmp_path / "part", seed=1, resume=True, progress=False)
    a, b = _weights(full), _weights(part)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_vgan_visualize_streams(shapes, tmp_path):
    spec, data, _ = shapes
    m = METHODS.get("vgan").from_profile("smoke", spec, TINY)
    m.fit(data, tmp_path, seed=0, progress=False)
    views = m.visualize("synthesis", Conditioning(3, 8), seed=0)
    assert list(views) == ["background", "foreground", "mask", "generation"]
    assert views["mask"].shape == (3, 8, 1, 32, 32) and views["background"].shape == (3, 8, 3, 32, 32)
    assert torch.equal(views["background"][:, 0], views["background"][:, -1])  # static over time
    for v in views.values():
        assert v.min() >= 0 and v.max() <= 1
    assert torch.equal(views["generation"], m.generate(Conditioning(3, 8), seed=0))  # same z for the same seed
    assert METHODS.get("vgan_one_stream").from_profile("smoke", spec).visualize("synthesis", Conditioning(2, 8), seed=0) == {}


def test_vgan_future_reads_the_last_context_frame_or_the_first_frame(shapes, tmp_path):
    spec, data, test = shapes
    m = METHODS.get("vgan_future").from_profile("smoke", spec, TINY)
    assert m.tasks == ("prediction",) and not m.stochastic
    m.fit(data, tmp_path, seed=0, progress=False)
    ctx = torch.from_numpy(test[:2, :5].copy()).float() / 255
    other = ctx.clone()
    other[:, :-1] = torch.rand_like(other[:, :-1])  # only the last context frame matters
    a = m.sample("prediction", Conditioning(2, 7, num_samples=3, context=ctx), seed=0)
    b = m.sample("prediction", Conditioning(2, 7, num_samples=3, context=other), seed=9)
    assert a.shape == (2, 1, 7, 3, 32, 32) and torch.equal(a, b)
    # a protocol that provides the first frame: that frame, not the context, is the condition
    first = m.sample("prediction", Conditioning(2, 7, context=other, first_frame=ctx[:, -1]), seed=0)
    assert torch.equal(a, first)
    assert not torch.equal(a, m.sample("prediction", Conditioning(2, 7, context=ctx, first_frame=other[:, 0]),
                                       seed=0))
    # a horizon longer than one generator pass continues from the last generated frame
    one = m.config.frames - 1
    long = m.predict(Conditioning(2, one + 3, context=ctx), seed=0)
    assert long.shape == (2, 1, one + 3, 3, 32, 32)
    assert torch.equal(long[:, :, :one], m.predict(Conditioning(2, one, context=ctx), seed=0))
    restart = m.predict(Conditioning(2, 3, first_frame=long[:, 0, one - 1]), seed=0)
    assert torch.allclose(long[:, :, one:], restart, atol=1 / 255)   # the restart frame is clamped there


def test_paper_profile_with_short_videos_errors_clearly(shapes, tmp_path):
    spec, data, _ = shapes
    m = METHODS.get("vgan").from_profile("paper", spec, {"g_width": 2, "d_width": 2, **TINY})
    with pytest.raises(ValueError, match="32-frame clips"):
        m.fit(data, tmp_path, seed=0, progress=False)



# ---------------------------------------------- vgan_future's cpu-profile options (not the paper's) ---

def test_future_options_are_off_outside_the_cpu_profile():
    """The paper and smoke profiles keep the paper's model: a learned background, frame 0 reconstructed only."""
    shapes_spec = DataSpec("moving-shapes", 3, (64, 64), MovingShapes(root="unused").protocols)
    for cfg in (C.VGANFutureConfig(), C.future_smoke(shapes_spec)):
        assert (cfg.future_recon_weight, cfg.copy_background, cfg.copy_velocity, cfg.copy_mask_bias) == \
            (0.0, False, False, 0.0)
    cpu = C.future_cpu(shapes_spec)
    assert cpu.copy_background and cpu.future_recon_weight > 0
    assert cpu.copy_velocity and cpu.velocity_warmup > 0 and cpu.copy_mask_bias > 0


def test_copy_background_is_the_input_frame():
    torch.manual_seed(0)
    g = FutureGenerator(3, 16, (32, 32), 4, copy_background=True).eval()
    assert g.generator.background is None                      # no background network to train
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    video, (f, m, b) = g(x, return_streams=True)
    assert torch.equal(b, x) and torch.allclose(video, m * f + (1 - m) * x[:, :, None])
    with torch.no_grad():
        g.generator.mask[0].bias.fill_(-100.0)                 # a closed mask: every frame is a copy of x0
    assert torch.allclose(g(x), x[:, :, None].expand(-1, -1, 16, -1, -1), atol=1e-6)
    with pytest.raises(ValueError, match="two-stream"):
        FutureGenerator(3, 16, (32, 32), 4, two_stream=False, copy_background=True)


def test_future_recon_term_ties_the_future_frames(shapes):
    spec, _, test = shapes
    m = METHODS.get("vgan_future").from_profile("smoke", spec, {"future_recon_weight": 2.0, "recon_loss": "l1"})
    real = torch.rand(2, 3, 16, 32, 32) * 2 - 1
    fake = real.clone()
    fake[:, :, 0] += 0.5                                        # frame 0 off by 0.5, the future off by 0.25
    fake[:, :, 1:] += 0.25
    loss, logs = m._generator_terms({"real": real, "fake": fake})
    assert logs["first_frame"].item() == pytest.approx(0.5) and logs["future"].item() == pytest.approx(0.25)
    assert loss.item() == pytest.approx(m.config.recon_weight * 0.5 + 2.0 * 0.25)
    paper = METHODS.get("vgan_future").from_profile("smoke", spec)
    assert "future" not in paper._generator_terms({"real": real, "fake": fake})[1]   # the paper's loss
    with pytest.raises(ValueError, match="future_recon_weight"):
        METHODS.get("vgan_future").from_profile("smoke", spec, {"future_recon_weight": -1.0})


def test_velocity_background_is_the_input_frame_moved():
    """``copy_velocity``: the background stream is x0 carried t = 0 .. T - 1 steps along the net's field."""
    torch.manual_seed(0)
    net = VelocityNet(3, 0.2)
    g = FutureGenerator(3, 16, (32, 32), 4, copy_background=True, velocity=net).eval()
    x = -torch.ones(1, 3, 32, 32)
    x[:, :, 14:18, 14:18] = 1.0                                  # a white square on black, in [-1, 1]
    still = g.background_of(x, x)                                # a fresh net (last conv at 0): no motion
    assert still.shape == (1, 3, 16, 32, 32)
    assert torch.allclose(still, x[:, :, None].expand_as(still), atol=1e-5)
    with torch.no_grad():                                        # a uniform field, 0.1 grid units a frame in x
        net.net[-1].bias.copy_(torch.tensor([math.atanh(0.5), 0.0]))
    moved = g.background_of(x, x)
    assert torch.allclose(moved[:, :, 0], x, atol=1e-5)          # t = 0: the input frame itself
    columns = [float((moved[0, 0, t].sum(0) + 32).argmax()) for t in (0, 2, 4, 6)]
    assert columns == sorted(columns, reverse=True) and columns[0] - columns[-1] >= 8   # ~1.6 px a frame, leftwards
    video, (_, m, b) = g(x, return_streams=True, previous=x)
    assert torch.equal(b, moved) and torch.allclose(video, m * g.generator.foreground(g.generator.trunk(
        g.encoder(x))) + (1 - m) * moved, atol=1e-6)
    with pytest.raises(ValueError, match="copy_background"):
        FutureGenerator(3, 16, (32, 32), 4, velocity=VelocityNet(3, 0.2))


def test_copy_velocity_trains_its_net_first_then_reads_two_frames(shapes, tmp_path):
    spec, data, test = shapes
    m = METHODS.get("vgan_future").from_profile("smoke", spec, {**TINY, **VELOCITY})
    plain = METHODS.get("vgan_future").from_profile("smoke", spec, {**TINY, "copy_background": True})
    bias = lambda method: method._build(0)[0].generator.mask[0].bias   # noqa: E731
    assert torch.allclose(bias(m), bias(plain) - 3.0)           # copy_mask_bias: the mask starts mostly closed
    m.fit(data, tmp_path, seed=0, progress=False)
    warm = torch.load(tmp_path / "velocity_warmup" / "checkpoint.pt", weights_only=False)["modules"]["velocity"]
    assert warm["net.8.weight"].abs().sum() > 0                  # the warm-up moved the last conv off 0 ...
    for k, v in m.generator.velocity.state_dict().items():       # ... and the adversarial stage left it fixed
        assert torch.equal(v, warm[k]), k
    ctx = torch.from_numpy(test[:2, :5].copy()).float() / 255
    earlier = ctx.clone()
    earlier[:, :-2] = torch.rand_like(earlier[:, :-2])           # frames before the last two are not read
    before = ctx.clone()
    before[:, -2] = torch.rand_like(before[:, -2])               # the frame before the last one is
    a = m.predict(Conditioning(2, 7, context=ctx), seed=0)
    assert torch.equal(a, m.predict(Conditioning(2, 7, context=earlier), seed=0))
    assert not torch.equal(a, m.predict(Conditioning(2, 7, context=before), seed=0))
    per_pass = m.config.frames - 1   # a longer horizon continues from the last two generated frames
    long = m.predict(Conditioning(2, per_pass + 3, context=ctx), seed=0)
    restart = m.predict(Conditioning(2, 3, context=long[:, 0, per_pass - 2:per_pass]), seed=0)
    assert torch.allclose(long[:, :, per_pass:], restart, atol=1 / 255)   # (the restart frames are clamped)
    one = m.predict(Conditioning(2, 7, context=ctx[:, -1:]), seed=0)   # one context frame: a still pair
    assert torch.equal(one, m.predict(Conditioning(2, 7, first_frame=ctx[:, -1]), seed=0))
    # a clip holds the frame before the condition too: videos of exactly `frames` frames are too short
    short = TrainData(data.videos[:, :m.config.frames], data.protocols, "short")
    with pytest.raises(ValueError, match=f"{m.config.frames + 1}-frame clips"):
        m.fit(short, tmp_path / "short", seed=0, progress=False)


@pytest.mark.parametrize("options, message", [
    ({"copy_velocity": True, "velocity_warmup": 3}, "copy_velocity needs copy_background"),
    ({"copy_background": True, "copy_velocity": True}, "velocity_warmup > 0"),
    ({"copy_mask_bias": 3.0}, "copy_mask_bias needs copy_background"),
    ({"velocity_warmup": 3}, "need copy_velocity=True"),
])
def test_velocity_options_are_checked(shapes, options, message):
    with pytest.raises(ValueError, match=message):
        METHODS.get("vgan_future").from_profile("smoke", shapes[0], options)
