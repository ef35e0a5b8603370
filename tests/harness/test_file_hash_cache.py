"""``sha256_file`` remembers big files' digests by (size, mtime, ctime, inode), never inside the racy
window, and any write (which moves the ctime) makes it hash the bytes again."""

from __future__ import annotations

import hashlib
import time

import pytest

from benchmark import utils


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(utils, "_file_hashes", {})
    return tmp_path


def test_a_big_unchanged_file_is_hashed_once_and_a_rewrite_again(store, monkeypatch):
    monkeypatch.setattr(utils, "_RACY_NS", 0)
    path = store / "weights.bin"
    data = bytearray(b"\1" * utils.HASH_CACHE_MIN_BYTES)
    path.write_bytes(data)
    first = utils.sha256_file(path)
    assert first == hashlib.sha256(data).hexdigest() and str(path) in utils._file_hashes
    utils._file_hashes[str(path)][1] = "remembered"          # a hit returns the remembered digest
    assert utils.sha256_file(path) == "remembered"
    time.sleep(0.05)
    data[7] = 2
    with open(path, "r+b") as f:                               # same size, same inode, new bytes
        f.write(bytes(data))
    assert utils.sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_a_file_changed_just_now_or_a_small_one_is_not_remembered(store):
    big, small = store / "big.bin", store / "small.bin"
    big.write_bytes(b"\0" * utils.HASH_CACHE_MIN_BYTES)
    small.write_bytes(b"\0" * 10)
    utils.sha256_file(big), utils.sha256_file(small)
    assert utils._file_hashes == {}
