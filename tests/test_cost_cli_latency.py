"""``budgetnas latency build-table`` / ``info`` through the CLI runner."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from budgetnas.cli import app
from budgetnas.cost import load_table
from budgetnas.space import Space, oneof

runner = CliRunner()


def tiny_provider():
    """(space, signatures function, factory): two linear layers whose widths are searched."""
    space = Space({"w1": oneof([4, 8]), "w2": oneof([4, 8])})

    def signatures(v):
        w1, w2 = (4, 8)[v[0]], (4, 8)[v[1]]
        return [f"linear-{6}-{w1}", f"linear-{w1}-{w2}"]

    def factory(sig):
        _, cin, cout = sig.split("-")
        return torch.nn.Linear(int(cin), int(cout)), (int(cin),)

    return space, signatures, factory


def test_build_table_from_import_path_and_resume(tmp_path):
    out = tmp_path / "t.json"
    args = ["latency", "build-table", "tests.test_cost_cli_latency:tiny_provider", "--out",
            str(out), "--repeats", "3", "--warmup", "1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    table = load_table(out)
    assert sorted(table) == ["linear-4-4", "linear-4-8", "linear-6-4", "linear-6-8",
                             "linear-8-4", "linear-8-8"]
    assert all(e.count == 3 and e.iqr_ms >= 0 for e in table.values())
    again = runner.invoke(app, args)
    assert "6 already measured, measuring 0" in again.output
    info = runner.invoke(app, ["latency", "info", str(out)])
    assert info.exit_code == 0 and "6 signatures" in info.output


def test_build_table_proxylessnas_subset(tmp_path):
    out = tmp_path / "p.json"
    res = runner.invoke(app, ["latency", "build-table", "proxylessnas", "--out", str(out),
                              "--repeats", "2", "--warmup", "0", "--limit", "2"])
    assert res.exit_code == 0, res.output
    assert "70 signatures" in res.output  # 4 fixed + 66 searchable (the Pixel 1 table also has k5, k7 first blocks)
    assert len(load_table(out)) == 2


def test_bad_provider_is_a_usage_error(tmp_path):
    res = runner.invoke(app, ["latency", "build-table", "nope", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "module:function" in res.output
