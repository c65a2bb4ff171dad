"""``SQLStorage``: the experiment store in a database, through SQLAlchemy 2 Core.

A SQLite file by default (WAL journal, a busy timeout, write transactions that take the write
lock up front and retry when the database stays locked), or any SQLAlchemy URL -- e.g.
``postgresql+psycopg2://user@host/db`` -- for a store that several machines share. Each
method is one transaction; :meth:`SQLStorage.create_trial` and
:meth:`SQLStorage.save_trial_and_state` write a trial and the algorithm's state together, which
is what makes a resume after ``kill -9`` continue exactly.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from budgetnas.errors import SchemaVersionError, StoreError
from budgetnas.space import DNA
from budgetnas.study.storage import BaseStorage, SupernetCheckpoint
from budgetnas.study.trial import Trial, TrialState

__all__ = ["SCHEMA_VERSION", "SQLStorage"]

SCHEMA_VERSION = 1
"""The schema this code writes. A store with a higher version is refused (written by newer code)."""

_meta = sa.MetaData()
_schema_version = sa.Table(
    "schema_version", _meta,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("created", sa.Float, nullable=False),
)
_studies = sa.Table(
    "studies", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(512), nullable=False, unique=True),
    sa.Column("settings", sa.Text, nullable=False),  # JSON
    sa.Column("created", sa.Float, nullable=False),
)
_trials = sa.Table(
    "trials", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("dna", sa.Text, nullable=False),  # JSON list of decisions
    sa.Column("params", sa.Text),  # the materialised child as JSON, else its repr
    sa.Column("params_json", sa.Boolean, nullable=False, default=False),
    sa.Column("value", sa.Float),
    sa.Column("metrics", sa.Text, nullable=False),  # JSON
    sa.Column("intermediate", sa.Text, nullable=False),  # JSON {step: value}: the history
    sa.Column("user_attrs", sa.Text, nullable=False),  # JSON
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("worker", sa.String(256)),
    sa.Column("attempt", sa.Integer, nullable=False, default=1),
    sa.Column("datetime_start", sa.Float),
    sa.Column("datetime_complete", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("traceback", sa.Text),
    sa.UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
)
_checkpoints = sa.Table(
    "checkpoints", _meta,  # latest state_dict of a named component: "algorithm", "controller"...
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("format", sa.String(16), nullable=False),  # "json" or "pickle"
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
_supernet = sa.Table(
    "supernet_checkpoints", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

# Statements built once with bound parameters: SQLAlchemy then reuses their compiled form, which
# keeps the store's overhead per trial near a millisecond (building them per call costs ~3x).
_K_STUDY, _K_NUMBER, _K_NAME = sa.bindparam("k_study"), sa.bindparam("k_number"), sa.bindparam("k_name")
_INSERT_TRIAL = _trials.insert()
_UPDATE_TRIAL = _trials.update().where(_trials.c.study_id == _K_STUDY, _trials.c.number == _K_NUMBER)
_LOCK_STUDY = sa.select(_studies.c.id).where(_studies.c.id == _K_STUDY).with_for_update()
_MAX_NUMBER = sa.select(sa.func.max(_trials.c.number)).where(_trials.c.study_id == _K_STUDY)
_INSERT_CKPT = _checkpoints.insert()
_UPDATE_CKPT = _checkpoints.update().where(_checkpoints.c.study_id == _K_STUDY,
                                           _checkpoints.c.name == _K_NAME)


class SQLStorage(BaseStorage):
    """A study store in SQLite (default) or any database SQLAlchemy reaches.

    >>> storage = SQLStorage("runs/adult/study.db")       # a SQLite file
    >>> storage = SQLStorage("postgresql+psycopg2://me@db-host/nas")
    >>> study = bn.Study(space, bn.Random(seed=0), storage=storage, study_name="adult")

    Parameters
    ----------
    url_or_path : str or os.PathLike
        A SQLAlchemy URL (contains ``"://"``) or a path to a SQLite file (created with its
        parent folders).
    busy_timeout_s : float
        How long a SQLite writer waits for the lock before "database is locked".
    retries : int
        How many times a transaction that failed with a lock or serialisation error is
        retried (with jittered exponential back-off) before the error propagates.
    synchronous : {"NORMAL", "FULL"}
        SQLite's sync level. With WAL, ``NORMAL`` survives a process crash (``kill -9``) with
        nothing lost; ``FULL`` also survives a power loss, at about one fsync per transaction.

    Raises
    ------
    SchemaVersionError
        When the database was written by a newer budgetnas (a higher schema version).
    StoreError
        When the database cannot be reached or opened.

    Notes
    -----
    Trials are loaded without their materialised child (``trial.child is None``); the study
    materialises it again from the DNA when it needs to.
    """

    persistent = True

    def __init__(self, url_or_path: str | os.PathLike, *, busy_timeout_s: float = 60.0,
                 retries: int = 20, synchronous: str = "NORMAL") -> None:
        self.url = _to_url(url_or_path)
        self.busy_timeout_s, self.retries = float(busy_timeout_s), int(retries)
        if synchronous.upper() not in ("NORMAL", "FULL", "OFF", "EXTRA"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.synchronous = synchronous.upper()
        self._engine: Engine | None = None
        self._connect()

    # ------------------------------------------------------------------ engine
    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def _connect(self) -> None:
        try:
            self._engine = _make_engine(self.url, self.busy_timeout_s, self.synchronous)
            self._write(self._init_schema)
        except OperationalError as exc:
            raise StoreError(f"cannot open the store at {_safe(self.url)}: {exc.orig}") from exc

    def _init_schema(self, conn: Connection) -> None:
        _meta.create_all(conn)
        found = conn.execute(sa.select(sa.func.max(_schema_version.c.version))).scalar()
        if found is None:
            conn.execute(_schema_version.insert().values(version=SCHEMA_VERSION,
                                                         created=time.time()))
        elif found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the store at {_safe(self.url)} has schema version {found}, but this budgetnas "
                f"knows versions up to {SCHEMA_VERSION}: it was written by a newer budgetnas. "
                "Upgrade budgetnas (pip install -U budgetnas) to open it.")

    @property
    def engine(self) -> Engine:
        assert self._engine is not None
        return self._engine

    def dispose(self) -> None:
        """Close the pooled connections (the store can still be used; it reconnects)."""
        self.engine.dispose()

    def __getstate__(self) -> dict[str, Any]:  # an engine does not travel between processes
        state = dict(self.__dict__)
        state["_engine"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._engine = _make_engine(self.url, self.busy_timeout_s, self.synchronous)

    def __repr__(self) -> str:
        return f"SQLStorage({_safe(self.url)!r})"

    @contextmanager
    def _read_conn(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(budgetnas_read=True) as conn:
            with conn.begin():
                yield conn

    def _write(self, fn: Callable[[Connection], Any]) -> Any:
        """Run ``fn(conn)`` in one write transaction, retried on lock/serialisation errors."""
        delay = 0.005
        for attempt in range(self.retries + 1):
            try:
                with self.engine.begin() as conn:
                    return fn(conn)
            except OperationalError as exc:
                if attempt == self.retries or not _is_transient(exc):
                    raise
            except IntegrityError:
                # Two drivers sharing a study took the same next number (PostgreSQL under
                # READ COMMITTED); the retry reads the new maximum.
                if attempt == self.retries:
                    raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ studies
    def create_study(self, name: str, settings: dict[str, Any]) -> int:
        def run(conn: Connection) -> int:
            sid = conn.execute(sa.select(_studies.c.id).where(_studies.c.name == name)).scalar()
            if sid is None:
                sid = conn.execute(_studies.insert().values(
                    name=name, settings=_dumps(settings), created=time.time())).inserted_primary_key[0]
            return int(sid)
        return self._write(run)

    def get_study_id(self, name: str) -> int | None:
        with self._read_conn() as conn:
            sid = conn.execute(sa.select(_studies.c.id).where(_studies.c.name == name)).scalar()
        return None if sid is None else int(sid)

    def list_studies(self) -> list[str]:
        with self._read_conn() as conn:
            return [r[0] for r in conn.execute(sa.select(_studies.c.name).order_by(_studies.c.id))]

    def get_settings(self, study_id: int) -> dict[str, Any]:
        with self._read_conn() as conn:
            text = conn.execute(sa.select(_studies.c.settings)
                                .where(_studies.c.id == study_id)).scalar()
        if text is None:
            raise StoreError(f"no study with id {study_id} in {_safe(self.url)}")
        return json.loads(text)

    def update_settings(self, study_id: int, settings: dict[str, Any]) -> None:
        self._write(lambda conn: conn.execute(
            _studies.update().where(_studies.c.id == study_id).values(settings=_dumps(settings))))

    # ------------------------------------------------------------------ trials
    def save_trial(self, study_id: int, trial: Trial) -> None:
        self._write(lambda conn: self._upsert_trial(conn, study_id, trial))

    def save_trial_and_state(self, study_id: int, trial: Trial,
                             state: dict[str, Any] | None) -> None:
        row_state = None if state is None else _encode_state(state)

        def run(conn: Connection) -> None:
            self._upsert_trial(conn, study_id, trial)
            if row_state is not None:
                _upsert_checkpoint(conn, study_id, "algorithm", row_state)
        self._write(run)

    def create_trial(self, study_id: int, trial: Trial, state: dict[str, Any] | None = None,
                     seed_of: Callable[[int], int] | None = None) -> int:
        row_state = None if state is None else _encode_state(state)

        def run(conn: Connection) -> int:
            # Lock the study's row (FOR UPDATE; SQLite already holds the write lock) so two
            # drivers sharing the study never take the same number.
            if not self.is_sqlite:  # SQLite's BEGIN IMMEDIATE already holds the write lock
                conn.execute(_LOCK_STUDY, {"k_study": study_id})
            last = conn.execute(_MAX_NUMBER, {"k_study": study_id}).scalar()
            trial.number = 0 if last is None else int(last) + 1
            if seed_of is not None:
                trial.seed = int(seed_of(trial.number))
            conn.execute(_INSERT_TRIAL, {"study_id": study_id, "number": trial.number,
                                         **_trial_row(trial)})
            if row_state is not None:
                _upsert_checkpoint(conn, study_id, "algorithm", row_state)
            return trial.number
        return self._write(run)

    def _upsert_trial(self, conn: Connection, study_id: int, trial: Trial) -> None:
        row = _trial_row(trial)
        keys = {"k_study": study_id, "k_number": trial.number}
        if conn.execute(_UPDATE_TRIAL, {**row, **keys}).rowcount == 0:
            conn.execute(_INSERT_TRIAL, {"study_id": study_id, "number": trial.number, **row})

    def load_trials(self, study_id: int) -> list[Trial]:
        with self._read_conn() as conn:
            rows = conn.execute(sa.select(_trials).where(_trials.c.study_id == study_id)
                                .order_by(_trials.c.number)).mappings().all()
        return [_row_trial(r) for r in rows]

    def record_attempt(self, study_id: int, number: int) -> int:
        where = (_trials.c.study_id == study_id) & (_trials.c.number == number)

        def run(conn: Connection) -> int:
            conn.execute(_trials.update().where(where).values(attempt=_trials.c.attempt + 1))
            found = conn.execute(sa.select(_trials.c.attempt).where(where)).scalar()
            if found is None:
                raise StoreError(f"study {study_id} has no trial number {number}")
            return int(found)
        return self._write(run)

    # ------------------------------------------------------------------ checkpoints
    def save_algorithm_state(self, study_id: int, state: dict[str, Any]) -> None:
        self.save_checkpoint(study_id, "algorithm", state)

    def load_algorithm_state(self, study_id: int) -> dict[str, Any] | None:
        return self.load_checkpoint(study_id, "algorithm")

    def save_checkpoint(self, study_id: int, name: str, state: dict[str, Any]) -> None:
        encoded = _encode_state(state)
        self._write(lambda conn: _upsert_checkpoint(conn, study_id, name, encoded))

    def load_checkpoint(self, study_id: int, name: str) -> dict[str, Any] | None:
        with self._read_conn() as conn:
            row = conn.execute(sa.select(_checkpoints.c.format, _checkpoints.c.payload)
                               .where((_checkpoints.c.study_id == study_id)
                                      & (_checkpoints.c.name == name))).first()
        if row is None:
            return None
        fmt, payload = row
        if fmt == "json":
            return json.loads(bytes(payload).decode("utf-8"))
        if fmt == "pickle":
            return pickle.loads(bytes(payload))
        raise StoreError(f"checkpoint {name!r} of study {study_id} has unknown format {fmt!r}")

    def record_supernet_checkpoint(self, study_id: int, path: str, step: int,
                                   sha256: str) -> None:
        self._write(lambda conn: conn.execute(_supernet.insert().values(
            study_id=study_id, step=int(step), path=str(path), sha256=sha256,
            created=time.time())))

    def list_supernet_checkpoints(self, study_id: int) -> list[SupernetCheckpoint]:
        with self._read_conn() as conn:
            rows = conn.execute(sa.select(_supernet.c.step, _supernet.c.path, _supernet.c.sha256,
                                          _supernet.c.created)
                                .where(_supernet.c.study_id == study_id)
                                .order_by(_supernet.c.step, _supernet.c.id)).all()
        return [SupernetCheckpoint(int(s), p, h, float(c)) for s, p, h, c in rows]


# ---------------------------------------------------------------------- rows
def _trial_row(trial: Trial) -> dict[str, Any]:
    params, params_json = _encode_params(trial.child)
    value = trial.value
    return {
        "state": TrialState(trial.state).value, "dna": json.dumps(list(trial.dna)),
        "params": params, "params_json": params_json,
        "value": None if value is None or not math.isfinite(value) else float(value),
        "metrics": _dumps(trial.metrics),
        "intermediate": _dumps({str(k): v for k, v in trial.intermediate.items()}),
        "user_attrs": _dumps(trial.user_attrs), "seed": int(trial.seed),
        "worker": getattr(trial, "worker", None),
        "datetime_start": trial.datetime_start, "datetime_complete": trial.datetime_complete,
        "error": trial.error, "traceback": trial.traceback,
    }


def _row_trial(r: Any) -> Trial:
    t = Trial(number=int(r["number"]), dna=DNA(json.loads(r["dna"])),
              state=TrialState(r["state"]), value=r["value"],
              metrics=json.loads(r["metrics"]),
              intermediate={int(k): v for k, v in json.loads(r["intermediate"]).items()},
              user_attrs=json.loads(r["user_attrs"]), seed=int(r["seed"]),
              datetime_start=r["datetime_start"], datetime_complete=r["datetime_complete"],
              error=r["error"], traceback=r["traceback"])
    t.worker = r["worker"]
    t.params = json.loads(r["params"]) if r["params_json"] and r["params"] is not None else r["params"]
    return t


def _encode_params(child: Any) -> tuple[str | None, bool]:
    if child is None:
        return None, False
    try:
        return json.dumps(child, allow_nan=False), True
    except (TypeError, ValueError):
        return repr(child), False


def _encode_state(state: dict[str, Any]) -> tuple[str, bytes]:
    """JSON when the state is small and round-trips exactly (readable, portable), else pickle
    (arrays, tensors, tuples, DNA, int keys -- what JSON would silently change -- and large
    states, where JSON's float formatting would cost milliseconds per trial)."""
    blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    if len(blob) <= _JSON_MAX_BYTES:
        try:
            text = json.dumps(state, allow_nan=False)
            if json.loads(text) == state:
                return "json", text.encode("utf-8")
        except (TypeError, ValueError, RuntimeError):  # RuntimeError: comparing tensors
            pass
    return "pickle", blob


_JSON_MAX_BYTES = 4_096


def _upsert_checkpoint(conn: Connection, study_id: int, name: str,
                       encoded: tuple[str, bytes]) -> None:
    fmt, payload = encoded
    values = {"format": fmt, "payload": payload, "updated": time.time()}
    if conn.execute(_UPDATE_CKPT, {**values, "k_study": study_id, "k_name": name}).rowcount == 0:
        conn.execute(_INSERT_CKPT, {"study_id": study_id, "name": name, **values})


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, allow_nan=True)


def _json_default(x: Any) -> Any:
    # numpy / torch scalars and arrays as numbers and lists; anything else as its repr
    if hasattr(x, "tolist"):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    return repr(x)


# ---------------------------------------------------------------------- engine helpers
def _to_url(url_or_path: str | os.PathLike) -> str:
    text = os.fspath(url_or_path)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _make_engine(url: str, busy_timeout_s: float, synchronous: str) -> Engine:
    if not url.startswith("sqlite"):
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise StoreError(f"the database driver {exc.name!r} for {_safe(url)} is not installed; "
                             "for PostgreSQL: pip install 'budgetnas[postgres]'") from exc
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below); pysqlite's implicit BEGIN is deferred.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock at BEGIN: a deferred transaction that reads then writes can
        # fail at once with SQLITE_BUSY when another writer committed in between, which the
        # busy timeout does not cover.
        read = conn.get_execution_options().get("budgetnas_read", False)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return engine


def _is_transient(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return any(s in text for s in ("database is locked", "database is busy", "could not serialize",
                                   "deadlock detected", "locked"))


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages
        return url
