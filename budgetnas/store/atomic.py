"""Atomic file writes: a crash leaves either the old file or the new one, never half of one.

Write to a temporary file in the same directory, flush and ``fsync`` it, ``os.replace`` it over
the target (atomic on POSIX and Windows), then ``fsync`` the directory so the rename itself
survives a power loss. Used for run settings, reports and supernet weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "atomic_save", "process_umask", "sha256_file"]


def process_umask() -> int:
    """The process's file-mode creation mask (e.g. ``0o022``), read without changing it.

    Linux exposes it in ``/proc/self/status``; elsewhere it is read with a set-and-restore
    ``os.umask`` call (which briefly sets it process-wide).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(path: Path) -> int:
    # What ``open(path, "w")`` would give: an existing file keeps its mode, a new one gets
    # 0o666 minus the umask (mkstemp alone makes every file 0600).
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~process_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` atomically when the block exits cleanly.

    >>> with atomic_open("weights.bin") as f:
    ...     f.write(b"...")

    If the block raises, the temporary file is removed and ``path`` is untouched. The file gets
    the permissions a plain ``open(path, "w")`` would give it: those of the file it replaces, or
    ``0o666 & ~umask`` for a new one.

    Raises
    ------
    ValueError
        If ``mode`` is not a write mode (``"w"``, ``"wb"``, ``"x"``-less).
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_open writes a whole file: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode_bits = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode_bits)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (sorted keys, trailing newline) to ``path`` atomically.

    Raises
    ------
    TypeError
        If ``obj`` is not JSON-serialisable (nothing is written then).
    """
    text = json.dumps(obj, indent=indent, sort_keys=True) + "\n"  # fails before touching disk
    atomic_write_text(path, text)


def atomic_save(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> str:
    """Call ``write(f)`` on a binary temporary file, install it at ``path``, return its SHA-256.

    >>> digest = atomic_save("ckpt.pt", lambda f: torch.save(state, f))
    """
    with atomic_open(path, "wb") as f:
        write(f)
    return sha256_file(path)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; not possible on every OS/filesystem (Windows), where it is a no-op.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
