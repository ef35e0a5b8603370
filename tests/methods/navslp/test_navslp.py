"""NAVSLP: Table 2 hyperparameters and the official architecture, the Laplacian-pyramid and
triplet losses against direct implementations, projections, the two-stage updates, latents in the
state dict, unseen static x transient combinations, interpolation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.data.base import Protocol, TaskProtocols
from benchmark.methods import Conditioning, DataSpec, TrainData
from benchmark.training.loop import TrainConfig
from methods.navslp import config as C
from methods.navslp.method import NAVSLP
from methods.navslp.model import (LatentDictionary, gaussian_kernel, laplacian_l1, laplacian_pyramid,
                                  project_rank_, project_unit_ball_, triplet_loss)


def _spec(dataset: str = "toy", frames: int = 16, res: int = 64) -> DataSpec:
    p = Protocol(f"synthesis-{frames}", "synthesis", "train", 0, frames, (res, res), 3)
    return DataSpec(dataset, 3, (res, res), {"synthesis": TaskProtocols(train=p, test=p)})


def _shapes(module: torch.nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


# abhishekaich27/Navsynth models.py: Generator(z_dim, ngf=64, nc=3) (no BatchNorm, no biases) and
# GRU(input_size=D_t, hidden_size=500): GRUCell + Linear(500, D_t) (+ BatchNorm1d(affine=False)).
def _upstream_generator(z_dim: int) -> list[tuple[int, ...]]:
    return [(z_dim, 512, 4, 4), (512, 256, 4, 4), (256, 128, 4, 4), (128, 64, 4, 4), (64, 3, 4, 4)]


def _upstream_gru(d_t: int, hidden: int = 500) -> list[tuple[int, ...]]:
    return [(3 * hidden, d_t), (3 * hidden, hidden), (3 * hidden,), (3 * hidden,), (d_t, hidden), (d_t,)]


@pytest.mark.parametrize("dataset,row", [
    ("chair-cad", (206, 50, 0.01, 0.01, 2.0, 6.25e-5, 6.25e-5, 12.5, 5, 300, 4)),
    ("weizmann", (56, 200, 0.01, 0.1, 2.0, 6.25e-5, 6.25e-3, 12.5, 5, 700, 3)),
    ("golf", (56, 200, 0.01, 0.01, 2.0, 0.1, 0.1, 12.5, 10, 1000, 4)),
])
def test_paper_profile_is_table2_with_the_official_architecture(dataset, row):
    cfg = NAVSLP.profiles["paper"](_spec(dataset))
    got = (cfg.dim_static, cfg.dim_transient, cfg.lambda_static, cfg.lambda_triplet, cfg.triplet_margin,
           cfg.lr_generator, cfg.lr_rnn, cfg.lr_latent, cfg.epochs_generator, cfg.iterations_per_video,
           cfg.pyramid_levels)
    assert got == row
    assert (cfg.rnn_hidden, cfg.latent_momentum, cfg.adam_betas, cfg.adam_eps) == (500, 0.9, (0.9, 0.999), 1e-8)
    m = NAVSLP(cfg, _spec(dataset))
    assert _shapes(m.generator) == _upstream_generator(256)       # D_s + D_t = 256 for all three rows
    assert _shapes(m.rnn) == _upstream_gru(cfg.dim_transient)
    n_g = sum(p.numel() for p in m.generator.parameters())
    n_r = sum(p.numel() for p in m.rnn.parameters())
    assert n_g == 4_852_736
    assert n_r == {50: 853_050, 200: 1_153_200}[cfg.dim_transient]
    assert cfg.static_groups == ("video" if dataset == "weizmann" else "shared")
    # §4.1: nine identity (static) and ten action (transient) latents on Weizmann
    assert m.label_inputs() == (("identity", "action") if dataset == "weizmann" else ())


def test_unknown_dataset_gets_chair_cad_row_with_per_video_statics():
    cfg = NAVSLP.profiles["paper"](_spec("moving-shapes"))
    assert (cfg.dim_static, cfg.dim_transient, cfg.static_groups) == (206, 50, "video")
    assert cfg.train.steps == 0 and cfg.train.batch_size == 1        # derived: μ_γ · μ_zθ · N


def _reference_laplacian(x: torch.Tensor, y: torch.Tensor, levels: int) -> torch.Tensor:
    """Direct implementation: depthwise 5x5 Gaussian (sigma 2) with replicate padding, avg-pool."""
    g = gaussian_kernel()
    k = (g[:, None] * g[None, :])[None, None].expand(x.shape[1], 1, 5, 5)

    def pyramid(img):
        out = []
        for _ in range(levels):
            blurred = F.conv2d(F.pad(img, (2, 2, 2, 2), mode="replicate"), k, groups=img.shape[1])
            out.append(img - blurred)
            img = F.avg_pool2d(blurred, 2)
        return out + [img]

    return sum((a - b).abs().flatten(1).mean(1) for a, b in zip(pyramid(x), pyramid(y)))


def test_laplacian_loss_matches_direct_convolution():
    torch.manual_seed(0)
    x, y = torch.randn(3, 3, 32, 32), torch.randn(3, 3, 32, 32)
    for levels in (1, 3, 4):
        assert torch.allclose(laplacian_l1(x, y, levels), _reference_laplacian(x, y, levels), atol=1e-5)
    assert laplacian_l1(x, x, 3).abs().max() == 0
    # the pyramid is an exact decomposition: upsampling aside, level sizes halve
    assert [p.shape[-1] for p in laplacian_pyramid(x, 3)] == [32, 16, 8, 4]


def _reference_triplet(r: torch.Tensor, margin: float, pos_r: int = 2, neg_r: int = 5) -> torch.Tensor:
    """Loop version of the official triplet_loss.py (semi-hard negatives, Euclidean distances)."""
    t = r.shape[0]
    d = torch.cdist(r, r)
    loss, count = r.new_zeros(()), 0
    for i in range(t):
        negs = sorted(float(d[i, k]) for k in range(t) if abs(i - k) > neg_r)
        for j in range(t):
            if j == i or abs(i - j) > pos_r or not negs:
                continue
            count += 1
            chosen = negs[-1]
            for n in negs:
                if n > float(d[i, j]):
                    chosen = n
                    break
            loss = loss + max(0.0, margin - chosen + float(d[i, j]))
    return loss / max(count, 1)


def test_triplet_loss_matches_loop_reference():
    torch.manual_seed(0)
    r = torch.randn(3, 16, 5)
    got = triplet_loss(r, margin=2.0)
    for b in range(3):
        assert got[b].item() == pytest.approx(float(_reference_triplet(r[b], 2.0)), abs=1e-5)
    # well separated along time -> no loss
    line = torch.arange(16.0)[None, :, None].repeat(1, 1, 2) * 10
    assert triplet_loss(line, margin=2.0).item() == 0
    assert triplet_loss(torch.randn(1, 4, 3)).item() == 0           # no negative farther than 5 frames


def test_projections():
    z = torch.randn(4, 10, 6) * 5
    project_unit_ball_(z)
    assert (z.norm(dim=-1) <= 1 + 1e-6).all()
    small = torch.full((3,), 0.1)
    assert torch.equal(project_unit_ball_(small.clone()), small)    # inside the ball: unchanged
    z = torch.randn(4, 10, 6)
    project_rank_(z, 2)
    assert (torch.linalg.matrix_rank(z) == 2).all()
    lat = LatentDictionary(8, 6, torch.arange(3), torch.arange(3), 10, torch.Generator().manual_seed(0))
    lat.transient.data.mul_(7)
    lat.project_(rank=2)
    assert (torch.linalg.matrix_rank(lat.transient.data) <= 2).all() and (lat.transient.norm(dim=-1) <= 1 + 1e-6).all()


def _data(n=6, frames=18, res=32, seed=0):
    rng = np.random.default_rng(seed)
    p = _spec(res=res).train_protocol("synthesis")
    return TrainData(videos=rng.integers(0, 255, (n, frames, 3, res, res), dtype=np.uint8), protocols={"synthesis": p})


def _tiny(res=32, steps=1, **kw) -> NAVSLP:
    spec = _spec(res=res)
    cfg = NAVSLP.profiles["smoke"](spec)
    cfg = dataclasses.replace(cfg, train=TrainConfig(steps=steps, batch_size=2, checkpoint_every=1, log_every=1), **kw)
    return NAVSLP(cfg, spec)


def _snapshot(m: NAVSLP) -> dict[str, torch.Tensor]:
    return {f"{k}.{n}": p.detach().clone() for k, mod in m.modules().items() for n, p in mod.named_parameters()}


def test_two_stage_updates_touch_the_right_parameters(tmp_path, monkeypatch):
    """Stage 1 moves only G; stage 2 moves only the latents of the batch's videos and the RNN;
    latents stay in the unit ball."""
    import benchmark.training.loop as loop

    m = _tiny()
    seen: list[tuple[str, dict]] = []
    real_train = loop.train

    def spy(parts, *a, **kw):
        for phase in parts.phases:
            step = phase.optimizer.step

            def wrapped(step=step, name=phase.name):
                before = _snapshot(m)
                step()
                seen.append((name, {k for k, v in _snapshot(m).items() if not torch.equal(v, before[k])}))
            phase.optimizer.step = wrapped
        return real_train(parts, *a, **kw)

    monkeypatch.setattr(loop, "train", spy)
    m.fit(_data(), tmp_path, seed=0, progress=False)
    (n1, changed1), (n2, changed2) = seen
    assert n1 == "generator" and changed1 and all(k.startswith("generator.") for k in changed1)
    assert n2 == "latents" and {k.split(".")[0] for k in changed2} == {"rnn", "latents"}
    assert (m.latents.static.norm(dim=-1) <= 1 + 1e-6).all() and (m.latents.transient.norm(dim=-1) <= 1 + 1e-6).all()


def test_state_dict_carries_latents_and_combinations(tmp_path):
    m = _tiny(steps=2)
    m.fit(_data(), tmp_path, seed=0, progress=False)
    assert m.latents.static.shape == (6, 16) and m.latents.transient.shape == (6, 18, 8)
    state = m.state_dict()
    assert {"generator", "rnn", "latents"} <= set(state)
    fresh = NAVSLP(m.config, m.spec)
    fresh.load_state_dict(state)
    assert torch.equal(m.generate(Conditioning(4, 16), seed=3), fresh.generate(Conditioning(4, 16), seed=3))
    # unseen combinations: the static latent of video 0 with the transient latents of video 1
    both = m.generate_rows(torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1]), 16)
    assert both.shape == (3, 16, 3, 32, 32)
    assert not torch.equal(both[2], both[0]) and not torch.equal(both[2], both[1])
    with pytest.raises(ValueError, match="transient latents for 18 frames"):
        m.generate(Conditioning(1, 19), seed=0)
    ends = m.interpolate(0, 1, 4, steps=3)
    assert ends["learned"].shape == (1, 4, 3, 32, 32) and ends["interpolated"].shape == (1, 4, 3, 32, 32)
    # the first frame's RNN input history is the same; with the per-video normalisation (statistics
    # of the whole sequence, as in training) every frame moves a little, without it none before z_2
    assert not torch.equal(ends["learned"][:, 0], ends["interpolated"][:, 0])
    m.rnn.batchnorm = False
    ends = m.interpolate(0, 1, 4, steps=3)
    assert torch.equal(ends["learned"][:, 0], ends["interpolated"][:, 0])


def test_shared_static_and_grouped_latents(tmp_path):
    m = _tiny(static_groups="shared")
    m.fit(_data(), tmp_path / "a", seed=0, progress=False)
    assert m.latents.static.shape[0] == 1 and m.latents.transient.shape[0] == 6
    # Weizmann-style: identities share static latents, actions share transient latents (§4.1)
    g = _tiny(static_label="identity", transient_label="action")
    assert g.label_inputs() == ("identity", "action")
    data = _data()
    data.labels = {"identity": np.array([0, 0, 1, 1, 2, 2]), "action": np.array([4, 7, 4, 7, 4, 7])}
    g.fit(data, tmp_path / "b", seed=0, progress=False)
    assert g.latents.static.shape[0] == 3 and g.latents.transient.shape[0] == 2
    assert g.latents.static_index.tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="no 'identity' labels"):
        _tiny(static_label="identity").fit(_data(), tmp_path / "c", seed=0, progress=False)
    with pytest.raises(ValueError, match="contradicts"):
        _tiny(static_label="identity", static_groups="shared")


def test_sampling_modes_and_rank(tmp_path):
    m = _tiny(rank=2, two_stage=False)
    m.fit(_data(), tmp_path, seed=0, progress=False)
    assert (torch.linalg.matrix_rank(m.latents.transient.data) <= 2).all()
    for mode in C.SAMPLING:
        m.config = dataclasses.replace(m.config, sampling=mode)
        x = m.generate(Conditioning(3, 16), seed=0)
        assert x.shape == (3, 16, 3, 32, 32) and torch.equal(x, m.generate(Conditioning(3, 16), seed=0))


def test_resume_after_a_kill_is_exact(tmp_path, monkeypatch):
    """Latents, their SGD momentum (inside the OptimizerGroup) and the RNN resume bitwise."""
    import functools

    import benchmark.training.loop as loop

    full = _tiny(steps=4)
    full.fit(_data(), tmp_path / "full", seed=0, progress=False)
    real_train = loop.train
    monkeypatch.setattr(loop, "train", functools.partial(real_train, stop_after=3))
    _tiny(steps=4).fit(_data(), tmp_path / "killed", seed=0, progress=False)   # checkpoints every step
    monkeypatch.setattr(loop, "train", real_train)
    resumed = _tiny(steps=4)
    summary = resumed.fit(_data(), tmp_path / "killed", seed=0, resume=True, progress=False)
    assert summary["start_step"] == 3 and summary["step"] == 4
    for key, module in full.modules().items():
        for k, v in module.state_dict().items():
            assert torch.equal(v, resumed.modules()[key].state_dict()[k]), (key, k)


def test_oracle_static_latent_carries_the_background_and_transient_latents_the_motion(tmp_path):
    """Trained on moving-shapes (32x32) with one static latent per background colour (its
    ``identity`` label) and per-video transient latents, NAVSLP reconstructs better than the mean
    frame, and a swapped video (static latent of video a, transient latents of video b with another
    background) shows a's background and an object where b's object is, not where a's is.
    Margins are about half of what 400 steps give with seeds 0-2 (~12 s)."""
    from benchmark.data.moving_shapes import BACKGROUNDS, MovingShapes

    ds = MovingShapes(tmp_path / "data", size=32, min_radius=3, max_radius=6, max_speed=2.0,
                      split_sizes={"train": 16, "val": 1, "test": 1})
    train = ds.load_split("train")
    spec = DataSpec(ds.name, 3, (32, 32), ds.protocols, labels={"identity": 4, "action": 4})
    cfg = dataclasses.replace(NAVSLP.profiles["smoke"](spec), static_label="identity",
                              train=TrainConfig(steps=400, batch_size=4, checkpoint_every=1000, log_every=1000))
    m = NAVSLP(cfg, spec)
    identity = ds.clip_labels(train, ["identity"])["identity"]
    m.fit(TrainData(train.videos, {"synthesis": ds.protocol("synthesis", "train")}, labels={"identity": identity}),
          tmp_path / "run", seed=0, progress=False)
    lat = m.latents
    assert lat.static.shape[0] == len(set(identity.tolist())) and lat.transient.shape[0] == 16
    real = torch.from_numpy(np.array(train.videos[:, :16])).float() / 255

    def psnr(x):
        return float((10 * torch.log10(1 / ((x - real) ** 2).mean((1, 2, 3, 4)))).mean())

    assert psnr(m.generate_rows(lat.static_index, lat.transient_index, 16)) > psnr(real.mean((0, 1), keepdim=True)) + 0.5
    b = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    a = torch.arange(16)
    swap = identity[a.numpy()] != identity[b.numpy()]
    a, b = a[swap], b[swap]
    x = m.generate_rows(lat.static_index[a], lat.transient_index[b], 16)
    background = x.permute(0, 2, 1, 3, 4).flatten(2).median(dim=2).values * 255   # objects are small
    colour = lambda idx: torch.tensor([BACKGROUNDS[int(identity[i])] for i in idx]).float()  # noqa: E731
    err_static_src = (background - colour(a)).abs().mean(1).mean()
    err_transient_src = (background - colour(b)).abs().mean(1).mean()
    assert err_static_src < err_transient_src - 2.0, (err_static_src, err_transient_src)

    def objects(v, bg):  # pixels far from the background colour
        return ((v * 255 - bg[:, None, :, None, None]).abs().sum(2) > 60).float()

    def iou(p, q):
        return float((p * q).sum() / (p + q).clamp(max=1).sum())

    fg = objects(x, colour(a))
    follows_transient, follows_static = iou(fg, objects(real[b], colour(b))), iou(fg, objects(real[a], colour(a)))
    assert follows_transient > 1.5 * follows_static, (follows_transient, follows_static)
