from __future__ import annotations

import numpy as np
import pytest

from benchmark.utils import atomic_path, read_json, sha256_array, sha256_tree, write_json_atomic


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "results.json"
    write_json_atomic(path, {"v": 1})
    with pytest.raises(OSError):
        with atomic_path(path) as tmp:
            tmp.write_text('{"v": 2, "trunc')
            raise OSError(28, "No space left on device")  # what a full disk looks like
    assert read_json(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind


def test_atomic_write_interrupted(tmp_path):
    path = tmp_path / "a.npz"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert not path.exists()


def test_content_hashes():
    a = np.zeros((2, 3), np.uint8)
    assert sha256_array(a) == sha256_array(a.copy())
    assert sha256_array(a) != sha256_array(a.astype(np.int16))  # dtype is part of the content
    assert sha256_array(a) != sha256_array(a.reshape(3, 2))


def test_tree_hash_tracks_content_not_mtime(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    h = sha256_tree([tmp_path])
    (tmp_path / "m.py").touch()
    assert sha256_tree([tmp_path]) == h
    (tmp_path / "m.py").write_text("x = 2\n")
    assert sha256_tree([tmp_path]) != h
