"""Wall time of build + run of one ~6 M-MAC int8 CNN on QEMU (mps2-an500), split into its stages.

    .venv/bin/python benchmarks/hil_build_run.py [--board qemu-m7] [--inputs 4] [--repeats 3]

Each repeat uses a fresh work directory (no firmware cache). Stages: generate (tflite -> C),
build (CMake + arm-none-eabi-gcc, uncached), run (start QEMU, hello, 1 warm-up + N inferences, stop),
reference (tflite-micro on the host). Model creation (TensorFlow) is excluded. Target: build + run <= 30 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for hil_tests.keras_models

from hil_tests.keras_models import mobilenet_like_tflite  # noqa: E402
from tinyhil.hil.bench import measure  # noqa: E402
from tinyhil.hil.boards import load_profile  # noqa: E402
from tinyhil.codegen import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="qemu-m7")
    parser.add_argument("--inputs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    profile = load_profile(args.board)
    with tempfile.TemporaryDirectory(prefix="tinyhil-hil-bench-") as tmp:
        model = mobilenet_like_tflite(Path(tmp) / "cnn.tflite")
        macs = generate(model, Path(tmp) / "macs").total_macs
        inputs = np.random.default_rng(0).integers(-128, 128, size=(args.inputs, 32, 32, 3), dtype=np.int8)
        rows = []
        for repeat in range(args.repeats):
            stages: dict[str, float] = {}
            measurement = measure(model, profile, inputs, workdir=Path(tmp) / f"run{repeat}",
                                  on_stage=lambda name, seconds: stages.__setitem__(name, seconds))
            rows.append((stages, measurement))
    print(f"model: Keras CNN 32x32x3 -> int8 .tflite, {macs:,} MACs (codegen layer sum); board {profile.name} "
          f"({profile.kind}); machine {platform.machine()}, {os.cpu_count()} CPUs; {args.inputs} inputs + 1 warm-up")
    print(f"{'repeat':>6} {'generate s':>11} {'build s':>8} {'run s':>7} {'build+run s':>12} {'reference s':>12}")
    for i, (s, _) in enumerate(rows):
        total = s["generate"] + s["build"] + s["run"]
        print(f"{i:>6} {s['generate']:>11.2f} {s['build']:>8.2f} {s['run']:>7.2f} {total:>12.2f} {s['reference']:>12.2f}")
    m = rows[-1][1]
    median_total = statistics.median(s["generate"] + s["build"] + s["run"] for s, _ in rows)
    print(f"median build+run: {median_total:.2f} s (target <= 30 s)")
    print(f"measured on {m.provenance['kind']} {m.provenance['board']}: latency {m.latency_median:,} {m.latency_unit} "
          f"({m.latency_median / macs:.2f} {m.latency_unit}/MAC), peak SRAM {m.peak_sram_bytes:,} B "
          f"(static {m.static_ram_bytes:,} + stack {m.stack_high_water_bytes:,}), arena {m.arena_bytes:,} B, "
          f"flash {m.flash_bytes:,} B, bit-exact {'yes' if m.bit_exact else 'NO'}")


if __name__ == "__main__":
    main()
