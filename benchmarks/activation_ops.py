"""The paper's activations and squeeze-excitation on the Cortex-M7: what the kernels' fast paths and the
in-place plan buy, side by side in one run.

One converter-made net of the paper's block ingredients (tests/codegen/keras_paper_blocks.py: Conv +
LeakyReLU(0.01), x * relu6(x + 3) / 6 -> HARD_SWISH, squeeze-excitation -> MEAN / 1x1 CONV_2D / LOGISTIC /
broadcast MUL, x * sigmoid(x) -> LOGISTIC + MUL, residual ADD), built twice for QEMU mps2-an500: the
default kernels (activations folded into their conv as a table lookup, table lookups for the others, SXTAB16 /
SMULBB / SMMLAR for MUL, SXTAB16 lane sums for MEAN), the same kernels' portable C99 paths
(TINYHIL_KERNELS_PORTABLE), and both again with the activations as separate in-place layers (the
planner without fuse_activations). Per op: instructions per output element measured on QEMU
(-icount shift=0, per-layer stamps; median over the runs), every build bit-exact with the tflite-micro
interpreter. Arena: the planner's figure, the same plan without folding or in-place activations
(analytic), and the tflite-micro interpreter's arena. Then one of the paper's MBConv blocks with
LeakyReLU (40x40x32, expansion 4, residual), activations folded vs separate: the schedule the planner
picks, planned and measured arena, peak SRAM and instructions on QEMU.

    .venv/bin/python benchmarks/activation_ops.py [--resolution 40] [--width 16] [--runs 3] [--workdir DIR] [--json OUT]

About three minutes on 2 cores (two Keras exports, six firmware builds and QEMU runs)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.codegen.keras_paper_blocks import build_keras, export_mbconv_block  # noqa: E402

NEW_OPS = ("LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "SWISH", "MUL")


def export(resolution: int, width: int) -> bytes:
    from tinyhil.ml.export import keras_to_int8_tflite

    model = build_keras(resolution, width=width, seed=0)
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((1, resolution, resolution, 3)).astype(np.float32) for _ in range(8)]
    return keras_to_int8_tflite(model, samples)


@contextmanager
def counterfactual(in_place_ops: set[str] | None = None, fold_activations: bool = True) -> Iterator[None]:
    """The planner as it would be without one of this work's rewrites, to measure what it buys."""
    from tinyhil.codegen import planner

    saved = planner._IN_PLACE_OPS, planner.fuse_activations
    if in_place_ops is not None:
        planner._IN_PLACE_OPS = in_place_ops
    if not fold_activations:
        planner.fuse_activations = lambda graph: graph
    try:
        yield
    finally:
        planner._IN_PLACE_OPS, planner.fuse_activations = saved


def _label(op) -> str:
    fused = op.options.get("fused_table")
    return f"{op.opcode} + {fused['opcode']}" if fused else op.opcode


def run(resolution: int, width: int, runs: int, workdir: Path) -> dict:
    from tinyhil.hil import bench
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.hil.firmware import build_firmware
    from tinyhil.codegen.reference import ReferenceInterpreter, tflm_arena_bytes

    blob = export(resolution, width)
    profile = load_profile("qemu-m7")
    rng = np.random.default_rng(1)
    reference = ReferenceInterpreter(blob)
    inputs = rng.integers(-128, 128, size=(runs, *reference.input_shape), dtype=np.int8)
    expected = np.stack([reference.invoke(x) for x in inputs])
    variants = {"fast": (True, False), "portable": (True, True), "unfolded": (False, False),
                "unfolded-portable": (False, True)}
    builds, labels = {}, {}
    for name, (fold, portable) in variants.items():
        with counterfactual(fold_activations=fold):
            generated = generate(blob, workdir / f"model-{name}")
        image = build_firmware(generated.out_dir, profile, workdir / "build", portable_kernels=portable)
        outcome = bench.run_image(image, profile, inputs, workdir / f"run-{name}")
        builds[name] = bench.summarise(image, profile, outcome, expected, "native", generated.layers)
        labels[name] = [(_label(op), int(np.prod(layer.output_shape)))
                        for op, layer in zip(generated.plan.graph.operators, generated.layers)]
    per_op: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (label, elements), fast, portable in zip(labels["fast"], builds["fast"].layer_latency,
                                                 builds["portable"].layer_latency):
        row = per_op[label]
        row["layers"] += 1
        row["elements"] += elements
        row["fast"] += fast["latency"]
        row["portable"] += portable["latency"]
    standalone: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # activations as their own layers
    for (label, elements), fast, portable in zip(labels["unfolded"], builds["unfolded"].layer_latency,
                                                 builds["unfolded-portable"].layer_latency):
        if label in ("LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "SWISH"):
            row = standalone[label]
            row["layers"] += 1
            row["elements"] += elements
            row["fast"] += fast["latency"]
            row["portable"] += portable["latency"]
    unfolded_tables = sum(row["fast"] for row in standalone.values())
    with counterfactual(in_place_ops={"ADD"}, fold_activations=False):
        arena_before = plan_memory(read_tflite(blob)).arena_bytes
    with counterfactual(fold_activations=False):
        arena_unfolded = plan_memory(read_tflite(blob)).arena_bytes
    return {"resolution": resolution, "width": width, "runs": runs, "latency_unit": builds["fast"].latency_unit,
            "total": {name: m.latency_median for name, m in builds.items()},
            "bit_exact": {name: m.bit_exact for name, m in builds.items()},
            "unfolded_activation_layers": unfolded_tables,
            "arena_planned": plan_memory(read_tflite(blob)).arena_bytes, "arena_unfolded": arena_unfolded,
            "arena_without_in_place": arena_before, "arena_tflm": tflm_arena_bytes(blob),
            "per_op": {k: dict(v) for k, v in per_op.items()},
            "standalone_activations": {k: dict(v) for k, v in standalone.items()}}


def run_block(resolution: int, channels: int, expansion: int, runs: int, workdir: Path) -> dict:
    """One of the paper's MBConv blocks with LeakyReLU: activations folded (the planner then runs the block
    as one fused band) vs separate in-place layers (the block's convs stay apart). Measured on QEMU."""
    from tinyhil.hil import bench
    from tinyhil.hil.boards import load_profile

    blob = export_mbconv_block(resolution, channels, expansion, "leaky")
    inputs = np.random.default_rng(2).integers(-128, 128, size=(runs, 1, resolution, resolution, channels),
                                               dtype=np.int8)
    result = {"resolution": resolution, "channels": channels, "expansion": expansion}
    for name, fold in (("folded", True), ("unfolded", False)):
        with counterfactual(fold_activations=fold):
            m = bench.measure(blob, load_profile("qemu-m7"), inputs, workdir=workdir / f"block-{name}")
        result[name] = {"ops": [row["op"] for row in m.memory_plan], "planned_arena": m.planned_arena_bytes,
                        "measured_arena": m.arena_bytes, "peak_sram": m.peak_sram_bytes,
                        "instructions": m.latency_median, "bit_exact": m.bit_exact}
    return result


def print_block(b: dict) -> None:
    print(f"\nthe paper's MBConv block with LeakyReLU at {b['resolution']}x{b['resolution']}x{b['channels']}, expansion "
          f"{b['expansion']}, residual (QEMU mps2-an500; arena planned = analytic, measured = the firmware's "
          "painted-arena high-water; peak SRAM = static RAM + measured stack)\n")
    print("| activations | schedule | arena planned | arena measured | peak SRAM | instructions | bit-exact |")
    print("|---|---|---|---|---|---|---|")
    for name in ("folded", "unfolded"):
        r = b[name]
        print(f"| {name} | {' -> '.join(r['ops'])} | {r['planned_arena']} | {r['measured_arena']} | {r['peak_sram']} | "
              f"{r['instructions']} | {r['bit_exact']} |")


def print_tables(r: dict) -> None:
    unit, total = r["latency_unit"], r["total"]
    print(f"\nnet: the paper's block ingredients at {r['resolution']}x{r['resolution']}x3, width {r['width']}; "
          f"QEMU mps2-an500 (Cortex-M7), {unit} from per-layer stamps, median of {r['runs']} inputs")
    print(f"bit-exact with tflite-micro: {r['bit_exact']}\n")
    print(f"| op (default build: activations folded into their conv) | layers | output elements | {unit} | "
          f"per element | portable C99 per element | portable / fast |")
    print("|---|---|---|---|---|---|---|")
    for op in sorted(r["per_op"], key=lambda k: (not any(a in k for a in NEW_OPS + ("MEAN",)), k)):
        row = r["per_op"][op]
        e = row["elements"]
        print(f"| {op} | {row['layers']} | {e} | {row['fast']} | {row['fast'] / e:.2f} | {row['portable'] / e:.2f} | "
              f"{row['portable'] / max(row['fast'], 1):.2f}x |")
    print(f"| whole inference | | | {total['fast']} | | | {total['portable'] / total['fast']:.2f}x |")
    print(f"\n| activation as its own in-place layer (the same net, nothing folded) | layers | output elements | "
          f"{unit} per element | portable C99 per element | portable / fast |")
    print("|---|---|---|---|---|---|")
    for op, row in sorted(r["standalone_activations"].items()):
        e = row["elements"]
        print(f"| {op} | {row['layers']} | {e} | {row['fast'] / e:.2f} | {row['portable'] / e:.2f} | "
              f"{row['portable'] / max(row['fast'], 1):.2f}x |")
    print(f"\n| build | {unit} per inference |\n|---|---|")
    print(f"| default (activations folded, fast paths) | {total['fast']} |")
    print(f"| activations as separate in-place layers | {total['unfolded']} (of which the activation layers: "
          f"{r['unfolded_activation_layers']}) |")
    print(f"| portable C99 kernels (folded) | {total['portable']} |")
    print("\n| arena | bytes | source |\n|---|---|---|")
    print(f"| tinyhil plan (activations folded, the rest and MUL in place) | {r['arena_planned']} | planner (analytic; "
          "the firmware's arena) |")
    print(f"| activations as separate in-place layers | {r['arena_unfolded']} | planner (analytic) |")
    print(f"| only ADD in place, nothing folded | {r['arena_without_in_place']} | planner (analytic) |")
    print(f"| tflite-micro interpreter | {r['arena_tflm']} | host interpreter's allocation report |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=40)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        result = run(args.resolution, args.width, args.runs, workdir)
        result["block"] = run_block(40, 32, 4, args.runs, workdir)
    print_tables(result)
    print_block(result["block"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
