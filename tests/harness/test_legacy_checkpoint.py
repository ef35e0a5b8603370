"""The restricted ``torch.save`` reader: whole pickled modules (PyTorch 0.4 legacy format) come back
as inert records with their tensors; anything that could run code is refused before it runs."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from benchmark.legacy_checkpoint import (PickledObject, UnsafeCheckpointError, class_path, load_checkpoint,
                                         module_state)
from tests.methods.official_format import save_svg_checkpoint


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_legacy_module_pickles_load_as_inert_records(tmp_path):
    written = save_svg_checkpoint(tmp_path / "m.pth")
    tree = load_checkpoint(tmp_path / "m.pth")
    enc = tree["encoder"]
    assert isinstance(enc, PickledObject) and class_path(enc) == "models.dcgan_64.encoder"
    assert class_path(enc.fields()["_backend"]) == "torch.nn.backends.thnn.THNNFunctionBackend"
    state = module_state(enc)
    ref = written["encoder"].state_dict()
    assert list(state) == list(ref) and all(torch.equal(state[k], ref[k]) for k in ref)
    assert class_path(tree["opt"].optimizer) == "torch.optim.adam.Adam"  # a class reference, never imported
    assert isinstance(tree["frame_predictor"].hidden[0][0], torch.Tensor)


@pytest.mark.parametrize("zip_format", [False, True])
def test_code_in_the_pickle_is_refused_not_run(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"encoder": torch.zeros(2), "payload": _Evil(str(marker))}, path,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load global 'posix.system'"):
        load_checkpoint(path)
    assert not marker.exists()


def test_plain_pickles_of_other_globals_are_refused(tmp_path):
    path = tmp_path / "p.pth"
    path.write_bytes(pickle.dumps({"f": eval}, protocol=2))
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(path)


def test_state_dicts_in_the_zip_format(tmp_path):
    sd = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2)).state_dict()
    torch.save({"encoder": sd, "epoch": 3}, tmp_path / "z.pth")
    tree = load_checkpoint(tmp_path / "z.pth")
    assert tree["epoch"] == 3 and all(torch.equal(tree["encoder"][k], sd[k]) for k in sd)
    assert list(module_state(tree["encoder"])) == list(sd)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "x.pth").write_bytes(b"not a pickle at all")
    with pytest.raises(UnsafeCheckpointError, match="not a readable torch.save file|not a torch.save"):
        load_checkpoint(tmp_path / "x.pth")
