"""BAIR (tar of TFRecords, parsed without TensorFlow) and Moving MNIST (npy test set + idx digits)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from benchmark.data.real import CorruptInputError
from benchmark.data.tfrecord import TFRecordError, parse_example, read_records
from benchmark.registry import DATASETS
from benchmark.utils import UserError
from tests.data_builders import bair_example, build_bair, build_mmnist, example_bytes, tfrecord_bytes


def test_tfrecord_roundtrip_and_truncation():
    ex = example_bytes({"a/encoded": b"\x01\x02", "pos": [1.5, -2.0, 3.0], "n": [7, 300]})
    data = tfrecord_bytes([ex, ex])
    recs = list(read_records(io.BytesIO(data), check_data_crc=True))
    assert len(recs) == 2
    p = parse_example(recs[0])
    assert p["a/encoded"] == [b"\x01\x02"] and p["pos"].tolist() == [1.5, -2.0, 3.0] and p["n"].tolist() == [7, 300]
    with pytest.raises(TFRecordError, match="truncated"):
        list(read_records(io.BytesIO(data[:-10]), "x.tfrecords"))
    bad = bytearray(data)
    bad[20] ^= 0xFF
    with pytest.raises(TFRecordError, match="checksum"):
        list(read_records(io.BytesIO(bytes(bad)), check_data_crc=True))


def test_bair_store_splits_protocols(tmp_path):
    frames = build_bair(tmp_path / "raw" / "bair", train=3, test=2)
    ds = DATASETS.build("bair", root=tmp_path, strict_inputs=False)
    ds.prepare()
    p = ds.protocols["prediction"]
    assert (p.train.context_frames, p.train.future_frames, p.test.future_frames) == (2, 10, 28)
    test = ds.clips(p.test)
    assert test.videos.shape == (2, 30, 3, 64, 64)
    assert np.array_equal(test.videos[1], frames["test"][1].transpose(0, 3, 1, 2))  # raw bytes, HWC -> CHW
    tr = ds.load_split("train")
    assert tr.videos.shape == (3 * 19, 12, 3, 64, 64)  # every 12-frame window of 3 trajectories
    cond = ds.conditioning("test")
    assert cond["actions"].shape == (2, 30, 4) and cond["endeffector_pos"][1, 5].tolist() == [1001.0, 5.0, 0.5]
    fvd = DATASETS.build("bair", root=tmp_path, strict_inputs=False, protocol="fvd")
    assert fvd.protocols["prediction"].test.num_frames == 16 and fvd.store.path == ds.store.path


def test_bair_corrupt_record_is_named(tmp_path):
    import tarfile

    raw = tmp_path / "raw" / "bair"
    raw.mkdir(parents=True)
    rec, _ = bair_example(0)
    data = tfrecord_bytes([rec])[:-100]
    with tarfile.open(raw / "bair_robot_pushing_dataset_v0.tar", "w") as tar:
        info = tarfile.TarInfo("softmotion30_44k/test/traj_0_to_255.tfrecords")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(CorruptInputError, match="traj_0_to_255.tfrecords"):
        DATASETS.build("bair", root=tmp_path, strict_inputs=False).prepare()
    assert not (tmp_path / "bair").exists() or not any((tmp_path / "bair").iterdir())


def test_size_mismatch_is_an_error_by_default(tmp_path):
    build_mmnist(tmp_path / "raw" / "mmnist", test_clips=2)
    with pytest.raises(UserError, match="mnist_test_seq.npy: .* expected 819200096"):
        DATASETS.build("mmnist", root=tmp_path).prepare()


def test_mmnist_fixed_test_and_generated_train(tmp_path):
    test = build_mmnist(tmp_path / "raw" / "mmnist", test_clips=6)
    ds = DATASETS.build("mmnist", root=tmp_path, strict_inputs=False, train_size=50)
    c = ds.clips(ds.protocols["prediction"].test)
    assert c.videos.shape == (6, 20, 1, 64, 64) and np.array_equal(c.videos[4][:, 0], test[:, 4])
    tr = ds.load_split("train")
    assert tr.videos.shape == (50, 20, 1, 64, 64)
    a, b = tr.videos[7], DATASETS.build("mmnist", root=tmp_path, strict_inputs=False, train_size=50).load_split("train").videos[7]
    assert np.array_equal(a, b) and a.max() == 255  # deterministic for a seed; digits are drawn
    assert not np.array_equal(a, tr.videos[8])
    sm = DATASETS.build("mmnist", root=tmp_path, strict_inputs=False, motion="stochastic", train_size=10)
    assert sm.protocols["prediction"].train.context_frames == 5
    assert sm.load_split("train").videos[3].shape == (15, 1, 64, 64)
