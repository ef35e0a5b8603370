"""The real-data bound of a set metric compares two disjoint real sets (never a set with itself,
which is 0 by construction): the val split where there is one, else two halves of the test clips;
each side's split, n and overlap are recorded, and a same-set value shows as "n/a (same set)"."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from benchmark.data.moving_shapes import MovingShapes
from benchmark.metrics.base import MetricValue, VideoMetric
from benchmark.pipeline import RunSpec, run_real
from benchmark.registry import METRICS
from benchmark.stages.real import real_sides
from benchmark.utils import read_json
from tests.conftest import SMALL_SPLITS


class MeanPixelGap(VideoMetric):
    """A toy set metric: |mean pixel of the real side - mean pixel of the generated side|."""

    kind: ClassVar[str] = "set"
    tasks: ClassVar[tuple[str, ...]] = ("synthesis", "prediction")
    higher_is_better: ClassVar[bool] = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for s in ("real", "fake"):
            self.add_state(f"{s}_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, videos, real: bool) -> None:  # type: ignore[override]
        s = "real" if real else "fake"
        setattr(self, f"{s}_sum", getattr(self, f"{s}_sum") + videos.double().sum())
        setattr(self, f"{s}_n", getattr(self, f"{s}_n") + videos.numel())

    def compute(self):
        gap = float(abs(self.real_sum / self.real_n - self.fake_sum / self.fake_n))
        return {"toy_gap": MetricValue(value=gap, n=int(self.fake_n), higher_is_better=False)}


@pytest.fixture
def toy_set_metric():
    METRICS.register("toy_gap")(MeanPixelGap)
    yield "toy_gap"
    METRICS.unregister("toy_gap")


def _clips(n):
    return np.random.default_rng(0).integers(0, 256, (n, 4, 1, 8, 8), dtype=np.uint8)


def test_no_val_split_gives_two_disjoint_halves():
    fake, real, rec = real_sides(_clips(9), "test")
    assert len(fake) == len(real) == 4 and rec["overlap"] is False
    assert rec["generated_side"] == {"split": "test", "n": 4, "clips": "0..3"}
    assert rec["real_side"] == {"split": "test", "n": 4, "clips": "4..7"}
    assert "halves" in rec["how"]


def test_val_split_is_the_other_side():
    test, val = _clips(6), _clips(10)[6:]
    fake, real, rec = real_sides(test, "test", val)
    assert fake is test and real is val and rec["overlap"] is False
    assert rec["real_side"]["split"] == "val" and rec["real_side"]["n"] == 4 and rec["generated_side"]["n"] == 6


def test_one_clip_is_the_same_set_and_says_so():
    _, _, rec = real_sides(_clips(1), "test")
    assert rec["overlap"] is True and "itself" in rec["how"]
    clips = _clips(2)
    clips[1] = clips[0]  # duplicate clips: the halves overlap by content
    assert real_sides(clips, "test")[2]["overlap"] is True


@pytest.mark.parametrize("has_val", [True, False])
def test_run_real_never_scores_a_set_against_itself(small_data_root, tmp_path, monkeypatch, toy_set_metric, has_val):
    if not has_val:  # a dataset without a val split (BAIR, UCF101, MMNIST, ... )
        monkeypatch.setattr(MovingShapes, "splits", ("train", "test"))
    spec = RunSpec(method="real", dataset="moving-shapes", out=tmp_path, data_root=small_data_root, progress=False,
                   dataset_options={"split_sizes": SMALL_SPLITS}, metrics=["fcs", toy_set_metric])
    res = read_json(run_real(spec))
    task = res["tasks"]["synthesis"]
    gap = task["metrics"]["toy_gap"]
    sides = task["real_bound_sides"]
    assert gap["value"] > 0  # two different real sets: not 0 by construction
    assert gap["extra"]["real_bound_sides"] == sides and not gap["extra"].get("same_set")
    assert task["metric_protocols"]["toy_gap"]["real_bound_sides"] == sides and sides["overlap"] is False
    if has_val:
        assert sides["real_side"] == {"split": "val", "n": SMALL_SPLITS["val"], "clips": "all"}
    else:
        h = SMALL_SPLITS["test"] // 2
        assert sides["generated_side"]["n"] == sides["real_side"]["n"] == h and sides["real_side"]["split"] == "test"
    assert task["metrics"]["fcs"]["n"] == SMALL_SPLITS["test"]  # intrinsic bounds still use every test clip


def test_report_shows_same_set_as_not_applicable(tmp_path):
    from benchmark.report.runs import Run
    from benchmark.report.views import SAME_SET, Assets, build_section

    proto = {"name": "s", "task": "synthesis", "split": "test", "future_frames": 4}
    same = {"value": 0.0, "n": 1, "extra": {"same_set": True, "real_bound_sides": {"how": "itself"}}}
    entry = {"protocol": proto, "metrics": {"mcs": same, "fcs": {"value": 0.8, "n": 1}}}
    members = [(Run(None, {"method": "real", "tasks": {"synthesis": entry}}, "real"), entry)]  # type: ignore[arg-type]
    s = build_section("synthesis", "s", members, Assets(tmp_path), {"real": {}})
    cells = {m["name"]: c for m, c in zip(s["metrics"], s["rows"][0]["cells"])}
    assert cells["mcs"]["value"] == SAME_SET and cells["mcs"]["raw"] is None
    assert cells["fcs"]["value"] == "0.8000"


def test_recipe_real_row_shows_same_set_instead_of_a_reproduced_zero(tmp_path):
    """A paper's "real (bound) 0.0" is not reproduced by a set scored against itself."""
    from benchmark import paths as P
    from benchmark.report.recipe import recipe_rows
    from benchmark.reproduce.model import RecipeContext, RecipeOutcome, Variant, get_recipe
    from benchmark.reproduce.runner import read_ours
    from benchmark.results import REAL
    from benchmark.utils import write_json_atomic

    recipe = get_recipe("navslp_table2")
    ctx = RecipeContext(profile="smoke", dataset="moving-shapes", out=tmp_path)
    same = {"value": 0.0, "n": 1, "extra": {"same_set": True}}
    write_json_atomic(P.run_dir(tmp_path, ctx.dataset, REAL, ctx.profile, 0) / P.RESULTS,
                      {"method": REAL, "tasks": {recipe.task: {"metrics": {"mcs": same}}}})
    ours = read_ours(recipe, Variant(recipe.real_row, REAL), tmp_path, ctx)
    assert [(o.metric, o.value, o.note) for o in ours if o.metric == "mcs"] == [("mcs", None, "n/a (same set)")]
    outcome = RecipeOutcome(ours=ours)
    cells = [c for c in recipe_rows(recipe, ctx, outcome) if c["row"] == recipe.real_row and c["metric"] == "mcs"]
    assert cells and all(c.get("ours_missing") == "n/a (same set)" and "ours" not in c for c in cells)


def test_a_plainly_named_paired_metric_reads_the_best_of_k_value(tmp_path):
    """Recipes name ``ssim``; results.json stores ``ssim_best`` / ``_mean`` / ``_worst``: the cell is the
    best of k (the prediction papers' convention), noted as such; a bare name that exists is read as is."""
    from benchmark import paths as P
    from benchmark.reproduce.model import RecipeContext, Variant, get_recipe
    from benchmark.reproduce.runner import read_ours
    from benchmark.utils import write_json_atomic

    recipe = get_recipe("encodedec_mmnist")
    ctx = RecipeContext(profile="smoke", dataset="moving-shapes", out=tmp_path)
    metrics = {"ssim_best": {"value": 0.8, "n": 4}, "ssim_mean": {"value": 0.7, "n": 4},
               "ssim_worst": {"value": 0.6, "n": 4}, "psnr": {"value": 21.0, "n": 4},
               "psnr_best": {"value": 25.0, "n": 4}}
    write_json_atomic(P.run_dir(tmp_path, ctx.dataset, "encodedec", ctx.profile, 0) / P.RESULTS,
                      {"method": "encodedec", "tasks": {recipe.task: {"metrics": metrics}}})
    ours = {o.metric: o for o in read_ours(recipe, Variant("encodedec", "encodedec"), tmp_path, ctx)}
    assert (ours["ssim"].value, ours["ssim"].note) == (0.8, "best of k")
    assert (ours["psnr"].value, ours["psnr"].note) == (21.0, "")
