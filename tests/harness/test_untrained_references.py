"""Reference rows: each trained synthesis method's network at its seeded initialisation
(``<method>@init``) and the uniform-grey floor, so a reader sees the scale a trained number sits on;
reference rows are shown but never ranked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.methods import Method
from benchmark.registry import METHODS
from benchmark.report.runs import load_runs
from benchmark.run import run_benchmark, wants_untrained_reference
from benchmark.utils import read_json
from tests.conftest import tiny_options


@dataclass(frozen=True)
class _Cfg:
    steps: int = 30


class _Brightener(Method):
    """A one-parameter "generator": a uniform video of brightness sigmoid(b). Training moves b towards
    the mean training pixel, so the trained and untrained samples differ in a way every metric sees."""

    tasks = ("synthesis",)
    trainable = True
    paper = "test"
    profiles = {"smoke": lambda spec: _Cfg(), "cpu": lambda spec: _Cfg(), "paper": lambda spec: _Cfg()}

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.b = nn.Parameter(torch.randn(()) * 3)  # seeded by the harness at construction

    def fit(self, data, run_dir: Path, *, seed: int, resume=False, progress=True, stage="train"):
        target = torch.from_numpy(np.array(data.videos[:4])).float().div(255).mean()
        opt = torch.optim.SGD([self.b], lr=50.0)
        for _ in range(self.config.steps):
            opt.zero_grad()
            (torch.sigmoid(self.b) - target).pow(2).backward()
            opt.step()
        return {}

    def generate(self, cond, *, seed):
        c, h, w = self.spec.channels, *self.spec.resolution
        return torch.sigmoid(self.b).detach().expand(cond.batch_size, cond.num_frames, c, h, w).clone()


def _run(root, out, names, **kw):
    return run_benchmark(names, "moving-shapes", out=out, data_root=root, dataset_options=tiny_options(),
                         metrics=["fcs", "fvd_shapes"], progress=False, **kw)


def test_trained_synthesis_methods_get_an_untrained_reference_that_never_ranks(tiny_data_root, tmp_path,
                                                                              register_method):
    register_method("brightener", _Brightener)
    assert wants_untrained_reference("brightener") and not wants_untrained_reference("uniform_grey")
    assert not wants_untrained_reference("copy_last")
    assert _run(tiny_data_root, tmp_path, "brightener,uniform_grey", report=True) == 0
    runs = tmp_path / "runs" / "moving-shapes"
    ref = read_json(runs / "brightener@init" / "smoke" / "seed0" / "results.json")
    assert (ref["method"], ref["reference"], ref["base_method"]) == ("brightener@init", "untrained", "brightener")
    assert read_json(runs / "brightener@init" / "smoke" / "seed0" / "train" / "stage.json")["summary"]["untrained"]
    assert not (runs / "brightener@init" / "smoke" / "seed0" / "train" / "model.pt").exists()
    assert not (runs / "uniform_grey@init").exists()
    trained = read_json(runs / "brightener" / "smoke" / "seed0" / "results.json")
    value = lambda r: r["tasks"]["synthesis"]["metrics"]["fvd_shapes"]["value"]  # noqa: E731
    assert value(trained) != value(ref)  # the reference is the network before fit, not after

    # The report labels it and never marks it best, even where it has the best number.
    loaded = load_runs("moving-shapes", tmp_path / "runs", profile="smoke")
    labels = {r.label() for r in loaded}
    assert {"brightener (untrained)", "uniform_grey (grey floor)", "brightener"} <= labels
    index = (tmp_path / "reports" / "moving-shapes" / "index.html").read_text()
    assert "brightener (untrained)" in index and "reference-badge" in index


def test_untrained_reference_is_the_seeded_initialisation(tiny_data_root, tmp_path, register_method):
    """Same seed -> same untrained weights, whatever was built before in the process; another seed differs."""
    register_method("brightener", _Brightener)
    from benchmark.stages.spec import RunSpec, build_method, open_dataset

    spec = RunSpec(method="brightener", dataset="moving-shapes", data_root=tiny_data_root,
                   dataset_options=tiny_options())
    ds = open_dataset(spec)
    first = build_method(spec, ds).b.item()
    torch.rand(100)  # the global RNG moves on
    assert build_method(spec, ds).b.item() == first
    spec.seed = 1
    assert build_method(spec, ds).b.item() != first


def test_no_untrained_references_flag(tiny_data_root, tmp_path, register_method):
    register_method("brightener", _Brightener)
    assert _run(tiny_data_root, tmp_path, "brightener", report=False, untrained_references=False) == 0
    assert not (tmp_path / "runs" / "moving-shapes" / "brightener@init").exists()


def test_uniform_grey_is_grey(tiny_data_root):
    from benchmark.data import load_dataset
    from benchmark.methods import Conditioning, DataSpec

    spec = DataSpec.of(load_dataset("moving-shapes", tiny_data_root, **tiny_options()), ("synthesis",))
    grey = METHODS.get("uniform_grey").from_profile("cpu", spec)
    out = grey.sample("synthesis", Conditioning(2, 4), seed=0)
    assert out.shape == (2, 4, 3, 32, 32) and torch.all(out == 0.5)


def test_a_method_gets_the_dataset_options_it_needs_where_the_dataset_accepts_them():
    """P2P's two-ended protocol is a moving-shapes option: `--methods all` runs it with that option
    (recorded in its manifest) instead of skipping it; options given explicitly win."""
    from benchmark.stages.spec import method_dataset_options

    assert method_dataset_options("p2p", "moving-shapes", {"size": 32}) == {"two_ended": True, "size": 32}
    assert method_dataset_options("p2p", "moving-shapes", {"two_ended": False}) == {"two_ended": False}
    assert method_dataset_options("svg_lp", "moving-shapes") == {}


class _NeedsFit(_Brightener):
    """Cannot sample before fit (like vgan_ae_gmm's GMM): its reference is noted and leaves no folder."""

    def generate(self, cond, *, seed):
        if not getattr(self, "fitted", False):
            raise RuntimeError("not fitted")
        return super().generate(cond, seed=seed)

    def fit(self, data, run_dir, **kw):
        self.fitted = True
        return super().fit(data, run_dir, **kw)


def test_a_method_that_cannot_sample_untrained_leaves_no_reference_folder(tiny_data_root, tmp_path, register_method):
    register_method("needs_fit", _NeedsFit)
    assert _run(tiny_data_root, tmp_path, "needs_fit", report=False) == 0
    runs = tmp_path / "runs" / "moving-shapes"
    assert (runs / "needs_fit" / "smoke" / "seed0" / "results.json").exists()
    assert not (runs / "needs_fit@init").exists()


class _AidedBrightener(_Brightener):
    @classmethod
    def hand_aid(cls, config):
        return "brightness target set by hand"


def test_a_profiles_hand_aid_is_recorded_and_badged_but_not_on_its_untrained_reference(tiny_data_root, tmp_path,
                                                                                      register_method):
    register_method("aided", _AidedBrightener)
    assert _run(tiny_data_root, tmp_path, "aided", report=True) == 0
    runs = tmp_path / "runs" / "moving-shapes"
    assert read_json(runs / "aided" / "smoke" / "seed0" / "results.json")["hand_aid"] == "brightness target set by hand"
    assert "hand_aid" not in read_json(runs / "aided@init" / "smoke" / "seed0" / "results.json")
    index = (tmp_path / "reports" / "moving-shapes" / "index.html").read_text()
    assert index.count(">hand-written aid</span>") == 1 and "brightness target set by hand" in index


class _GreyEnds(Method):
    """A two-ended "predictor" (needs the dataset's ``two_ended`` option, as P2P) that outputs grey frames:
    worse than copying the start frame on every metric."""

    tasks = ("prediction",)
    paper = "test"
    dataset_options = {"two_ended": True}
    profiles = {"smoke": lambda spec: _Cfg(), "cpu": lambda spec: _Cfg(), "paper": lambda spec: _Cfg()}

    def predict(self, cond, *, seed):
        c, h, w = self.spec.channels, *self.spec.resolution
        return torch.full((cond.batch_size, max(1, cond.num_samples), cond.num_frames, c, h, w), 0.5)


def test_baselines_also_run_on_the_dataset_variant_another_method_needs(tiny_data_root, tmp_path, register_method):
    """With a method that needs a dataset option (P2P's two-ended protocol), the selected copy_last and
    background_fill also run with it (``<baseline>@two_ended``): that protocol's table gets its scale rows, and
    the trivial-copy gate marks a two-ended row no better than the copy as not ranked (‡)."""
    register_method("grey_ends", _GreyEnds)
    assert run_benchmark("grey_ends,copy_last,background_fill", "moving-shapes", out=tmp_path, data_root=tiny_data_root,
                         dataset_options=tiny_options(), metrics=["ssim", "fvd_shapes"], progress=False,
                         profile="cpu") == 0
    runs = tmp_path / "runs" / "moving-shapes"
    variant = read_json(runs / "copy_last@two_ended" / "cpu" / "seed0" / "results.json")
    assert (variant["method"], variant["base_method"], variant["dataset_variant"]) == (
        "copy_last@two_ended", "copy_last", "two_ended")
    assert variant["tasks"]["prediction"]["protocol"]["name"].startswith("two-ended")
    plain = read_json(runs / "copy_last" / "cpu" / "seed0" / "results.json")
    assert not plain["tasks"]["prediction"]["protocol"]["name"].startswith("two-ended")
    assert (runs / "background_fill@two_ended" / "cpu" / "seed0" / "results.json").is_file()
    board = (tmp_path / "reports" / "moving-shapes" / "leaderboard.md").read_text()
    two_ended = board[board.index("two-ended"):]
    assert "| copy_last@two_ended |" in two_ended and "| background_fill (trivial fill) |" in two_ended
    assert "| grey_ends‡ |" in two_ended  # no better than the copy of its start frame: not ranked
    index = (tmp_path / "reports" / "moving-shapes" / "index.html").read_text()
    assert "no better than copy_last on fvd_shapes" in index  # the HTML table's not-ranked note too
