"""An --out that cannot be written is a usage error before any search work."""

from __future__ import annotations

from typer.testing import CliRunner

from budgetnas.cli import app


def test_unwritable_out_exits_2_before_searching(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(app, ["search", "--dataset", "adult", "--max-params", "3000",
                                      "--out", str(blocker / "run")])
    assert result.exit_code == 2
    assert "cannot write --out" in result.output
    assert not (blocker.parent / "run").exists()
