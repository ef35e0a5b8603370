"""SVG-LP and SVG-FP learn: the ``cpu`` profile beats copy_last on best-of-k SSIM on moving-shapes."""

from __future__ import annotations

import pytest

from tests.methods.learning import assert_beats_copy_last


@pytest.mark.slow
@pytest.mark.parametrize("name", ["svg_lp", "svg_fp"])
def test_cpu_profile_beats_copy_last(name, tmp_path):
    assert_beats_copy_last(name, tmp_path)
