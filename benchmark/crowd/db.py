"""The judgement store: one SQLite database per study (WAL, full fsync, parameterised SQL only).

Every judgement is committed (and fsynced) before it is acknowledged, so a crash or restart of the
server loses nothing a rater was told was saved. ``UNIQUE(rater_id, trial_id)`` makes a repeated
submission impossible at the storage level as well as in the application.

The file is created ``0600`` and holds no secret a reader could use: rater tokens are stored as
SHA-256 hashes (the links file next to the database is the only place a token is written).

Tables: ``meta`` (study hash, schema, closed), ``raters`` (token hash, revoked), ``assignments``
(each rater's trials: order, the rater's own opaque id for each, which side each video is on),
``served`` (when a trial was first shown), ``media`` (the rater's one-off video URLs),
``judgements``, ``skips`` (pairs a rater could not play), ``rejections`` (refused requests,
aggregated: one row per reason and rater per second or so, with a count).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from benchmark.crowd import DB_SCHEMA
from benchmark.utils import UserError

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,    -- sha256 of the token; the token itself is never stored
    source TEXT NOT NULL,               -- 'lab' (personal link) or 'import' (crowd platform)
    external_id TEXT,                   -- the platform's worker id, for imports
    created REAL NOT NULL,
    revoked REAL,                       -- when the link was revoked (NULL: valid)
    UNIQUE (source, external_id)
);
CREATE TABLE IF NOT EXISTS assignments (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    trial_id TEXT NOT NULL,             -- the study's trial id (never sent to the rater)
    ref TEXT NOT NULL UNIQUE,           -- this rater's own opaque id for the trial
    a_left INTEGER NOT NULL,            -- 1: the trial's first video is on the left for this rater
    PRIMARY KEY (rater_id, position),
    UNIQUE (rater_id, trial_id)
);
CREATE TABLE IF NOT EXISTS served (
    rater_id INTEGER NOT NULL,
    trial_id TEXT NOT NULL,
    served_at REAL NOT NULL,
    PRIMARY KEY (rater_id, trial_id)
);
CREATE TABLE IF NOT EXISTS media (
    ref TEXT PRIMARY KEY,               -- the URL token: one per (rater, trial, side)
    rater_id INTEGER NOT NULL,
    trial_id TEXT NOT NULL,
    side TEXT NOT NULL,
    video TEXT NOT NULL,                -- the study's video token (the file)
    UNIQUE (rater_id, trial_id, side)
);
CREATE TABLE IF NOT EXISTS judgements (
    id INTEGER PRIMARY KEY,
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    trial_id TEXT NOT NULL,
    position INTEGER,                   -- the trial's place in the rater's sequence (lab)
    left_video TEXT NOT NULL,           -- the study video tokens in the order shown
    right_video TEXT NOT NULL,
    answer TEXT NOT NULL,               -- 'left' | 'right' | 'same'
    served_at REAL,                     -- server time the trial was first sent
    answered_at REAL NOT NULL,          -- server time the answer was stored
    client_ms REAL,                     -- the browser's time from videos shown to answer (or work time)
    source TEXT NOT NULL,
    external_ref TEXT,                  -- e.g. the platform's assignment id
    UNIQUE (rater_id, trial_id)
);
CREATE TABLE IF NOT EXISTS skips (
    rater_id INTEGER NOT NULL,
    trial_id TEXT NOT NULL,
    at REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (rater_id, trial_id)
);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,                   -- first of the aggregated requests
    last_at REAL NOT NULL,
    reason TEXT NOT NULL,
    rater_ref TEXT,                     -- sha256 prefix of a known rater's token (never the token)
    detail TEXT,                        -- of the first request
    count INTEGER NOT NULL
);
"""

REJECTION_FLUSH_S = 1.0      # write the aggregated rejections at most this often
REJECTION_KEYS = 256         # distinct (reason, rater, what) kept between two flushes; the rest are lumped


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def token_ref(token: str | None) -> str | None:
    return None if token is None else token_hash(token)[:16]


def _create_private(path: str) -> None:
    """Create the database file 0600 before SQLite opens it (SQLite gives its -wal/-shm files the same mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class JudgementDB:
    """Thread-safe access to one study's database (a single connection behind a lock).

    >>> db = JudgementDB(":memory:", study_hash="abc")
    >>> r = db.add_rater([("t1", True), ("t2", False)])
    >>> [a["trial_id"] for a in db.assigned(r["id"])]
    ['t1', 't2']
    """

    def __init__(self, path: str | Path, study_hash: str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            if not Path(self.path).exists():
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                _create_private(self.path)
            else:
                with contextlib.suppress(OSError):  # (not ours to change: then it stays as it is)
                    os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._con.row_factory = sqlite3.Row
        self._pending: dict[tuple, list] = {}
        self._last_flush = time.monotonic()
        with self._lock:
            tables = {r[0] for r in self._con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "raters" in tables and "meta" in tables:
                row = self._con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if row is None or row[0] != DB_SCHEMA:
                    self._con.close()
                    raise UserError(f"{path}: a judgement database of an older vidbench (it stores rater tokens "
                                    f"in the clear); analyse it with that version, or start a new database")
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.execute("PRAGMA foreign_keys=ON")
            self._con.executescript(SCHEMA_SQL)
            self._con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (DB_SCHEMA,))
            row = self._con.execute("SELECT value FROM meta WHERE key = ?", ("study_hash",)).fetchone()
            if row is None:
                self._con.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("study_hash", study_hash))
            elif row["value"] != study_hash:
                self._con.close()
                raise UserError(f"{path}: database belongs to study {row['value'][:12]}, not {study_hash[:12]}")
        if self.path != ":memory:":
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.chmod(self.path + suffix, 0o600)
        self.study_hash = study_hash

    def close(self) -> None:
        self.flush_rejections()
        with self._lock:
            self._con.close()

    # -- study state ------------------------------------------------------------------------
    def closed(self) -> float | None:
        """When the study was closed to new answers (None: open)."""
        with self._lock:
            row = self._con.execute("SELECT value FROM meta WHERE key = 'closed'").fetchone()
        return float(row[0]) if row else None

    def set_closed(self, closed: bool) -> None:
        with self._lock:
            if closed:
                self._con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('closed', ?)", (repr(time.time()),))
            else:
                self._con.execute("DELETE FROM meta WHERE key = 'closed'")

    # -- raters ---------------------------------------------------------------------------
    def add_rater(self, assignments: Iterable[tuple[str, bool]], source: str = "lab",
                  external_id: str | None = None) -> dict[str, Any]:
        """Create a rater with a fresh secret token and their trials ``(trial_id, first video on the left)``.

        The token is returned here and nowhere else (only its hash is stored).
        """
        token = secrets.token_urlsafe(24)
        rows = list(assignments)
        with self.transaction() as con:
            rid = self._add_rater(con, token, source, external_id)
            con.executemany("INSERT INTO assignments (rater_id, position, trial_id, ref, a_left) VALUES (?, ?, ?, ?, ?)",
                            [(rid, i, t, secrets.token_urlsafe(12), int(bool(a))) for i, (t, a) in enumerate(rows)])
        return {"id": rid, "token": token, "source": source, "external_id": external_id}

    @staticmethod
    def _add_rater(con: sqlite3.Connection, token: str, source: str, external_id: str | None) -> int:
        cur = con.execute("INSERT INTO raters (token_hash, source, external_id, created) VALUES (?, ?, ?, ?)",
                          (token_hash(token), source, external_id, time.time()))
        return int(cur.lastrowid)

    def rater(self, token: str) -> dict[str, Any] | None:
        """The rater holding ``token`` (with ``revoked``), or None."""
        with self._lock:
            row = self._con.execute("SELECT id, source, external_id, revoked FROM raters WHERE token_hash = ?",
                                    (token_hash(token),)).fetchone()
        return dict(row) if row else None

    def rater_by_external(self, source: str, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._con.execute("SELECT id, source, external_id, revoked FROM raters "
                                    "WHERE source = ? AND external_id = ?", (source, external_id)).fetchone()
        return dict(row) if row else None

    def raters(self, source: str | None = None, active: bool = False) -> list[dict[str, Any]]:
        q = "SELECT id, source, external_id, revoked, token_hash FROM raters WHERE 1 = 1"
        args: list[Any] = []
        if source:
            q += " AND source = ?"
            args.append(source)
        if active:
            q += " AND revoked IS NULL"
        with self._lock:
            return [dict(r) for r in self._con.execute(q + " ORDER BY id", args)]

    def revoke(self, rater_id: int) -> bool:
        """Revoke a rater's link (their answers so far stay); False if no such rater."""
        with self._lock:
            cur = self._con.execute("UPDATE raters SET revoked = COALESCE(revoked, ?) WHERE id = ?",
                                    (time.time(), rater_id))
        return cur.rowcount > 0

    def assigned(self, rater_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._con.execute(
                "SELECT position, trial_id, ref, a_left FROM assignments WHERE rater_id = ? ORDER BY position",
                (rater_id,))]

    def assignments(self) -> dict[int, list[str]]:
        """Every rater's assigned trial ids."""
        out: dict[int, list[str]] = {}
        with self._lock:
            for r in self._con.execute("SELECT rater_id, trial_id FROM assignments ORDER BY rater_id, position"):
                out.setdefault(r[0], []).append(r[1])
        return out

    def assignment_by_ref(self, rater_id: int, ref: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._con.execute("SELECT position, trial_id, ref, a_left FROM assignments "
                                    "WHERE rater_id = ? AND ref = ?", (rater_id, ref)).fetchone()
        return dict(row) if row else None

    # -- progress ---------------------------------------------------------------------------
    def _progress(self, rater_id: int) -> tuple[int, int]:
        total = self._con.execute("SELECT COUNT(*) FROM assignments WHERE rater_id = ?", (rater_id,)).fetchone()[0]
        done = self._con.execute(
            "SELECT (SELECT COUNT(*) FROM judgements WHERE rater_id = ?) + (SELECT COUNT(*) FROM skips s WHERE "
            "s.rater_id = ? AND NOT EXISTS (SELECT 1 FROM judgements j WHERE j.rater_id = s.rater_id AND "
            "j.trial_id = s.trial_id))", (rater_id, rater_id)).fetchone()[0]
        return done, total

    def next_trial(self, rater_id: int, shown: Callable[[str, bool], tuple[str, str]] | None = None
                   ) -> dict[str, Any] | None:
        """The rater's first trial neither answered nor skipped, with progress; or None.

        Marks it served and, with ``shown`` (trial id, first video on the left -> the (left, right)
        video tokens), gives the rater one-off media URL tokens for its two videos (the same ones
        on a reload): ``media_left``, ``media_right``. One transaction (one fsync) in all.
        """
        with self.transaction() as con:
            done, total = self._progress(rater_id)
            row = con.execute(
                "SELECT a.position, a.trial_id, a.ref, a.a_left FROM assignments a WHERE a.rater_id = ? "
                "AND NOT EXISTS (SELECT 1 FROM judgements j WHERE j.rater_id = a.rater_id AND j.trial_id = a.trial_id) "
                "AND NOT EXISTS (SELECT 1 FROM skips s WHERE s.rater_id = a.rater_id AND s.trial_id = a.trial_id) "
                "ORDER BY a.position LIMIT 1", (rater_id,)).fetchone()
            if row is None:
                return None
            out = {**dict(row), "done": done, "total": total}
            con.execute("INSERT OR IGNORE INTO served (rater_id, trial_id, served_at) VALUES (?, ?, ?)",
                        (rater_id, row["trial_id"], time.time()))
            if shown is not None:
                videos = dict(zip(("left", "right"), shown(row["trial_id"], bool(row["a_left"]))))
                refs = dict(con.execute("SELECT side, ref FROM media WHERE rater_id = ? AND trial_id = ?",
                                        (rater_id, row["trial_id"])).fetchall())
                for side in ("left", "right"):
                    if side not in refs:
                        refs[side] = secrets.token_urlsafe(16)
                        con.execute("INSERT INTO media (ref, rater_id, trial_id, side, video) VALUES (?, ?, ?, ?, ?)",
                                    (refs[side], rater_id, row["trial_id"], side, videos[side]))
                out["media_left"], out["media_right"] = refs["left"], refs["right"]
        return out

    def progress(self, rater_id: int) -> tuple[int, int]:
        """(answered or skipped, assigned) of a rater."""
        with self._lock:
            return self._progress(rater_id)

    def media(self, ref: str) -> str | None:
        """The study video token behind a media URL token."""
        with self._lock:
            row = self._con.execute("SELECT video FROM media WHERE ref = ?", (ref,)).fetchone()
        return row[0] if row else None

    # -- judgements -------------------------------------------------------------------------
    def record(self, rater_id: int, trial_id: str, left: str, right: str, answer: str, *,
               client_ms: float | None = None) -> tuple[bool, str]:
        """Store one lab judgement; ``(True, "ok")`` once committed, else ``(False, reason)``.

        Reasons: ``not-assigned`` (the trial is not this rater's), ``not-served`` (never shown),
        ``duplicate`` (already answered).
        """
        with self.transaction() as con:
            row = con.execute("SELECT position FROM assignments WHERE rater_id = ? AND trial_id = ?",
                              (rater_id, trial_id)).fetchone()
            if row is None:
                return False, "not-assigned"
            served = con.execute("SELECT served_at FROM served WHERE rater_id = ? AND trial_id = ?",
                                 (rater_id, trial_id)).fetchone()
            if served is None:
                return False, "not-served"
            try:
                con.execute(
                    "INSERT INTO judgements (rater_id, trial_id, position, left_video, right_video, answer, "
                    "served_at, answered_at, client_ms, source, external_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rater_id, trial_id, row["position"], left, right, answer, served["served_at"], time.time(),
                     client_ms, "lab", None))
            except sqlite3.IntegrityError:
                return False, "duplicate"
        return True, "ok"

    def skip(self, rater_id: int, trial_id: str, reason: str) -> tuple[bool, str]:
        """Record that the rater could not judge a served trial (e.g. a video did not load)."""
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM served WHERE rater_id = ? AND trial_id = ?",
                           (rater_id, trial_id)).fetchone() is None:
                return False, "not-served"
            if con.execute("SELECT 1 FROM judgements WHERE rater_id = ? AND trial_id = ?",
                           (rater_id, trial_id)).fetchone() is not None:
                return False, "duplicate"
            con.execute("INSERT OR IGNORE INTO skips (rater_id, trial_id, at, reason) VALUES (?, ?, ?, ?)",
                        (rater_id, trial_id, time.time(), reason))
        return True, "ok"

    def import_judgements(self, rows: list[dict[str, Any]], source: str = "import") -> int:
        """Store platform judgements in ONE transaction: all rows or none (a crash leaves none).

        Each row: ``worker, trial_id, left, right, answer, client_ms, assignment``. Workers are
        created as raters on first sight.
        """
        if self.closed() is not None:
            raise UserError(f"{self.path}: the study is closed to new judgements "
                            f"(`benchmark crowd close --reopen` opens it again)")
        with self.transaction() as con:
            ids: dict[str, int] = {}
            for r in rows:
                w = r["worker"]
                if w not in ids:
                    found = con.execute("SELECT id FROM raters WHERE source = ? AND external_id = ?",
                                        (source, w)).fetchone()
                    ids[w] = found[0] if found else self._add_rater(con, secrets.token_urlsafe(24), source, w)
                con.execute(
                    "INSERT INTO judgements (rater_id, trial_id, position, left_video, right_video, answer, "
                    "served_at, answered_at, client_ms, source, external_ref) VALUES (?, ?, NULL, ?, ?, ?, NULL, ?, ?, ?, ?)",
                    (ids[w], r["trial_id"], r["left"], r["right"], r["answer"], time.time(), r.get("client_ms"),
                     source, r.get("assignment")))
        return len(rows)

    # -- rejections (aggregated) ------------------------------------------------------------
    def reject(self, reason: str, token: str | None = None, detail: str = "") -> None:
        """Count a refused request; rows are written in aggregate (see :meth:`flush_rejections`).

        Requests with an unknown token are counted by reason only: a flood of invented tokens
        costs a counter, not a database row each.
        """
        now = time.time()
        ref = None if reason == "unknown-token" else token_ref(token)
        key = (reason, ref, detail.split(":", 1)[0][:40] if reason == "unknown-token" else "")
        with self._lock:
            if key not in self._pending and len(self._pending) >= REJECTION_KEYS:
                key = ("overflow", None, "")
            entry = self._pending.setdefault(key, [0, now, now, detail[:500]])
            entry[0] += 1
            entry[2] = now
        self.flush_rejections(due_only=True)

    def flush_rejections(self, due_only: bool = False) -> None:
        """Write the counted rejections (one row per reason/rater/kind); with ``due_only`` at most once a second."""
        with self._lock:
            if not self._pending or (due_only and time.monotonic() - self._last_flush < REJECTION_FLUSH_S):
                return
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
            try:
                self._con.execute("BEGIN IMMEDIATE")
                self._con.executemany(
                    "INSERT INTO rejections (at, last_at, reason, rater_ref, detail, count) VALUES (?, ?, ?, ?, ?, ?)",
                    [(first, last, reason, ref, detail, n) for (reason, ref, _), (n, first, last, detail)
                     in pending.items()])
                self._con.execute("COMMIT")
            except sqlite3.Error:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise

    def judgements(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._con.execute(
                "SELECT j.*, r.source AS rater_source, r.external_id AS rater_external, r.revoked AS rater_revoked "
                "FROM judgements j JOIN raters r ON r.id = j.rater_id ORDER BY j.id")]

    def skips(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._con.execute("SELECT * FROM skips ORDER BY at")]

    def rejections(self) -> list[dict[str, Any]]:
        self.flush_rejections()
        with self._lock:
            return [dict(r) for r in self._con.execute("SELECT * FROM rejections ORDER BY id")]

    def rejection_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rejections():
            out[r["reason"]] = out.get(r["reason"], 0) + r["count"]
        return out

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception)."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
