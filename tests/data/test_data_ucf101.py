"""UCF101 on small copies in the real layouts: the official split zip + a zip mirror / extracted folder."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.ucf101 import UCF101, parse_list
from benchmark.registry import DATASETS
from benchmark.utils import UserError
from tests.data_builders import UCF_CLASSES, build_ucf101, level


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    split = build_ucf101(root / "raw" / "ucf101", layout="zip")
    return root, split


def test_zip_mirror_labels_and_fold1(ucf):
    root, split = ucf
    ds = DATASETS.build("ucf101", root=root, strict_inputs=False)
    segs = ds.store.segments
    assert len(segs) == 3 * 4 and ds.class_names() == list(UCF_CLASSES)
    s = next(s for s in segs if s["video"] == "v_HandstandPushups_g08_c01")
    assert (s["class"], s["label"], s["group"], s["clip"], s["length"]) == ("HandstandPushups", 1, 8, 1, 24)
    videos = lambda part: {segs[i]["video"] for i in ds.split_segments(part)}  # noqa: E731
    assert videos("train") == set(split["train"]) and videos("test") == set(split["test"])  # HandStand case matched
    fold2 = UCF101(root, fold=2, strict_inputs=False)
    assert {segs[i]["video"] for i in fold2.split_segments("train")} == set(split["test"])
    assert fold2.store.path == ds.store.path
    tr = ds.load_split("train")
    assert tr.videos.shape[1:] == (16, 3, 64, 64) and len(tr) == 6 * (24 - 16 + 1)  # every 16-frame window
    g = tr.videos[3][:, 1].mean((1, 2))
    assert np.abs(g - [level(i + 3) for i in range(16)]).max() < 6
    p = ds.protocol("synthesis", "test")
    assert (p.split, p.num_frames, p.resolution) == ("test", 16, (64, 64))


def test_extracted_folder_and_rar_message(tmp_path):
    build_ucf101(tmp_path / "a" / "raw" / "ucf101", classes=("YoYo",), groups=(1, 9), layout="folder")
    ds = UCF101(tmp_path / "a", strict_inputs=False)
    assert [s["video"] for s in ds.store.segments] == ["v_YoYo_g01_c01", "v_YoYo_g09_c01"]
    assert ds.options()["videos"] == "folder"
    build_ucf101(tmp_path / "b" / "raw" / "ucf101", classes=("YoYo",), groups=(1,), layout="rar")
    with pytest.raises(UserError, match="RAR archives cannot be read.*UCF-101"):
        UCF101(tmp_path / "b", strict_inputs=False).prepare()


def test_class_subset_and_lists(ucf):
    root, _ = ucf
    ds = UCF101(root, classes=["YoYo"], strict_inputs=False)
    assert {s["class"] for s in ds.store.segments} == {"YoYo"} and ds.store.segments[0]["label"] == 2
    with pytest.raises(UserError, match="unknown classes"):
        UCF101(root, classes=["Nope"], strict_inputs=False).prepare()
    assert parse_list("YoYo/v_YoYo_g08_c01.avi 101\r\n") == ["v_yoyo_g08_c01"]


def test_action_labels_follow_class_ind(ucf):
    root, _ = ucf
    ds = UCF101(root, strict_inputs=False)
    tr = ds.load_split("train")
    assert ds.clip_labels(tr)["action"].tolist() == [m["label"] for m in tr.meta]  # classInd order
    sub = UCF101(root, classes=["YoYo"], strict_inputs=False)
    assert sub.label_specs()["action"].classes == ("YoYo",)
    assert set(sub.clip_labels(sub.load_split("train"))["action"].tolist()) == {0}
