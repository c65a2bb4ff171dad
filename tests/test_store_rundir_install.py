"""install_run: finishing a run never replaces a user's file."""

import pytest

from budgetnas.store.rundir import RunDir, install_run


def test_install_run_refuses_a_file_as_out_even_with_overwrite(tmp_path):
    run = RunDir.create(tmp_path / "OUT.partial", {"seed": 0})
    tmp = tmp_path / ".OUT.tmp"
    tmp.mkdir()
    out = tmp_path / "OUT"
    out.write_text("user data")
    with pytest.raises(FileExistsError, match="is a file"):
        install_run(run, tmp, out, overwrite=True)
    assert out.read_text() == "user data"
    assert not list(tmp_path.glob(".OUT.old-*"))
