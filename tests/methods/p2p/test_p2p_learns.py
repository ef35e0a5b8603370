"""P2P learns: on the two-ended moving-shapes (start and end frame given) the ``cpu`` profile beats
copy_last (which repeats the start frame) on best-of-k SSIM."""

from __future__ import annotations

import pytest

from tests.methods.learning import assert_beats_copy_last


@pytest.mark.slow
def test_cpu_profile_beats_copy_last_two_ended(tmp_path):
    assert_beats_copy_last("p2p", tmp_path, two_ended=True)
