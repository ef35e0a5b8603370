"""The in-lab rater web app: standard-library HTTP server + the study's SQLite database.

Routes (``<token>`` is a rater's secret)::

    GET  /r/<token>              the rater page (static HTML; the app script asks for trials)
    GET  /static/app.js|app.css  the page's script and style
    GET  /api/<token>/next       the next open trial: {"trial", "left", "right", progress...}
    POST /api/<token>/answer     {"trial": id, "answer": "left"|"right"|"same", "client_ms": 1234}
    POST /api/<token>/skip       {"trial": id, "reason": "video-error"} (a pair that would not play)
    GET  /m/<ref>.mp4            a video (HTTP range requests supported, for looping playback)

Blinding: the browser only ever receives the question, the answer labels, the rater's own opaque
trial ids and one-off video URLs: every (rater, trial, side) has its own random ``/m/<ref>.mp4``,
mapped to a file on the server, and every file of a study has the same size. Which system made a
video, which trials are attention checks, and even which trials two raters share, stays on the
server. Each rater sees every pair of systems and every kind of check equally often on each side.
Bad requests (unknown or revoked token, a trial that is not the rater's, an answer outside the
study's set, a repeat) get a 4xx JSON ``{"error": ...}`` and are counted in ``rejections``. A
judgement is acknowledged (HTTP 200) only after it is committed.

Robustness: every request must arrive whole (headers and body) within ``request_timeout`` seconds
of the server starting to wait for it (idle keep-alive connections included); the number of open
connections is bounded (below the process's file-descriptor limit), and when it is reached the
connection that has waited longest for its client is dropped for the new one; a POST's token is
checked before its body is read; Nagle's algorithm is off (small responses go out at once).

>>> app = CrowdApp.open("studies/demo")                       # doctest: +SKIP
>>> server = make_server(app, "127.0.0.1", 8000)               # doctest: +SKIP
"""

from __future__ import annotations

import errno
import html
import io
import json
import logging
import math
import os
import random
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmark.crowd.db import JudgementDB
from benchmark.crowd.design import balanced_sides, load_study, shown_order
from benchmark.utils import UserError, write_text_atomic

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_BODY = 4096
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 256
SKIP_REASONS = ("video-error",)
_ROUTE = re.compile(r"^/(?P<kind>r|api|m|static)/(?P<a>[^/]+)(?:/(?P<b>[^/]+))?$")


class CrowdApp:
    """A study, its videos and its database, as the request handlers see them.

    ``rng`` (a ``random.Random``) draws each new rater's trials and sides; by default the
    operating system's randomness (tests pass a seeded one).
    """

    def __init__(self, study: dict[str, Any], folder: Path, db: JudgementDB, rng: random.Random | None = None) -> None:
        self.study, self.folder, self.db = study, folder, db
        self.trials = {t["id"]: t for t in study["trials"]}
        self.videos = {tok: folder / v["file"] for tok, v in study["videos"].items()}
        self.answers = tuple(study["answers"])
        self.page = (STATIC / "rater.html").read_text()
        self.rng = rng or random.SystemRandom()
        self._ensure_lock = threading.Lock()

    @classmethod
    def open(cls, study_path: str | Path, db_path: str | Path | None = None,
             rng: random.Random | None = None) -> "CrowdApp":
        study, folder = load_study(study_path)
        files = [folder / v["file"] for v in study["videos"].values()]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise UserError(f"{folder}: {len(missing)} study videos missing (e.g. {missing[0]}); re-run design")
        sizes = {p.stat().st_size for p in files}
        if len(sizes) > 1:  # a file's size would tell raters (and bots) something about it
            raise UserError(f"{folder}/media: the study's videos differ in size ({min(sizes)}..{max(sizes)} bytes), "
                            f"which unblinds them; re-run `benchmark crowd design`")
        db = JudgementDB(db_path or folder / "judgements.sqlite", study["hash"])
        return cls(study, folder, db, rng)

    def ensure_raters(self, n: int, trials_per_rater: int | None = None) -> list[dict[str, Any]]:
        """At least ``n`` active lab raters; returns them all (``token`` only for the ones made now).

        A new rater gets every attention check plus the regular trials (or ``trials_per_rater`` of
        them, the least-assigned first so coverage stays even), in random order, each pair of
        systems and each check kind balanced across the two sides (:func:`balanced_sides`).
        """
        if n < 0:
            raise UserError(f"the number of raters must be >= 0, got {n}")
        if trials_per_rater is not None and trials_per_rater < 1:
            raise UserError(f"trials per rater must be >= 1, got {trials_per_rater}")
        with self._ensure_lock:
            existing = self.db.raters("lab", active=True)
            checks = [t["id"] for t in self.study["trials"] if t["check"]]
            regular = [t["id"] for t in self.study["trials"] if not t["check"]]
            counts = {t: 0 for t in regular}
            for trials in self.db.assignments().values():
                for t in trials:
                    if t in counts:
                        counts[t] += 1
            made = []
            for _ in range(max(0, n - len(existing))):
                chosen = regular
                if trials_per_rater is not None and trials_per_rater < len(regular):
                    pool = sorted(regular, key=lambda t: (counts[t], self.rng.random()))
                    chosen = pool[:trials_per_rater]
                for t in chosen:
                    counts[t] += 1
                order = chosen + checks
                self.rng.shuffle(order)
                sides = balanced_sides([self.trials[t] for t in order], self.rng)
                made.append(self.db.add_rater(list(zip(order, sides)), "lab"))
        return [{**r, "token": None} for r in existing] + made

    # -- raters ---------------------------------------------------------------------------
    def check_rater(self, token: str, what: str) -> tuple[dict[str, Any] | None, int, dict[str, Any]]:
        """(rater, 200, {}) for a valid lab link, else (None, status, error payload) — counted as a rejection."""
        rater = self.db.rater(token) if TOKEN_RE.fullmatch(token) else None
        if rater is None or rater["source"] != "lab":
            self.db.reject("unknown-token", None, what)
            return None, 403, {"error": "unknown rater link"}
        if rater["revoked"] is not None:
            self.db.reject("revoked", token, what)
            return None, 403, {"error": "this link was revoked"}
        return rater, 200, {}

    # -- API ------------------------------------------------------------------------------
    def next_payload(self, rater_id: int) -> dict[str, Any]:
        if self.db.closed() is not None:
            done, total = self.db.progress(rater_id)
            return {"done": True, "closed": True, "answered": done, "total": total}
        nxt = self.db.next_trial(rater_id, lambda trial, a_left: shown_order(self.trials[trial], a_left))
        if nxt is None:
            done, total = self.db.progress(rater_id)
            return {"done": True, "answered": done, "total": total}
        return {"done": False, "trial": nxt["ref"], "left": f"/m/{nxt['media_left']}.mp4",
                "right": f"/m/{nxt['media_right']}.mp4", "answered": nxt["done"], "total": nxt["total"]}

    def _assignment(self, rater: dict[str, Any], token: str, body: Any, what: str
                    ) -> tuple[dict[str, Any] | None, int, dict[str, Any]]:
        if not isinstance(body, dict):
            self.db.reject("malformed", token, "body is not a JSON object")
            return None, 400, {"error": "expected a JSON object"}
        if self.db.closed() is not None:
            self.db.reject("closed", token, what)
            return None, 410, {"error": "this study is closed; thank you"}
        ref = body.get("trial")
        a = self.db.assignment_by_ref(rater["id"], ref) if isinstance(ref, str) and TOKEN_RE.fullmatch(ref) else None
        if a is None:
            self.db.reject("unknown-trial", token, f"trial={str(ref)[:40]!r}")
            return None, 404, {"error": "unknown trial"}
        return a, 200, {}

    def answer(self, token: str, body: Any, rater: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        if rater is None:
            rater, status, err = self.check_rater(token, "answer")
            if rater is None:
                return status, err
        if isinstance(body, dict):
            answer = body.get("answer")
            if not isinstance(answer, str) or answer not in self.answers:
                self.db.reject("bad-answer", token, f"answer={str(answer)[:40]!r}")
                return 400, {"error": f"answer must be one of {list(self.answers)}"}
        a, status, err = self._assignment(rater, token, body, "answer")
        if a is None:
            return status, err
        client_ms = body.get("client_ms")
        if client_ms is not None and (not isinstance(client_ms, (int, float)) or isinstance(client_ms, bool)
                                      or not 0 <= client_ms < 1e9):
            client_ms = None
        left, right = shown_order(self.trials[a["trial_id"]], bool(a["a_left"]))
        ok, reason = self.db.record(rater["id"], a["trial_id"], left, right, body["answer"],
                                    client_ms=None if client_ms is None else float(client_ms))
        if not ok:
            return self._refused(token, reason, a["ref"])
        answered, total = self.db.progress(rater["id"])
        return 200, {"ok": True, "answered": answered, "total": total}

    def skip(self, token: str, body: Any, rater: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """A pair the rater could not judge (a video failed to load): recorded, and the next one comes."""
        if rater is None:
            rater, status, err = self.check_rater(token, "skip")
            if rater is None:
                return status, err
        a, status, err = self._assignment(rater, token, body, "skip")
        if a is None:
            return status, err
        reason = body.get("reason")
        if reason not in SKIP_REASONS:
            self.db.reject("malformed", token, f"skip reason={str(reason)[:40]!r}")
            return 400, {"error": f"reason must be one of {list(SKIP_REASONS)}"}
        ok, why = self.db.skip(rater["id"], a["trial_id"], reason)
        if not ok:
            return self._refused(token, why, a["ref"])
        answered, total = self.db.progress(rater["id"])
        return 200, {"ok": True, "answered": answered, "total": total}

    def _refused(self, token: str, reason: str, ref: str) -> tuple[int, dict[str, Any]]:
        self.db.reject(reason, token, f"trial={ref}")
        status = {"duplicate": 409, "not-served": 409, "not-assigned": 403}[reason]
        message = {"duplicate": "this pair was already answered",
                   "not-served": "this pair has not been shown to you yet",
                   "not-assigned": "this pair is not part of your session"}[reason]
        return status, {"error": message, "reason": reason}

    def video_path(self, ref: str) -> Path | None:
        video = self.db.media(ref) if TOKEN_RE.fullmatch(ref) else None
        return self.videos.get(video) if video else None


# --------------------------------------------------------------------------------- HTTP ---

class _DeadlineReader(io.RawIOBase):
    """A socket reader that fails once ``deadline`` (time.monotonic) has passed, however slowly bytes trickle in.

    A plain socket timeout restarts with every byte, so a client sending one byte every few
    seconds could hold a connection (and its thread) forever.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 (a writable buffer)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer)


class Handler(BaseHTTPRequestHandler):
    server_version = "crowd"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each small kept-alive response waits ~40 ms for a delayed ACK
    app: CrowdApp  # set on the subclass made by make_server
    server: "CrowdServer"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # (releases the socket's reference) replaced by a reader with a deadline
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the client went away, was too slow, or the connection was dropped for a newer one

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.server.request_timeout
        self.server.set_phase(self.connection, waiting=True)
        super().handle_one_request()

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.server.set_phase(self.connection, waiting=False)
        return ok

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    # -- responses ------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.connection.settimeout(self.server.request_timeout)  # a client that does not read is dropped too
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store" if not ctype.startswith("video/") else "private, max-age=3600")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; media-src 'self'; object-src 'none'; frame-ancestors 'none'")
        if self.close_connection:
            self.send_header("Connection", "close")
        else:
            self.send_header("Keep-Alive", f"timeout={max(1, int(self.server.request_timeout) - 1)}")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _not_found(self) -> None:
        self._json(404, {"error": "not found"})

    # -- routing ----------------------------------------------------------------------------
    def _route(self) -> tuple[str, str, str | None] | None:
        m = _ROUTE.match(urlsplit(self.path).path)
        return (m["kind"], m["a"], m["b"]) if m else None

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return self._send(404, b"<!DOCTYPE html><p>Open the personal link you were given.</p>",
                              "text/html; charset=utf-8")
        kind, a, b = route
        if kind == "static" and b is None and a in ("app.js", "app.css"):
            ctype = "text/javascript; charset=utf-8" if a.endswith(".js") else "text/css; charset=utf-8"
            return self._send(200, (STATIC / a).read_bytes(), ctype)
        if kind == "m" and b is None:
            return self._video(a)
        if kind == "r" and b is None:
            return self._page(a)
        if kind == "api" and b == "next":
            rater, status, err = self.app.check_rater(a, "next")
            if rater is None:
                return self._json(status, err)
            return self._json(200, self.app.next_payload(rater["id"]))
        return self._not_found()

    def do_POST(self) -> None:
        route = self._route()
        if route is None or route[0] != "api" or route[2] not in ("answer", "skip"):
            self.close_connection = True  # the body is not read: the connection cannot be reused
            return self._not_found()
        token, verb = route[1], route[2]
        rater, status, err = self.app.check_rater(token, verb)  # before reading a byte of the body
        if rater is None:
            self.close_connection = True
            return self._json(status, err)
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.app.db.reject("malformed", token, f"content-length {str(self.headers.get('Content-Length'))[:20]}")
            self.close_connection = True
            return self._json(413 if length > MAX_BODY else 411, {"error": "bad request size"})
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            self.app.db.reject("malformed", token, "body did not arrive in time")
            self.close_connection = True
            return self._json(408, {"error": "the request body did not arrive in time"})
        if len(raw) < length:
            self.close_connection = True
            return None
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: deeply nested arrays
            self.app.db.reject("malformed", token, "body is not JSON")
            return self._json(400, {"error": "body must be JSON"})
        status, payload = (self.app.answer if verb == "answer" else self.app.skip)(token, body, rater)
        return self._json(status, payload)

    # -- handlers -----------------------------------------------------------------------------
    def _page(self, token: str) -> None:
        rater, _, err = self.app.check_rater(token, "page")
        if rater is None:
            return self._send(403, f"<!DOCTYPE html><p>{html.escape(err['error'])}.</p>".encode(),
                              "text/html; charset=utf-8")
        s = self.app.study
        page = (self.app.page.replace("{{QUESTION}}", html.escape(s["question"]))
                .replace("{{TOKEN}}", html.escape(token))
                .replace("{{ANSWERS}}", html.escape(json.dumps(
                    [{"key": a, "label": s["answer_labels"][a]} for a in s["answers"]]))))
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _video(self, name: str) -> None:
        ref, _, ext = name.partition(".")
        path = self.app.video_path(ref) if ext == "mp4" else None
        if path is None:
            return self._not_found()
        data = path.read_bytes()
        size = len(data)
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip()) if rng else None
        if m and (m[1] or m[2]):
            if m[1]:
                start, end = int(m[1]), int(m[2]) if m[2] else size - 1
            else:
                start, end = max(0, size - int(m[2])), size - 1
            end = min(end, size - 1)
            if start > end:
                return self._send(416, b"", "video/mp4", {"Content-Range": f"bytes */{size}"})
            return self._send(206, data[start:end + 1], "video/mp4",
                              {"Content-Range": f"bytes {start}-{end}/{size}", "Accept-Ranges": "bytes"})
        self._send(200, data, "video/mp4", {"Accept-Ranges": "bytes"})


@dataclass
class _Connection:
    waiting: bool          # waiting for the client (request not yet whole, or idle keep-alive)
    since: float
    dropped: bool = False


def connection_budget(requested: int) -> int:
    """``requested``, lowered so connections can never exhaust the file-descriptor limit.

    Each connection holds its socket and, while a video is sent, that file: two descriptors.
    """
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return requested
    if soft == resource.RLIM_INFINITY:
        return requested
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        used = 64
    return max(4, min(requested, (soft - used - 16) // 2))


class CrowdServer(ThreadingHTTPServer):
    """A threading HTTP server with a bounded number of connections and per-request deadlines."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[Handler], *, request_timeout: float = REQUEST_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        if not request_timeout > 0 or max_connections < 1:
            raise UserError("request_timeout must be > 0 and max_connections >= 1")
        self.request_timeout = float(request_timeout)
        self.max_connections = connection_budget(max_connections)
        self._connections: dict[socket.socket, _Connection] = {}
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def open_connections(self) -> int:
        with self._connections_lock:
            return len(self._connections)

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # Out of descriptors (other files count too): free one and pause, rather than
                # retrying accept() in a tight loop at 100% CPU.
                with self._connections_lock:
                    self._drop_longest_waiting()
                time.sleep(0.05)
            raise

    def verify_request(self, request: socket.socket, client_address: Any) -> bool:
        with self._connections_lock:
            live = sum(1 for c in self._connections.values() if not c.dropped)
            if live < self.max_connections or self._drop_longest_waiting():
                self._connections[request] = _Connection(True, time.monotonic())
                return True
        try:  # every connection is busy serving a request: tell this client to come back
            request.setblocking(False)
            request.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n"
                         b"Connection: close\r\n\r\n")
        except OSError:
            pass
        return False

    def _drop_longest_waiting(self) -> bool:
        """Shut down the connection that has waited longest for its client (slow or idle); holds the lock."""
        waiting = [(c.since, id(s), s) for s, c in self._connections.items() if c.waiting and not c.dropped]
        if not waiting:
            return False
        _, _, sock = min(waiting)
        self._connections[sock].dropped = True
        try:
            sock.shutdown(socket.SHUT_RDWR)  # its thread's read returns at once and the thread ends
        except OSError:
            pass
        return True

    def set_phase(self, sock: socket.socket, waiting: bool) -> None:
        with self._connections_lock:
            c = self._connections.get(sock)
            if c is not None:
                c.waiting, c.since = waiting, time.monotonic()

    def shutdown_request(self, request: socket.socket) -> None:
        with self._connections_lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        log.exception("error serving %s", client_address)

    def service_actions(self) -> None:
        app = getattr(self.RequestHandlerClass, "app", None)
        if app is not None:
            app.db.flush_rejections(due_only=True)


def make_server(app: CrowdApp, host: str = "127.0.0.1", port: int = 8000, *,
                request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS) -> CrowdServer:
    """An HTTP server for ``app`` (not yet serving); ``port=0`` picks a free port."""
    handler = type("BoundHandler", (Handler,), {"app": app})
    return CrowdServer((host, port), handler, request_timeout=request_timeout, max_connections=max_connections)


def base_url(server: CrowdServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


# --------------------------------------------------------------------------- rater links ---

def links_path(db_path: str | Path) -> Path:
    """The links file of a database: ``<db folder>/<db stem>.links.txt`` (each database has its own)."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.stem + ".links.txt")


def read_link_tokens(path: Path) -> list[str]:
    """The tokens of the links in a links file (one link per line), in order."""
    if not path.is_file():
        return []
    return [line.strip().rsplit("/", 1)[-1] for line in path.read_text().splitlines() if line.strip()]


def write_links(path: Path, url: str, tokens: list[str]) -> Path:
    """Write one personal link per line, atomically and readable by the owner only."""
    return write_text_atomic(path, "".join(f"{url}/r/{t}\n" for t in tokens), mode=0o600)


def _active_tokens(app: CrowdApp, tokens: list[str]) -> list[str]:
    out = []
    for t in tokens:
        r = app.db.rater(t) if TOKEN_RE.fullmatch(t) else None
        if r is not None and r["source"] == "lab" and r["revoked"] is None and t not in out:
            out.append(t)
    return out


def serve(study: str | Path, db: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000,
          raters: int = 0, trials_per_rater: int | None = None, links_file: Path | None = None, *,
          request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS) -> None:
    """Serve a study until interrupted; prints each rater's personal link and keeps them in the links file.

    Tokens are stored hashed in the database, so the links file (``<db stem>.links.txt`` next to
    the database, mode 0600) is the only record of the links: it is read back on a restart.
    """
    if trials_per_rater is not None and trials_per_rater < 1:
        raise UserError(f"--trials-per-rater must be >= 1, got {trials_per_rater}")
    if raters < 0:
        raise UserError(f"--raters must be >= 0, got {raters}")
    _raise_fd_limit()
    app = CrowdApp.open(study, db)
    try:
        links_file = Path(links_file) if links_file else links_path(app.db.path)
        tokens = _active_tokens(app, read_link_tokens(links_file))
        all_raters = app.ensure_raters(raters, trials_per_rater)
        tokens += [r["token"] for r in all_raters if r["token"]]
        unknown = len(all_raters) - len(tokens)
        server = make_server(app, host, port, request_timeout=request_timeout, max_connections=max_connections)
    except BaseException:
        app.db.close()
        raise
    url = base_url(server)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {host} — anyone who can reach it and holds a link can answer", file=sys.stderr)
    if unknown > 0:
        print(f"warning: {unknown} active rater links are not in {links_file} and cannot be shown again (only "
              f"hashes of tokens are stored); revoke them with `benchmark crowd revoke --rater-id` if they were "
              f"never handed out", file=sys.stderr)
    write_links(links_file, url, tokens)
    print(f"serving study {app.study['name']} ({app.study['hash'][:12]}) at {url}", flush=True)
    print(f"{len(tokens)} rater links in {links_file}", flush=True)
    for t in tokens:
        print(f"{url}/r/{t}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.db.close()


def _raise_fd_limit() -> None:
    """Let the server use as many descriptors as the hard limit allows (the connection cap follows)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else 65536
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, 65536), hard))
    except (ImportError, OSError, ValueError):
        pass


def serve_in_thread(app: CrowdApp, host: str = "127.0.0.1", port: int = 0,
                    **options: Any) -> tuple[CrowdServer, threading.Thread]:
    """Start a server in a daemon thread (for tests and scripts); stop with ``server.shutdown()``.

    ``options``: ``request_timeout``, ``max_connections`` (as :func:`make_server`).
    """
    server = make_server(app, host, port, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread
