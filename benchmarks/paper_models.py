"""The LLM-NAS paper's three published models on tinyhil, next to the paper's Table II.

Each of LMaNet-Core, QwNet-Core and LMaNet-Elite is imported from its candidate_config JSON (benchmarks/
paper_models.json, written from the paper's repository; `tinyhil spec import` does the same from their files),
exported to full int8 at 160x160x3 through tinyhil's exporter, turned into C and measured on QEMU mps2-an500
(Cortex-M7, -icount shift=0) with `tinyhil.hil.bench.measure`, outputs compared bit for bit with the tflite-micro
reference interpreter. Beside tinyhil's figures: the tflite-micro interpreter's own arena for the same .tflite
and the paper's Table II figures (its SRAM is analytic: input + largest layer output, never measured).

Weights: the paper's trained .pth files when --weights-dir points at their models/ folder (e.g.
/work/paper_ref/models), else torch's default initialisation (seed 0); the table says which. Calibration and
measured inputs: Fashion-MNIST images (real, the only offline image set here; grey replicated to 3 channels,
resized to 160 px): CIFAR-100, the paper's data, is not available offline, so int8 accuracy is not measured.

    .venv/bin/python benchmarks/paper_models.py [--weights-dir DIR] [--workdir DIR] [--runs N] [--only NAME]
                                                [--json OUT.json] [--runtime tflm]

--runtime tflm also runs each model on the TFLM interpreter with CMSIS-NN's kernels on the same emulated board and
inputs (it needs TFLM's sources, TFLM_SOURCE_DIR; without them the TFLM columns say why they are empty).

Columns are data (COLUMNS): add one with its heading, how to read it from a row, and where it comes from.
Each model is built and measured three times: with every block plain (fusion off, before), with the planner's
fused execution (fusion auto, after: inverted-residual blocks a band of rows at a time, cascaded where that
lowers the peak) and with fusion fit (the fastest plan within the QEMU profile's 320 KiB SRAM budget: plain
where that fits, fused only as far as needed). About 4 minutes per model on 2 cores (export at 160 px, three
firmware builds, QEMU runs)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

MODELS = json.loads((Path(__file__).with_suffix(".json")).read_text())["models"]
CALIBRATION_IMAGES = 32


@dataclass(frozen=True)
class Column:
    heading: str
    value: Callable[[dict[str, Any]], Any]
    source: str  # where the figure comes from, printed under the table


def _kib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1024:.1f}"


def _m(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.1f}"


COLUMNS = [
    Column("model", lambda r: r["model"], "the paper's name"),
    Column("weights", lambda r: r["weights_kind"], "paper = its trained .pth; random = torch default init, seed 0"),
    Column("MACs M", lambda r: _m(r["macs"]), "analytic, tinyhil's cost model (= the torch model's conv/linear MACs)"),
    Column("paper MACs M", lambda r: r["table_ii"]["macs_m"], "the paper's Table II (ptflops)"),
    Column("params k", lambda r: f"{r['params'] / 1e3:.0f}", "analytic, torch parameters incl. BatchNorm"),
    Column("plain arena KiB", lambda r: _kib(r["plain"].get("planned_arena")),
           "analytic, tinyhil's memory planner for the exported graph, every block plain (fusion off): before"),
    Column("arena KiB", lambda r: _kib(r["planned_arena"]),
           "analytic, tinyhil's memory planner for the exported graph, fusion auto (the cost model's figure): after"),
    Column("arena meas. KiB", lambda r: _kib(r.get("arena_measured")),
           "measured on QEMU, fusion auto: the firmware's arena high-water (painted arena, last byte changed)"),
    Column("TFLM arena KiB", lambda r: _kib(r["tflm_arena"]),
           "tflite-micro host interpreter, print_allocations (probed in a subprocess)"),
    Column("plain peak SRAM KiB", lambda r: _kib(r["plain"].get("peak_sram")),
           "measured on QEMU, fusion off: .data + .bss (arena included) + stack high-water: before"),
    Column("peak SRAM KiB", lambda r: _kib(r["peak_sram"]),
           "measured on QEMU, fusion auto: .data + .bss (arena included) + stack high-water: after"),
    Column("vs paper", lambda r: "n/a" if r["peak_sram"] is None else f"{r['peak_sram'] / (1000 * r['table_ii']['sram_kb']):.2f}",
           "measured peak SRAM (fusion auto) / the paper's Table II SRAM (its KB taken as 1000 B)"),
    Column("paper SRAM KB", lambda r: r["table_ii"]["sram_kb"], "the paper's Table II (analytic: input + largest layer)"),
    Column("paper formula KiB", lambda r: _kib(r["paper_formula_sram"]),
           "analytic, the paper's formula on tinyhil's graph: int8 input + largest layer output"),
    Column("flash KiB", lambda r: _kib(r["flash"]), "measured: .text + .rodata + .data of the firmware ELF"),
    Column("paper flash MB", lambda r: r["table_ii"]["flash_mb"], "the paper's Table II"),
    Column("instructions M", lambda r: _m(r["instructions"]),
           "measured on QEMU (-icount shift=0), median per inference, fusion auto; instructions, not cycles"),
    Column("vs plain", lambda r: "n/a" if not r["instructions"] or not r["plain"].get("instructions")
           else f"{r['instructions'] / r['plain']['instructions']:.3f}",
           "instructions with fusion auto / with fusion off (measured on QEMU): fused execution's overhead"),
    Column("TFLM instructions M", lambda r: _m(r.get("tflm_instructions")),
           "measured on QEMU (-icount shift=0), median per inference: the TFLM interpreter with CMSIS-NN's kernels "
           "(TFLM_SOURCE_DIR, -O2 -mcpu=cortex-m7), same inputs; n/a without --runtime tflm"),
    Column("vs TFLM", lambda r: "n/a" if not r["instructions"] or not r.get("tflm_instructions")
           else f"{r['instructions'] / r['tflm_instructions']:.2f}",
           "tinyhil's instructions (fusion auto) / TFLM + CMSIS-NN's, measured in the same run"),
    Column("fit peak SRAM KiB", lambda r: _kib(r["fit"].get("peak_sram")),
           "measured on QEMU, fusion fit (the fastest plan within the board's 320 KiB SRAM budget): .data + .bss + "
           "stack high-water"),
    Column("fit instructions M", lambda r: _m(r["fit"].get("instructions")),
           "measured on QEMU (-icount shift=0), median per inference, fusion fit; instructions, not cycles"),
    Column("fit vs auto", lambda r: "n/a" if not r["instructions"] or not r["fit"].get("instructions")
           else f"{r['fit']['instructions'] / r['instructions']:.3f}",
           "instructions with fusion fit / with fusion auto (measured on QEMU)"),
    Column("fit vs TFLM", lambda r: "n/a" if not r["fit"].get("instructions") or not r.get("tflm_instructions")
           else f"{r['fit']['instructions'] / r['tflm_instructions']:.2f}",
           "tinyhil's instructions (fusion fit) / TFLM + CMSIS-NN's, measured in the same run"),
    Column("blocks fused", lambda r: r.get("fused_blocks", "n/a"),
           "planned ops run as th_mbconv_fused_s8 (a cascade of blocks counts once); peak at: see below"),
    Column("bit-exact", lambda r: r["bit_exact"],
           "outputs vs the tflite-micro reference interpreter, with fusion off, auto and fit"),
]


def _images(count: int, split: str):
    """Fashion-MNIST float NCHW images, grey replicated to 3 channels (resized later to the model's side)."""
    from tinyhil.ml.data import load_dataset

    data = load_dataset("fashion-mnist")
    x = (data.train_x if split == "train" else data.test_x)[:count]
    return x.repeat(1, 3, 1, 1), data.provenance


def export_model(name: str, weights_dir: Path | None, workdir: Path) -> tuple[Any, bytes, str, str]:
    """(spec, int8 .tflite bytes, weights kind, calibration note) for one paper model."""
    import torch

    from tinyhil.ml.data import to_resolution
    from tinyhil.ml.export import convert_int8
    from tinyhil.ml.model import build_torch
    from tinyhil.spec.paper_config import load_paper_weights, spec_from_paper
    from tinyhil.spec.space import ArchSpec

    entry = MODELS[name]
    spec = ArchSpec.from_dict(spec_from_paper(entry, source=name))
    torch.manual_seed(0)
    model = build_torch(spec, 3, 100)
    kind = "random"
    if weights_dir is not None:
        load_paper_weights(model, weights_dir / entry["weights"])
        kind = "paper"
    images, provenance = _images(CALIBRATION_IMAGES, "train")
    path = workdir / f"{name}-{kind}.tflite"
    if not path.exists():
        path.write_bytes(convert_int8(model.eval(), spec, to_resolution(images, spec.resolution)))
    note = (f"calibration: the first {CALIBRATION_IMAGES} training images of {provenance}, grey replicated to 3 "
            f"channels, resized to {spec.resolution} px")
    return spec, path.read_bytes(), kind, note


def estimate_plain_arena(spec: Any) -> int:
    """The planned arena of the spec's graph with every block plain (what the planner gave before fusion)."""
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.spec.cost import spec_graph

    graph, _ = spec_graph(spec, (160, 160, 3), 100)
    return int(plan_memory(graph, fusion="off").arena_bytes)


def measure_model(name: str, weights_dir: Path | None, workdir: Path, runs: int, tflm: bool = False) -> dict[str, Any]:
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile
    from tinyhil.spec.cost import estimate, paper_sram_bytes
    from tinyhil.errors import TinyhilError
    from tinyhil.ml.model_inputs import model_inputs
    from tinyhil.codegen.reference import tflm_arena_bytes

    started = time.perf_counter()
    spec, blob, kind, calibration = export_model(name, weights_dir, workdir)
    cost = estimate(spec, (160, 160, 3), 100)
    row: dict[str, Any] = {"model": name, "weights_kind": kind, "table_ii": MODELS[name]["table_ii"],
                           "macs": cost.macs, "params": cost.params, "planned_arena": cost.peak_activation_bytes,
                           "flash_estimate": cost.flash_bytes, "paper_formula_sram": paper_sram_bytes(spec, (160, 160, 3), 100),
                           "calibration": calibration, "peak_sram": None, "flash": None, "instructions": None,
                           "bit_exact": "n/a", "tflm_arena": None, "not_measured": None, "plain": {}, "fit": {}}
    try:
        row["tflm_arena"] = tflm_arena_bytes(blob, workdir)
    except TinyhilError as exc:
        row["tflm_arena_error"] = str(exc)
    images, _ = _images(runs, "test")
    row["plain"]["planned_arena"] = estimate_plain_arena(spec)
    for fusion in ("off", "auto", "fit"):  # before / after fused execution; the fastest within the budget
        try:
            m = measure(blob, load_profile("qemu-m7"), model_inputs(images, blob), runtime="native",
                        workdir=workdir / f"{name}-{kind}-bench-{fusion}", fusion=fusion)
        except TinyhilError as exc:  # a model that does not run yet is a row with the reason, not a crash
            row["not_measured"] = f"fusion {fusion}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            continue
        if fusion == "off":
            row["plain"].update(peak_sram=m.peak_sram_bytes, instructions=m.latency_median, bit_exact=m.bit_exact,
                                arena_measured=m.arena_bytes)
            continue
        if fusion == "fit":
            row["fit"].update(peak_sram=m.peak_sram_bytes, instructions=m.latency_median, bit_exact=m.bit_exact,
                              flash=m.flash_bytes,
                              fused_blocks=sum(r["mode"].startswith("fused") for r in m.memory_plan))
            row["bit_exact"] = row["bit_exact"] and m.bit_exact
            continue
        row.update(peak_sram=m.peak_sram_bytes, flash=m.flash_bytes, instructions=m.latency_median,
                   latency_unit=m.latency_unit, bit_exact=m.bit_exact and row["plain"].get("bit_exact", True),
                   arena_measured=m.arena_bytes, stack_high_water=m.stack_high_water_bytes, provenance=m.provenance,
                   fused_blocks=sum(r["mode"].startswith("fused") for r in m.memory_plan),
                   peak_at=next((f"op {r['index']} {r['op']} ({r['mode']})" for r in m.memory_plan if r["peak"]), "?"))
    if tflm:
        try:
            t = measure(blob, load_profile("qemu-m7"), model_inputs(images, blob), runtime="tflm",
                        workdir=workdir / f"{name}-{kind}-bench-tflm")
        except TinyhilError as exc:
            row["tflm_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        else:
            row.update(tflm_instructions=t.latency_median, tflm_bit_exact=t.bit_exact, tflm_flash=t.flash_bytes,
                       tflm_peak_sram=t.peak_sram_bytes)
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    cells = [[str(c.value(r)) for c in COLUMNS] for r in rows]
    widths = [max(len(c.heading), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    print(" | ".join(c.heading.ljust(w) for c, w in zip(COLUMNS, widths)))
    print("-|-".join("-" * w for w in widths))
    for row in cells:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print("\nwhere the figures come from (KiB = 1024 B; the paper's KB/MB as printed in its Table II):")
    for c in COLUMNS[1:]:
        print(f"  {c.heading}: {c.source}")
    for r in rows:
        print(f"  {r['model']}: {r['calibration']}; {r['seconds']} s")
        if r.get("peak_at"):
            print(f"    peak of the plan (fusion auto): {r['peak_at']}")
        if r.get("not_measured"):
            print(f"    not measured on QEMU: {r['not_measured']}")
        if r.get("tflm_instructions"):
            print(f"    TFLM + CMSIS-NN: bit-exact {r['tflm_bit_exact']}, flash {_kib(r['tflm_flash'])} KiB, "
                  f"peak SRAM {_kib(r['tflm_peak_sram'])} KiB (measured on QEMU)")
        if r.get("tflm_error"):
            print(f"    TFLM not measured: {r['tflm_error']}")
        if r.get("tflm_arena_error"):
            print(f"    TFLM arena not probed: {r['tflm_arena_error']}")
    measured = next((r for r in rows if r.get("provenance")), None)
    if measured:
        p = measured["provenance"]
        print(f"  board: {p.get('board')} ({p.get('kind')}), runtime {p.get('runtime')}, {p.get('toolchain')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help="the paper's models/ folder (its trained .pth files); default: random weights")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=2, help="test images streamed per model")
    parser.add_argument("--only", choices=sorted(MODELS), action="append")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--runtime", choices=["tflm"], action="append", default=[],
                        help="also measure TFLM + CMSIS-NN (needs TFLM_SOURCE_DIR)")
    args = parser.parse_args()
    tflm = "tflm" in args.runtime
    if tflm:
        from tinyhil.errors import BuildError
        from tinyhil.hil.firmware import tflm_source_dir

        try:
            tflm_source_dir()
        except BuildError as exc:  # TFLM's C++ sources are not installable; a tree is built beside the project
            print(f"TFLM columns skipped: {exc}")
            tflm = False
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tinyhil-paper-models-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [measure_model(name, args.weights_dir, workdir, args.runs, tflm) for name in (args.only or list(MODELS))]
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
