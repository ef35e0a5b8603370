"""TGAN (Saito et al. 2017): paper profile against upstream ``pfnet-research/tgan`` (UCF101 SVC
config), singular value clipping, per-frame latents sharing z0, the update order and exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.data.moving_shapes import MovingShapes
from benchmark.methods import DataSpec, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from methods.common.norm import ScaleBatchNorm3d
from methods.tgan.method import TGANConfig
from methods.tgan.model import TGANGenerator, singular_value_clip_

SPEC = DataSpec("ucf-like", 3, (64, 64), {})
TINY = {"train.steps": 2, "train.batch_size": 4, "train.checkpoint_every": 1, "train.log_every": 1}


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_paper_config_is_upstreams():
    cfg = METHODS.get("tgan").profiles["paper"](SPEC)
    assert (cfg.frames, cfg.z_dim, cfg.z_fast_dim, cfg.t_width, cfg.g_width, cfg.d_width) == (16, 100, 100, 512, 512, 64)
    assert (cfg.lr, cfg.train.batch_size, cfg.svc_every) == (5e-5, 32, 5)


def test_paper_parameter_counts_match_upstream():
    m = METHODS.get("tgan").from_profile("paper", SPEC)
    g, d = m.generator, m.critic
    # FrameSeedGeneratorNoBeta: deconvs with bias, BN scale only.
    fsgen = (100 * 512 + 512 + 512) + (512 * 256 * 4 + 256 + 256) + (256 * 128 * 4 + 128 + 128) \
        + (128 * 128 * 4 + 128 + 128) + (128 * 100 * 4 + 100)
    # VideoGeneratorInitUniform: linears/deconvs without bias, BN with shift, 3x3 output with bias.
    vgen = 2 * (100 * 4096 + 2 * 4096) + sum(a * b * 16 + 2 * b for a, b in ((512, 256), (256, 128), (128, 64), (64, 32))) \
        + (32 * 3 * 9 + 3)
    # VideoDiscriminatorNoBeta: convs with bias; bn1..bn3 scale only; bn0 is defined but never used.
    vdis = (3 * 64 * 64 + 64) + sum(a * b * 64 + b + b for a, b in ((64, 128), (128, 256), (256, 512))) \
        + (512 * 16 + 1) + 64
    assert _count(g.temporal) == fsgen
    assert _count(g.image) == vgen
    dead = 128 + 256 + 512 + 64  # conv biases before BatchNorm (cancelled by it) + unused bn0
    assert _count(d) == vdis - dead
    assert sum(isinstance(x, ScaleBatchNorm3d) for x in d.modules()) == 3
    assert all(x.bias is None for x in d.modules() if isinstance(x, ScaleBatchNorm3d))


def test_shapes_and_shared_content_latent():
    torch.manual_seed(0)
    g = TGANGenerator(100, 100, 3, 16, (64, 64), t_width=32, g_width=32).eval()
    z = torch.rand(2, 100) * 2 - 1
    with torch.no_grad():
        assert tuple(g.temporal(z).shape) == (2, 100, 16)
        video = g(z)
    assert tuple(video.shape) == (2, 3, 16, 64, 64)
    assert float(video.abs().max()) <= 1


def test_singular_value_clipping():
    torch.manual_seed(0)
    from methods.common import Conv3dEncoder

    d = Conv3dEncoder(3, 1, 16, (32, 32), 4, bn_shift=False)
    for p in d.parameters():
        p.data.mul_(50)
    for m in d.modules():
        if isinstance(m, ScaleBatchNorm3d):
            m.running_var.fill_(4.0)
            m.weight.data = torch.tensor([5.0, 0.001, 1.0, -3.0]).repeat(m.num_features // 4)
    singular_value_clip_(d)
    for p in d.parameters():
        if p.ndim >= 4:
            assert float(torch.linalg.matrix_norm(p.detach().reshape(p.shape[0], -1), ord=2)) <= 1 + 1e-4
    for m in d.modules():
        if isinstance(m, ScaleBatchNorm3d):
            assert float(m.weight.detach().max()) <= 2.0 + 1e-6 and float(m.weight.detach().min()) >= 0.02 - 1e-6


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    ds = MovingShapes(root=tmp_path_factory.mktemp("data"), size=32, split_sizes={"train": 12, "val": 2, "test": 4})
    spec = DataSpec(ds.name, 3, (32, 32), ds.protocols)
    train = ds.load_split("train")
    return spec, TrainData(np.asarray(train.videos), {t: p.train for t, p in ds.protocols.items()}, train.content_hash)


def test_generator_then_critic_with_svc_cadence_and_exact_resume(shapes, tmp_path, monkeypatch):
    spec, data = shapes
    calls = []
    import methods.tgan.method as tm

    real_clip = tm.singular_value_clip_
    monkeypatch.setattr(tm, "singular_value_clip_", lambda d: (calls.append(1), real_clip(d)))
    over = {**TINY, "train.steps": 6, "svc_every": 3, "g_width": 16, "t_width": 16}
    full = METHODS.get("tgan").from_profile("smoke", spec, over)
    full.fit(data, tmp_path / "full", seed=2, progress=False)
    assert len(calls) == 2  # critic updates 3 and 6
    first = (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()[0]
    assert first.index('"generator"') < first.index('"critic"')  # G then D, as upstream's updater

    part = _stopped_then_resumed(spec, over, data, tmp_path / "part", 2, 4, monkeypatch)
    for k, m in full.modules().items():
        for (n, a), (_, b) in zip(m.state_dict().items(), part.modules()[k].state_dict().items()):
            assert torch.equal(a, b), f"{k}.{n}"


def test_batch_of_one_is_refused_before_training(shapes, tmp_path):
    """One clip per step gives TGAN's first BatchNorm one value per channel: a clear error up front,
    before any run directory or checkpoint is written (torch's own error came inside step 1)."""
    spec, data = shapes
    method = METHODS.get("tgan").from_profile("smoke", spec, {"train.steps": 2, "train.batch_size": 1})
    with pytest.raises(ValueError, match=r"train.batch_size is 1.*at least 2"):
        method.fit(data, tmp_path / "run", seed=0, progress=False)
    assert not (tmp_path / "run").exists()


def test_generator_ema_off_by_default_on_in_cpu_and_sampled_from(shapes, tmp_path, monkeypatch):
    """``g_ema`` (a cpu-profile deviation): off in paper/smoke (no extra module), on in cpu; when on,
    the EMA follows the generator after each generator step, resumes exactly and is what ``generate`` uses."""
    spec, data = shapes
    assert METHODS.get("tgan").profiles["paper"](SPEC).g_ema == 0
    assert METHODS.get("tgan").profiles["smoke"](spec).g_ema == 0
    assert METHODS.get("tgan").profiles["cpu"](spec).g_ema > 0
    assert "generator_ema" not in METHODS.get("tgan").from_profile("smoke", spec, TINY).modules()

    over = {**TINY, "train.steps": 4, "g_width": 16, "t_width": 16, "g_ema": 0.5}
    full = METHODS.get("tgan").from_profile("smoke", spec, over)
    full.fit(data, tmp_path / "full", seed=1, progress=False)
    g, e = full.generator, full.generator_ema
    assert not any(p.requires_grad for p in e.parameters())
    diffs = [float((a.detach() - b).abs().max()) for a, b in zip(g.parameters(), e.parameters())]
    assert max(diffs) > 0  # an average, not a copy

    part = _stopped_then_resumed(spec, over, data, tmp_path / "part", 1, 2, monkeypatch)
    for (n, a), (_, b) in zip(e.state_dict().items(), part.generator_ema.state_dict().items()):
        assert torch.equal(a, b), n

    from benchmark.methods import Conditioning

    calls = []
    e.register_forward_hook(lambda *a: calls.append(1))
    full.generate(Conditioning(batch_size=2, num_frames=4), seed=0)
    assert calls


def _stopped_then_resumed(spec, over, data, run_dir, seed, stop_after, monkeypatch):
    """A smoke TGAN trained to ``stop_after`` steps, then resumed to the end from its checkpoint."""
    method = METHODS.get("tgan").from_profile("smoke", spec, over)
    real_train = loop.train
    monkeypatch.setattr(loop, "train", lambda *a, **kw: real_train(*a, **{**kw, "stop_after": stop_after}))
    method.fit(data, run_dir, seed=seed, progress=False)
    monkeypatch.setattr(loop, "train", real_train)
    method.fit(data, run_dir, seed=seed, resume=True, progress=False)
    return method
