"""Load on the rater web app: R raters answer concurrently for a while; check nothing is lost.

    .venv/bin/python benchmarks/crowd_load.py --raters 50 --seconds 10 [--slow 300]

Builds a demo study in a temporary folder, serves it on 127.0.0.1, runs one thread per rater
(next -> answer -> occasional replay) until every rater is done or time is up, then compares the
database with the acknowledged answers and prints the throughput. Then, as an attacker would:
the median time of a kept-alive request (Nagle + delayed ACK used to add ~40 ms each), and how
long ``--slow`` half-sent requests hold the server while a real rater is served.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPConnection
from pathlib import Path

from benchmark.crowd.demo import DATASET, build_demo_runs
from benchmark.crowd.design import StudyConfig, design_study
from benchmark.crowd.server import CrowdApp, serve_in_thread


def _call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raters", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--judgements", type=int, default=20, help="trials per pair of systems")
    ap.add_argument("--slow", type=int, default=300, help="half-sent (slowloris) connections to open")
    ap.add_argument("--request-timeout", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_demo_runs(root / "runs", methods=("method_a", "method_b"))
        cfg = StudyConfig(dataset=DATASET, task="prediction", systems=("real", "method_a", "method_b"),
                          judgements_per_pair=args.judgements, answers=3, checks=4)
        design_study(cfg, root / "runs", root / "study", real_source="run")
        app = CrowdApp.open(root / "study")
        raters = app.ensure_raters(args.raters)
        server, thread = serve_in_thread(app, request_timeout=args.request_timeout)
        base = "http://%s:%d" % server.server_address[:2]
        acked, replays, lock = [], [], threading.Lock()
        deadline = time.time() + args.seconds

        def run(r: dict) -> None:
            while time.time() < deadline:
                _, nxt = _call(f"{base}/api/{r['token']}/next")
                if nxt.get("done"):
                    return
                status, _ = _call(f"{base}/api/{r['token']}/answer", {"trial": nxt["trial"], "answer": "left"})
                if status == 200:
                    with lock:
                        acked.append((r["id"], nxt["trial"]))
                    code, _ = _call(f"{base}/api/{r['token']}/answer", {"trial": nxt["trial"], "answer": "left"})
                    with lock:
                        replays.append(code)

        t0 = time.time()
        threads = [threading.Thread(target=run, args=(r,)) for r in raters]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t0
        keepalive_ms = _keepalive_ms(server.server_address[:2], raters[0]["token"])
        slow = _slowloris(server.server_address[:2], base, raters[-1]["token"], args.slow)
        server.shutdown()
        trial_of = {a["ref"]: a["trial_id"] for r in raters for a in app.db.assigned(r["id"])}  # per-rater ids
        acked = [(rid, trial_of[ref]) for rid, ref in acked]
        stored = [(j["rater_id"], j["trial_id"]) for j in app.db.judgements()]
        app.db.close()
        ok = sorted(stored) == sorted(acked) and len(set(stored)) == len(stored) and set(replays) <= {409}
        print(f"{args.raters} raters, {len(acked)} acknowledged judgements in {wall:.1f}s "
              f"({len(acked) / wall:.0f}/s), {len(replays)} replays all refused: {set(replays) <= {409}}, "
              f"database matches acknowledgements: {ok}")
        print(f"kept-alive request: median {keepalive_ms:.2f} ms")
        print(f"{args.slow} half-sent requests: a real request answered in {slow['real_ms']:.0f} ms; the last slow "
              f"connection dropped after {slow['dropped_s']:.1f} s (request timeout {args.request_timeout:g} s)")
        if not ok:
            raise SystemExit(1)


def _keepalive_ms(address: tuple, token: str, n: int = 50) -> float:
    conn = HTTPConnection(*address, timeout=10)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", f"/api/{token}/next")
        conn.getresponse().read()
        times.append(1000 * (time.perf_counter() - t0))
    conn.close()
    return statistics.median(times)


def _slowloris(address: tuple, base: str, token: str, n: int) -> dict:
    socks = []
    for _ in range(n):
        s = socket.create_connection(address, timeout=30)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        socks.append(s)
    t0 = time.perf_counter()
    _call(f"{base}/api/{token}/next")
    real_ms = 1000 * (time.perf_counter() - t0)
    start, last = time.perf_counter(), 0.0
    for s in socks:
        try:
            s.settimeout(max(0.01, 60 - (time.perf_counter() - start)))
            s.recv(1)
        except OSError:
            pass
        last = time.perf_counter() - start
        s.close()
    return {"real_ms": real_ms, "dropped_s": last}


if __name__ == "__main__":
    main()
