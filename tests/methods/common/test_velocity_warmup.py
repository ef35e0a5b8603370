"""The velocity net's warm-up stage (``methods.common.velocity_warmup``): it learns the motion of translating
squares on its own, runs as a resumable loop stage in its own folder, and the methods that offer it run it
before their model trains (and refuse it without a velocity net)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.methods import TrainData
from methods.common.velocity_warmup import WARMUP_DIR, two_ended_warmup_loss, velocity_warmup_loss, warm_up_velocity
from methods.common.warp import VelocityNet, carry_forward


def _squares(n: int = 24, t: int = 8, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(n, t, 1, size, size)``: a 4x4 white square on black moving one pixel a frame, right or left;
    and each clip's direction ``(n,)`` (+1 right, -1 left)."""
    rng = np.random.default_rng(seed)
    v = np.zeros((n, t, 1, size, size), np.uint8)
    steps = np.where(rng.random(n) < 0.5, 1, -1)
    for i, step in enumerate(steps):
        x0, y0 = (1 if step > 0 else size - 1 - 4), int(rng.integers(2, size - 6))
        for f in range(t):
            v[i, f, 0, y0:y0 + 4, x0 + step * f:x0 + step * f + 4] = 255
    return v, steps


def _warm(tmp_path, steps: int, resume: bool = False) -> tuple[VelocityNet, dict]:
    torch.manual_seed(0)
    net = VelocityNet(1, 0.3)
    data = TrainData(_squares()[0], {})
    summary = warm_up_velocity(net, data, tmp_path, method="m", seed=0, steps=steps, lr=2e-3, context=3,
                               clip_frames=8, pool=1, divergence_weight=0.0, frames_in=lambda v: v, resume=resume,
                               progress=False, batch_size=8)
    return net, summary


def test_warm_up_learns_the_squares_motion(tmp_path):
    """After the warm-up the moved last context frame predicts the future far better than the still one
    (the loss it starts from: a zero field; an untrained net's last conv is 0), in its own folder, on held-out
    clips; and its field points the way each square moves."""
    videos, directions = _squares(seed=1)
    clips = torch.from_numpy(videos).float() / 255
    net, summary = _warm(tmp_path, steps=300)
    assert summary["steps"] == 300 and (tmp_path / WARMUP_DIR / "checkpoint.pt").is_file()
    with torch.no_grad():
        still = float(velocity_warmup_loss(VelocityNet(1, 0.3), clips, 3, 1, 0.0)[0])
        moved = float(velocity_warmup_loss(net, clips, 3, 1, 0.0)[0])
        field = net.smoothed_field(clips[:, :3])
    assert moved < 0.25 * still, (moved, still)
    # backward warp: a square moving right reads from its left, a field < 0 along x
    on_square = [field[i, 0][clips[i, 2, 0] > 0.5].mean() for i in range(len(clips))]
    assert float((torch.sign(-torch.stack(on_square)) == torch.from_numpy(directions)).float().mean()) > 0.9


def test_a_resumed_run_reloads_the_finished_warm_up(tmp_path):
    """A main stage killed after its warm-up resumes with the warm-up's net from disk, not retrained (nor
    started over from a fresh net); without resume the warm-up trains again, to the same net."""
    first, _ = _warm(tmp_path, steps=30)
    again, summary = _warm(tmp_path, steps=30, resume=True)
    assert summary["start_step"] == 30
    fresh, summary = _warm(tmp_path, steps=30, resume=False)
    assert summary["start_step"] == 0
    for a, b, c in zip(first.state_dict().values(), again.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_warm_up_loss_terms():
    """Summed-over-time MSE of the moved frames plus the weighted divergence; a clip with no future is refused."""
    net = VelocityNet(1, 0.2, width=4)
    clips = torch.rand(2, 5, 1, 8, 8)
    loss, parts = velocity_warmup_loss(net, clips, 2, 1, 3.0)
    moved = carry_forward(clips[:, 1], net.smoothed_field(clips[:, :2]), 3)
    assert torch.allclose(parts["warp_rec"], ((moved - clips[:, 2:]) ** 2).mean() * 3)
    assert torch.allclose(loss, parts["warp_rec"] + 3.0 * parts["divergence"])
    with pytest.raises(ValueError, match="no future"):
        velocity_warmup_loss(net, clips, 5, 1, 0.0)


def test_two_ended_warm_up_learns_the_displacement_between_start_and_end(tmp_path):
    """The two-ended objective (P2P's): the net reads the first and last frame, and the first frame moved ``i / (T - 1)``
    of its field stands for frame ``i``. Exact for the true displacement (a square 7 pixels on in 7 frames), and
    learned by the warm-up: on held-out clips the moved start frame predicts the frames between far better than
    the still one, for squares moving either way; the loop records the objective."""
    videos, directions = _squares(seed=1, size=32)
    clips, directions = torch.from_numpy(videos).float() / 255, torch.from_numpy(directions)
    exact = VelocityNet(1, 1.0, width=4)
    with torch.no_grad():  # tanh(atanh(a)) = a: a constant field of -7 pixels along x (grid units 2 / 31 a pixel)
        exact.net[-1].bias.copy_(torch.tensor([float(torch.atanh(torch.tensor(-7 * 2 / 31))), 0.0]))
    assert float(two_ended_warmup_loss(exact, clips[directions > 0], 1, 0.0)[1]["warp_rec"]) < 1e-6
    assert float(two_ended_warmup_loss(exact, clips[directions < 0], 1, 0.0)[0]) > 0.1
    torch.manual_seed(0)
    net = VelocityNet(1, 1.0)
    warm_up_velocity(net, TrainData(_squares(size=32)[0], {}), tmp_path, method="m", seed=0, steps=300, lr=2e-3,
                     context=1, clip_frames=8, pool=1, divergence_weight=0.0, frames_in=lambda v: v, progress=False,
                     batch_size=8, two_ended=True)
    with torch.no_grad():
        def loss(n: VelocityNet, sel: torch.Tensor) -> float:
            return float(two_ended_warmup_loss(n, clips[sel], 1, 0.0)[0])

        every = torch.ones_like(directions, dtype=torch.bool)
        assert loss(net, every) < 0.5 * loss(VelocityNet(1, 1.0), every)
        for sel in (directions > 0, directions < 0):
            assert loss(net, sel) < 0.75 * loss(VelocityNet(1, 1.0), sel)
    config = (tmp_path / WARMUP_DIR / "train_config.json").read_text()
    assert '"two_ended"' in config and '"context"' not in config
    with pytest.raises(ValueError, match="no frame between"):
        two_ended_warmup_loss(net, clips[:, :2], 1, 0.0)


#: per method: the smoke profile's overrides that give it a velocity net (what the cpu profiles set)
VELOCITY_OVERRIDES = {
    "svg_lp": {"copy_mask": "true", "skip_from": "paper", "copy_velocity": "true", "velocity_loss": "1.0"},
    "savp_vae": {"copy_velocity": "true", "copy_mask_bias": "3", "velocity_loss": "1.0"},
    "sv2p": {"copy_velocity": "true", "velocity_loss": "1.0"},
    "drnet": {"copy_mask": "true", "copy_velocity": "true"},  # its first stage; the net stays fixed after
    "video_vqvae": {"frame_decoder": "warp", "copy_velocity": "true", "velocity_scale": "2"},  # ditto
    "videoflow": {"copy_velocity": "true", "velocity_scale": "2"},  # ditto
}


@pytest.mark.parametrize("name", sorted(VELOCITY_OVERRIDES))
def test_methods_warm_the_velocity_net_up_before_their_model(name, tmp_path):
    """``velocity_warmup`` steps of the velocity net alone (their own checkpoint) run inside ``fit``, at the
    model's resolution, before the model's stage; without a velocity net the option is refused."""
    from benchmark.methods import DataSpec, Protocol, TaskProtocols
    from benchmark.registry import METHODS

    c, p, size = 4, 4, 32
    train = Protocol(f"prediction-{c}to{p}", "prediction", "train", c, p, (size, size), 3)
    test = Protocol(f"prediction-{c}to{p}", "prediction", "test", c, p, (size, size), 3, samples_per_context=2)
    spec = DataSpec("moving-shapes", 3, (size, size), {"prediction": TaskProtocols(train, test)})
    overrides = {**VELOCITY_OVERRIDES[name], "velocity_warmup": "4"}
    method = METHODS.get(name).from_profile("smoke", spec, overrides)
    videos = np.random.default_rng(0).integers(0, 256, (4, c + p, 3, size, size), dtype=np.uint8)
    method.fit(TrainData(videos, {"prediction": train}), tmp_path, seed=0, progress=False, stage=method.stages()[0])
    warm = torch.load(tmp_path / WARMUP_DIR / "checkpoint.pt", weights_only=False)
    assert warm["step"] == 4 and set(warm["modules"]) == {"velocity"}
    assert (tmp_path / "checkpoint.pt").is_file()  # then the model's own stage
    with pytest.raises(ValueError, match="need copy_velocity"):
        METHODS.get(name).from_profile("smoke", spec, {"velocity_warmup": "4"})
