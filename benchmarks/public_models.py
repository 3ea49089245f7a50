"""Public int8 models nobody here wrote, run as a user would run them: for every .tflite in a folder, tinyhil reads
it, generates C, builds the firmware and runs it on QEMU mps2-an500 (Cortex-M7, -icount shift=0: instructions),
comparing every output with the `tflite-micro` reference; with TFLM's sources at hand (TFLM_SOURCE_DIR) it runs
TFLM + CMSIS-NN on the same inputs beside it. A model tinyhil cannot run gets its one-line reason in the table,
so the table is also the list of what is missing.

The models are not shipped: take them from where they are published, e.g. TFLM's repository (its examples'
models/ folders, tensorflow/lite/micro/models/, the xtensa examples' PyTorch MobileNetV2), or MLPerf Tiny's
reference submissions.

    .venv/bin/python benchmarks/public_models.py DIR [--runs N] [--runtime tflm] [--json OUT.json]

Budgets are not enforced here (a 224-px MobileNetV2 does not fit 320 KiB): peak SRAM and flash are printed as
measured. Inputs are the firmware's seeded random int8 inputs (`--input-mode seeded`: only output CRC-32s travel).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _macs(blob: bytes) -> int:
    from tinyhil.codegen.lower import lower
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.codegen.reader import read_tflite

    return sum(layer.macs for layer in lower(plan_memory(read_tflite(blob)).graph))


def run_model(path: Path, workdir: Path, runs: int, runtime: str) -> dict[str, Any]:
    """One model on the QEMU board: its figures, or the one-line reason it does not run."""
    from tinyhil.hil.bench import SeededInputs, measure
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.errors import TinyhilError

    blob = path.read_bytes()
    row: dict[str, Any] = {"model": path.stem, "bytes": len(blob), "runtime": runtime}
    try:
        graph = read_tflite(blob)
        row["ops"] = sorted({op.opcode for op in graph.operators})
        row["float_edges"] = list(graph.float_edges)
        row["macs"] = _macs(blob)
        m = measure(blob, load_profile("qemu-m7"), SeededInputs(0, runs), runtime=runtime,
                    workdir=workdir / f"{path.stem}-{runtime}")
    except TinyhilError as exc:
        row["error"] = str(exc).splitlines()[0]
        return row
    row.update({"instructions": m.latency_median, "peak_sram_bytes": m.peak_sram_bytes, "arena_bytes": m.arena_bytes,
                "flash_bytes": m.flash_bytes, "bit_exact": m.bit_exact})
    return row


def print_table(rows: list[dict[str, Any]], tflm: dict[str, dict[str, Any]] | None, tflm_note: str | None) -> None:
    header = (f"{'model':<44} {'MACs':>11} {'instr/inf':>12} {'instr/MAC':>9} {'arena':>9} {'peak SRAM':>10} "
              f"{'flash':>9} {'exact':>5} {'TFLM instr':>12} {'ours/TFLM':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        if "error" in r:
            print(f"{r['model'][:44]:<44} not run: {r['error'][:200]}")
            continue
        t = (tflm or {}).get(r["model"], {})
        theirs = t.get("instructions")
        print(f"{r['model'][:44]:<44} {r['macs']:>11,} {r['instructions']:>12,} "
              f"{r['instructions'] / max(r['macs'], 1):>9.2f} {r['arena_bytes']:>9,} {r['peak_sram_bytes']:>10,} "
              f"{r['flash_bytes']:>9,} {str(r['bit_exact']):>5} "
              f"{format(theirs, ',') if theirs else ('not run' if 'error' in t else '-'):>12} "
              f"{format(r['instructions'] / theirs, '.2f') if theirs else '-':>9}")
    for name, t in (tflm or {}).items():
        if "error" in t:
            print(f"  TFLM not run on {name}: {t['error'][:200]}")
    print("\nwhere the figures come from:")
    print("  MACs: analytic (tinyhil.codegen.lower); instr/inf: qemu-m7 (emulator), guest instructions counted by QEMU "
          "-icount shift=0, median of the runs after one warm-up, seeded random int8 inputs")
    print("  arena: the firmware's arena high-water (painted); peak SRAM: .data + .bss + painted stack high-water; "
          "flash: the ELF's flash image (bytes, arm-none-eabi-gcc)")
    print("  exact: every output's CRC-32 equal to the tflite-micro host interpreter's (a float-edged model: its int8 "
          "core, compared through the same quantisation)")
    print(f"  TFLM: the TFLM interpreter + CMSIS-NN of TFLM_SOURCE_DIR on the same board and inputs"
          f"{'' if tflm is not None else ' (skipped: ' + str(tflm_note) + ')'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder of .tflite files")
    parser.add_argument("--runs", type=int, default=2, help="inferences per model after the warm-up")
    parser.add_argument("--runtime", choices=["native", "tflm"], action="append",
                        help="tflm: also TFLM + CMSIS-NN (needs TFLM_SOURCE_DIR)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "host"))
    models = sorted(args.folder.glob("*.tflite"))
    if not models:
        print(f"error: no .tflite files in {args.folder}: put the public models there", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tinyhil-public-models-"))
    rows = [run_model(path, workdir, args.runs, "native") for path in models]
    tflm, note = None, None
    if "tflm" in (args.runtime or []):
        if os.environ.get("TFLM_SOURCE_DIR"):
            tflm = {r["model"]: run_model(path, workdir, args.runs, "tflm")
                    for path, r in zip(models, rows) if "error" not in r}
        else:
            note = "TFLM_SOURCE_DIR is not set: point it at a create_tflm_tree.py tree (firmware/tflm/CMakeLists.txt)"
    print_table(rows, tflm, note)
    if args.json:
        args.json.write_text(json.dumps({"native": rows, "tflm": tflm, "tflm_skipped": note}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
