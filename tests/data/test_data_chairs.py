"""Chair-CAD on a small rendered_chairs.tar in the real layout (600x600 PNG renders)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.chairs import ChairCAD
from benchmark.data.real import CorruptInputError
from benchmark.registry import DATASETS
from tests.data_builders import build_chairs, level

MODELS = ("1a6f615e8b1b5ae4dbbc9440457e303e", "2b5953c986dd08f2f91663a74ccd2338", "3c8e8f5c0d1b5b3a0e1d0b9a8c7d6e5f")


@pytest.fixture(scope="module")
def chairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("chairs")
    names = build_chairs(root / "raw" / "chairs", models=MODELS, views=20, short_model=MODELS[2])
    return root, names


def test_first_16_sorted_renders_cropped(chairs):
    root, names = chairs
    ds = DATASETS.build("chairs", root=root, strict_inputs=False)
    segs = ds.store.segments
    assert [s["video"] for s in segs] == list(MODELS[:2])
    assert segs[0]["renders"] == names[MODELS[0]][:16] and segs[0]["length"] == 16
    assert [e["item"] for e in ds.excluded()] == [MODELS[2]]  # 5 renders < 16
    clips = ds.clips(ds.protocol("synthesis", "test"))
    assert clips.videos.shape == (2, 16, 3, 64, 64)
    v = clips.videos[0]
    # the crop keeps only the flat [100:500, 100:500] square (the white border is gone), in sorted order
    assert np.abs(v.reshape(16, -1).astype(int) - np.array([level(i) for i in range(16)])[:, None]).max() <= 1


def test_model_subset_and_short_images(chairs, tmp_path):
    root, _ = chairs
    sub = ChairCAD(root, num_models=1, model_seed=3, strict_inputs=False)
    assert len(sub.store.segments) == 1 and sub.store.path != ChairCAD(root, strict_inputs=False).store_key()
    assert sub.identity()["num_models"] == 1
    import io
    import tarfile

    from tests.data_builders import png_bytes

    raw = tmp_path / "raw" / "chairs"
    raw.mkdir(parents=True)
    with tarfile.open(raw / "rendered_chairs.tar", "w") as tar:
        for i in range(16):
            data = png_bytes(np.zeros((300, 300, 3), np.uint8))
            info = tarfile.TarInfo(f"rendered_chairs/m/renders/image_{i:03d}_p020_t000_r096.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(CorruptInputError, match="smaller than"):
        ChairCAD(tmp_path, strict_inputs=False).prepare()
