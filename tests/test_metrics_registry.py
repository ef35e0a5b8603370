"""Registry-wide metric checks: every registered metric states the facts the report, the drift check
and the pipeline read from its class (direction, display order, drift band, real-data bound, how
"best" is chosen, the pinned weights it loads), and result keys map back to their class."""

from __future__ import annotations

import pytest
import torch
import yaml

from benchmark.evaluate import KINDS
from benchmark.metrics import facts
from benchmark.registry import METRICS
from benchmark.utils import repo_root

ALL_METRICS = METRICS.list()


@pytest.mark.parametrize("name", ALL_METRICS)
def test_metric_states_its_facts(name):
    cls = METRICS.get(name)
    assert cls.kind in KINDS and cls.tasks and set(cls.tasks) <= {"synthesis", "prediction"}
    assert isinstance(cls.higher_is_better, bool)
    assert isinstance(cls.display_order, int)
    band = cls.drift_band
    assert band is None or (set(band) == {"abs", "rel"} and all(v >= 0 for v in band.values()))
    assert cls.best_rule in ("direction", "closest_to_real", "none")
    assert isinstance(cls.real_bound, bool)
    if cls.kind in ("paired", "likelihood"):
        assert not cls.real_bound, "a paired or likelihood metric has no score of the real clips alone"
    pinned = set(yaml.safe_load((repo_root() / "manifests" / "weights.yaml").read_text())["weights"])
    if getattr(cls, "requires_weights", False):
        assert cls.weight_names and set(cls.weight_names) <= pinned, \
            f"{name}: weight_names must list its manifests/weights.yaml entries (they key the evaluate stage)"
    assert facts.metric_class(name) is cls


def test_result_keys_map_to_their_metric():
    assert facts.metric_class("psnr_best").name == "psnr"
    assert facts.metric_class("fcs_real").name == "fcs"             # the `benchmark score` bound key
    assert facts.metric_class("is_frame").name == "is_frame"         # the longest registered prefix
    assert facts.direction("lpips_mean") is False and facts.direction("ssim_worst") is True
    assert facts.direction("made_up", declared=True) is True and facts.direction("made_up") is None


# -- order invariance: a metric of one set (and each side of a two-set metric) must not depend on the
# order the clips arrive in. Real clips arrive sorted by class (UCF101 file order); a metric that fills
# splits or repeat blocks in arrival order scores such a set far from a shuffled copy of it.

CLASSES = 8


def _class_of(videos):
    """Each frame's class ``round(first pixel * 9)`` (the clips below encode their class there)."""
    return (videos[:, :, 0, 0, 0] * 9).round().long().clamp(0, CLASSES - 1)  # (N, T)


class _Weights:
    comparable, note, mode, sha256 = False, "stand-in", "random", None


class _FrameLogits:
    """Stand-in for the FID Inception: frame logits that say the frame's class (no network)."""

    weights = _Weights()

    def logits(self, videos):
        return torch.nn.functional.one_hot(_class_of(videos).flatten(), 1008).double() * 20.0

    def protocol(self):
        return {}


class _ClipProbs:
    """Stand-in for C3D: clip probabilities that say the clip's class."""

    name, dim, comparable = "stand-in", CLASSES, False
    weights = mean_weights = _Weights()

    def __call__(self, videos):
        return torch.softmax(torch.nn.functional.one_hot(_class_of(videos)[:, 0], CLASSES).double() * 10.0, 1)

    def protocol(self):
        return {}


class _Features:
    """Stand-in feature network for Fréchet metrics: the first pixels of each clip."""

    name, dim, backend = "stand-in", 6, "stub"
    weights = _Weights()

    def __call__(self, videos):
        return videos.flatten(1)[:, : self.dim].double()

    def protocol(self):
        return {}


class _Relu33(torch.nn.Module):
    """Stand-in for VGG16 relu3_3: ``(M, 3, H, W) -> (M, 256, H/4, W/4)`` without weights."""

    weights = _Weights()

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 4).repeat(1, 86, 1, 1)[:, :256]

    def protocol(self):
        return {}


class _ShapesHeads:
    """Stand-in for the moving-shapes evaluator: (features, heads) that say the clip's class."""

    name, dim, backend = "stand-in", 6, "stub"
    weights = _Weights()

    def outputs(self, videos):
        c = _class_of(videos)[:, 0]
        heads = {"shapes": torch.nn.functional.one_hot(c % 4, 6).double() * 0.99 + 0.01 / 6,
                 "directions": torch.nn.functional.one_hot(c // 4, 10).double() * 0.99 + 0.01 / 10}
        return videos.flatten(1)[:, : self.dim].double(), heads

    def __call__(self, videos):
        return self.outputs(videos)[0]

    def protocol(self):
        return {}


def _build_cheap(name):
    """Each metric of one set or two sets, built on a stand-in network (seconds, no weights)."""
    from benchmark.metrics.inception_score import FrameFrechetInceptionDistance, FrameInceptionScore
    from benchmark.metrics.mcs import MotionConsistencyScore
    from benchmark.metrics.video_is import VideoInceptionScore

    return {"fcs": lambda: METRICS.build("fcs"),
            "is_frame": lambda: FrameInceptionScore(extractor=_FrameLogits()),
            "is_video": lambda: VideoInceptionScore(extractor=_ClipProbs(), samples=16, repeats=10),
            "fvd": lambda: METRICS.build("fvd", extractor=_Features()),
            "fid_frame": lambda: FrameFrechetInceptionDistance(extractor=_Features()),
            "mcs": lambda: MotionConsistencyScore(network=_Relu33()),
            "fvd_shapes": lambda: METRICS.build("fvd_shapes", extractor=_ShapesHeads()),
            "is_shapes": lambda: METRICS.build("is_shapes", extractor=_ShapesHeads(), splits=4),
            }[name]()


SET_METRICS = [n for n in ALL_METRICS if METRICS.get(n).kind in ("intrinsic", "set")]


def _class_sorted_clips(per_class=12, t=3):
    """``(CLASSES * per_class, t, 1, 12, 12)`` clips sorted by class; pixels vary within a class."""
    g = torch.Generator().manual_seed(0)
    cls = torch.arange(CLASSES).repeat_interleave(per_class).float() / 9
    clips = torch.rand(len(cls), t, 1, 12, 12, generator=g) * 0.04
    clips[:, :, :, 0, 0] = 0
    return (clips + cls[:, None, None, None, None]).clamp(0, 1)


@pytest.mark.parametrize("name", SET_METRICS)
def test_metric_of_a_set_does_not_depend_on_arrival_order(name):
    sorted_clips = _class_sorted_clips()
    shuffled = sorted_clips[torch.randperm(len(sorted_clips), generator=torch.Generator().manual_seed(1))]
    values = []
    for clips in (sorted_clips, shuffled):
        m = _build_cheap(name)
        for i in range(0, len(clips), 32):  # streamed in batches, as the pipeline does
            batch = clips[i:i + 32]
            if METRICS.get(name).kind == "set":
                m.update(batch, real=True)
                m.update(batch.flip(-1), real=False)
            else:
                m.update(batch)
        values.append(m.compute()[name].value)
    if METRICS.get(name).kind == "set" or name == "fcs":  # sums over clips: equal up to round-off
        assert values[0] == pytest.approx(values[1], rel=1e-9, abs=1e-9)
    else:  # splits / repeat blocks are random draws: equal within noise (in arrival order a split or a
        # block of 16 sorted clips holds 1-2 of the 8 classes: IS <= 2)
        assert values[0] == pytest.approx(values[1], rel=0.15) and min(values) > 3.0, values
