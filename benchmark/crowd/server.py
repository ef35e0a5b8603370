"""The in-lab rater web app: standard-library HTTP server + the study's SQLite database.

Routes (``<token>`` is a rater's secret; ``<v>`` an opaque per-study video token)::

    GET  /r/<token>              the rater page (static HTML; the app script asks for trials)
    GET  /static/app.js|app.css  the page's script and style
    GET  /api/<token>/next       the next unanswered trial: {"trial", "left", "right", progress...}
    POST /api/<token>/answer     {"trial": id, "answer": "left"|"right"|"same", "client_ms": 1234}
    GET  /m/<v>.mp4              a video (HTTP range requests supported, for looping playback)

Blinding: the browser only ever receives the question, the answer labels, opaque trial ids and
``/m/<token>.mp4`` URLs; which system made a video, and which trials are attention checks, stays
in ``study.json`` on the server. Bad requests (unknown token, a trial that is not the rater's, an
answer outside the study's set, a repeat) get a 4xx JSON ``{"error": ...}`` and a row in the
``rejections`` table. A judgement is acknowledged (HTTP 200) only after it is committed.

>>> app = CrowdApp.open("studies/demo")                       # doctest: +SKIP
>>> server = make_server(app, "127.0.0.1", 8000)               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmark.crowd.db import JudgementDB
from benchmark.crowd.design import load_study
from benchmark.utils import UserError

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_BODY = 4096
_ROUTE = re.compile(r"^/(?P<kind>r|api|m|static)/(?P<a>[^/]+)(?:/(?P<b>[^/]+))?$")


class CrowdApp:
    """A study, its videos and its database, as the request handlers see them."""

    def __init__(self, study: dict[str, Any], folder: Path, db: JudgementDB) -> None:
        self.study, self.folder, self.db = study, folder, db
        self.trials = {t["id"]: t for t in study["trials"]}
        self.videos = {tok: folder / v["file"] for tok, v in study["videos"].items()}
        self.answers = tuple(study["answers"])
        self.page = (STATIC / "rater.html").read_text()

    @classmethod
    def open(cls, study_path: str | Path, db_path: str | Path | None = None) -> "CrowdApp":
        study, folder = load_study(study_path)
        missing = [str(p) for p in (folder / v["file"] for v in study["videos"].values()) if not p.is_file()]
        if missing:
            raise UserError(f"{folder}: {len(missing)} study videos missing (e.g. {missing[0]}); re-run design")
        db = JudgementDB(db_path or folder / "judgements.sqlite", study["hash"])
        return cls(study, folder, db)

    def ensure_raters(self, n: int, trials_per_rater: int | None = None) -> list[dict[str, Any]]:
        """At least ``n`` lab raters; new ones get every attention check plus regular trials in random order.

        With ``trials_per_rater`` each new rater gets that many regular trials, the least-assigned first,
        so coverage stays even across raters.
        """
        existing = self.db.raters("lab")
        checks = [t["id"] for t in self.study["trials"] if t["check"]]
        regular = [t["id"] for t in self.study["trials"] if not t["check"]]
        rng = random.SystemRandom()
        counts = {t: 0 for t in regular}
        for r in existing:
            for t in self.db.assigned(r["id"]):
                if t in counts:
                    counts[t] += 1
        for _ in range(max(0, n - len(existing))):
            chosen = regular
            if trials_per_rater is not None and trials_per_rater < len(regular):
                pool = sorted(regular, key=lambda t: (counts[t], rng.random()))
                chosen = pool[:trials_per_rater]
            for t in chosen:
                counts[t] += 1
            order = chosen + checks
            rng.shuffle(order)
            existing.append(self.db.add_rater(order, "lab"))
        return existing

    # -- API ------------------------------------------------------------------------------
    def next_payload(self, rater_id: int) -> dict[str, Any]:
        nxt = self.db.next_trial(rater_id)
        if nxt is None:
            answered, total = self.db.progress(rater_id)
            return {"done": True, "answered": answered, "total": total}
        position, trial_id, answered, total = nxt
        t = self.trials[trial_id]
        return {"done": False, "trial": trial_id, "left": f"/m/{t['left']}.mp4", "right": f"/m/{t['right']}.mp4",
                "answered": answered, "total": total}

    def answer(self, token: str, body: Any) -> tuple[int, dict[str, Any]]:
        rater = self.db.rater(token)
        if rater is None or rater["source"] != "lab":
            self.db.reject("unknown-token", token, "answer")
            return 403, {"error": "unknown rater link"}
        if not isinstance(body, dict):
            self.db.reject("malformed", token, "body is not a JSON object")
            return 400, {"error": "expected a JSON object"}
        trial_id, answer, client_ms = body.get("trial"), body.get("answer"), body.get("client_ms")
        if not isinstance(answer, str) or answer not in self.answers:
            self.db.reject("bad-answer", token, f"answer={str(answer)[:40]!r}")
            return 400, {"error": f"answer must be one of {list(self.answers)}"}
        if not isinstance(trial_id, str) or trial_id not in self.trials:
            self.db.reject("unknown-trial", token, f"trial={str(trial_id)[:40]!r}")
            return 404, {"error": "unknown trial"}
        if client_ms is not None and (not isinstance(client_ms, (int, float)) or isinstance(client_ms, bool)
                                      or not 0 <= client_ms < 1e9):
            client_ms = None
        t = self.trials[trial_id]
        ok, reason = self.db.record(rater["id"], trial_id, t["left"], t["right"], answer,
                                    client_ms=None if client_ms is None else float(client_ms))
        if not ok:
            self.db.reject(reason, token, f"trial={trial_id}")
            status = {"duplicate": 409, "not-served": 409, "not-assigned": 403}[reason]
            message = {"duplicate": "this pair was already answered",
                       "not-served": "this pair has not been shown to you yet",
                       "not-assigned": "this pair is not part of your session"}[reason]
            return status, {"error": message, "reason": reason}
        answered, total = self.db.progress(rater["id"])
        return 200, {"ok": True, "answered": answered, "total": total}


class Handler(BaseHTTPRequestHandler):
    server_version = "crowd"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    app: CrowdApp  # set on the subclass made by make_server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    # -- responses ------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store" if not ctype.startswith("video/") else "private, max-age=3600")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; media-src 'self'; object-src 'none'; frame-ancestors 'none'")
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
        try:
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
                rater = self._rater(a, "next")
                if rater is not None:
                    self._json(200, self.app.next_payload(rater["id"]))
                return None
            return self._not_found()
        except (BrokenPipeError, ConnectionResetError):
            return None

    def do_POST(self) -> None:
        try:
            route = self._route()
            if route is None or route[0] != "api" or route[2] != "answer":
                return self._not_found()
            token = route[1]
            try:
                length = int(self.headers.get("Content-Length", "-1"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self.app.db.reject("malformed", token, f"content-length {self.headers.get('Content-Length')}")
                self.close_connection = True
                return self._json(413 if length > MAX_BODY else 411, {"error": "bad request size"})
            raw = self.rfile.read(length)
            if not TOKEN_RE.fullmatch(token):
                self.app.db.reject("unknown-token", token, "answer")
                return self._json(403, {"error": "unknown rater link"})
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                self.app.db.reject("malformed", token, "body is not JSON")
                return self._json(400, {"error": "body must be JSON"})
            status, payload = self.app.answer(token, body)
            return self._json(status, payload)
        except (BrokenPipeError, ConnectionResetError):
            return None

    # -- handlers -----------------------------------------------------------------------------
    def _rater(self, token: str, what: str) -> dict[str, Any] | None:
        rater = self.app.db.rater(token) if TOKEN_RE.fullmatch(token) else None
        if rater is None or rater["source"] != "lab":
            self.app.db.reject("unknown-token", token, what)
            self._json(403, {"error": "unknown rater link"})
            return None
        return rater

    def _page(self, token: str) -> None:
        rater = self.app.db.rater(token) if TOKEN_RE.fullmatch(token) else None
        if rater is None or rater["source"] != "lab":
            self.app.db.reject("unknown-token", token, "page")
            return self._send(403, b"<!DOCTYPE html><p>This link is not valid.</p>", "text/html; charset=utf-8")
        import html

        s = self.app.study
        page = (self.app.page.replace("{{QUESTION}}", html.escape(s["question"]))
                .replace("{{TOKEN}}", html.escape(token))
                .replace("{{ANSWERS}}", html.escape(json.dumps(
                    [{"key": a, "label": s["answer_labels"][a]} for a in s["answers"]]))))
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _video(self, name: str) -> None:
        token, _, ext = name.partition(".")
        path = self.app.videos.get(token) if ext == "mp4" else None
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


class CrowdServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(app: CrowdApp, host: str = "127.0.0.1", port: int = 8000) -> CrowdServer:
    """An HTTP server for ``app`` (not yet serving); ``port=0`` picks a free port."""
    handler = type("BoundHandler", (Handler,), {"app": app})
    return CrowdServer((host, port), handler)


def base_url(server: CrowdServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def serve(study: str | Path, db: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000,
          raters: int = 0, trials_per_rater: int | None = None, links_file: Path | None = None) -> None:
    """Serve a study until interrupted; prints each rater's personal link (and writes them to a file)."""
    app = CrowdApp.open(study, db)
    all_raters = app.ensure_raters(raters, trials_per_rater)
    server = make_server(app, host, port)
    url = base_url(server)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {host} — anyone who can reach it and holds a link can answer", file=sys.stderr)
    links = [f"{url}/r/{r['token']}" for r in all_raters]
    links_file = links_file or app.folder / "rater_links.txt"
    links_file.write_text("".join(f"{link}\n" for link in links))
    links_file.chmod(0o600)
    print(f"serving study {app.study['name']} ({app.study['hash'][:12]}) at {url}", flush=True)
    print(f"{len(links)} rater links in {links_file}", flush=True)
    for link in links:
        print(link, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.db.close()


def serve_in_thread(app: CrowdApp, host: str = "127.0.0.1", port: int = 0) -> tuple[CrowdServer, threading.Thread]:
    """Start a server in a daemon thread (for tests and scripts); stop with ``server.shutdown()``."""
    server = make_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread
