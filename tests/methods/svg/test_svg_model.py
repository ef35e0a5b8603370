"""SVG-LP / SVG-FP: parameter counts of every paper profile equal upstream's (``edenton/svg`` at
3f19f0b), forward shapes, the training objective, per-frame BatchNorm and the sampling contract.

Upstream counts, derived from ``models/{dcgan,vgg}_{64,128}.py`` and ``models/lstm.py`` (every conv
and linear keeps its bias, BatchNorm has weight + bias; LSTMCell(n, n) has 4n(n + n) + 8n = 8n^2 + 8n;
nf = 64, |h| = g = 128, rnn_size = 256):

* DCGAN-64 encoder, nc channels: conv 4x4 layers nc->64->128->256->512 (16 cin cout + cout, + 2 cout BN)
  and the 4x4 head 512->g (+ BN): for nc = 1, 1216 + 131456 + 525056 + 2098688 + 1048960 = 3,805,376.
* DCGAN-64 decoder: ConvT 4x4 g->512 (+BN) 1,050,112; 1024->256, 512->128, 256->64 (+BN) 4,194,816 +
  1,048,832 + 262,272; out ConvT 128->nc (2048 nc + nc): for nc = 1, 6,558,529.
* VGG-64 encoder (3x3 convs 9 cin cout + cout + 2 cout BN; stages 2,2,3,3 layers of 64,128,256,512;
  head 4x4 512->g + BN): nc = 1 -> 8,688,448; nc = 3 -> 8,689,600 (+ 2 x 9 x 64).
* VGG-64 decoder (ConvT 4x4 g->512 + BN, stages 1024-512-512-256, 512-256-256-128, 256-128-64, 128-64,
  out ConvT 3x3 64->nc): nc = 1 -> 11,821,505; nc = 3 -> 11,822,659 (+ 2 x (9 x 64 + 1)).
* VGG-128: one more stage of three 512 layers each way: encoder 15,770,944, decoder 21,263,297 (nc = 1).
* frame predictor lstm(g + z, 256, g, 2 layers): embed 256 (g + z) + 256, 2 x 526,336, output 256 g + g:
  z = 10 -> 1,121,152; z = 32 -> 1,126,784; z = 64 -> 1,134,976.
* posterior / prior gaussian_lstm(g, 256, z, 1 layer): 33,024 + 526,336 + 2 (256 z + z):
  z = 10 -> 564,500; z = 32 -> 575,808; z = 64 -> 592,256.

(The same numbers come out of instantiating upstream's classes; see the method README.)
"""

from __future__ import annotations

import pytest
import torch

from benchmark.data.bair import BAIR
from benchmark.data.kth import KTH
from benchmark.data.mmnist import MovingMNIST
from benchmark.data.moving_shapes import MovingShapes
from benchmark.methods import ProfileUnavailable
from benchmark.pipeline import data_spec
from methods.common.frame_codecs import FrameBatchNorm2d
from methods.svg import config as C
from methods.svg.model import SVGModel, skip_sources
from tests.methods.velocity_helpers import dot_columns, saturate_along_x

UPSTREAM = {
    # dataset: {network: parameters}
    "smmnist": {"encoder": 3_805_376, "decoder": 6_558_529, "frame_predictor": 1_121_152,
                "posterior": 564_500, "prior": 564_500},
    "kth64": {"encoder": 8_688_448, "decoder": 11_821_505, "frame_predictor": 1_126_784,
              "posterior": 575_808, "prior": 575_808},
    "kth128": {"encoder": 15_770_944, "decoder": 21_263_297, "frame_predictor": 1_126_784,
               "posterior": 575_808, "prior": 575_808},
    "bair": {"encoder": 8_689_600, "decoder": 11_822_659, "frame_predictor": 1_134_976,
             "posterior": 592_256, "prior": 592_256},
}


def _spec(name: str):
    ds = {"smmnist": lambda: MovingMNIST(motion="stochastic"), "kth64": lambda: KTH(size=64),
          "kth128": lambda: KTH(size=128), "bair": lambda: BAIR()}[name]()
    return data_spec(ds, ("prediction",))


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("prior", ["learned", "fixed"])
@pytest.mark.parametrize("dataset", sorted(UPSTREAM))
def test_paper_profile_parameter_counts_match_upstream(dataset, prior):
    cfg = C.paper_profile(prior)(_spec(dataset))
    with torch.device("meta"):  # shapes only: no memory, no init
        model = SVGModel(cfg)
    nets = model.networks()
    want = dict(UPSTREAM[dataset])
    if prior == "fixed":
        want.pop("prior")  # SVG-FP has no prior network
    assert {k: _count(v) for k, v in nets.items()} == want


def test_paper_profiles_follow_the_paper():
    lp = C.paper_profile("learned")
    assert (lp(_spec("smmnist")).backbone, lp(_spec("smmnist")).z_dim, lp(_spec("smmnist")).beta) == ("dcgan", 10, 1e-4)
    kth = lp(_spec("kth64"))
    assert (kth.backbone, kth.z_dim, kth.beta, kth.context_frames, kth.future_frames) == ("vgg", 32, 1e-6, 10, 10)
    bair = lp(_spec("bair"))
    assert (bair.backbone, bair.z_dim, bair.channels, bair.context_frames, bair.future_frames) == ("vgg", 64, 3, 2, 10)
    assert (bair.lr, bair.beta1, bair.train.batch_size, bair.rnn_size) == (2e-3, 0.9, 100, 256)


def test_paper_profile_on_other_datasets_takes_the_closest_papers_settings(small_dataset):
    cfg = C.paper_profile("learned")(data_spec(small_dataset, ("prediction",)))   # 64x64 RGB: BAIR's
    assert (cfg.backbone, cfg.z_dim, cfg.beta, cfg.channels) == ("vgg", 64, 1e-4, 3)
    with pytest.raises(ProfileUnavailable, match="64x64 and 128x128"):
        C.paper_profile("learned")(data_spec(MovingShapes(root=small_dataset.root, size=32), ("prediction",)))


def _tiny(prior: str = "learned", **kw) -> C.SVGConfig:
    base = dict(prior=prior, channels=3, resolution=(32, 32), width=4, g_dim=8, z_dim=3, rnn_size=8,
                context_frames=3, future_frames=4)
    return C.SVGConfig(**{**base, **kw})


@pytest.mark.parametrize("backbone,prior", [("dcgan", "learned"), ("vgg", "fixed"),
                                            pytest.param("vgg", "learned", marks=pytest.mark.slow),
                                            pytest.param("dcgan", "fixed", marks=pytest.mark.slow)])
def test_forward_shapes_and_loss(backbone, prior):
    torch.manual_seed(0)
    model = SVGModel(_tiny(prior, backbone=backbone))
    x = torch.rand(2, 7, 3, 32, 32)
    out = model(x)
    assert out["x_pred"].shape == (2, 6, 3, 32, 32)
    assert out["mu"].shape == out["mu_p"].shape == (2, 6, 3)
    loss, parts = model.loss(out)
    loss.backward()
    assert torch.isfinite(loss) and parts["kld"] >= 0
    if prior == "learned":  # the prior gets gradients from the KL only
        assert model.prior.mu_net.weight.grad.abs().sum() > 0


def test_loss_is_upstreams_sum_over_steps():
    """mse = sum_t MSELoss(x_hat_t, x_t) and kld = sum_t sum KL / B, as train_svg_lp.py accumulates them."""
    torch.manual_seed(0)
    model = SVGModel(_tiny())
    out = model(torch.rand(2, 7, 3, 32, 32))
    _, parts = model.loss(out)
    steps = [torch.nn.functional.mse_loss(out["x_pred"][:, t], out["x_target"][:, t]) for t in range(6)]
    assert torch.allclose(parts["mse"], torch.stack(steps).sum(), rtol=1e-5)
    mu, lv, mp, lp = out["mu"], out["logvar"], out["mu_p"], out["logvar_p"]
    kl = (torch.log((0.5 * lp).exp() / (0.5 * lv).exp()) + (lv.exp() + (mu - mp) ** 2) / (2 * lp.exp()) - 0.5).sum() / 2
    assert torch.allclose(parts["kld"], kl, rtol=1e-5)


def test_skip_connections_follow_upstreams_code():
    # Upstream updates `skip` while i < n_past with the encoding of x[i-1]: the future frames get the
    # features of context frame n_past - 2.
    assert skip_sources(6, 3, False).tolist() == [0, 1, 1, 1, 1, 1]
    assert skip_sources(4, 2, False).tolist() == [0, 0, 0, 0]
    assert skip_sources(4, 2, True).tolist() == [0, 1, 2, 3]


def test_sequence_encoding_equals_per_frame_calls():
    """One encoder call over T frames with per-frame BatchNorm = T calls (upstream), running stats too."""
    torch.manual_seed(0)
    model = SVGModel(_tiny())
    ref = SVGModel(_tiny())
    ref.load_state_dict(model.state_dict())
    x = torch.rand(3, 5, 3, 32, 32)
    h, skips = model.encode(x)
    for t in range(5):
        h_t, s_t = ref.encoder(x[:, t])
        assert torch.allclose(h[:, t], h_t, atol=1e-5)
        assert torch.allclose(skips[0][t], s_t[0], atol=1e-5)
    for (n, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
        if "running" in n or "num_batches" in n:
            assert torch.allclose(a.float(), b.float(), atol=1e-5), n


def test_frame_batchnorm_groups_can_fail():
    """Planted bug check: without groups the statistics mix frames and differ from per-frame calls."""
    bn = FrameBatchNorm2d(2)
    x = torch.cat([torch.randn(4, 2, 3, 3), 5 + torch.randn(4, 2, 3, 3)])
    per_frame = torch.cat([torch.nn.functional.batch_norm(c, None, None, training=True) for c in x.split(4)])
    assert torch.allclose(bn(x, groups=2), per_frame, atol=1e-5)
    assert not torch.allclose(bn(x, groups=1), per_frame, atol=1e-2)


@pytest.mark.parametrize("prior", ["learned", "fixed"])
def test_rollout_shapes_and_seeding(prior):
    torch.manual_seed(0)
    model = SVGModel(_tiny(prior)).eval()
    ctx = torch.rand(2, 3, 3, 32, 32)
    a = model.rollout(ctx, 5, 4, torch.Generator().manual_seed(1))
    b = model.rollout(ctx, 5, 4, torch.Generator().manual_seed(1))
    assert a.shape == (2, 4, 5, 3, 32, 32)
    assert torch.equal(a, b)
    assert not torch.allclose(a[:, 0], a[:, 1])  # samples differ


def test_cpu_profile_runs_at_32x32_inside(small_dataset):
    cfg = C.cpu_profile("learned")(data_spec(small_dataset, ("prediction",)))
    model = SVGModel(cfg).eval()
    out = model.rollout(torch.rand(1, 5, 3, 64, 64), 3, 2)
    assert cfg.model_resolution == (32, 32) and out.shape == (1, 2, 3, 3, 64, 64)
    # Skips from the last context frame (the paper's text): upstream's c - 2 learned less on moving-shapes.
    assert cfg.skip_from == "paper"


def test_copy_velocity_moves_the_copy_source_and_trains_from_its_own_loss():
    """``copy_velocity`` (not upstream): context frames copy their skip frame, the future frame ``h`` steps
    after the context copies the last context frame carried ``h x`` the velocity net's field. Built by the
    method, the net starts at zero despite upstream's model-wide init (a plain copy, as without it); a
    constant field moves a dot by equal steps in every sample; the direct ``velocity_loss`` enters the
    objective with its weight and reaches the net, whose parameters Adam steps at ``velocity_lr``."""
    from benchmark.methods import DataSpec
    from benchmark.registry import METHODS
    from methods.common.warp import divergence

    cfg = _tiny(channels=1, context_frames=2, future_frames=3, skip_from="paper", copy_mask=True, mask_bias=3.0,
                copy_velocity=True, velocity_loss=2.0, velocity_divergence=0.5, velocity_lr=0.01)
    method = METHODS.get("svg_lp")(cfg, DataSpec("moving-shapes", 1, (32, 32), {}))
    model = method.model
    groups = method.optimizer().param_groups  # the velocity net at its own lr, every other parameter at lr
    assert [(g["lr"], len(g["params"])) for g in groups] == \
        [(cfg.lr, len(list(model.parameters())) - len(list(model.velocity.parameters()))),
         (0.01, len(list(model.velocity.parameters())))]
    x = torch.rand(2, 5, 1, 32, 32)
    out = model(x)
    assert out["moved"].shape == (2, 3, 1, 32, 32)
    assert torch.allclose(out["moved"], x[:, 1:2].expand(-1, 3, -1, -1, -1), atol=1e-5)  # zero field at init
    # the mask starts at 0.95: each frame is within 0.05 of its copy source
    assert float((out["x_pred"][:, 0] - x[:, 0]).abs().max()) < 0.06
    assert float((out["x_pred"][:, 1:] - out["moved"]).abs().max()) < 0.06
    with torch.no_grad():
        model.velocity.net[-1].weight.normal_(0, 0.1)  # a field that varies in space: its divergence counts
    out = model(x)
    loss, parts = model.loss(out)
    warp = ((out["moved"] - x[:, 2:]) ** 2).mean() * 3
    assert torch.allclose(parts["warp_rec"], warp)
    div = (divergence(out["velocity"]) ** 2).mean()
    assert float(div) > 0 and torch.allclose(parts["divergence"], div)
    assert torch.allclose(loss, parts["mse"] + cfg.beta * parts["kld"] + 2.0 * warp + 0.5 * div)
    loss.backward()
    assert float(model.velocity.net[-1].weight.grad.abs().sum()) > 0
    saturate_along_x(model.velocity)  # max_velocity along x
    dot = torch.zeros(1, 2, 1, 32, 32)
    dot[:, :, 0, 16, 16] = 1.0
    frames = model.eval().rollout(dot, 3, num_samples=2, generator=torch.Generator().manual_seed(0))
    for sample in frames[0]:
        columns = dot_columns(sample)
        assert columns[0] < 16 and columns[0] - columns[1] == columns[1] - columns[2] > 0
    with pytest.raises(ValueError, match="copy_velocity needs"):
        _tiny(copy_mask=True, copy_velocity=True)  # skip_from defaults to upstream's "code" (frame c - 2)
    for field in ("velocity_loss", "velocity_divergence", "velocity_lr"):  # each would be ignored without a word
        with pytest.raises(ValueError, match="need copy_velocity"):
            _tiny(**{field: 1.0})
    assert SVGModel(_tiny()).velocity is None  # upstream's networks only, by default
