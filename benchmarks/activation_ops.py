"""The paper's activations and squeeze-excitation on the Cortex-M7: what the kernels' fast paths and the
in-place plan buy, side by side in one run.

One converter-made net of the paper's block ingredients (tests/codegen/keras_paper_blocks.py: Conv +
LeakyReLU(0.01), x * relu6(x + 3) / 6 -> HARD_SWISH, squeeze-excitation -> MEAN / 1x1 CONV_2D / LOGISTIC /
broadcast MUL, x * sigmoid(x) -> LOGISTIC + MUL, residual ADD), built twice for QEMU mps2-an500: the
default kernels (table lookups for the activations, SXTAB16 / SMULBB / SMMLAR for MUL) and the same
kernels' portable C99 paths (TINYHIL_KERNELS_PORTABLE). Per op: instructions per output element
measured on QEMU (-icount shift=0, per-layer stamps; median over the runs), both builds bit-exact with
the tflite-micro interpreter. Arena: the planner's figure with the activations and MUL in place vs
the same plan without that reuse (analytic), and the tflite-micro interpreter's arena.

    .venv/bin/python benchmarks/activation_ops.py [--resolution 40] [--width 16] [--runs 3] [--workdir DIR] [--json OUT]

About a minute on 2 cores (one Keras export, two firmware builds, two QEMU runs)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.codegen.keras_paper_blocks import build_keras  # noqa: E402

NEW_OPS = ("LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "MUL")


def export(resolution: int, width: int) -> bytes:
    from tinyhil.export import keras_to_int8_tflite

    model = build_keras(resolution, width=width, seed=0)
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((1, resolution, resolution, 3)).astype(np.float32) for _ in range(8)]
    return keras_to_int8_tflite(model, samples)


def arena_without_in_place_activations(blob: bytes) -> int:
    """The plan as it would be if only ADD wrote over its input (the planner before these ops)."""
    from tinyhil.codegen import planner
    from tinyhil.codegen.reader import read_tflite

    saved = planner._IN_PLACE_OPS
    planner._IN_PLACE_OPS = {"ADD"}
    try:
        return planner.plan_memory(read_tflite(blob)).arena_bytes
    finally:
        planner._IN_PLACE_OPS = saved


def run(resolution: int, width: int, runs: int, workdir: Path) -> dict:
    from tinyhil import bench
    from tinyhil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.firmware import build_firmware
    from tinyhil.reference import ReferenceInterpreter, tflm_arena_bytes

    blob = export(resolution, width)
    generated = generate(blob, workdir / "model")
    profile = load_profile("qemu-m7")
    rng = np.random.default_rng(1)
    inputs = rng.integers(-128, 128, size=(runs, *generated.input_shape), dtype=np.int8)
    reference = ReferenceInterpreter(blob)
    expected = np.stack([reference.invoke(x) for x in inputs])
    builds = {}
    for name, portable in (("fast", False), ("portable", True)):
        image = build_firmware(generated.out_dir, profile, workdir / "build", portable_kernels=portable)
        outcome = bench.run_image(image, profile, inputs, workdir / f"run-{name}")
        builds[name] = bench.summarise(image, profile, outcome, expected, "native", generated.layers)
    per_op: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for layer, fast, portable in zip(generated.layers, builds["fast"].layer_latency, builds["portable"].layer_latency):
        row = per_op[layer.opcode]
        row["layers"] += 1
        row["elements"] += int(np.prod(layer.output_shape))
        row["fast"] += fast["latency"]
        row["portable"] += portable["latency"]
    return {"resolution": resolution, "width": width, "runs": runs, "latency_unit": builds["fast"].latency_unit,
            "total_fast": builds["fast"].latency_median, "total_portable": builds["portable"].latency_median,
            "bit_exact_fast": builds["fast"].bit_exact, "bit_exact_portable": builds["portable"].bit_exact,
            "arena_planned": generated.arena_bytes, "arena_without_in_place": arena_without_in_place_activations(blob),
            "arena_tflm": tflm_arena_bytes(blob), "per_op": {k: dict(v) for k, v in per_op.items()}}


def print_tables(r: dict) -> None:
    unit = r["latency_unit"]
    print(f"\nnet: the paper's block ingredients at {r['resolution']}x{r['resolution']}x3, width {r['width']}; "
          f"QEMU mps2-an500 (Cortex-M7), {unit} from per-layer stamps, median of {r['runs']} inputs")
    print(f"bit-exact with tflite-micro: fast build {r['bit_exact_fast']}, portable build {r['bit_exact_portable']}\n")
    print(f"| op | layers | output elements | fast {unit} | per element | portable {unit} | per element | portable / fast |")
    print("|---|---|---|---|---|---|---|---|")
    for op in sorted(r["per_op"], key=lambda k: (k not in NEW_OPS, k)):
        row = r["per_op"][op]
        e = row["elements"]
        print(f"| {op} | {row['layers']} | {e} | {row['fast']} | {row['fast'] / e:.2f} | {row['portable']} | "
              f"{row['portable'] / e:.2f} | {row['portable'] / max(row['fast'], 1):.2f}x |")
    new_fast = sum(r["per_op"][op]["fast"] for op in NEW_OPS if op in r["per_op"])
    print(f"| whole inference | | | {r['total_fast']} | | {r['total_portable']} | | "
          f"{r['total_portable'] / r['total_fast']:.2f}x |")
    print(f"\nthe four new ops: {new_fast} of {r['total_fast']} {unit} of the fast build "
          f"({100 * new_fast / r['total_fast']:.1f} %)")
    print("\n| arena | bytes | source |\n|---|---|---|")
    print(f"| tinyhil plan (activations and MUL in place) | {r['arena_planned']} | planner (analytic; the firmware's arena) |")
    print(f"| same plan, only ADD in place | {r['arena_without_in_place']} | planner (analytic) |")
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
        result = run(args.resolution, args.width, args.runs, args.workdir or Path(tmp))
    print_tables(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
