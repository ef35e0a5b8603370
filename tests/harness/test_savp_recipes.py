"""SAVP's recipes: registered with the paper's rows, the published numbers carry their source and
[unverified], rows of methods not in this build are reported instead of failing the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.reproduce import RecipeContext, RecipeOutcome, get_recipe


@pytest.mark.parametrize("name,dataset", [("savp_curves_bair", "bair"), ("savp_curves_kth", "kth"),
                                          ("savp_sv2p_fvd", "bair")])
def test_registered_with_rows_and_sources(name, dataset):
    r = get_recipe(name)
    assert r.datasets == {"smoke": "moving-shapes", "paper": dataset} and r.task == "prediction"
    assert {"savp", "sv2p", "svg_lp"} <= {v.method for v in r.rows()}
    assert r.reported and all("[unverified]" in x.note and "2002.09219" in x.source for x in r.reported)


def test_fvd_table_numbers():
    fvd = {(x.row, x.dataset): x.value for x in get_recipe("savp_sv2p_fvd").reported}
    assert fvd[("savp", "bair")] == 116.4 and fvd[("sv2p", "bair")] == 262.5
    assert fvd[("savp", "kth")] == 183.7 and fvd[("sv2p", "kth")] == 636.0


def test_unregistered_rows_are_reported_not_run(tmp_path: Path):
    from benchmark.recipes.savp import _available, _dataset_options

    r = get_recipe("savp_curves_bair")
    outcome = RecipeOutcome()
    fake = r.__class__(**{**r.__dict__, "methods": ("savp", "no_such_method")})
    kept = _available(fake, outcome)
    assert [v.method for v in kept.rows()] == ["savp"] and "no_such_method" in outcome.failed
    ctx = _dataset_options(RecipeContext(profile="paper", dataset="kth", out=tmp_path))
    assert ctx.dataset_options == {"split": "savp"}  # SAVP's KTH protocol: persons 17-25 at test
