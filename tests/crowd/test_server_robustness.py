"""Issue 13, items 6-8: no single client can deny service (slow or half-sent requests, idle
keep-alive connections, descriptor exhaustion, unread POST bodies, Nagle delays), deeply nested
JSON is a 400, and floods of bad tokens do not write a database row each."""

from __future__ import annotations

from http.client import HTTPConnection
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest

from benchmark.crowd.server import CrowdApp, Handler
from tests.crowd.crowd_helpers import REPO, api, fast_tmp, http, make_study, served, serving  # noqa: F401


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("robust"), judgements_per_pair=2, checks=2)


@pytest.fixture()
def app(small_study, fast_tmp):
    app = CrowdApp.open(small_study, fast_tmp / "j.sqlite")
    yield app
    app.db.close()


def _addr(base: str) -> tuple[str, int]:
    u = urlsplit(base)
    return u.hostname, u.port


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Wait until the server closes ``sock`` (EOF or reset) or ``deadline`` passes."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if sock.recv(4096) == b"":
                return True
        except (ConnectionError, OSError) as e:
            if isinstance(e, TimeoutError):
                return False
            return True
    return False


def _rater_round(base: str, token: str, timeout: float = 3.0) -> None:
    """What a real rater does: the page, the next pair, one video, an answer — each within ``timeout``."""
    assert http("GET", f"{base}/r/{token}", timeout=timeout)[0] == 200
    status, raw, _ = http("GET", f"{base}/api/{token}/next", timeout=timeout)
    import json

    nxt = json.loads(raw)
    assert status == 200 and not nxt["done"]
    assert http("GET", base + nxt["left"], timeout=timeout)[0] == 200
    assert http("POST", f"{base}/api/{token}/answer", {"trial": nxt["trial"], "answer": "left"},
                timeout=timeout)[0] == 200


# ----------------------------------------------------------------------------- item 6 ---

def test_slowloris_connections_are_dropped_and_a_real_rater_is_served(app):
    """60 half-sent requests, trickling a header byte every 0.2 s (a per-recv timeout never fires),
    against a server allowing 16 connections and 1 s per request: a real rater is served at once,
    every slow connection is closed within the deadline, and the threads stay bounded."""
    (rater,) = app.ensure_raters(1)
    threads_before = threading.active_count()
    with serving(app, request_timeout=1.0, max_connections=16) as (base, server):
        slow = []
        for _ in range(60):
            s = socket.create_connection(_addr(base), timeout=5)
            s.sendall(b"GET /api/" + rater["token"].encode() + b"/next HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(s)
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(0.2):
                for s in slow:
                    try:
                        s.send(b"x")
                    except OSError:
                        pass

        dripper = threading.Thread(target=trickle, daemon=True)
        dripper.start()
        try:
            time.sleep(0.3)
            t0 = time.monotonic()
            _rater_round(base, rater["token"])
            served_in = time.monotonic() - t0
            threads_now = threading.active_count()
            deadline = time.monotonic() + 1.0 + 3.0
            still_open = [s for s in slow if not _closed_by_server(s, deadline)]
        finally:
            stop.set()
            dripper.join(2)
            for s in slow:
                s.close()
    assert not still_open, f"{len(still_open)} of 60 slow connections still held after the 1 s request deadline"
    assert threads_now <= threads_before + 16 + 8, "a thread per slow connection"
    assert served_in < 3.0
    assert Handler.disable_nagle_algorithm


def test_near_the_descriptor_limit_the_server_neither_spins_nor_stops_serving(small_study, fast_tmp):
    """A server process limited to 64 file descriptors, 100 connections that never send a byte:
    the server keeps its connections below the limit (no accept() failing at 100% CPU) and a
    real request is still answered."""
    script = (
        "import resource, sys, time\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "from benchmark.crowd.server import CrowdApp, serve_in_thread\n"
        "app = CrowdApp.open(sys.argv[1], sys.argv[2])\n"
        "(r,) = app.ensure_raters(1)\n"
        "server, _ = serve_in_thread(app)\n"
        "print(server.server_address[1], r['token'], flush=True)\n"
        "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(small_study), str(fast_tmp / "fd.sqlite")],
                            cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    socks = []
    try:
        port, token = proc.stdout.readline().split()
        for _ in range(100):
            socks.append(socket.create_connection(("127.0.0.1", int(port)), timeout=5))
        time.sleep(0.5)

        def cpu() -> float:
            fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        c0, t0 = cpu(), time.monotonic()
        time.sleep(1.0)
        busy = (cpu() - c0) / (time.monotonic() - t0)
        status, _, _ = http("GET", f"http://127.0.0.1:{port}/api/{token}/next", timeout=5)
    finally:
        for s in socks:
            s.close()
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
    assert status == 200
    assert busy < 0.3, f"server used {busy:.0%} of a CPU while idle"


def test_a_post_body_is_not_awaited_before_the_token_is_checked(app):
    (rater,) = app.ensure_raters(1)
    with served(app, request_timeout=1.0) as base:
        head = "POST /api/{} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
        s = socket.create_connection(_addr(base), timeout=3)
        s.sendall(head.format("forged-token-123456/answer").encode())  # the 4000 bytes never come
        assert s.recv(4096).startswith(b"HTTP/1.1 403")
        s.close()
        s = socket.create_connection(_addr(base), timeout=3)
        t0 = time.monotonic()
        s.sendall(head.format(rater["token"] + "/answer").encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 408")  # a valid rater's missing body: the deadline
        assert time.monotonic() - t0 < 2.5
        s.close()


def test_idle_keep_alive_connections_are_closed(app):
    (rater,) = app.ensure_raters(1)
    with served(app, request_timeout=0.5) as base:
        conn = HTTPConnection(*_addr(base), timeout=5)
        conn.request("GET", f"/api/{rater['token']}/next")
        r = conn.getresponse()
        r.read()
        assert r.status == 200
        assert _closed_by_server(conn.sock, time.monotonic() + 3.0)
        assert "timeout=" in r.headers.get("Keep-Alive", "")  # browsers are told, and reconnect early
        conn.close()


def test_kept_alive_responses_are_not_delayed_by_nagle(app):
    """Headers and body are separate writes; with Nagle on, the body waits for a delayed ACK (~40 ms)."""
    (rater,) = app.ensure_raters(1)
    with served(app) as base:
        conn = HTTPConnection(*_addr(base), timeout=5)
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            conn.request("GET", f"/api/{rater['token']}/next")
            conn.getresponse().read()
            times.append(time.perf_counter() - t0)
        conn.close()
    assert statistics.median(times) < 0.02, f"median {1000 * statistics.median(times):.1f} ms per request"


# ----------------------------------------------------------------------------- item 7 ---

def test_deeply_nested_json_is_a_bad_request(app):
    (rater,) = app.ensure_raters(1)
    with served(app) as base:
        api(base, rater["token"], "next")
        body = b"[" * 2000 + b"]" * 2000  # 4 KB, 2,000 levels: RecursionError in json.loads
        status, raw, _ = http("POST", f"{base}/api/{rater['token']}/answer", body)
        assert status == 400 and b"JSON" in raw
        assert api(base, rater["token"], "next")[0] == 200  # and the server carries on
    assert app.db.rejection_counts().get("malformed") == 1


# ----------------------------------------------------------------------------- item 8 ---

def test_a_flood_of_bad_tokens_is_logged_in_aggregate(app):
    with served(app) as base:
        conn = HTTPConnection(*_addr(base), timeout=5)
        for i in range(300):
            conn.request("GET", f"/api/forged-token-{i:08d}/next")
            r = conn.getresponse()
            r.read()
            assert r.status == 403
        conn.close()
    rows = app.db.rejections()
    assert sum(r.get("count", 1) for r in rows if r["reason"] == "unknown-token") == 300
    assert len(rows) <= 3, f"{len(rows)} rejection rows for 300 requests"
