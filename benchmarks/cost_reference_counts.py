"""Parameters and MACs of the reference networks at 224×224, next to their published values.

Two counts per network: analytic (``budgetnas.spaces.describe_layers``, no module built; what
``ConvSpaceCosts.params_cost`` / ``macs_cost`` price in batches) and counted on the built module
(``budgetnas.cost.count_parameters`` and ``count_macs``, i.e. PyTorch's FlopCounterMode: MACs =
multiply-accumulates of convolutions and linear layers; biases, BN, activations, pooling, SE's
rescaling and skips cost 0).

Usage: python benchmarks/cost_reference_counts.py [--out benchmarks/results/cost_reference_counts.md]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model

from budgetnas.cost import count_macs, count_parameters
from budgetnas.cost.space_costs import ConvSpaceCosts
from budgetnas.spaces import build_model, list_references
from budgetnas.spaces.reference import get_reference, reference_num_classes, reference_space

# name -> (params, MACs, source); only values stated in the papers' tables
PUBLISHED = {
    "mobilenetv2_100": (3.4e6, 300e6, "Sandler et al., CVPR 2018, Table 4 (MobileNetV2 1.0)"),
    "mobilenetv3_large_100": (5.4e6, 219e6,
                              "Howard et al., ICCV 2019, Table 3 (MobileNetV3-Large 1.0)"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--out", default="benchmarks/results/cost_reference_counts.md")
    args = ap.parse_args()
    size = args.input_size
    t0 = time.perf_counter()
    rows = []
    for name in list_references():
        arch, classes = get_reference(name), reference_num_classes(name)
        space = reference_space(name)
        dna = space.encode(arch)
        costs = ConvSpaceCosts(space, input_size=size, num_classes=classes)
        vec = space.to_vector(dna)[None]
        a_params = int(costs.params_cost().batch(vec)[0])
        a_macs = int(costs.macs_cost().batch(vec)[0])
        torch.manual_seed(0)
        model = build_model(arch, num_classes=classes)
        m_params = count_parameters(model)
        m_macs = count_macs(model, (1, 3, size, size))
        pub = PUBLISHED.get(name)
        rows.append((name, space.name, classes, a_params, m_params, a_macs, m_macs, pub))
    took = time.perf_counter() - t0

    def m(v: float) -> str:
        return f"{v / 1e6:.2f} M"

    lines = [
        "# Reference networks: parameters and MACs next to published values",
        "",
        f"Command: `python benchmarks/cost_reference_counts.py --input-size {size}`",
        "",
        f"Machine: {os.cpu_count()} cores (nproc), {cpu_model()}, torch {torch.__version__}, "
        f"numpy {np.__version__}. Counts are exact and do not depend on the machine; "
        f"time {took:.0f} s.",
        "",
        f"Input 1×3×{size}×{size}. *analytic*: summed from the space's per-layer description "
        "(`ConvSpaceCosts(space).params_cost()` / `.macs_cost()` on the network's DNA, no module "
        "built); *module*: `count_parameters` / `count_macs` (FlopCounterMode) of "
        "`build_model(arch)`. MACs = multiply-accumulates of convolutions and linear layers; "
        "FLOPs = 2 × MACs. The MobileDet rows are backbones (no classifier, no head conv).",
        "",
        "| network | space | classes | params (analytic) | params (module) | MACs (analytic) | "
        "MACs (module) | published params / MACs | Δ params / Δ MACs | source |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, space, classes, ap_, mp, am, mm, pub in rows:
        assert ap_ == mp and am == mm, (name, ap_, mp, am, mm)
        if pub:
            pp, pm, src = pub
            published = f"{m(pp)} / {m(pm)}"
            delta = f"{(mp - pp) / pp:+.1%} / {(mm - pm) / pm:+.1%}"
        else:
            published, delta, src = "—", "—", "no published count in our references"
        lines.append(f"| `{name}` | {space} | {classes} | {ap_:,} | {mp:,} | {am:,} | {mm:,} | "
                     f"{published} | {delta} | {src} |")
    lines += [
        "",
        "Analytic and module counts agree exactly for every network (asserted by the script).",
        "",
        "Second sources for the two published networks (their model cards, not measured here):",
        "torchvision's `mobilenet_v2` weights list `num_params` 3504872 and 0.30 GFLOPS (their "
        "GFLOPS are multiply-adds), `mobilenet_v3_large` 5483032 and 0.22 "
        "(https://pytorch.org/vision/stable/models/generated/torchvision.models.mobilenet_v2.html, "
        "…mobilenet_v3_large.html); the Keras applications table lists MobileNetV3-Large 1.0 at "
        "217 M MACs and 5.4 M parameters "
        "(https://www.tensorflow.org/api_docs/python/tf/keras/applications/MobileNetV3Large). "
        "Our parameter counts equal torchvision's exactly; the papers' 3.4 M and 5.4 M are "
        "rounded. MobileNetV3-Large's MACs fall between Keras's 217 M and the paper's 219 M "
        "(the convention here counts SE's two 1×1 convolutions but not its rescaling multiply "
        "nor h-swish).",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
