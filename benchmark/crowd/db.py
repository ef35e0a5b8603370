"""The judgement store: one SQLite database per study (WAL, full fsync, parameterised SQL only).

Every judgement is committed (and fsynced) before it is acknowledged, so a crash or restart of the
server loses nothing a rater was told was saved. ``UNIQUE(rater_id, trial_id)`` makes a repeated
submission impossible at the storage level as well as in the application.

Tables: ``meta`` (study hash), ``raters``, ``assignments`` (each rater's trial order),
``served`` (when a trial was first shown), ``judgements``, ``rejections`` (every refused request).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from benchmark.utils import UserError

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,               -- 'lab' (personal link) or 'import' (crowd platform)
    external_id TEXT,                   -- the platform's worker id, for imports
    created REAL NOT NULL,
    UNIQUE (source, external_id)
);
CREATE TABLE IF NOT EXISTS assignments (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    trial_id TEXT NOT NULL,
    PRIMARY KEY (rater_id, position),
    UNIQUE (rater_id, trial_id)
);
CREATE TABLE IF NOT EXISTS served (
    rater_id INTEGER NOT NULL,
    trial_id TEXT NOT NULL,
    served_at REAL NOT NULL,
    PRIMARY KEY (rater_id, trial_id)
);
CREATE TABLE IF NOT EXISTS judgements (
    id INTEGER PRIMARY KEY,
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    trial_id TEXT NOT NULL,
    position INTEGER,                   -- the trial's place in the rater's sequence (lab)
    left_video TEXT NOT NULL,           -- the order shown
    right_video TEXT NOT NULL,
    answer TEXT NOT NULL,               -- 'left' | 'right' | 'same'
    served_at REAL,                     -- server time the trial was first sent
    answered_at REAL NOT NULL,          -- server time the answer was stored
    client_ms REAL,                     -- the browser's time from videos shown to answer
    source TEXT NOT NULL,
    external_ref TEXT,                  -- e.g. the platform's assignment id
    UNIQUE (rater_id, trial_id)
);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    reason TEXT NOT NULL,
    rater_ref TEXT,                     -- sha256 prefix of the presented token (never the token)
    detail TEXT
);
"""


def token_ref(token: str | None) -> str | None:
    return None if token is None else hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]


class JudgementDB:
    """Thread-safe access to one study's database (a single connection behind a lock).

    >>> db = JudgementDB(":memory:", study_hash="abc")
    >>> r = db.add_rater(["t1", "t2"])
    >>> db.assigned(r["id"])
    ['t1', 't2']
    """

    def __init__(self, path: str | Path, study_hash: str) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._con.row_factory = sqlite3.Row
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.execute("PRAGMA foreign_keys=ON")
            self._con.executescript(SCHEMA_SQL)
            row = self._con.execute("SELECT value FROM meta WHERE key = ?", ("study_hash",)).fetchone()
            if row is None:
                self._con.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("study_hash", study_hash))
            elif row["value"] != study_hash:
                self._con.close()
                raise UserError(f"{path}: database belongs to study {row['value'][:12]}, not {study_hash[:12]}")
        self.study_hash = study_hash

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # -- raters ---------------------------------------------------------------------------
    def add_rater(self, trial_ids: Iterable[str], source: str = "lab", external_id: str | None = None,
                  token: str | None = None) -> dict[str, Any]:
        """Create a rater with a fresh secret token and their trial order."""
        token = token or secrets.token_urlsafe(24)
        trial_ids = list(trial_ids)
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                cur = self._con.execute(
                    "INSERT INTO raters (token, source, external_id, created) VALUES (?, ?, ?, ?)",
                    (token, source, external_id, time.time()))
                rid = cur.lastrowid
                self._con.executemany("INSERT INTO assignments (rater_id, position, trial_id) VALUES (?, ?, ?)",
                                      [(rid, i, t) for i, t in enumerate(trial_ids)])
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        return {"id": rid, "token": token}

    def rater(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._con.execute("SELECT id, token, source, external_id FROM raters WHERE token = ?",
                                    (token,)).fetchone()
        return dict(row) if row else None

    def rater_by_external(self, source: str, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._con.execute("SELECT id, token, source, external_id FROM raters "
                                    "WHERE source = ? AND external_id = ?", (source, external_id)).fetchone()
        return dict(row) if row else None

    def raters(self, source: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT id, token, source, external_id FROM raters"
        args: tuple = ()
        if source:
            q += " WHERE source = ?"
            args = (source,)
        with self._lock:
            return [dict(r) for r in self._con.execute(q + " ORDER BY id", args)]

    def assigned(self, rater_id: int) -> list[str]:
        with self._lock:
            return [r[0] for r in self._con.execute(
                "SELECT trial_id FROM assignments WHERE rater_id = ? ORDER BY position", (rater_id,))]

    # -- progress ---------------------------------------------------------------------------
    def next_trial(self, rater_id: int) -> tuple[int, str, int, int] | None:
        """(position, trial_id, answered, total) of the rater's first unanswered trial; marks it served."""
        with self._lock:
            total = self._con.execute("SELECT COUNT(*) FROM assignments WHERE rater_id = ?",
                                      (rater_id,)).fetchone()[0]
            answered = self._con.execute("SELECT COUNT(*) FROM judgements WHERE rater_id = ?",
                                         (rater_id,)).fetchone()[0]
            row = self._con.execute(
                "SELECT a.position, a.trial_id FROM assignments a WHERE a.rater_id = ? AND NOT EXISTS "
                "(SELECT 1 FROM judgements j WHERE j.rater_id = a.rater_id AND j.trial_id = a.trial_id) "
                "ORDER BY a.position LIMIT 1", (rater_id,)).fetchone()
            if row is None:
                return None
            self._con.execute("INSERT OR IGNORE INTO served (rater_id, trial_id, served_at) VALUES (?, ?, ?)",
                              (rater_id, row["trial_id"], time.time()))
        return row["position"], row["trial_id"], answered, total

    def progress(self, rater_id: int) -> tuple[int, int]:
        with self._lock:
            total = self._con.execute("SELECT COUNT(*) FROM assignments WHERE rater_id = ?",
                                      (rater_id,)).fetchone()[0]
            answered = self._con.execute("SELECT COUNT(*) FROM judgements WHERE rater_id = ?",
                                         (rater_id,)).fetchone()[0]
        return answered, total

    # -- judgements -------------------------------------------------------------------------
    def record(self, rater_id: int, trial_id: str, left: str, right: str, answer: str, *,
               client_ms: float | None = None, source: str = "lab", external_ref: str | None = None,
               require_served: bool = True, answered_at: float | None = None) -> tuple[bool, str]:
        """Store one judgement; ``(True, "ok")`` once committed, else ``(False, reason)``.

        Reasons: ``not-assigned`` (the trial is not this rater's), ``not-served`` (never shown),
        ``duplicate`` (already answered).
        """
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                pos = None
                if source == "lab":
                    row = self._con.execute("SELECT position FROM assignments WHERE rater_id = ? AND trial_id = ?",
                                            (rater_id, trial_id)).fetchone()
                    if row is None:
                        self._con.execute("ROLLBACK")
                        return False, "not-assigned"
                    pos = row["position"]
                served = self._con.execute("SELECT served_at FROM served WHERE rater_id = ? AND trial_id = ?",
                                           (rater_id, trial_id)).fetchone()
                if require_served and served is None:
                    self._con.execute("ROLLBACK")
                    return False, "not-served"
                try:
                    self._con.execute(
                        "INSERT INTO judgements (rater_id, trial_id, position, left_video, right_video, answer, "
                        "served_at, answered_at, client_ms, source, external_ref) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (rater_id, trial_id, pos, left, right, answer, served["served_at"] if served else None,
                         answered_at if answered_at is not None else time.time(), client_ms, source,
                         external_ref))
                except sqlite3.IntegrityError:
                    self._con.execute("ROLLBACK")
                    return False, "duplicate"
                self._con.execute("COMMIT")
            except BaseException:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise
        return True, "ok"

    def reject(self, reason: str, token: str | None = None, detail: str = "") -> None:
        with self._lock:
            self._con.execute("INSERT INTO rejections (at, reason, rater_ref, detail) VALUES (?, ?, ?, ?)",
                              (time.time(), reason, token_ref(token), detail[:500]))

    def judgements(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._con.execute(
                "SELECT j.*, r.source AS rater_source, r.external_id AS rater_external FROM judgements j "
                "JOIN raters r ON r.id = j.rater_id ORDER BY j.id")]

    def rejections(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._con.execute("SELECT * FROM rejections ORDER BY id")]

    def transaction(self):
        """A context manager holding the lock inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (for imports)."""
        return _Transaction(self)


class _Transaction:
    def __init__(self, db: JudgementDB) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db._lock.acquire()
        self.db._con.execute("BEGIN IMMEDIATE")
        return self.db._con

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.db._con.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.db._lock.release()
