"""The weights registry, `benchmark weights`, and the I3D weight loader (files built here)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from benchmark import weights as W
from benchmark.metrics.extractors.i3d import I3DFeatures, InceptionI3d, init_random_, load_weights_file
from benchmark.utils import sha256_file
from benchmark.video import VideoFormatError


@pytest.fixture()
def i3d_file(tmp_path):
    from safetensors.torch import save_file

    state = init_random_(InceptionI3d(), seed=3).state_dict()
    path = tmp_path / "i3d_kinetics400_tfhub.safetensors"
    save_file({k: v.contiguous() for k, v in sorted(state.items())}, str(path))
    return path


@pytest.fixture()
def pinned(tmp_path, monkeypatch, i3d_file):
    """A manifest pinning our test file's hash, and an empty weights dir."""
    spec = yaml.safe_load(open(W.manifest_path()))
    spec["weights"]["i3d_kinetics400"]["sha256"] = sha256_file(i3d_file)
    man = tmp_path / "weights.yaml"
    man.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("VIDBENCH_WEIGHTS_MANIFEST", str(man))
    monkeypatch.setenv("VIDBENCH_WEIGHTS", str(tmp_path / "wdir"))
    return i3d_file


def test_every_entry_names_file_source_and_hash_or_unverified():
    for spec in W.load_specs().values():
        assert spec.file and (spec.source or spec.recipe)
        assert spec.sha256 is None or len(spec.sha256) == 64


def test_missing_file_error_names_file_hash_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(W.WeightsError) as e:
        W.resolve("inception_fid")
    msg = str(e.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in msg and "6726825d" in msg and "install" in msg


def test_install_then_resolve_verified(pinned):
    dest = W.install("i3d_kinetics400", pinned)
    r = W.resolve("i3d_kinetics400")
    assert r.path == str(dest) and r.verified and r.comparable
    feats = I3DFeatures()  # pinned mode loads the installed file
    assert feats.weights.comparable


def test_wrong_hash_is_rejected(pinned, tmp_path):
    other = tmp_path / "other.safetensors"
    other.write_bytes(pinned.read_bytes() + b"x")
    with pytest.raises(W.WeightsError, match="does not match the pinned"):
        W.install("i3d_kinetics400", other)
    with pytest.raises(W.WeightsError, match="does not match the pinned"):
        W.resolve("i3d_kinetics400", other)


def test_prefix_pin_checked(tmp_path):
    f = tmp_path / "vgg16-397923af.pth"
    f.write_bytes(b"not vgg")
    with pytest.raises(W.WeightsError, match="prefix 397923af"):
        W.resolve("vgg16_imagenet", f)


def test_unpinned_file_is_accepted_but_not_comparable(i3d_file):
    r = W.resolve("i3d_kinetics400", i3d_file)  # the repo manifest pins no I3D hash yet
    assert r.verified is False and r.comparable is False and "pin" in r.note


def test_loader_rejects_wrong_keys_and_shapes(i3d_file, tmp_path):
    from safetensors.torch import load_file, save_file

    assert len(load_weights_file(str(i3d_file))) == len(InceptionI3d().state_dict())
    state = load_file(str(i3d_file))
    bad = dict(state)
    bad["Mixed_5b.Branch_2.Conv3d_0b_3x3.conv_3d.weight"] = bad.pop("Mixed_5b.Branch_2.Conv3d_0a_3x3.conv_3d.weight")
    save_file(bad, str(tmp_path / "keys.safetensors"))
    with pytest.raises(VideoFormatError, match="missing key"):
        load_weights_file(str(tmp_path / "keys.safetensors"))
    bad = dict(state)
    bad["Logits.Conv3d_0c_1x1.conv_3d.bias"] = torch.zeros(101)
    save_file(bad, str(tmp_path / "shapes.safetensors"))
    with pytest.raises(VideoFormatError, match="wrong shapes"):
        load_weights_file(str(tmp_path / "shapes.safetensors"))


def test_cli_status_and_install(pinned, capsys):
    from benchmark.cli import main

    assert main(["weights", "status", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["i3d_kinetics400"]["state"] == "missing" and rows["lpips_alex_v0.1"]["state"] == "verified"
    assert main(["weights", "install", "i3d_kinetics400", str(pinned)]) == 0
    capsys.readouterr()
    main(["weights", "status", "--json"])
    assert {r["name"]: r for r in json.loads(capsys.readouterr().out)}["i3d_kinetics400"]["state"] == "verified"
    assert main(["weights", "install", "vgg16_imagenet", str(pinned)]) == 2  # prefix mismatch: clear error


def test_pinned_fvd_without_file_is_a_clear_error(monkeypatch, tmp_path):
    from benchmark.metrics.fvd import FrechetVideoDistance

    monkeypatch.setenv("VIDBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(W.WeightsError, match="i3d_kinetics400_tfhub.safetensors"):
        FrechetVideoDistance()
