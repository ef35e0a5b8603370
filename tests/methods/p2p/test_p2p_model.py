"""P2P: parameter counts of the paper profiles equal upstream's (``yccyenchicheng/p2pvg`` at
6109c13), skip-frame training, the two updates, the alignment/CPC quirks and the rollout.

Upstream counts (``models/p2p_model.py`` with SVG's ``models/{dcgan,vgg}_64.py`` and its
``models/lstm.py``; g = 128, rnn 256): the encoder/decoder are SVG's (DCGAN-64 nc=1: 3,805,376 /
6,558,529; VGG-64 nc=1: 8,688,448 / 11,821,505; nc=3: 8,689,600 / 11,822,659). The frame predictor
lstm(g + z + 2) has 2 x 256 = 512 more embedding weights than SVG's: z = 10 -> 1,121,664; 32 -> 1,127,296;
64 -> 1,135,488. Posterior and prior gaussian_lstm(2g + 2 = 258, z): embed 258 x 256 + 256 = 66,304,
LSTM 526,336, heads 2 (256 z + z): z = 10 -> 597,780; 32 -> 609,088; 64 -> 625,536.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.data.bair import BAIR
from benchmark.data.kth import KTH
from benchmark.data.mmnist import MovingMNIST
from benchmark.methods import ProfileUnavailable
from benchmark.pipeline import data_spec
from methods.p2p import config as C
from methods.p2p.model import P2PModel, kept_steps
from tests.methods.velocity_helpers import dot_columns, saturate_along_x

UPSTREAM = {
    "mmnist": {"encoder": 3_805_376, "decoder": 6_558_529, "frame_predictor": 1_121_664, "posterior": 597_780,
               "prior": 597_780},
    "kth": {"encoder": 8_688_448, "decoder": 11_821_505, "frame_predictor": 1_127_296, "posterior": 609_088,
            "prior": 609_088},
    "bair": {"encoder": 8_689_600, "decoder": 11_822_659, "frame_predictor": 1_135_488, "posterior": 625_536,
             "prior": 625_536},
}


def _spec(name: str, two_ended: bool = True):
    ds = {"mmnist": lambda: MovingMNIST(motion="stochastic", two_ended=two_ended),
          "kth": lambda: KTH(two_ended=two_ended), "bair": lambda: BAIR(two_ended=two_ended)}[name]()
    return data_spec(ds, ("prediction",))


@pytest.mark.parametrize("dataset", sorted(UPSTREAM))
def test_paper_profile_parameter_counts_match_upstream(dataset):
    cfg = C.paper(_spec(dataset))
    with torch.device("meta"):
        model = P2PModel(cfg)
    assert {k: sum(p.numel() for p in v.parameters()) for k, v in model.networks().items()} == UPSTREAM[dataset]


def test_paper_profile_follows_upstream_readme():
    cfg = C.paper(_spec("mmnist"))
    assert (cfg.max_seq_len, cfg.delta_len, cfg.context_frames) == (30, 5, 1)
    assert (cfg.weight_cpc, cfg.weight_align, cfg.skip_prob, cfg.beta, cfg.lr, cfg.train.batch_size) == (
        100.0, 0.5, 0.5, 1e-4, 1e-3, 100)


def test_needs_a_two_ended_protocol(small_dataset):
    with pytest.raises(ProfileUnavailable, match="two_ended"):
        C.cpu(data_spec(small_dataset, ("prediction",)))
    with pytest.raises(ProfileUnavailable, match="two_ended"):
        C.paper(_spec("bair", two_ended=False))


def test_kept_steps_follow_upstreams_rule():
    # never the first step or the control point, nothing before n_past, at most T * skip_prob skipped
    assert kept_steps(6, 1, 0.5, torch.zeros(5)) == [1, 5]          # skipped 2, 3, 4 (3 <= 6 * 0.5)
    assert kept_steps(6, 3, 0.5, torch.zeros(5)) == [1, 2, 5]       # nothing skipped before n_past = 3
    assert kept_steps(10, 1, 0.1, torch.zeros(9)) == [1] + list(range(3, 10))  # at most 1 skipped
    assert kept_steps(6, 1, 0.5, None) == [1, 2, 3, 4, 5]


def _tiny(**kw) -> C.P2PConfig:
    base = dict(channels=1, resolution=(32, 32), width=4, g_dim=8, z_dim=3, rnn_size=8, context_frames=1,
                max_seq_len=8, delta_len=1, weight_cpc=10.0, weight_align=0.5, skip_prob=0.5)
    return C.P2PConfig(**{**base, **kw})


@pytest.mark.parametrize("align", ["upstream", pytest.param("paper", marks=pytest.mark.slow)])
def test_forward_losses_and_gradient_split(align):
    torch.manual_seed(0)
    model = P2PModel(_tiny(align=align))
    x = torch.rand(3, 8, 1, 32, 32)
    kept = [1, 2, 4, 7]
    out = model(x, kept)
    assert set(out) == {"mse", "kld", "cpc", "align"} and all(torch.isfinite(v) for v in out.values())
    main, prior_loss = model.losses(out)
    # The prior's loss reaches the prior; the main loss is what trains everything else.
    g = torch.autograd.grad(prior_loss, list(model.prior.parameters()), retain_graph=True, allow_unused=True)
    assert any(t is not None and t.abs().sum() > 0 for t in g)
    main.backward()
    assert model.encoder.stages[0].layers[0].conv.weight.grad.abs().sum() > 0


def test_upstream_alignment_uses_sample_zero_of_the_previous_input():
    """Upstream's MSE(h[0], h_pred): sample 0's previous input encoding vs the batch's previous prediction."""
    torch.manual_seed(0)
    up = P2PModel(_tiny(align="upstream"))
    paper = P2PModel(_tiny(align="paper"))
    paper.load_state_dict(up.state_dict())
    x = torch.rand(3, 8, 1, 32, 32)
    noise, cpc = torch.randn(3, 4, 3), torch.randn(3, 3)
    a = up(x, [1, 2, 4, 7], posterior_noise=noise, cpc_noise=cpc)
    b = paper(x, [1, 2, 4, 7], posterior_noise=noise, cpc_noise=cpc)
    assert torch.allclose(a["mse"], b["mse"]) and not torch.allclose(a["align"], b["align"])


def test_cpc_state_switch_changes_only_cpc():
    torch.manual_seed(0)
    a = P2PModel(_tiny(cpc_after_step=True))
    b = P2PModel(_tiny(cpc_after_step=False))
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 8, 1, 32, 32)
    noise, cpc = torch.randn(2, 7, 3), torch.randn(2, 3)
    oa = a(x, list(range(1, 8)), posterior_noise=noise, cpc_noise=cpc)
    ob = b(x, list(range(1, 8)), posterior_noise=noise, cpc_noise=cpc)
    assert torch.allclose(oa["mse"], ob["mse"]) and not torch.allclose(oa["cpc"], ob["cpc"])


def test_rollout_shapes_and_seeding():
    torch.manual_seed(0)
    model = P2PModel(_tiny()).eval()
    ctx, end = torch.rand(2, 1, 1, 32, 32), torch.rand(2, 1, 32, 32)
    a = model.rollout(ctx, end, 6, 3, torch.Generator().manual_seed(0))
    b = model.rollout(ctx, end, 6, 3, torch.Generator().manual_seed(0))
    assert a.shape == (2, 3, 6, 1, 32, 32) and torch.equal(a, b)


def test_profiles_on_the_two_ended_moving_shapes(small_data_root):
    from benchmark.data.moving_shapes import MovingShapes

    from tests.conftest import SMALL_SPLITS

    spec = data_spec(MovingShapes(root=small_data_root, split_sizes=SMALL_SPLITS, two_ended=True), ("prediction",))
    cfg = C.cpu(spec)
    assert (cfg.context_frames, cfg.max_seq_len, cfg.model_resolution) == (1, 15, (32, 32))
    assert dataclasses.replace(cfg, align="paper").align == "paper"


def test_copy_motion_moves_the_copy_source_towards_the_control_point():
    """``copy_motion`` (not upstream): step ``i`` copies its skip frame moved ``(i - s) / (cp - s)`` of the way
    along a displacement field read off (skip frame, control-point frame). Built by the method, the field
    starts at zero despite upstream's model-wide init (a plain copy); a constant field carries a dot in equal
    steps that reach the full displacement at the control point, in training and in sampling alike; the
    motion and divergence terms enter the main loss with their weights and reach the net."""
    from benchmark.methods import DataSpec
    from benchmark.registry import METHODS
    from methods.common.warp import divergence

    # a displacement of 16 pixels at 32x32 (grid units: 2 / 31 a pixel): 4 a frame when cp = 4
    cfg = _tiny(copy_mask=True, mask_bias=3.0, copy_motion=True, max_displacement=16 / 15.5, motion_loss=2.0,
                motion_divergence=0.5)
    model = METHODS.get("p2p")(cfg, DataSpec("moving-shapes", 1, (32, 32), {})).model
    assert P2PModel(_tiny()).motion is None  # upstream's networks only, by default
    x = torch.rand(2, 8, 1, 32, 32)
    kept = [1, 2, 4, 7]
    out = model(x, kept)
    assert {"motion", "divergence"} <= set(out) and float(out["divergence"]) == 0.0  # zero field at init
    moved = ((x[:, 0:1] - x[:, kept]) ** 2).mean() * len(kept)  # every source is the plain start frame
    assert torch.allclose(out["motion"], moved, atol=1e-5)
    with torch.no_grad():
        model.motion.net[-1].weight.normal_(0, 0.1)  # a field that varies in space
    out = model(x, kept)
    main, _ = model.losses(out)
    upstream = out["mse"] + cfg.beta * out["kld"] + cfg.weight_align * out["align"]
    div = (divergence(model.motion(torch.stack([x[:, 0], x[:, 7]], 1) * 2 - 1)) ** 2).mean()
    assert float(div) > 0 and torch.allclose(out["divergence"], div)
    assert torch.allclose(main, upstream + 2.0 * out["motion"] + 0.5 * out["divergence"])
    main.backward()
    assert float(model.motion.net[-1].weight.grad.abs().sum()) > 0
    saturate_along_x(model.motion)  # max_displacement along x
    dot = torch.zeros(1, 1, 1, 32, 32)
    dot[0, 0, 0, 16, 24] = 1.0
    frames = model.eval().rollout(dot, torch.zeros(1, 1, 32, 32), 4, num_samples=2)
    for sample in frames[0]:  # cp = 4: a quarter of the way a frame, all of it at the end frame's time
        assert dot_columns(sample) == [20, 16, 12, 8]
    clip = torch.zeros(2, 5, 1, 32, 32)  # training: the same fractions of the way (cp = 4)
    for t, column in enumerate([24, 20, 16, 12, 8]):
        clip[:, t, 0, 16, column] = 1.0
    with torch.no_grad():
        assert float(model.train()(clip, [1, 2, 3, 4])["motion"]) < 1e-6  # the moved sources are the truth
        assert float(model(clip.flip(1), [1, 2, 3, 4])["motion"]) > 1e-3  # the other way: they are not
    with pytest.raises(ValueError, match="copy_motion needs"):
        _tiny(copy_motion=True)
    for field in ("motion_loss", "motion_divergence", "motion_warmup"):
        with pytest.raises(ValueError, match="need copy_motion"):
            _tiny(**{field: 1})
    with pytest.raises(ValueError, match="motion_warmup must be >= 0"):
        _tiny(copy_mask=True, copy_motion=True, motion_warmup=-1)


def test_motion_warmup_trains_the_displacement_net_alone_before_the_model(small_data_root, tmp_path):
    """``motion_warmup`` (cpu profile): the displacement net trains alone on the two-ended objective (first and
    last frame of a clip, ``methods.common.velocity_warmup.two_ended_warmup_loss``) in its own stage folder, at the
    model's resolution, before P2P's own stage."""
    import numpy as np

    from benchmark.data.moving_shapes import MovingShapes
    from benchmark.methods import TrainData
    from benchmark.registry import METHODS
    from methods.common.velocity_warmup import WARMUP_DIR
    from tests.conftest import SMALL_SPLITS

    spec = data_spec(MovingShapes(root=small_data_root, split_sizes=SMALL_SPLITS, two_ended=True), ("prediction",))
    train = spec.train_protocol("prediction")
    overrides = {"copy_mask": "true", "copy_motion": "true", "motion_warmup": "3", "motion_divergence": "0.1"}
    method = METHODS.get("p2p").from_profile("smoke", spec, overrides)
    videos = np.random.default_rng(0).integers(0, 256, (4, 16, 3, *spec.resolution), dtype=np.uint8)
    method.fit(TrainData(videos, {"prediction": train}), tmp_path, seed=0, progress=False)
    warm = torch.load(tmp_path / WARMUP_DIR / "checkpoint.pt", weights_only=False)
    assert warm["step"] == 3 and set(warm["modules"]) == {"velocity"}
    assert (tmp_path / "checkpoint.pt").is_file()
    config = (tmp_path / WARMUP_DIR / "train_config.json").read_text()
    assert '"two_ended"' in config and '"pool": 1' in config
