"""``benchmarks/official_step_parity.py p2p/mmnist``: our P2P step at the paper's sizes runs without
an official checkout and names the repository to compare with; a wrong ``--official-dir`` is a
clear error (the timed comparison itself needs yccyenchicheng/p2pvg: not in the tests)."""

from __future__ import annotations

import pytest

from tests.methods.official_format import official_step_parity_script

_script = official_step_parity_script


@pytest.mark.slow  # one step of the paper-size model over a 30-frame clip: several seconds
def test_p2p_times_ours_alone_and_names_the_official_repository(capsys):
    _script().main(["p2p/mmnist", "--batch", "2", "--steps", "1", "--warmup", "0", "--threads", "1"])
    out = capsys.readouterr().out
    assert "P2P dcgan-64, 30 frames" in out and "ms/step" in out
    assert "https://github.com/yccyenchicheng/p2pvg" in out and "ratio" not in out


def test_p2p_wrong_official_dir_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no models/lstm.py"):
        _script().main(["p2p/mmnist", "--batch", "2", "--steps", "1", "--official-dir", str(tmp_path)])
