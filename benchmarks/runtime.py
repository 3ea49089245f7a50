"""Runtime benchmark: tinyhil's generated C vs the TFLM interpreter on MobileNetV2-like nets.

For each net: our arena (static plan) vs the TFLM interpreter's arena (tflite-micro host
interpreter, print_allocations), flash of the whole firmware ELF, instructions per inference on
QEMU mps2-an500 (Cortex-M7, -icount shift=0) and instructions per MAC, and whether the outputs
were bit-exact with the reference. Every figure says where it came from.

    .venv/bin/python benchmarks/runtime.py [--workdir DIR] [--runs N] [--json OUT.json] [--only NAME]

Takes a few minutes on 2 cores (three Keras exports + three QEMU runs)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.codegen.keras_nets import NetConfig, estimate_macs, export_int8  # noqa: E402

NETS = {
    "32px-6M": NetConfig(width=16, stages=((16, 1, 1), (24, 2, 1), (32, 2, 2), (64, 2, 2), (96, 1, 1)), expansion=5),
    "32px-50M": NetConfig(width=48, stages=((24, 1, 1), (48, 2, 1), (64, 3, 2), (128, 3, 2), (192, 2, 1), (256, 1, 1)),
                          expansion=6),
    "96px-8M": NetConfig(resolution=96, width=8, stages=((8, 1, 1), (16, 2, 2), (24, 2, 2), (32, 2, 2), (64, 2, 2)),
                         expansion=6),
}


def measure_net(name: str, cfg: NetConfig, workdir: Path, runs: int) -> dict:
    from tinyhil.bench import measure
    from tinyhil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.codegen.lower import lower
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.reference import tflm_arena_bytes

    model_path = workdir / f"{name}.tflite"
    if not model_path.exists():
        model_path.write_bytes(export_int8(cfg, seed=0))
    blob = model_path.read_bytes()
    macs = sum(layer.macs for layer in lower(read_tflite(blob)))
    generated = generate(blob, workdir / f"{name}-generated")
    tflm_arena = tflm_arena_bytes(blob)
    profile = load_profile("qemu-m7")
    rng = np.random.default_rng(0)
    inputs = rng.integers(-128, 128, size=(runs, *generated.input_shape), dtype=np.int8)
    start = time.perf_counter()
    m = measure(blob, profile, inputs, runtime="native", workdir=workdir / f"{name}-bench")
    return {"net": name, "resolution": cfg.resolution, "macs": macs, "macs_estimate": estimate_macs(cfg),
            "arena_ours": generated.arena_bytes, "arena_tflm": tflm_arena,
            "arena_ratio": generated.arena_bytes / tflm_arena, "flash_bytes": m.flash_bytes,
            "weights_bytes": generated.weight_bytes, "instructions": m.latency_median,
            "latency_unit": m.latency_unit, "instructions_per_mac": m.latency_median / macs,
            "peak_sram_bytes": m.peak_sram_bytes, "bit_exact": m.bit_exact, "runs": len(m.latency_runs),
            "provenance": m.provenance, "bench_seconds": round(time.perf_counter() - start, 1)}


def print_table(rows: list[dict]) -> None:
    header = (f"{'net':<10} {'MACs':>10} {'arena ours':>11} {'arena TFLM':>11} {'ratio':>6} {'flash':>9} "
              f"{'instr/inf':>12} {'instr/MAC':>9} {'bit-exact':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['net']:<10} {r['macs']:>10} {r['arena_ours']:>11} {r['arena_tflm']:>11} {r['arena_ratio']:>6.2f} "
              f"{r['flash_bytes']:>9} {r['instructions']:>12} {r['instructions_per_mac']:>9.2f} "
              f"{str(r['bit_exact']):>9}")
    if rows:
        p = rows[0]["provenance"]
        print("\nwhere the figures come from:")
        print("  MACs: analytic, summed over the generated layers (tinyhil.codegen.lower)")
        print("  arena ours: analytic, tinyhil's static memory plan (bytes, 16-byte aligned buffers)")
        print("  arena TFLM: tflite-micro host interpreter, print_allocations 'Arena allocation total' (bytes)")
        print(f"  flash: .text + .rodata + .data of the firmware ELF built by {p['toolchain']} (bytes)")
        print(f"  instr/inf: {p['board']} ({p['kind']}): {p['latency_meaning']}; median of the measured runs")
        print(f"  bit-exact: outputs vs {p['compared_with']}")
        print(f"  runtime: {p['runtime']} (generated C; Cortex-M7 DSP paths: 1x1 and im2col conv (q15 2x2 SMLAD matmul), "
              "depthwise (SXTAB16 + SMLAxy over a padded row ring), SMMLAR requantisation; portable C for the rest)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", choices=sorted(NETS), action="append")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tinyhil-runtime-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [measure_net(name, NETS[name], workdir, args.runs) for name in (args.only or list(NETS))]
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
