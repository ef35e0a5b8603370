"""fvd_shapes, is_shapes, factors_shapes: math, streaming, registry facts, where they run, labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.data.moving_shapes import MovingShapesConfig, generate_split
from benchmark.metrics.functional.frechet import frechet_distance_features
from benchmark.metrics.functional.inception_score import inception_score
from benchmark.metrics.shapes import (IS_FACTORS, ShapesClassifierScore, ShapesFactorConsistency,
                                      ShapesFrechetDistance)
from benchmark.evaluate import applicable_metrics
from benchmark.registry import METRICS

NAMES = ("fvd_shapes", "is_shapes", "factors_shapes")


@pytest.fixture(scope="module")
def clips():
    """16 test and 16 val clips of the default moving-shapes, float (N, 20, 3, 64, 64)."""
    cfg = MovingShapesConfig(split_sizes={"train": 1, "val": 16, "test": 16})
    return tuple(torch.from_numpy(generate_split(cfg, s)[0]).float() / 255 for s in ("test", "val"))


@pytest.fixture(scope="module")
def evaluator():
    from benchmark.metrics.extractors.shapes_evaluator import ShapesEvaluator

    return ShapesEvaluator()


def test_registered_with_their_facts():
    kinds = {"fvd_shapes": ("set", False, ("synthesis", "prediction")),
             "is_shapes": ("intrinsic", True, ("synthesis", "prediction")),
             "factors_shapes": ("paired", True, ("prediction",))}
    for name, (kind, higher, tasks) in kinds.items():
        cls = METRICS.get(name)
        assert (cls.kind, cls.higher_is_better, cls.tasks) == (kind, higher, tasks)
        assert cls.requires_weights and cls.weights_shipped and cls.datasets == ("moving-shapes",)


def test_run_by_default_on_moving_shapes_only():
    for task in ("synthesis", "prediction"):
        on = applicable_metrics(task, dataset="moving-shapes")
        assert {"fvd_shapes", "is_shapes"} <= set(on)
        assert ("factors_shapes" in on) == (task == "prediction")
        assert "fvd" not in on and "lpips" not in on  # downloaded weights stay opt-in
        for other in ("kth", "bair", None):
            assert not set(NAMES) & set(applicable_metrics(task, dataset=other))
        assert applicable_metrics(task, ["fvd_shapes", "ssim"], dataset="kth") == (["ssim"] if task == "prediction" else [])
    assert applicable_metrics("synthesis", ["fvd_shapes"]) == ["fvd_shapes"]  # asked for, no dataset: allowed


def test_fvd_shapes_is_the_frechet_distance_of_the_features_and_streams(clips, evaluator):
    test, val = clips
    m = ShapesFrechetDistance(extractor=evaluator)
    for part in test.split(5):
        m.update(part[:, :16], real=False)
    m.update(val[:, :16], real=True)
    got = m.compute()["fvd_shapes"]
    want = frechet_distance_features(evaluator(val), evaluator(test))
    assert got.value == pytest.approx(want, rel=1e-6)  # float32 convolutions differ in the last bits by batch size
    assert got.extra["n_real"] == got.extra["n_fake"] == 16 and got.extra["comparable"]
    assert "moving-shapes" in got.extra["scope"] and "never" in got.extra["scope"]
    same = ShapesFrechetDistance(extractor=evaluator)
    same.update(val, real=True)
    same.update(val, real=False)
    assert same.compute()["fvd_shapes"].value < 1e-6
    tiny = ShapesFrechetDistance(extractor=evaluator)
    tiny.update(val[:1], real=True)
    tiny.update(val[:3], real=False)
    assert math.isnan(tiny.compute()["fvd_shapes"].value)  # too few clips: no value, no crash


def test_is_shapes_is_the_inception_score_of_the_joint_classes(clips, evaluator):
    test, _ = clips
    m = ShapesClassifierScore(extractor=evaluator)
    p = m.probs(test)
    assert p.shape == (16, 6 * 10) and torch.allclose(p.sum(1), torch.ones(16, dtype=torch.float64))
    assert IS_FACTORS == ("shapes", "directions")
    m.update(test[:7])
    m.update(test[7:])
    got = m.compute()["is_shapes"]
    same_batches = torch.cat([m.probs(test[:7]), m.probs(test[7:])])
    assert got.value == pytest.approx(inception_score(same_batches, splits=1)[0], rel=1e-12)
    assert got.value == pytest.approx(inception_score(p, splits=1)[0], rel=1e-6)
    assert got.value > 3 and "moving-shapes" in got.extra["scope"]
    grey = ShapesClassifierScore(extractor=evaluator)
    grey.update(torch.full((8, 16, 3, 64, 64), 0.5))
    assert grey.compute()["is_shapes"].value == pytest.approx(1.0)  # identical clips: IS = 1


def test_factor_consistency(clips, evaluator):
    test, _ = clips
    future = test[:, 5:]
    m = ShapesFactorConsistency(extractor=evaluator)
    m.update(future[:, None], future)
    out = m.compute()
    assert set(out) == {f"factors_shapes_{r}" for r in ("best", "mean", "worst", "static", "motion")}
    assert all(v.value == 1.0 for v in out.values())  # the true future agrees with itself
    # k = 3 samples: the truth, a frozen copy of the last context frame, a grey clip
    frozen = test[:, 4:5].expand_as(future)
    samples = torch.stack([future, frozen, torch.full_like(future, 0.5)], 1)
    a, b = ShapesFactorConsistency(extractor=evaluator), ShapesFactorConsistency(extractor=evaluator)
    a.update(samples[:8], future[:8])
    b.update(samples[8:], future[8:])
    a.merge_state(b)
    whole = ShapesFactorConsistency(extractor=evaluator)
    whole.update(samples, future)
    merged, direct = a.compute(), whole.compute()
    assert all(merged[k].value == pytest.approx(direct[k].value) for k in direct)
    assert direct["factors_shapes_best"].value == 1.0
    assert direct["factors_shapes_worst"].value < direct["factors_shapes_mean"].value < 1.0
    assert direct["factors_shapes_mean"].extra["samples_per_sequence"] == 3
    # frozen frames keep the content but not the motion
    copy = ShapesFactorConsistency(extractor=evaluator)
    copy.update(frozen[:, None], future)
    c = copy.compute()
    assert c["factors_shapes_static"].value > c["factors_shapes_motion"].value
    agree = c["factors_shapes_mean"].extra["factor_agreement"]
    assert agree["background"] == 1.0 and set(agree) == {"background", "count", "shapes", "colours", "sizes",
                                                         "directions", "speeds"}


def test_protocols_say_what_the_numbers_are_comparable_with(evaluator):
    for cls in (ShapesFrechetDistance, ShapesClassifierScore, ShapesFactorConsistency):
        p = cls(extractor=evaluator).protocol()
        assert "within vidbench on moving-shapes" in p["scope"] and "published" in p["scope"]
        assert p["features"]["weights"]["verified"] and p["comparable"]
    rnd = ShapesFrechetDistance(weights="random")
    assert not rnd.comparable and rnd.protocol()["features"]["weights"]["mode"] == "random"


def test_the_pipeline_scores_moving_shapes_with_them(small_data_root, tmp_path):
    from benchmark.pipeline import RunSpec, run_method, run_real
    from benchmark.utils import read_json
    from tests.conftest import SMALL_SPLITS

    def spec(method):
        return RunSpec(method=method, dataset="moving-shapes", out=tmp_path, data_root=small_data_root,
                       progress=False, dataset_options={"split_sizes": SMALL_SPLITS})

    res = read_json(run_method(spec("copy_last")))["tasks"]["prediction"]
    for key in ("fvd_shapes", "is_shapes", "factors_shapes_best", "factors_shapes_motion"):
        assert key in res["metrics"] and res["metrics"][key]["extra"]["comparable"]
    assert "moving-shapes" in res["metric_protocols"]["fvd_shapes"]["scope"]
    m = res["metrics"]
    # copying the last context frame keeps the content and loses the motion
    assert m["factors_shapes_static"]["value"] > m["factors_shapes_motion"]["value"]
    real = read_json(run_real(spec("real")))["tasks"]
    assert {"fvd_shapes", "is_shapes"} <= set(real["synthesis"]["metrics"])
    assert "factors_shapes_best" not in real["prediction"]["metrics"]  # paired: no real-data row
    assert np.isfinite(real["synthesis"]["metrics"]["fvd_shapes"]["value"])


def test_their_facts_for_the_report_drift_check_and_cache_keys():
    from benchmark.metrics import facts
    from benchmark.stages.cache import weights_identity
    from benchmark.utils import repo_root, sha256_file

    assert facts.metric_class("factors_shapes_motion").name == "factors_shapes"
    assert facts.metric_class("is_shapes").name == "is_shapes" and facts.metric_class("fvd_shapes").name == "fvd_shapes"
    assert facts.best_rule("is_shapes") == "closest_to_real"  # the real clips' value is the bound
    assert facts.direction("fvd_shapes") is False and facts.direction("factors_shapes_best") is True
    assert not METRICS.get("factors_shapes").real_bound and METRICS.get("fvd_shapes").real_bound
    shipped = sha256_file(repo_root() / "benchmark" / "assets" / "moving_shapes_evaluator.safetensors")
    for name in NAMES:   # the shipped file's hash keys the evaluate stage
        assert weights_identity([name], "pinned") == {"moving_shapes_evaluator": shipped}
    assert weights_identity(["fvd_shapes"], "random")["moving_shapes_evaluator"] != shipped


def test_feature_cache_keys_on_the_evaluator_weights_and_source(tmp_path, monkeypatch, evaluator):
    from benchmark import sources
    from benchmark.metrics.extractors import shapes_evaluator as SE
    from benchmark.metrics.extractors.cache import FeatureCache

    cache = FeatureCache(tmp_path)
    pinned = cache.folder(evaluator)
    nets = [SE.ShapesEvaluator(weights="random"), SE.ShapesEvaluator(network=SE.random_network(0)),
            SE.ShapesEvaluator(network=SE.random_network(1))]
    assert len({pinned, *map(cache.folder, nets)}) == 4   # another network never reads the pinned file's features
    v = torch.rand(2, 16, 3, 32, 32)
    first = cache(evaluator, v)
    assert torch.equal(cache(evaluator, v), first) and (cache.hits, cache.misses) == (1, 1)
    edited = SE.__file__                 # an edit of the network code: a fresh folder
    real_read = sources.read_source
    monkeypatch.setattr(sources, "read_source",
                        lambda p: real_read(p) + (b"\n# edited\n" if str(p) == edited else b""))
    assert FeatureCache(tmp_path).folder(evaluator) != pinned
