"""The run store: one SQLite file per run (runs/<run-id>/store.sqlite).

Every state change is one committed transaction (WAL journal, synchronous=FULL), so a search killed with
kill -9 loses at most the evaluation it was in the middle of, and `--resume` finds every finished one.
Statuses: proposed -> trained -> exported -> measured, or failed (with the stage and reason), infeasible
(measured but over a hard budget: kept with its measurement, excluded from the front) or rejected (never
trained: invalid spec, over the analytic budget, duplicate, unreadable LLM reply).
LLM exchanges are stored too; API keys never reach this module.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError

STORE_FILE = "store.sqlite"
FINISHED = ("measured", "failed", "infeasible", "rejected")
IN_PROGRESS = ("proposed", "trained", "exported")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (
    id TEXT PRIMARY KEY, created REAL NOT NULL, config TEXT NOT NULL, info TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL,
    proposer TEXT NOT NULL,
    spec TEXT,
    spec_hash TEXT UNIQUE,
    status TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL DEFAULT '{}',
    provenance TEXT NOT NULL DEFAULT '{}',
    artefacts TEXT NOT NULL DEFAULT '{}',
    timings TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    reasoning TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS llm_exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL,
    round INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    reply TEXT NOT NULL,
    errors TEXT NOT NULL DEFAULT '[]',
    seconds REAL NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass
class Candidate:
    id: int
    step: int
    proposer: str
    spec: dict[str, Any] | None
    spec_hash: str | None
    status: str
    stage: str = ""
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    artefacts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    created: float = 0.0
    updated: float = 0.0
    reasoning: str = ""  # the proposer's own words for why it proposed this spec (the LLM's; empty for the others)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def accuracy_split(self) -> str | None:
        """Where `accuracy` was measured: "validation" (held out of training); "test" in runs made before the
        search had a validation split (those stores hold no accuracy_split and were selected on test accuracy)."""
        if self.metrics.get("accuracy") is None:
            return None
        return str(self.metrics.get("accuracy_split") or "test")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LLMExchange:
    step: int
    round: int
    endpoint: str
    model: str
    request: list[dict[str, Any]]
    reply: str
    errors: list[str]
    seconds: float


class RunStore:
    """SQLite store of one search run. Use `RunStore.create(run_dir, ...)` or `RunStore.open(run_dir)`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(candidates)")}
        if "reasoning" not in columns:  # a store written before proposals kept their reasoning
            self._db.execute("ALTER TABLE candidates ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''")

    @classmethod
    def create(cls, run_dir: Path, run_id: str, config: dict[str, Any]) -> "RunStore":
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        store = cls(run_dir / STORE_FILE)
        with store._transaction() as db:
            if db.execute("SELECT 1 FROM run").fetchone():
                raise ConfigError(f"{run_dir} already holds a run; continue it with `tinyhil search --resume {run_dir}`"
                                  " or pick another --run-id")
            db.execute("INSERT INTO run (id, created, config) VALUES (?, ?, ?)", (run_id, time.time(), json.dumps(config)))
        return store

    @classmethod
    def open(cls, run_dir: Path | str) -> "RunStore":
        path = Path(run_dir)
        path = path if path.suffix == ".sqlite" else path / STORE_FILE
        if not path.is_file():
            raise ConfigError(f"no run store at {path}: give the run folder a search created (runs/<run-id>)")
        check_readable(path)
        return cls(path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    # --- the run -----------------------------------------------------------------------------------------
    def run_id(self) -> str:
        return str(self._db.execute("SELECT id FROM run").fetchone()["id"])

    def config(self) -> dict[str, Any]:
        config = json.loads(self._db.execute("SELECT config FROM run").fetchone()["config"])
        if not isinstance(config, dict):
            raise StoreError(f"run store {self.path}: the run's configuration is a JSON {type(config).__name__}, not "
                             f"an object; {_what_to_do(self.path)}")
        return config

    def info(self) -> dict[str, Any]:
        return json.loads(self._db.execute("SELECT info FROM run").fetchone()["info"])

    def update_info(self, **values: Any) -> None:
        with self._transaction() as db:
            info = json.loads(db.execute("SELECT info FROM run").fetchone()["info"])
            info.update(values)
            db.execute("UPDATE run SET info = ?", (json.dumps(info, default=str),))

    # --- candidates --------------------------------------------------------------------------------------
    def add_candidate(self, step: int, proposer: str, spec: dict[str, Any] | None, spec_hash: str | None,
                      status: str = "proposed", reason: str = "", stage: str = "",
                      metrics: dict[str, Any] | None = None, reasoning: str = "") -> int:
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO candidates (step, proposer, spec, spec_hash, status, stage, reason, metrics, created, updated,"
                " reasoning) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (step, proposer, None if spec is None else json.dumps(spec, sort_keys=True), spec_hash, status, stage,
                 reason, json.dumps(metrics or {}), now, now, reasoning or ""))
            return int(cursor.lastrowid)

    def update_candidate(self, candidate_id: int, *, status: str | None = None, stage: str | None = None,
                         reason: str | None = None, metrics: dict[str, Any] | None = None,
                         provenance: dict[str, Any] | None = None, artefacts: dict[str, Any] | None = None,
                         timings: dict[str, float] | None = None) -> None:
        """Merge metrics/provenance/artefacts/timings into what is stored and set status; one transaction."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
            if row is None:
                raise ConfigError(f"candidate {candidate_id} is not in {self.path}")
            merged = {}
            for column, extra in (("metrics", metrics), ("provenance", provenance), ("artefacts", artefacts),
                                  ("timings", timings)):
                value = json.loads(row[column])
                value.update(extra or {})
                merged[column] = json.dumps(value, default=str)
            db.execute(
                "UPDATE candidates SET status = ?, stage = ?, reason = ?, metrics = ?, provenance = ?, artefacts = ?,"
                " timings = ?, updated = ? WHERE id = ?",
                (status or row["status"], row["stage"] if stage is None else stage,
                 row["reason"] if reason is None else reason, merged["metrics"], merged["provenance"],
                 merged["artefacts"], merged["timings"], time.time(), candidate_id))

    def get_candidate(self, candidate_id: int | str) -> Candidate:
        try:
            key = int(candidate_id)
        except ValueError:
            raise ConfigError(f"candidate id {candidate_id!r} is not a number; `tinyhil search` prints the ids") from None
        row = self._db.execute("SELECT * FROM candidates WHERE id = ?", (key,)).fetchone()
        if row is None:
            low, high = self._db.execute("SELECT MIN(id), MAX(id) FROM candidates").fetchone()
            held = f"it holds candidates {low} to {high}" if low is not None else "it holds no candidates yet"
            raise ConfigError(f"candidate {candidate_id} is not in {self.path} ({held}); `tinyhil report {self.run_dir}` "
                              f"lists them and {self.run_dir / 'front.json'} the front's ids")
        return _candidate(row, self.path)

    def find_by_hash(self, spec_hash: str) -> Candidate | None:
        row = self._db.execute("SELECT * FROM candidates WHERE spec_hash = ?", (spec_hash,)).fetchone()
        return None if row is None else _candidate(row, self.path)

    def candidates(self, status: str | tuple[str, ...] | None = None) -> list[Candidate]:
        if status is None:
            rows = self._db.execute("SELECT * FROM candidates ORDER BY id").fetchall()
        else:
            wanted = (status,) if isinstance(status, str) else tuple(status)
            marks = ",".join("?" * len(wanted))
            rows = self._db.execute(f"SELECT * FROM candidates WHERE status IN ({marks}) ORDER BY id", wanted).fetchall()
        return [_candidate(row, self.path) for row in rows]

    def selected_on_test_split(self) -> bool:
        """True for a run made before the validation split: its accuracies (and so its front) are test-split ones."""
        return any(c.accuracy_split == "test" for c in self.candidates(("measured", "infeasible")))

    def last_step(self) -> int:
        row = self._db.execute("SELECT MAX(step) AS s FROM candidates").fetchone()
        return -1 if row["s"] is None else int(row["s"])

    # --- LLM exchanges -----------------------------------------------------------------------------------
    def add_llm_exchange(self, exchange: LLMExchange) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO llm_exchanges (step, round, endpoint, model, request, reply, errors, seconds, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (exchange.step, exchange.round, exchange.endpoint, exchange.model, json.dumps(exchange.request),
                 exchange.reply, json.dumps(exchange.errors), exchange.seconds, time.time()))

    def llm_exchanges(self) -> list[LLMExchange]:
        rows = self._db.execute("SELECT * FROM llm_exchanges ORDER BY id").fetchall()
        return [LLMExchange(r["step"], r["round"], r["endpoint"], r["model"], json.loads(r["request"]), r["reply"],
                            json.loads(r["errors"]), r["seconds"]) for r in rows]

    # --- internals ---------------------------------------------------------------------------------------
    class _Transaction:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type: object, *rest: object) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _transaction(self) -> "_Transaction":
        return RunStore._Transaction(self._db)


def check_readable(path: Path) -> None:
    """StoreError unless `path` is a readable run store holding its run record. Read-only: a damaged store is
    left exactly as it was, for `sqlite3 store.sqlite .recover` or a backup."""
    what_to_do = _what_to_do(path)
    if path.stat().st_size == 0:
        raise StoreError(f"run store {path} is empty (0 bytes): the run's record is gone; {what_to_do}")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise StoreError(f"run store {path} cannot be opened ({exc}); {what_to_do}") from None
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise StoreError(f"run store {path} is damaged ({'; '.join(problems[:3])}); {what_to_do}")
        run = db.execute("SELECT id, config FROM run").fetchone()
        if run is None:
            raise StoreError(f"run store {path} holds no run record; {what_to_do}")
        json.loads(run[1])
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed", no table
        raise StoreError(f"run store {path} is damaged or not a run store ({exc}); {what_to_do}") from None
    except ValueError as exc:
        raise StoreError(f"run store {path}: the run's configuration is not readable JSON ({exc}); {what_to_do}") from None
    finally:
        db.close()


def _what_to_do(path: Path) -> str:
    return (f"restore it from a backup, or salvage it with `sqlite3 {path} .recover | sqlite3 recovered.sqlite`; "
            "a new search starts a fresh run")


class StoreError(ConfigError):
    """A run store is damaged, truncated or not a run store; nothing was written to it."""


_JSON_COLUMNS = {"spec": (dict, type(None)), "metrics": (dict,), "provenance": (dict,), "artefacts": (dict,),
                 "timings": (dict,)}


def _candidate(row: sqlite3.Row, path: Path) -> Candidate:
    fields: dict[str, Any] = {}
    for column, types in _JSON_COLUMNS.items():
        try:
            value = None if row[column] is None else json.loads(row[column])
        except ValueError as exc:
            value, problem = None, f"is not readable JSON ({exc})"
        else:
            problem = "" if isinstance(value, types) else f"is a JSON {type(value).__name__}, not an object"
        if problem:
            raise StoreError(f"run store {path}: candidate {row['id']}'s {column} {problem}; {_what_to_do(path)}")
        fields[column] = value
    return Candidate(id=row["id"], step=row["step"], proposer=row["proposer"], spec_hash=row["spec_hash"],
                     status=row["status"], stage=row["stage"], reason=row["reason"], created=row["created"],
                     updated=row["updated"], reasoning=row["reasoning"], **fields)


def iter_runs(runs_dir: Path) -> Iterator[Path]:
    """Run folders under runs_dir (those holding a store), oldest first."""
    for path in sorted(Path(runs_dir).glob(f"*/{STORE_FILE}"), key=lambda p: p.stat().st_mtime):
        yield path.parent
