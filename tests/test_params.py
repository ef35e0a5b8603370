"""params.yaml (the DVC matrix's inputs) agrees with the registries: every registered method is in
its ``methods`` list and nothing else is; its datasets are registered."""

from __future__ import annotations

import yaml

from benchmark.registry import DATASETS, METHODS
from benchmark.utils import repo_root


def test_params_methods_are_the_registered_methods():
    params = yaml.safe_load((repo_root() / "params.yaml").read_text())
    listed = params["methods"]
    assert len(listed) == len(set(listed)), "a method is listed twice in params.yaml"
    missing, unknown = set(METHODS.list()) - set(listed), set(listed) - set(METHODS.list())
    assert not missing, f"add {sorted(missing)} to params.yaml's methods (the DVC matrix)"
    assert not unknown, f"params.yaml lists methods that are not registered: {sorted(unknown)}"
    assert set(params["datasets"]) <= set(DATASETS.list())
    assert set(params.get("real_datasets") or []) <= set(DATASETS.list())
