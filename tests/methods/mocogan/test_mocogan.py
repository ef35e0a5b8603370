"""MoCoGAN: paper-profile architecture against the official code, discriminator shapes, the three
alternating phases, the categorical code, sampling."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from benchmark.data.base import Protocol, TaskProtocols
from benchmark.methods import Conditioning, DataSpec, TrainData
from benchmark.training.loop import TrainConfig
from methods.mocogan.method import MoCoGAN
from methods.mocogan.model import ImageDiscriminator, VideoDiscriminator


def _spec(frames: int = 16, res: int = 64, channels: int = 3) -> DataSpec:
    p = Protocol(f"synthesis-{frames}", "synthesis", "train", 0, frames, (res, res), channels)
    return DataSpec("toy", channels, (res, res), {"synthesis": TaskProtocols(train=p, test=p)})


def _shapes(module: torch.nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


# Layer shapes of sergeytulyakov/mocogan src/models.py at 64x64, 16 frames, ngf = ndf = 64
# (weights, then BatchNorm gamma/beta where the upstream layer has BatchNorm; no conv biases).
def _upstream_generator(dim_z: int) -> list[tuple[int, ...]]:
    s = [(dim_z, 512, 4, 4), (512,), (512,), (512, 256, 4, 4), (256,), (256,), (256, 128, 4, 4), (128,), (128,),
         (128, 64, 4, 4), (64,), (64,), (64, 3, 4, 4)]
    return s


UPSTREAM_GRU_10 = [(30, 10), (30, 10), (30,), (30,)]                      # nn.GRUCell(10, 10)
UPSTREAM_PATCH_IMAGE_D = [(64, 3, 4, 4), (128, 64, 4, 4), (128,), (128,), (256, 128, 4, 4), (256,), (256,),
                          (1, 256, 4, 4)]


def _upstream_video_d(outputs: int) -> list[tuple[int, ...]]:
    return [(64, 3, 4, 4, 4), (128, 64, 4, 4, 4), (128,), (128,), (256, 128, 4, 4, 4), (256,), (256,),
            (512, 256, 4, 4, 4), (512,), (512,), (outputs, 512, 4, 4, 4)]


@pytest.mark.parametrize("dim_category", [0, 6])
def test_paper_profile_matches_official_layer_shapes(dim_category):
    spec = _spec()
    cfg = dataclasses.replace(MoCoGAN.profiles["paper"](spec), dim_category=dim_category)
    m = MoCoGAN(cfg, spec)
    assert (cfg.dim_content, cfg.dim_motion, cfg.lr, cfg.beta1, cfg.beta2, cfg.weight_decay) == \
        (50, 10, 2e-4, 0.5, 0.999, 1e-5)
    assert (cfg.train.batch_size, cfg.image_batch, cfg.train.steps, cfg.noise_sigma) == (32, 32, 100_000, 0.1)
    g = m.generator
    assert _shapes(g.recurrent.cell) == UPSTREAM_GRU_10
    assert _shapes(g.image) == _upstream_generator(50 + dim_category + 10)
    assert _shapes(m.image_d) == UPSTREAM_PATCH_IMAGE_D
    assert _shapes(m.video_d) == _upstream_video_d(1 + dim_category)
    counts = {k: sum(p.numel() for p in v.parameters()) for k, v in m.modules().items()}
    # totals of the upstream modules (VideoGenerator, PatchImageDiscriminator, CategoricalVideoDiscriminator)
    assert counts == {"generator": 3_249_684 + 16 * 512 * dim_category, "image_discriminator": 663_296,
                      "video_discriminator": 11_024_128 + 32_768 * (1 + dim_category)}


def test_discriminator_outputs():
    x = torch.zeros(2, 16, 3, 64, 64)
    logit, cat = VideoDiscriminator(3, 16, (64, 64), width=4, dim_category=3)(x)
    assert logit.shape == (2,) and cat.shape == (2, 3)
    assert ImageDiscriminator(3, (64, 64), width=4)(x[:, 0]).shape == (2, 16)          # 4x4 patches
    assert ImageDiscriminator(3, (64, 64), width=4, full=True)(x[:, 0]).shape == (2, 1)
    with pytest.raises(ValueError, match="more than 12 frames"):
        VideoDiscriminator(3, 12, (64, 64))


def test_instance_noise_is_seeded():
    d = ImageDiscriminator(3, (64, 64), width=4).eval()
    x = torch.zeros(2, 3, 64, 64)
    a = d(x, 0.1, torch.Generator().manual_seed(0))
    b = d(x, 0.1, torch.Generator().manual_seed(0))
    c = d(x, 0.1, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def _tiny(spec, **kw):
    cfg = MoCoGAN.profiles["smoke"](spec)
    return MoCoGAN(dataclasses.replace(cfg, train=TrainConfig(steps=2, batch_size=2, checkpoint_every=1, log_every=1),
                                       image_batch=3, **kw), spec)


def _data(n=6, frames=18, res=64):
    rng = np.random.default_rng(0)
    return TrainData(videos=rng.integers(0, 255, (n, frames, 3, res, res), dtype=np.uint8),
                     protocols={"synthesis": _spec().train_protocol("synthesis")})


def test_alternating_phases_and_categorical_code(tmp_path):
    spec = _spec()
    m = _tiny(spec, dim_category=3, condition_on="action")
    assert m.label_inputs() == ("action",)
    data = _data()
    data.labels = {"action": np.array([0, 1, 2, 0, 1, 2])}
    summary = m.fit(data, tmp_path, seed=0, progress=False)
    rec = json.loads((tmp_path / "train_log.jsonl").read_text().splitlines()[-1])
    # D_I, then D_V (with the category loss on real labels), then G (with the InfoGAN term)
    assert list(rec["lr"]) == ["image_d", "video_d", "generator"]
    assert {"video_d/category", "generator/infogan", "generator/image", "generator/video"} <= set(rec["losses"])
    assert summary["step"] == 2
    cats = torch.tensor([0, 1, 2])
    x = m.generate(Conditioning(3, 20, labels={"action": cats}), seed=1)  # any length: the GRU runs as long as asked
    assert x.shape == (3, 20, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    assert not torch.equal(x, m.generate(Conditioning(3, 20, labels={"action": torch.tensor([1, 2, 0])}), seed=1))
    # the categories go through Conditioning.labels, as the harness passes them
    assert torch.equal(x, m.sample("synthesis", Conditioning(3, 20, labels={"action": cats}), seed=1))
    views = m.visualize("synthesis", Conditioning(6, 16), seed=0)
    assert list(views) == ["by-action"] and views["by-action"].shape == (6, 16, 3, 64, 64)
    with pytest.raises(ValueError, match="dim_category"):
        _tiny(spec, condition_on="action")
    with pytest.raises(ValueError, match="no 'action' labels"):
        _tiny(spec, dim_category=3, condition_on="action").fit(_data(), tmp_path / "b", seed=0, progress=False)
    data.labels = {"action": np.array([0, 1, 2, 0, 1, 3])}
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        _tiny(spec, dim_category=3, condition_on="action").fit(data, tmp_path / "c", seed=0, progress=False)


def test_content_is_constant_and_motion_varies():
    """z_C is drawn once per video and repeated; z_M(t) changes from frame to frame."""
    m = MoCoGAN(MoCoGAN.profiles["smoke"](_spec()), _spec())
    g = m.generator
    lat = g.sample_latents(2, 5, torch.Generator().manual_seed(0))
    codes = g.codes(**lat)
    dc = g.dim_content
    assert torch.equal(codes[:, :1, :dc].expand(-1, 5, -1), codes[:, :, :dc])
    assert (codes[:, 1:, dc:] - codes[:, :-1, dc:]).abs().amax() > 0


def test_resume_after_a_kill_is_exact(tmp_path, monkeypatch):
    import functools

    import benchmark.training.loop as loop

    spec = _spec(res=32)
    data = _data(n=4, frames=18, res=32)

    def make():
        cfg = MoCoGAN.profiles["smoke"](spec)
        return MoCoGAN(dataclasses.replace(cfg, image_batch=3, train=TrainConfig(steps=4, batch_size=2,
                                                                                   checkpoint_every=1)), spec)

    full = make()
    full.fit(data, tmp_path / "full", seed=0, progress=False)
    real_train = loop.train
    monkeypatch.setattr(loop, "train", functools.partial(real_train, stop_after=3))
    make().fit(data, tmp_path / "killed", seed=0, progress=False)
    monkeypatch.setattr(loop, "train", real_train)
    resumed = make()
    assert resumed.fit(data, tmp_path / "killed", seed=0, resume=True, progress=False)["start_step"] == 3
    for key, module in full.modules().items():
        for k, v in module.state_dict().items():
            assert torch.equal(v, resumed.modules()[key].state_dict()[k]), (key, k)
    assert torch.equal(full.generate(Conditioning(2, 16), seed=0), resumed.generate(Conditioning(2, 16), seed=0))


def test_profiles_condition_on_actions_where_the_paper_does():
    def spec(dataset, labels):
        s = _spec()
        return DataSpec(dataset, 3, (64, 64), s.protocols, labels=labels)

    weizmann = MoCoGAN.profiles["paper"](spec("weizmann", {"action": 10, "identity": 9}))
    assert (weizmann.condition_on, weizmann.dim_category) == ("action", 10)   # categorical dynamics (§4.3)
    g = MoCoGAN(weizmann, spec("weizmann", {"action": 10})).generator
    assert sum(p.numel() for p in g.parameters()) == 3_249_684 + 8_192 * 10
    ucf = MoCoGAN.profiles["paper"](spec("ucf101", {"action": 101}))
    assert (ucf.condition_on, ucf.dim_category) == ("", 0)                   # unconditional comparisons
    smoke = MoCoGAN.profiles["smoke"](spec("moving-shapes", {"action": 4, "identity": 4}))
    assert (smoke.condition_on, smoke.dim_category) == ("action", 4)
    assert MoCoGAN.profiles["smoke"](spec("bair", {})).dim_category == 0


def test_instance_noise_layers_are_where_upstream_puts_them():
    """Upstream PatchImageDiscriminator has a Noise layer before each of its 4 convs (the last too);
    ImageDiscriminator and the video discriminator have none before their last conv."""
    from methods.mocogan.model import ImageDiscriminator, VideoDiscriminator

    def noise_before_last(d, x) -> bool:
        """Whether the last conv's input differs from the previous block's output (noise added between)."""
        seen = {}
        h1 = d.blocks[-2].register_forward_hook(lambda m, a, out: seen.__setitem__("prev", out.clone()))
        h2 = d.blocks[-1].register_forward_pre_hook(lambda m, a: seen.__setitem__("last", a[0].clone()))
        d.eval()(x, noise_sigma=0.5, generator=torch.Generator().manual_seed(0))
        h1.remove(), h2.remove()
        return not torch.equal(seen["prev"], seen["last"])

    torch.manual_seed(0)
    frames = torch.rand(2, 3, 64, 64) * 2 - 1
    patch = ImageDiscriminator(3, (64, 64), width=8)
    assert len(patch.blocks) == 4 and noise_before_last(patch, frames)
    assert not noise_before_last(ImageDiscriminator(3, (64, 64), width=8, full=True), frames)
    assert not noise_before_last(VideoDiscriminator(3, 16, (64, 64), width=8), torch.rand(2, 16, 3, 64, 64))
