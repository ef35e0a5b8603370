"""DRNet learns: both stages of the ``cpu`` profile, then the pose LSTM's rollout beats copy_last on
SSIM on moving-shapes."""

from __future__ import annotations

import pytest

from tests.methods.learning import assert_beats_copy_last


@pytest.mark.slow
def test_cpu_profile_beats_copy_last(tmp_path):
    assert_beats_copy_last("drnet", tmp_path)
