"""The trained baselines ``conv_lstm`` and ``vgan_ae_gmm``: build, train a few steps, round-trip,
sample deterministically; architecture facts of ``vgan_ae_gmm``'s paper profile."""

from __future__ import annotations

import functools
import io
import json

import numpy as np
import pytest
import torch

from benchmark.data.moving_shapes import MovingShapes
from benchmark.methods import Conditioning, DataSpec, TrainData
from benchmark.registry import METHODS
from benchmark.training import load_checkpoint, loop
from benchmark.video import check_videos
from tests.methods.velocity_helpers import dot_columns, saturate_along_x

NAMES = ["conv_lstm", "vgan_ae_gmm"]
TINY = {"train.steps": 2, "train.batch_size": 4, "train.checkpoint_every": 1, "train.log_every": 1}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """Tiny moving-shapes at 32x32: (spec, train data, test split videos)."""
    ds = MovingShapes(root=tmp_path_factory.mktemp("data"), size=32,
                      split_sizes={"train": 16, "val": 4, "test": 8})
    spec = DataSpec(ds.name, 3, (32, 32), ds.protocols)
    train = ds.load_split("train")
    data = TrainData(np.asarray(train.videos), {t: p.train for t, p in ds.protocols.items()}, train.content_hash)
    return spec, data, np.asarray(ds.load_split("test").videos)


def _fit(name, spec, data, run_dir, seed=0, **overrides):
    method = METHODS.get(name).from_profile("smoke", spec, {**TINY, **overrides})
    return method, _fit_stages(method, data, run_dir, seed)


def _fit_stages(method, data, run_dir, seed=0, resume=False):
    """Every training stage in order into the same folder (vgan_ae_gmm: autoencoder, then gmm); the
    merged summaries."""
    summary = {}
    for stage in method.stages():
        summary |= method.fit(data, run_dir, seed=seed, resume=resume, progress=False, stage=stage)
    return summary


def _sample(method, test_videos, seed):
    if "synthesis" in method.tasks:
        return method.generate(Conditioning(3, 8), seed=seed)
    context = torch.from_numpy(test_videos[:3, :5].copy()).float() / 255
    return method.predict(Conditioning(3, 6, num_samples=4, context=context), seed=seed)


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_contract(name):
    cls = METHODS.get(name)
    assert cls.trainable and {"paper", "smoke"} <= set(cls.profiles) <= {"paper", "cpu", "smoke"}
    assert cls.tasks == {"conv_lstm": ("prediction",), "vgan_ae_gmm": ("synthesis",)}[name]
    assert cls.stochastic == (name == "vgan_ae_gmm")


@pytest.mark.parametrize("name", NAMES)
def test_fit_roundtrip_and_deterministic_sampling(name, shapes, tmp_path):
    spec, data, test_videos = shapes
    method, summary = _fit(name, spec, data, tmp_path / "run")
    assert summary["step"] == 2 and not summary["stopped_early"]
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    assert len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 2

    rng_before = torch.get_rng_state()
    out = _sample(method, test_videos, seed=1)
    assert torch.equal(rng_before, torch.get_rng_state()), "sampling must not touch the global RNG"
    expected = (3, 8, 3, 32, 32) if name == "vgan_ae_gmm" else (3, 1, 6, 3, 32, 32)
    assert out.shape == expected and out.dtype == torch.float32 and out.device.type == "cpu"
    check_videos(out.reshape(-1, *out.shape[-4:]))  # finite, in [0, 1]
    assert torch.equal(out, _sample(method, test_videos, seed=1))
    if method.stochastic:
        assert not torch.equal(out, _sample(method, test_videos, seed=2))

    # state_dict -> torch.save/load(weights_only) -> fresh method: identical samples
    fresh = METHODS.get(name).from_profile("smoke", spec, TINY)
    fresh.load_state_dict(_roundtrip(method.state_dict()))
    assert torch.equal(out, _sample(fresh, test_videos, seed=1))

    # the training checkpoint holds the same weights
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    for key, module in method.modules().items():
        for k, v in module.state_dict().items():
            assert torch.equal(v, ckpt["modules"][key][k]), (key, k)


@pytest.mark.parametrize("name", NAMES)
def test_training_is_reproducible_from_seed(name, shapes, tmp_path):
    spec, data, _ = shapes
    a, _ = _fit(name, spec, data, tmp_path / "a", seed=3)
    b, _ = _fit(name, spec, data, tmp_path / "b", seed=3)
    c, _ = _fit(name, spec, data, tmp_path / "c", seed=4)
    sa, sb, sc = a.modules(), b.modules(), c.modules()
    for key in sa:
        for k, v in sa[key].state_dict().items():
            assert torch.equal(v, sb[key].state_dict()[k]), (key, k)
    first = next(iter(sa))
    assert not all(torch.equal(v, sc[first].state_dict()[k]) for k, v in sa[first].state_dict().items())


@pytest.mark.parametrize("name", NAMES)
def test_fit_resumes_after_a_kill(name, shapes, tmp_path, monkeypatch):
    spec, data, test_videos = shapes
    overrides = {"train.steps": 4, "train.checkpoint_every": 2}
    full, _ = _fit(name, spec, data, tmp_path / "full", **overrides)

    real_train = loop.train
    monkeypatch.setattr(loop, "train", functools.partial(real_train, stop_after=3))  # killed after step 3
    _fit(name, spec, data, tmp_path / "killed", **overrides)
    monkeypatch.setattr(loop, "train", real_train)
    method = METHODS.get(name).from_profile("smoke", spec, {**TINY, **overrides})
    summary = _fit_stages(method, data, tmp_path / "killed", resume=True)
    assert summary["start_step"] == 2 and summary["step"] == 4
    for key, module in full.modules().items():
        for k, v in module.state_dict().items():
            assert torch.equal(v, method.modules()[key].state_dict()[k]), (key, k)
    assert torch.equal(_sample(full, test_videos, 0), _sample(method, test_videos, 0))


def test_conv_lstm_loss_drops(shapes, tmp_path):
    spec, data, _ = shapes
    _, summary = _fit("conv_lstm", spec, data, tmp_path, **{"train.steps": 30, "train.log_every": 5,
                                                           "train.checkpoint_every": 30})
    losses = [r["losses"]["mse"] for r in map(json.loads, (tmp_path / "train_log.jsonl").read_text().splitlines())]
    assert losses[-1] < 0.5 * losses[0]


def test_conv_lstm_grayscale_and_other_lengths(shapes, tmp_path):
    spec, data, test_videos = shapes
    gray = lambda v: np.round(v.mean(axis=2, keepdims=True)).astype(np.uint8)  # noqa: E731
    gray_spec = DataSpec(spec.dataset, 1, spec.resolution, spec.protocols)
    method, _ = _fit("conv_lstm", gray_spec, TrainData(gray(data.videos), data.protocols), tmp_path)
    context = torch.from_numpy(gray(test_videos[:2, :3])).float() / 255  # c=3, not the training c=5
    out = method.predict(Conditioning(2, 11, context=context), seed=0)
    assert out.shape == (2, 1, 11, 1, 32, 32)
    with pytest.raises(ValueError, match="built for 1x32x32"):
        method.predict(Conditioning(2, 2, context=torch.zeros(2, 3, 3, 32, 32)), seed=0)
    with pytest.raises(ValueError, match=r"built for \(1, 32, 32\)"):  # the harness's own check comes first
        method.sample("prediction", Conditioning(2, 2, context=torch.zeros(2, 3, 3, 32, 32)), seed=0)


def test_conv_lstm_copy_velocity_moves_the_future_sources_and_trains_from_its_own_loss():
    """``copy_velocity`` (cpu profile): context frames copy the frame before them, the future frame ``h``
    steps after the context copies the last context frame carried ``h x`` the velocity net's field; the net
    starts at zero (a plain copy, as without it) despite the model-wide DCGAN init, a constant field moves a
    dot by equal steps, and the direct ``velocity_loss`` reaches the net's weights."""
    from methods.baselines.conv_lstm import ConvLSTMConfig

    cfg = ConvLSTMConfig(channels=1, resolution=(32, 32), context_frames=2, future_frames=3, width=8, dim=16,
                         hidden=32, copy_mask=True, mask_bias=3.0, copy_velocity=True, velocity_loss=1.0)
    method = METHODS.get("conv_lstm")(cfg, DataSpec("moving-shapes", 1, (32, 32), {}))
    model = method.model
    x = torch.rand(2, 5, 1, 32, 32)
    pred, future, _ = model.teacher_forced(x, context=2)
    assert pred.shape == (2, 4, 1, 32, 32) and future.shape == (2, 3, 1, 32, 32)
    assert torch.allclose(future, x[:, 1:2].expand(-1, 3, -1, -1, -1), atol=1e-5)  # zero field at init
    # the mask starts at 0.95: each prediction is within 0.05 of its copy source
    assert float((pred[:, 0] - x[:, 0]).abs().max()) < 0.06 and float((pred[:, 1:] - future).abs().max()) < 0.06
    saturate_along_x(model.velocity)  # max_velocity along x
    dot = torch.zeros(1, 2, 1, 32, 32)
    dot[:, :, 0, 16, 16] = 1.0
    columns = dot_columns(model.future_sources(dot, 3)[0][0])
    assert columns[0] < 16 and columns[0] - columns[1] == columns[1] - columns[2] > 0  # equal steps, one way
    with torch.no_grad():
        rolled = model.eval().rollout(dot, 3)
    assert dot_columns(rolled[0]) == columns  # the mask starts at 0.95: frames follow
    _, future, _ = model.train().teacher_forced(x, context=2)
    ((future - x[:, 2:]) ** 2).sum().backward()
    assert float(model.velocity.net[-1].weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="copy_velocity needs copy_mask"):
        ConvLSTMConfig(copy_velocity=True)
    for field in ("velocity_loss", "velocity_divergence"):
        with pytest.raises(ValueError, match="need copy_velocity"):
            ConvLSTMConfig(copy_mask=True, **{field: 1.0})


def test_conv_lstm_copy_velocity_objective_adds_its_weighted_terms(shapes, tmp_path):
    """The training loss with ``copy_velocity``: reconstruction + ``velocity_loss`` x the moved frames' MSE +
    ``velocity_divergence`` x the field's mean squared divergence, each logged."""
    spec, data, _ = shapes
    _fit("conv_lstm", spec, data, tmp_path, copy_mask="true", copy_velocity="true", velocity_loss="2.0",
         velocity_divergence="0.5")
    for rec in map(json.loads, (tmp_path / "train_log.jsonl").read_text().splitlines()):
        losses = rec["losses"]  # the phase is named after the reconstruction loss (smoke: mse)
        assert losses["mse/divergence"] >= 0 and losses["mse/warp_rec"] > 0
        total = losses["mse/rec"] + 2.0 * losses["mse/warp_rec"] + 0.5 * losses["mse/divergence"]
        assert losses["mse"] == pytest.approx(total, rel=1e-5)
    assert losses["mse/divergence"] > 0  # the field left zero after the first step


def test_ae_gmm_components_capped_and_unfitted_is_an_error(shapes, tmp_path):
    spec, data, _ = shapes
    method = METHODS.get("vgan_ae_gmm").from_profile("smoke", spec, TINY)
    with pytest.raises(RuntimeError, match="no fitted GMM"):
        method.generate(Conditioning(2, 8), seed=0)
    with pytest.raises(ValueError, match="no training stage 'train'"):
        method.fit(data, tmp_path, seed=0, stage="train")
    assert method.stages() == ("autoencoder", "gmm")
    _, summary = _fit("vgan_ae_gmm", spec, data, tmp_path, gmm_components=64, gmm_covariance="diag")
    assert summary["gmm"]["components"] == len(data.videos) == 16
    assert summary["gmm"]["covariance_type"] == "diag"


def test_ae_gmm_gmm_sampler_matches_moments():
    from methods.baselines.ae_gmm import sample_gmm

    g = torch.Generator().manual_seed(0)
    cov = torch.tensor([[[2.0, 0.5], [0.5, 1.0]]], dtype=torch.float64)
    state = {"weights": torch.ones(1, dtype=torch.float64), "means": torch.tensor([[1.0, -1.0]], dtype=torch.float64),
             "covariances": cov, "covariance_type": "full"}
    z = sample_gmm(state, 20000, g)
    assert torch.allclose(z.mean(0), state["means"][0], atol=0.05)
    assert torch.allclose(torch.cov(z.T), cov[0], atol=0.06)


# ------------------------------------------------------------------- paper-profile architecture ---

def _spec(frames: int, channels: int = 3) -> DataSpec:
    ds = MovingShapes(root="unused")  # protocols only; nothing is generated
    proto = ds.protocols["synthesis"]
    synthesis = type(proto)(train=proto.train.replace(future_frames=frames, channels=channels),
                            test=proto.test.replace(future_frames=frames, channels=channels))
    return DataSpec(ds.name, channels, (64, 64), {**ds.protocols, "synthesis": synthesis})


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_ae_gmm_paper_profile_parameter_count_and_shapes():
    from methods.baselines.ae_gmm import VideoAutoencoder

    method = METHODS.get("vgan_ae_gmm").from_profile("paper", _spec(frames=32))
    cfg = method.config
    assert (cfg.code_dim, cfg.gmm_components, cfg.lr, cfg.beta1, cfg.train.batch_size, cfg.init_std) == \
        (100, 256, 2e-4, 0.5, 64, 0.01)
    enc, dec = method.model.encoder, method.model.decoder
    bn = lambda c: 2 * c  # noqa: E731  BatchNorm weight + bias
    # Encoder = VGAN discriminator trunk: 4x4x4 stride-2 convs 3-64-128-256-512 (bias only on the
    # first, BN-free layer), then a 2x4x4 valid conv to the 100-d code.
    expected_encoder = (3 * 64 * 64 + 64) + (64 * 128 * 64 + bn(128)) + (128 * 256 * 64 + bn(256)) \
        + (256 * 512 * 64 + bn(512)) + (512 * 100 * 2 * 4 * 4 + 100)
    assert _count(enc) == expected_encoder
    # Foreground trunk: 100 -> 512 with a 2x4x4 kernel (32 frames), then 4x4x4 stride 2 to 256, 128, 64.
    expected_trunk = (100 * 512 * 2 * 4 * 4 + bn(512)) + (512 * 256 * 64 + bn(256)) + (256 * 128 * 64 + bn(128)) \
        + (128 * 64 * 64 + bn(64))
    assert _count(dec.trunk) == expected_trunk
    assert _count(dec.foreground) == 64 * 3 * 64 + 3 and _count(dec.mask) == 64 * 1 * 64 + 1
    # Background: DCGAN 2D generator 100 -> 512 (4x4) -> 256 -> 128 -> 64 -> 3.
    expected_background = (100 * 512 * 16 + bn(512)) + (512 * 256 * 16 + bn(256)) + (256 * 128 * 16 + bn(128)) \
        + (128 * 64 * 16 + bn(64)) + (64 * 3 * 16 + 3)
    assert _count(dec.background) == expected_background
    assert dec.trunk.net[0].kernel_size == (2, 4, 4)

    with torch.device("meta"):  # shapes without the compute
        model = VideoAutoencoder(cfg)
        video, (f, m, b) = model.decoder(torch.zeros(5, 100), return_streams=True)
        code = model.encoder(torch.zeros(5, 3, 32, 64, 64))
    assert video.permute(0, 2, 1, 3, 4).shape == (5, 32, 3, 64, 64)  # (N, T, C, H, W)
    assert m.shape == (5, 1, 32, 64, 64) and b.shape == (5, 3, 64, 64) and code.shape == (5, 100)


def test_ae_gmm_16_frame_profile_uses_1x4x4_first_kernel():
    method = METHODS.get("vgan_ae_gmm").from_profile("paper", _spec(frames=16, channels=1))
    assert method.model.decoder.trunk.net[0].kernel_size == (1, 4, 4)
    with torch.device("meta"):
        from methods.baselines.ae_gmm import VideoAutoencoder

        video = VideoAutoencoder(method.config).decoder(torch.zeros(2, 100))
    assert video.shape == (2, 1, 16, 64, 64)


def test_conv_lstm_paper_profile_shapes():
    from methods.baselines.conv_lstm import ConvLSTMModel

    spec = _spec(frames=16)
    cfg = METHODS.get("conv_lstm").profiles["paper"](spec)
    assert (cfg.dim, cfg.hidden, cfg.layers, cfg.width, cfg.lr, cfg.train.batch_size) == (128, 256, 2, 64, 2e-3, 100)
    with torch.device("meta"):
        model = ConvLSTMModel(cfg)
        out = model.rollout(torch.zeros(2, 5, 3, 64, 64), 4)
        tf, sources, _ = model.teacher_forced(torch.zeros(2, 15, 3, 64, 64), context=5)
    assert out.shape == (2, 4, 3, 64, 64) and tf.shape == (2, 14, 3, 64, 64) and sources is None  # no copy mask
    assert model.predictor.lstm.hidden_size == 256 and model.predictor.lstm.num_layers == 2
