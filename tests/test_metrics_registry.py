"""Registry-wide metric checks: every registered metric states the facts the report, the drift check
and the pipeline read from its class (direction, display order, drift band, real-data bound, how
"best" is chosen, the pinned weights it loads), and result keys map back to their class."""

from __future__ import annotations

import pytest
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
    assert cls.best_rule in ("direction", "closest_to_real")
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
