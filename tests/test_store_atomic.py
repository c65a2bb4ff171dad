"""Atomic writes get the permissions a plain ``open(path, "w")`` would give."""

from __future__ import annotations

import os
import stat

import pytest

from budgetnas.store.atomic import (
    atomic_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    process_umask,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def umask():
    """Set a umask for the test and restore the process's one after."""
    before = os.umask(0o022)
    os.umask(before)

    def set_mask(mask: int) -> int:
        os.umask(mask)
        return mask

    yield set_mask
    os.umask(before)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_process_umask_reads_the_mask_without_changing_it(umask):
    umask(0o027)
    assert process_umask() == 0o027
    assert process_umask() == 0o027  # still set
    umask(0o002)
    assert process_umask() == 0o002


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_new_files_get_0666_minus_the_umask(tmp_path, umask, mask):
    umask(mask)
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_bytes(tmp_path / "b.bin", b"x")
    atomic_write_json(tmp_path / "c.json", {"a": 1})
    atomic_save(tmp_path / "d.pt", lambda f: f.write(b"state"))
    plain = tmp_path / "plain.txt"
    with open(plain, "w") as f:  # what a normal open() gives, for comparison
        f.write("x")
    for name in ("a.txt", "b.bin", "c.json", "d.pt"):
        assert mode(tmp_path / name) == 0o666 & ~mask == mode(plain), name


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "settings.json"
    atomic_write_json(path, {"v": 1})
    os.chmod(path, 0o600)  # the user made it private: a rewrite keeps it so
    atomic_write_json(path, {"v": 2})
    assert mode(path) == 0o600 and path.read_text().strip().endswith("}")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
