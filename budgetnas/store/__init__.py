"""The experiment store: studies and trials in SQLite or any SQLAlchemy database, atomic file
writes, and the layout of a run directory."""

from budgetnas.store.atomic import (
    atomic_open,
    atomic_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256_file,
)
from budgetnas.store.rundir import RunDir, find_runs
from budgetnas.store.sql import SCHEMA_VERSION, SQLStorage

__all__ = ["SCHEMA_VERSION", "RunDir", "SQLStorage", "atomic_open", "atomic_save", "atomic_write_bytes",
           "atomic_write_json", "atomic_write_text", "find_runs", "sha256_file"]
