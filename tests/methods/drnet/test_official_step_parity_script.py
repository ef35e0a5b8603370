"""``benchmarks/official_step_parity.py`` runs our side without an official checkout and says how
to get the comparison (the timed comparison itself needs the official code: not in the tests)."""

from __future__ import annotations

import pytest

from tests.methods.official_format import official_step_parity_script

_script = official_step_parity_script


def test_times_ours_alone_and_names_the_official_repository(capsys):
    _script().main(["drnet/kth", "--batch", "2", "--steps", "1", "--warmup", "0", "--threads", "1"])
    out = capsys.readouterr().out
    assert "ours" in out and "ms/step" in out
    assert "--official-dir" in out and "https://github.com/edenton/drnet-py" in out
    assert "ratio" not in out


def test_a_wrong_official_dir_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no models/dcgan_unet_64.py"):
        _script().main(["drnet/kth", "--batch", "2", "--steps", "1", "--official-dir", str(tmp_path)])
