"""DDPAE's bouncing-balls evaluation (recipe ``ddpae_balls``): the velocity accuracy of upstream's
``VelocityMetrics`` in closed form, the ground-truth ball states of the dataset, the method's
component positions, and the recipe end to end on the smoke profile."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmark.data.bouncing_balls import BallVideos, BouncingBalls, BouncingBallsConfig, drawn_centres, render
from benchmark.recipes.ddpae import match_components_to_objects, velocity_errors
from methods.ddpae import config as C
from methods.ddpae.model import DDPAEModel
from methods.common.spatial_transformer import window_centres


def _line(start, velocity, frames: int = 8) -> np.ndarray:
    """``(T, 2)`` positions of uniform motion."""
    return np.asarray(start, float) + np.arange(frames)[:, None] * np.asarray(velocity, float)


def test_velocity_errors_in_closed_form():
    """Two balls in uniform motion, 4 input + 4 predicted frames. Video 0: components listed in the other
    order (matching undoes it); over the predicted frames component 0 (ball 1) is 1.5x too fast, component
    1 (ball 0) turned by 90 degrees at the right speed -> relative error (0.5 + 0) / 2, cosine (1 + 0) / 2.
    Video 1: both components on ball 0 (ambiguous: left out). Velocities over shift = 2 frames."""
    b0, b1 = _line([0.2, 0.2], [0.01, 0.0]), _line([0.8, 0.5], [0.0, 0.02])
    true = np.stack([np.stack([b0, b1], 1)] * 2)                      # (2, 8, 2, 2)
    c0, c1 = b1.copy(), b0.copy()
    c0[4:] = b1[3] + np.arange(1, 5)[:, None] * np.array([0.0, 0.03])  # 1.5x the speed from frame 4 on
    c1[4:] = b0[3] + np.arange(1, 5)[:, None] * np.array([0.0, 0.01])  # 90 degrees turned
    pred = np.stack([np.stack([c0, c1], 1), np.stack([b0, b0 + 1e-3], 1)])
    res = velocity_errors(pred, true, context=4)
    # frame 4's velocity is x[4] - x[2], one step of the input motion and one predicted: component 0
    # (0, 0.05) vs (0, 0.04); component 1 (0.01, 0.01) vs (0.02, 0)
    assert res["relative_error"][0] == pytest.approx((0.25 + 1 - np.sqrt(0.5)) / 2)
    assert res["cosine"][0] == pytest.approx((1 + np.sqrt(0.5)) / 2)
    assert res["relative_error"][1:] == pytest.approx([0.25] * 3)
    assert res["cosine"][1:] == pytest.approx([0.5] * 3)
    assert res["count"].tolist() == [2] * 4 and res["ambiguous"] == 1


def test_velocity_errors_are_exact_for_the_truth_and_skip_resting_objects():
    true = np.stack([np.stack([_line([0.3, 0.3], [0.01, -0.02]), _line([0.6, 0.6], [0.0, 0.0])], 1)])
    res = velocity_errors(true[:, :, ::-1], true, context=3)   # the truth, components in another order
    assert res["relative_error"] == pytest.approx([0.0] * 5) and res["cosine"] == pytest.approx([1.0] * 5)
    assert res["count"].tolist() == [1] * 5                    # the resting ball has no direction: skipped
    still = velocity_errors(np.zeros((1, 8, 1, 2)) + [0.3, 0.3], true, context=3)  # a component that never moves
    assert still["count"].tolist() == [0] * 5 and np.isnan(still["relative_error"]).all()


def test_velocity_errors_refuse_bad_shapes():
    with pytest.raises(ValueError, match="more components"):
        velocity_errors(np.zeros((1, 8, 3, 2)), np.zeros((1, 8, 2, 2)), context=4)
    with pytest.raises(ValueError, match="shift"):
        velocity_errors(np.zeros((1, 8, 2, 2)), np.zeros((1, 8, 2, 2)), context=1)
    with pytest.raises(ValueError, match="equal N, T"):
        velocity_errors(np.zeros((1, 8, 2, 2)), np.zeros((1, 7, 2, 2)), context=4)


def test_matching_picks_the_nearest_object_over_the_input_frames():
    true = np.array([[[[0.1, 0.1], [0.9, 0.9], [0.5, 0.5]]]])       # (1, 1, 3, 2): three objects, one frame
    match, amb = match_components_to_objects(np.array([[[[0.85, 0.8], [0.2, 0.1]]]]), true)
    assert match.tolist() == [[1, 0]] and amb.tolist() == [False]
    match, amb = match_components_to_objects(np.array([[[[0.85, 0.8], [0.8, 0.9]]]]), true)
    assert match.tolist() == [[1, 1]] and amb.tolist() == [True]


def _centroid(image: np.ndarray) -> np.ndarray:
    """``(x, y)`` intensity centroid of ``(H, W)`` in [0, 1] image coordinates (pixel i's centre (i + 0.5) / W)."""
    h, w = image.shape
    ys, xs = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
    total = image.sum()
    return np.array([(image.sum(0) * xs).sum() / total, (image.sum(1) * ys).sum() / total])


def test_ball_centres_are_where_the_balls_are_drawn():
    """A lone ball's disk is symmetric about its drawn centre: the pixels' centroid is the state."""
    cfg = BouncingBallsConfig(num_balls=1, size=64)
    frames = render(np.array([[[123.0, 456.0]], [[700.0, 90.0]]]), cfg)
    for frame, pos in zip(frames, ([123.0, 456.0], [700.0, 90.0])):
        assert _centroid(frame[0].astype(float)) == pytest.approx(drawn_centres(np.array(pos), cfg), abs=1e-12)
    ds = BouncingBalls(size=64, split_sizes={"train": 2, "test": 3})
    protocol, ref = ds.reference("prediction")
    states = ds.ball_centres(ref)
    assert states.shape == (3, 20, 4, 2) and states.dtype == np.float64
    assert np.array_equal(ds.ball_centres(ref, [2]), states[2:3])
    assert np.array_equal(states[1], drawn_centres(BallVideos(ds.config, "test", 3, 20).trajectory(1)[0], ds.config))
    res = velocity_errors(states, states, protocol.context_frames)  # the truth scores exactly
    assert np.nanmax(res["relative_error"]) == 0 and np.nanmin(res["cosine"]) == pytest.approx(1.0)
    with pytest.raises(TypeError, match="clips of this dataset"):
        from benchmark.data.base import SplitData
        ds.ball_centres(SplitData(videos=np.zeros((1, 20, 1, 64, 64), np.uint8), meta=[]))


def test_component_positions_are_the_centres_of_the_placed_objects():
    """The pose -> position map (upstream ``calculate_positions``) in the convention of the ball states:
    a uniform object placed at a pose has its pixels' centroid at ``window_centres(pose)`` (to 1/8 pixel:
    bilinear sampling blends the window's edges with the zero padding a little unevenly)."""
    cfg = C.DDPAEConfig(num_components=1, content_dim=4, image_latent_dim=8, hidden_dim=4)
    m = DDPAEModel(cfg).eval()
    m.object_decoder.forward = lambda z: torch.ones(z.shape[0], 1, 32, 32)  # type: ignore[method-assign]
    for pose in ([2.0, 0.3, -0.5], [3.0, -1.2, 0.9]):
        p = torch.tensor([[[pose]]])
        _, comps = m.render(torch.zeros(1, 1, 4), p)
        assert _centroid(comps[0, 0, 0, 0].double().numpy()) == pytest.approx(window_centres(p)[0, 0, 0].numpy(),
                                                                               abs=1 / (8 * 64))


def test_method_exposes_component_positions_of_input_and_predicted_frames(small_dataset):
    from benchmark.registry import METHODS
    from tests.methods.latent_zoo_helpers import prediction_clips, shapes_train

    spec, _ = shapes_train(small_dataset)
    method = METHODS.get("ddpae").from_profile("smoke", spec)
    ctx, fut = prediction_clips(small_dataset, 2)
    pos = method.object_positions(ctx, fut.shape[1])
    assert pos.shape == (2, ctx.shape[1] + fut.shape[1], 2, 2)
    assert torch.allclose(pos, window_centres(method.decompose(ctx, fut.shape[1])["pose"]))
    assert float(pos.min()) >= 0 and float(pos.max()) <= 1


def test_recipe_needs_the_balls_states(tmp_path):
    from benchmark.reproduce import run_recipe
    from benchmark.utils import UserError

    with pytest.raises(UserError, match="only bouncing-balls knows"):
        run_recipe("ddpae_balls", profile="smoke", out=tmp_path, dataset="moving-shapes", progress=False,
                   data_root=tmp_path / "data")


@pytest.mark.slow
def test_balls_recipe_runs_with_the_smoke_profile(tmp_path):
    """~13 s: trains 2 steps, samples and scores 3 test videos at 32x32, then the velocity table from the run's
    weights (the untrained components sit together: every video may be ambiguous, which the record says)."""
    from benchmark.reproduce import get_recipe, run_recipe

    recipe = get_recipe("ddpae_balls")
    assert recipe.datasets["paper"] == "bouncing-balls" and recipe.smoke_overrides == {"num_components": 4}
    page = run_recipe("ddpae_balls", profile="smoke", out=tmp_path, progress=False,
                      overrides={"train.steps": "2", "train.batch_size": "2"},
                      dataset_options={"size": 32, "split_sizes": {"train": 4, "test": 3}})
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"], record["failed"]
    ours = {o["metric"]: o for o in record["ours"] if o["row"] == "ddpae"}
    assert {"psnr", "ssim", "velocity_rel_error", "velocity_cosine", "velocity_rel_error@11",
            "velocity_cosine@20"} <= set(ours)
    assert ours["psnr"]["value"] > 0
    curve_path = next(v for k, v in record["artifacts"].items() if "velocity" in k)
    curve = json.loads(open(curve_path).read())
    assert curve["frames"] == list(range(11, 21)) and curve["videos"] == 3
    assert ours["velocity_cosine"]["n"] == 3 - curve["ambiguous_videos"]
    assert any("left out" in n for n in record["notes"])
    assert not any("trained again" in n for n in record["notes"])  # the run's weights, not a second training
