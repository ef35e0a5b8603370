"""fetch/verify: resume over HTTP Range, hash checks, clear offline errors, the pinned manifest."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from benchmark.data import fetch as F
from benchmark.data.store import ClipArray, FrameStore, StoreWriter, iter_batches, shard

import numpy as np

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB


class _Handler(http.server.BaseHTTPRequestHandler):
    ranges: list[str | None] = []
    cut_first: bool = True

    def log_message(self, *a):  # quiet
        pass

    def do_GET(self):
        if self.path != "/ok.bin":
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.end_headers()
        if type(self).cut_first and not rng:  # first request: drop the connection half-way
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.ranges = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _manifest(base: str, sha: str | None = None, status: str = "verified", size: int | None = len(PAYLOAD)):
    f = {"name": "ok.bin", "urls": [f"{base}/missing.bin", f"{base}/ok.bin"], "size": size,
         "hash_status": status}
    if sha:
        f["sha256"] = sha
    return {"toy": {"files": [f]}}


def test_fetch_resumes_with_range_and_verifies(server, tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    reports = F.fetch("toy", tmp_path, manifest=_manifest(server, sha), retries=1, timeout=5)
    path = tmp_path / "raw" / "toy" / "ok.bin"
    assert path.read_bytes() == PAYLOAD and reports[0].status == "ok"
    assert _Handler.ranges[0] is None and _Handler.ranges[1] == f"bytes={len(PAYLOAD) // 2}-"  # resumed
    assert not path.with_name("ok.bin.part").exists()
    assert F.verify("toy", tmp_path, manifest=_manifest(server, sha))[0].ok


def test_fetch_offline_names_every_url_and_the_manual_path(tmp_path):
    m = {"toy": {"files": [{"name": "a.zip", "urls": ["http://127.0.0.1:9/a.zip", "http://127.0.0.1:9/mirror/a.zip"],
                            "sha1": "0" * 40, "hash_status": "unverified"}]}}
    with pytest.raises(F.FetchError) as e:
        F.fetch("toy", tmp_path, manifest=m, retries=0, timeout=2)
    msg = str(e.value)
    assert "http://127.0.0.1:9/a.zip" in msg and "http://127.0.0.1:9/mirror/a.zip" in msg
    assert str(tmp_path / "raw" / "toy" / "a.zip") in msg and "sha1 " + "0" * 40 in msg


def test_verify_reports_missing_truncated_and_mismatch(tmp_path):
    d = tmp_path / "raw" / "toy"
    d.mkdir(parents=True)
    good = hashlib.sha256(b"abc").hexdigest()
    m = {"toy": {"files": [
        {"name": "missing.bin", "urls": []},
        {"name": "short.bin", "urls": [], "size": 10},
        {"name": "bad.bin", "urls": [], "sha256": "1" * 64, "hash_status": "verified"},
        {"name": "thirdparty.bin", "urls": [], "sha1": "2" * 40, "hash_status": "unverified"},
        {"name": "ok.bin", "urls": [], "sha256": good, "hash_status": "verified"},
        {"name": "unpinned.bin", "urls": []}]}}
    for n in ("short.bin", "bad.bin", "thirdparty.bin", "ok.bin", "unpinned.bin"):
        (d / n).write_bytes(b"abc")
    r = {x.name: x for x in F.verify("toy", tmp_path, manifest=m)}
    assert r["missing.bin"].status == "missing" and str(d / "missing.bin") in r["missing.bin"].message
    assert r["short.bin"].status == "size-mismatch" and "truncated" in r["short.bin"].message
    assert r["bad.bin"].status == "hash-mismatch" and not r["bad.bin"].ok
    assert r["thirdparty.bin"].warning and r["thirdparty.bin"].ok  # an unverified pin only warns
    assert r["ok.bin"].status == "ok" and r["unpinned.bin"].status == "unpinned"
    assert good in r["unpinned.bin"].message or r["unpinned.bin"].sha256 == good
    with pytest.raises(F.VerifyError, match="short.bin"):
        F.require("toy", tmp_path, manifest=m)


def test_manifest_pins_only_published_hashes():
    m = F.load_manifest()
    for name in ("kth", "bair", "mmnist", "weizmann", "ucf101", "kinetics600", "chairs", "vgan-golf"):
        assert name in m, name
    kth = {rf.name: rf for rf in F.raw_files("kth", m)}
    assert set(kth) == {"00sequences.txt"} | {f"{a}.zip" for a in
                                              ("walking", "jogging", "running", "boxing", "handwaving", "handclapping")}
    assert kth["walking.zip"].hashes == {"sha1": "a3e81537271a0ab4576591774baa38c2d97b7e3a"}
    assert kth["walking.zip"].hash_status == "unverified"
    bair = F.raw_files("bair", m)[0]
    assert bair.size == 32274964480 and bair.hash_status == "verified"
    for ds in m:
        for rf in F.raw_files(ds, m):
            assert rf.hash_status in ("verified", "unverified", "unset"), (ds, rf.name)
            assert bool(rf.hashes) == (rf.hash_status != "unset"), (ds, rf.name)


def test_store_is_atomic_and_clips_are_views(tmp_path):
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 1, 2, 2), np.uint8)
    with pytest.raises(RuntimeError):
        with StoreWriter(tmp_path, "toy", "k1", (1, 2, 2)) as w:
            w.add_segment(frames[:5], video="a")
            raise RuntimeError("crash mid-way")
    assert not (tmp_path / "toy" / "k1").exists() and not list((tmp_path / "toy").iterdir())
    with StoreWriter(tmp_path, "toy", "k1", (1, 2, 2)) as w:
        w.add_segment(frames[:5], video="a")
        w.add_segment(frames[5:], video="b")
    s = FrameStore(w.path)
    win = s.windows(3, 1)
    assert win[:, 0].tolist() == [0, 0, 0, 1, 1, 1]  # no window crosses a segment boundary
    clips = s.clip_array(win, 3)
    assert isinstance(clips, ClipArray) and clips.shape == (6, 3, 1, 2, 2)
    assert clips[3][:, 0, 0, 0].tolist() == [5, 6, 7]
    assert clips[1:3, 0:2].shape == (2, 2, 1, 2, 2)
    assert np.asarray(clips).shape == (6, 3, 1, 2, 2)
    # deterministic batches; ranks get disjoint shares of the same order
    a = [b.copy() for b in iter_batches(clips, 1, seed=3, rank=0, world=2)]
    b = [b.copy() for b in iter_batches(clips, 1, seed=3, rank=1, world=2)]
    a2 = list(iter_batches(clips, 1, seed=3, rank=0, world=2))
    assert all(np.array_equal(x, y) for x, y in zip(a, a2))
    first = [{int(x[0, 0, 0, 0, 0]) for x in part} for part in (a, b)]  # a clip's first frame = its start
    assert not first[0] & first[1] and first[0] | first[1] == {0, 1, 2, 5, 6, 7}
    assert shard(10, 0, 3) == slice(0, 4) and shard(10, 2, 3) == slice(8, 10)
