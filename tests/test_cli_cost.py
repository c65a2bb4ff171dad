"""``budgetnas cost`` through the CLI runner."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from budgetnas.cli import app
from budgetnas.spaces import get_space, list_references, to_string
from budgetnas.spaces.reference import get_reference, reference_space

runner = CliRunner()
LINE = re.compile(r"^(\w+): (.+)$")


def parse(output: str) -> dict[str, str]:
    out = {}
    for line in output.strip().splitlines():
        m = LINE.match(line)
        assert m, f"not a 'name: value unit' line: {line!r}"
        out[m[1]] = m[2]
    return out


@pytest.mark.slow  # builds and times MobileNetV3-Large (~2-7 s on 2 shared cores)
def test_reference_net_prints_counts_and_latency_at_small_input():
    res = runner.invoke(app, ["cost", "mobilenetv3_large_100", "--input-size", "32",
                              "--repeats", "3", "--warmup", "1"])
    assert res.exit_code == 0, res.output
    got = parse(res.output)
    space = reference_space("mobilenetv3_large_100")
    arch = get_reference("mobilenetv3_large_100")
    assert got["parameters"] == f"{space.params(arch):,}"
    assert got["parameters"] == "5,483,032"  # exact, independent of the input size
    macs = space.macs(arch, 32)
    assert got["MACs"] == f"{macs:,}"
    assert got["FLOPs"] == f"{2 * macs:,}"
    assert got["input_size"] == "3x32x32" and got["num_classes"] == "1000"
    median = re.fullmatch(r"([0-9.]+) ms", got["latency_median"])
    iqr = re.fullmatch(r"([0-9.]+) ms", got["latency_iqr"])
    assert median and float(median[1]) > 0 and iqr and float(iqr[1]) >= 0
    summary = re.fullmatch(r"([0-9.e+-]+) ms \(median of 3 passes, IQR [0-9.e+-]+ ms, batch 1, "
                           r"1 thread, torch\)", got["latency"])
    assert summary and float(summary[1]) == pytest.approx(float(median[1]), rel=0.01)
    assert (got["repeats"], got["threads"], got["batch_size"], got["backend"]) == (
        "3", "1", "1", "torch")


def test_backbone_reference_defaults_to_no_classifier():
    res = runner.invoke(app, ["cost", "mobiledet_cpu", "--input-size", "32", "--no-latency"])
    assert res.exit_code == 0, res.output
    got = parse(res.output)
    space = reference_space("mobiledet_cpu")
    assert got["num_classes"] == "0"
    assert got["parameters"] == f"{space.params(get_reference('mobiledet_cpu'), num_classes=0):,}"
    assert "latency_median" not in got


def test_unknown_name_exits_2_with_the_list_of_names():
    res = runner.invoke(app, ["cost", "resnet50", "--no-latency"])
    assert res.exit_code == 2
    assert "unknown architecture 'resnet50'" in res.output
    for name in list_references():
        assert name in res.output


def test_dna_child_prints_its_counts():
    space = get_space("mobilenetv3_like")
    dna = space.sample(np.random.default_rng(0))
    res = runner.invoke(app, ["cost", json.dumps(list(dna)), "--space", "mobilenetv3_like",
                              "--input-size", "64", "--num-classes", "200", "--no-latency"])
    assert res.exit_code == 0, res.output
    got = parse(res.output)
    assert got["parameters"] == f"{space.params(dna, num_classes=200):,}"
    assert got["MACs"] == f"{space.macs(dna, 64, num_classes=200):,}"
    assert json.loads(got["dna"]) == list(dna)
    assert got["arch_string"] == to_string(space.materialize(dna))


def test_architecture_string_is_accepted():
    text = to_string(get_reference("mobilenetv2_100"))
    res = runner.invoke(app, ["cost", text, "--input-size", "32", "--no-latency"])
    assert res.exit_code == 0, res.output
    assert parse(res.output)["parameters"] == "3,504,872"
    assert parse(res.output)["space"] == "-"
    # MobileNetV2's filters (32, 64, 160) are not among the default ProxylessNAS space's
    res = runner.invoke(app, ["cost", text, "--space", "proxylessnas", "--no-latency"])
    assert res.exit_code == 2, res.output


@pytest.mark.parametrize("args, needle", [
    (["[0, 7]", "--space", "mobilenetv3_like"], "blocks[0].layers[0].kernel"),
    (["[0, 1]"], "--space"),
    (["[0, 1", "--space", "mobilenetv3_like"], "not a JSON list"),
    (["mobilenetv2_100", "--space", "no_such_space"], "unknown space"),
    (["s2_c16: cn_k4_nhs | head_nhs"], "kernel"),
])
def test_invalid_inputs_exit_2_and_say_why(args, needle):
    res = runner.invoke(app, ["cost", *args, "--no-latency"])
    assert res.exit_code == 2, res.output
    assert needle in res.output


def test_torchvision_spelling_is_an_alias():
    res = runner.invoke(app, ["cost", "mobilenet_v3_large", "--input-size", "32", "--no-latency"])
    assert res.exit_code == 0, res.output
    got = parse(res.output)
    assert got["architecture"] == "mobilenetv3_large_100"
    assert got["parameters"] == "5,483,032"
    assert "parameters parameters" not in res.output and "MACs MACs" not in res.output
