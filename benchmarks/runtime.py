"""Runtime benchmark: tinyhil's generated C on nets covering every op class (MobileNetV2-like nets, a
dense-only autoencoder, a DS-CNN-like audio net with k x 1 depthwise filters, a 1-channel 96-px net
with a depth-multiplier-8 depthwise stem, a SqueezeNet-like net of fire modules: concatenations, a
standalone RELU6, a max pool), against the TFLM interpreter where its sources are at hand.

For each net: our arena (static plan) vs the TFLM interpreter's arena (tflite-micro host interpreter,
print_allocations), flash of the whole firmware ELF, instructions per inference on QEMU mps2-an500
(Cortex-M7, -icount shift=0), instructions per MAC overall and per op class (from the firmware's
per-layer stamps), and whether the outputs were bit-exact with the reference. Every figure says where
it came from.

--baseline REV measures the same nets with the kernels and code generator of commit REV (a detached git
worktree, run in a subprocess) and prints before / after side by side. --runtime tflm adds the TFLM +
CMSIS-NN column; it needs TFLM's sources (TFLM_SOURCE_DIR, see firmware/tflm/CMakeLists.txt) and says
so when they are missing.

Peak SRAM, before / after fused execution (--fusion-modes, default on): each MobileNetV2-like net is also
built with the planner's fusion off (every block plain), all (every fusable block fused, every pair
cascaded) and fit (the fastest plan within the QEMU profile's 320 KiB budget) beside the default auto, and
measured on QEMU: the arena high-water the firmware reads back from
its painted arena, static RAM, stack high-water, peak SRAM and instructions, whose ratio to fusion off is
each mode's overhead. Then, analytic (--paper-specs N, default 200): of N random `paper`-preset specs at
160x160x3, how many have a planned arena within 320 KiB with plain vs with fused planning (the planner's
arena, the same call the search screens with).

    .venv/bin/python benchmarks/runtime.py [--workdir DIR] [--runs N] [--json OUT.json] [--only NAME]
                                           [--baseline REV] [--runtime tflm] [--no-fusion-modes]
                                           [--paper-specs N] [--fusion auto|fit|off]

Takes several minutes on 2 cores (a Keras export and a QEMU run per net, twice with --baseline)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.codegen import keras_speed_nets  # noqa: E402
from tests.codegen.keras_nets import NetConfig  # noqa: E402
from tests.codegen.keras_nets import build_fire_keras, export_model_int8  # noqa: E402
from tests.codegen.keras_nets import export_int8 as export_mobilenet  # noqa: E402


def _mobilenet(cfg: NetConfig) -> Callable[[], bytes]:
    return lambda: export_mobilenet(cfg, seed=0)


def _keras(build: Callable[[], Any]) -> Callable[[], bytes]:
    return lambda: keras_speed_nets.export_int8(build(), seed=0)


NETS: dict[str, Callable[[], bytes]] = {
    "32px-6M": _mobilenet(NetConfig(width=16, stages=((16, 1, 1), (24, 2, 1), (32, 2, 2), (64, 2, 2), (96, 1, 1)),
                                    expansion=5)),
    "32px-50M": _mobilenet(NetConfig(width=48, stages=((24, 1, 1), (48, 2, 1), (64, 3, 2), (128, 3, 2), (192, 2, 1),
                                                       (256, 1, 1)), expansion=6)),
    "96px-8M": _mobilenet(NetConfig(resolution=96, width=8, stages=((8, 1, 1), (16, 2, 2), (24, 2, 2), (32, 2, 2),
                                                                    (64, 2, 2)), expansion=6)),
    # the search space's and the paper's windows: 5x5 and 7x7 depthwise at stride 1 and 2
    "32px-k357": _mobilenet(NetConfig(width=16, stages=((16, 1, 1), (24, 2, 2), (32, 2, 2), (64, 2, 2), (96, 1, 1)),
                                      expansion=4, kernels=(3, 5, 7, 5, 3))),
    "dense-ae": _keras(keras_speed_nets.dense_autoencoder),
    "ds-cnn-kws": _keras(keras_speed_nets.ds_cnn_audio),
    "mono96-dm8": _keras(keras_speed_nets.mono_multiplier_stem),
    "fire-32px": lambda: export_model_int8(build_fire_keras(resolution=32), seed=0),
}

OP_CLASSES = ("FULLY_CONNECTED", "conv 1x1", "conv C_in<=8", "conv kxk", "depthwise mult>1", "depthwise kx1/1xk",
              "depthwise kxk mult 1", "fused MBConv", "no MACs (pad, add, pool, softmax, ...)")


def op_class(layer: Any) -> str:
    """The op class of one lowered layer (tinyhil.codegen.lower.Layer), by opcode and shape."""
    f = layer.fields
    if layer.opcode == "FULLY_CONNECTED":
        return "FULLY_CONNECTED"
    if layer.opcode == "FUSED_MBCONV":
        return "fused MBConv"
    if layer.opcode == "CONV_2D":
        if f["in_c"] <= 8:
            return "conv C_in<=8"
        return "conv 1x1" if f["k_h"] == f["k_w"] == 1 else "conv kxk"
    if layer.opcode == "DEPTHWISE_CONV_2D":
        if f["depth_multiplier"] > 1:
            return "depthwise mult>1"
        return "depthwise kx1/1xk" if 1 in (f["k_h"], f["k_w"]) else "depthwise kxk mult 1"
    return OP_CLASSES[-1]


def _produced(op: Any) -> set[int]:
    """The tensors an operator of the planned schedule makes, those inside a fused block (its parts and the
    upstream block it cascades from, kept in its options) included."""
    tensors = set(op.outputs)
    for value in op.options.values():
        if hasattr(value, "outputs") and hasattr(value, "options"):
            tensors |= _produced(value)
    return tensors


def tflm_operator_classes(blob: bytes, schedule: Any, layers: list[Any]) -> list[tuple[str, int]]:
    """Per operator of the .tflite, in the order TFLM invokes them (its profiler stamps each one): the op class
    of the layer of tinyhil's schedule (`schedule`: the planned graph, `layers`: its lowering) that runs it, and
    its MACs. So both runtimes' figures for a class cover the same operators: a 1x1 conv inside a block ours
    runs fused counts as 'fused MBConv' for TFLM too. An operator whose output no scheduled op makes (a PAD
    folded into its conv, the LOGISTIC of a SWISH) goes with the next one that is scheduled (its consumer)."""
    from tinyhil.codegen.lower import lower
    from tinyhil.codegen.reader import read_tflite

    graph = read_tflite(blob)
    macs = [layer.macs for layer in lower(graph)]
    maker = {tensor: i for i, op in enumerate(schedule.operators) for tensor in _produced(op)}
    classes: list[tuple[str, int]] = []
    pending: list[int] = []
    for op in graph.operators:
        pending.append(op.index)
        scheduled = maker.get(op.outputs[0])
        if scheduled is None:
            continue
        classes += [(op_class(layers[scheduled]), macs[i]) for i in pending]
        pending = []
    return classes + [(OP_CLASSES[-1], macs[i]) for i in pending]


def class_totals(stamped: list[tuple[str, int]], stamps: list[dict]) -> dict[str, dict[str, int]]:
    """Per op class: layers, MACs and instructions, from each stamped layer's (class, MACs) and the firmware's
    per-layer stamps; empty when the firmware reported another count of layers (none, or a stale build)."""
    classes: dict[str, dict[str, int]] = defaultdict(lambda: {"layers": 0, "macs": 0, "instructions": 0})
    if len(stamps) != len(stamped):
        return {}
    for (name, macs), stamp in zip(stamped, stamps):
        classes[name]["layers"] += 1
        classes[name]["macs"] += macs
        classes[name]["instructions"] += stamp["latency"]
    return dict(classes)


def measure_net(name: str, workdir: Path, runs: int, runtime: str = "native", fusion: str = "auto") -> dict:
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.codegen.lower import lower
    from tinyhil.codegen.reference import ReferenceInterpreter, tflm_arena_bytes

    model_path = workdir / f"{name}.tflite"
    if not model_path.exists():
        model_path.write_bytes(NETS[name]())
    blob = model_path.read_bytes()
    profile = load_profile("qemu-m7")
    fusion = fusion if runtime == "native" else "auto"
    shape = tuple(ReferenceInterpreter(blob).input_shape)
    rng = np.random.default_rng(0)
    inputs = rng.integers(-128, 128, size=(runs, *shape), dtype=np.int8)
    start = time.perf_counter()
    m = measure(blob, profile, inputs, runtime=runtime, workdir=workdir / f"{name}-bench-{runtime}", fusion=fusion)
    # the schedule the firmware ran (fused blocks included): fit's plan is the one within the limit it used
    generated = generate(blob, workdir / f"{name}-generated", fusion=fusion,
                         arena_limit_bytes=m.provenance.get("arena_limit_bytes"))
    layers = lower(generated.plan.graph)
    macs = sum(layer.macs for layer in layers)
    # the stamps follow what the firmware runs: our lowered schedule, or TFLM's operators one by one
    stamped = ([(op_class(layer), layer.macs) for layer in layers] if runtime == "native" else
               tflm_operator_classes(blob, generated.plan.graph, layers))
    classes = class_totals(stamped, m.layer_latency)
    return {"net": name, "runtime": runtime, "macs": macs, "arena_ours": generated.arena_bytes,
            "arena_tflm": tflm_arena_bytes(blob), "flash_bytes": m.flash_bytes, "weights_bytes": generated.weight_bytes,
            "instructions": m.latency_median, "latency_unit": m.latency_unit,
            "instructions_per_mac": m.latency_median / macs, "op_classes": classes,
            "peak_sram_bytes": m.peak_sram_bytes, "bit_exact": m.bit_exact, "runs": len(m.latency_runs),
            "provenance": m.provenance, "bench_seconds": round(time.perf_counter() - start, 1)}


FUSION_COLUMNS = ("off", "auto", "all", "fit")  # fit: within the QEMU profile's 320 KiB budget
FUSION_NETS = ("32px-6M", "32px-50M", "96px-8M")  # the MobileNetV2-like nets, whose blocks fuse


def measure_fusion_modes(name: str, workdir: Path, runs: int) -> dict[str, dict]:
    """Per fusion mode: the arena measured and planned, static RAM, stack, peak SRAM and instructions on QEMU."""
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen.reference import ReferenceInterpreter, tflm_arena_bytes

    blob = (workdir / f"{name}.tflite").read_bytes()
    tflm_arena = tflm_arena_bytes(blob)
    profile = load_profile("qemu-m7")
    shape = tuple(ReferenceInterpreter(blob).input_shape)
    modes: dict[str, dict] = {}
    for fusion in FUSION_COLUMNS:
        inputs = np.random.default_rng(0).integers(-128, 128, size=(runs, *shape), dtype=np.int8)
        f = measure(blob, profile, inputs, runtime="native", workdir=workdir / f"{name}-fusion-{fusion}", fusion=fusion)
        modes[fusion] = {"arena_measured": f.arena_bytes, "arena_planned": f.planned_arena_bytes,
                         "arena_vs_tflm": f.arena_bytes / tflm_arena, "static_ram_bytes": f.static_ram_bytes,
                         "stack_bytes": f.stack_high_water_bytes, "peak_sram_bytes": f.peak_sram_bytes,
                         "instructions": f.latency_median, "bit_exact": f.bit_exact,
                         "fused_blocks": sum(row["mode"].startswith("fused") for row in f.memory_plan),
                         "peak_op": next((row["op"] for row in f.memory_plan if row["peak"]), "?")}
    for values in modes.values():
        values["instructions_vs_off"] = values["instructions"] / modes["off"]["instructions"]
    return modes


def print_fusion_table(rows: list[dict]) -> None:
    """Peak SRAM before (fusion off) and after (auto, all), measured on QEMU, and each mode's instruction overhead."""
    rows = [r for r in rows if r.get("fusion")]
    if not rows:
        return
    print("\npeak SRAM and instructions by fusion mode (measured on QEMU mps2-an500, bytes / instructions):")
    header = (f"{'net':<10} {'fusion':<6} {'fused':>5} {'arena meas.':>11} {'planned':>8} {'vs TFLM':>7} "
              f"{'static':>8} {'stack':>6} {'peak SRAM':>9} {'instr/inf':>11} {'vs off':>7} {'bit-exact':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        for fusion, v in r["fusion"].items():
            print(f"{r['net']:<10} {fusion:<6} {v['fused_blocks']:>5} {v['arena_measured']:>11} {v['arena_planned']:>8} "
                  f"{v['arena_vs_tflm']:>7.2f} {v['static_ram_bytes']:>8} {v['stack_bytes']:>6} "
                  f"{v['peak_sram_bytes']:>9} {v['instructions']:>11} {v['instructions_vs_off']:>7.3f} "
                  f"{str(v['bit_exact']):>9}")
    print("  arena meas.: the firmware's arena high-water (arena painted before each inference, last changed byte, "
          "max over runs); planned: the memory plan (analytic); vs TFLM: measured arena / TFLM interpreter arena")
    print("  static: .data + .bss of the ELF (the arena included); stack: painted high-water; peak SRAM = static + "
          "stack; vs off: instructions / instructions with fusion off; fused: ops run as th_mbconv_fused_s8")


def paper_specs_fit(count: int, budget: int = 320 * 1024, seed: int = 0) -> dict:
    """Of `count` random specs of the paper preset at 160 px, how many have a planned arena within `budget`
    with plain planning vs with fused planning (analytic: tinyhil.spec.cost.spec_graph + the memory planner)."""
    import random

    from tinyhil.codegen.planner import plan_memory
    from tinyhil.spec.cost import spec_graph
    from tinyhil.spec.space import space_preset

    space = space_preset("paper")
    rng = random.Random(seed)
    arenas = []
    for _ in range(count):
        spec = space.random_spec(rng)
        graph, _ = spec_graph(spec, (spec.resolution, spec.resolution, 3), 100)
        arenas.append((plan_memory(graph, fusion="off").arena_bytes, plan_memory(graph, fusion="auto").arena_bytes))
    return {"specs": count, "budget_bytes": budget, "seed": seed,
            "fit_plain": sum(off <= budget for off, _ in arenas), "fit_fused": sum(auto <= budget for _, auto in arenas),
            "median_arena_plain": int(np.median([off for off, _ in arenas])),
            "median_arena_fused": int(np.median([auto for _, auto in arenas])),
            "source": "analytic: planned arena (tinyhil memory planner) of tinyhil.spec.cost.spec_graph, paper preset, "
                      "160x160x3, 100 classes; stack and firmware statics not included"}


def print_paper_specs(result: dict) -> None:
    print(f"\nof {result['specs']} random `paper`-preset specs (seed {result['seed']}), planned arena <= "
          f"{result['budget_bytes']:,} B: {result['fit_plain']} with plain planning, {result['fit_fused']} with fused "
          f"planning (median arena {result['median_arena_plain']:,} B -> {result['median_arena_fused']:,} B)")
    print(f"  source: {result['source']}")


def measure_baseline(rev: str, names: list[str], workdir: Path, runs: int) -> tuple[str, dict[str, dict]]:
    """The same nets measured with commit `rev`'s code generator and kernels: rev's copy of this script run in a
    subprocess on a detached worktree of `rev` (its tinyhil package, hence its firmware/), on this run's .tflite
    files; a net rev's script does not know keeps an empty column."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True, capture_output=True,
                            text=True).stdout.strip()
    tree = workdir / f"baseline-{commit}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)
    out = workdir / f"baseline-{commit}.json"
    runs_dir = workdir / f"baseline-{commit}-runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for name in names:  # the very same .tflite files (no second Keras export)
        model = workdir / f"{name}.tflite"
        if model.exists() and not (runs_dir / model.name).exists():
            (runs_dir / model.name).write_bytes(model.read_bytes())
    measured: dict[str, dict] = {}
    # rev's own copy of this script: its imports name rev's modules (tinyhil's layout changed at 4d2aa30)
    script = tree / "benchmarks" / Path(__file__).name
    try:
        env = {**os.environ, "PYTHONPATH": str(tree / "host")}
        for name in names:  # one run per net: a net the older code cannot run (an op it lacks) only loses its column
            done = subprocess.run([sys.executable, str(script), "--workdir", str(runs_dir), "--runs", str(runs), "--json",
                                   str(out), "--no-fusion-modes", "--paper-specs", "0", "--only", name],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"baseline {commit} cannot run {name}, its 'before' column stays empty: {last}", file=sys.stderr)
                continue
            result = json.loads(out.read_text())
            measured.update({r["net"]: r for r in (result["nets"] if isinstance(result, dict) else result)})
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    return commit, measured


def print_table(rows: list[dict], baseline: tuple[str, dict[str, dict]] | None, tflm: dict[str, dict],
                tflm_skipped: str | None) -> None:
    before = baseline[1] if baseline else {}
    header = (f"{'net':<11} {'MACs':>10} {'arena ours':>10} {'arena TFLM':>10} {'flash':>9} {'flash before':>12} "
              f"{'instr/inf':>11} {'instr/MAC':>9} {'before':>7} {'TFLM':>7} {'bit-exact':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        b, t = before.get(r["net"]), tflm.get(r["net"])
        print(f"{r['net']:<11} {r['macs']:>10} {r['arena_ours']:>10} {r['arena_tflm']:>10} {r['flash_bytes']:>9} "
              f"{b['flash_bytes'] if b else '-':>12} {r['instructions']:>11} {r['instructions_per_mac']:>9.2f} "
              f"{format(b['instructions_per_mac'], '.2f') if b else '-':>7} "
              f"{format(r['instructions'] / t['instructions'], '.2f') + 'x' if t else '-':>7} "
              f"{str(r['bit_exact'] and (b is None or b['bit_exact'])):>9}")
    print(f"\ninstructions per MAC by op class{' (now / before)' if baseline else ''}:")
    header = f"{'op class':<24} " + " ".join(f"{r['net']:>17}" for r in rows)
    print(header)
    print("-" * len(header))
    for name in OP_CLASSES[:-1]:
        cells = []
        for r in rows:
            now, old = r["op_classes"].get(name), (before.get(r["net"]) or {}).get("op_classes", {}).get(name)
            if not now or not now["macs"]:
                cells.append(f"{'':>17}")
                continue
            text = f"{now['instructions'] / now['macs']:.2f}"
            if old and old["macs"]:
                text += f" / {old['instructions'] / old['macs']:.2f}"
            cells.append(f"{text:>17}")
        if any(c.strip() for c in cells):
            print(f"{name:<24} " + " ".join(cells))
    if tflm:
        print_tflm_tables(rows, tflm)
    if rows:
        p = rows[0]["provenance"]
        print("\nwhere the figures come from:")
        print("  MACs: analytic, summed over the generated layers (tinyhil.codegen.lower)")
        print("  arena ours: analytic, tinyhil's static memory plan (bytes, 16-byte aligned buffers)")
        print("  arena TFLM: tflite-micro host interpreter, print_allocations 'Arena allocation total' (bytes)")
        print(f"  flash: the firmware ELF's flash image (.isr_vector, .text, .rodata, .data's load image and the "
              f"alignment padding between them) built by {p['toolchain']} (bytes)")
        print(f"  instr/inf: {p['board']} ({p['kind']}): {p['latency_meaning']}; median of the measured runs")
        print("  op classes: the firmware's per-layer stamps (same unit), summed per class, over the class's MACs")
        if baseline:
            print(f"  before: the same nets, code generator and kernels of commit {baseline[0]}, measured in this run")
        if tflm_skipped:
            print(f"  TFLM column skipped: {tflm_skipped}")
        else:
            print(f"  TFLM: ours / TFLM + CMSIS-NN instructions, same board, same inputs: {TFLM_BUILD}")
            print("  TFLM per op class: its MicroProfiler events (one per operator, read back as the harness's "
                  "per-layer stamps), summed over the operators each class of ours runs")
        print(f"  bit-exact: outputs vs {p['compared_with']}")


TFLM_BUILD = ("the TFLM interpreter of TFLM_SOURCE_DIR (a create_tflm_tree.py tree with OPTIMIZED_KERNEL_DIR=cmsis_nn) "
              "with CMSIS-NN's kernels, arm-none-eabi-gcc -O2 -mcpu=cortex-m7 (DSP: SMLAD paths), arena = the "
              "host interpreter's + 2 KiB")


def print_tflm_tables(rows: list[dict], tflm: dict[str, dict]) -> None:
    """Ours vs TFLM + CMSIS-NN per net (instructions, flash, arena, bit-exact) and per op class."""
    print("\nours vs TFLM + CMSIS-NN (QEMU instructions per inference, same inputs):")
    header = (f"{'net':<11} {'instr ours':>11} {'instr TFLM':>11} {'ratio':>6} {'TFLM/MAC':>8} {'flash ours':>10} "
              f"{'flash TFLM':>10} {'arena ours':>10} {'arena TFLM':>10} {'exact ours':>10} {'exact TFLM':>10}")
    print(header)
    print("-" * len(header))
    for r in rows:
        t = tflm.get(r["net"])
        if t is None:
            continue
        print(f"{r['net']:<11} {r['instructions']:>11} {t['instructions']:>11} "
              f"{r['instructions'] / t['instructions']:>6.2f} {t['instructions_per_mac']:>8.2f} {r['flash_bytes']:>10} "
              f"{t['flash_bytes']:>10} {r['arena_ours']:>10} {r['arena_tflm']:>10} {str(r['bit_exact']):>10} "
              f"{str(t['bit_exact']):>10}")
    print("\ninstructions per MAC by op class, TFLM + CMSIS-NN (ours / TFLM where both have the class):")
    header = f"{'op class':<24} " + " ".join(f"{r['net']:>17}" for r in rows)
    print(header)
    print("-" * len(header))
    for name in OP_CLASSES[:-1]:
        cells = []
        for r in rows:
            theirs = (tflm.get(r["net"]) or {}).get("op_classes", {}).get(name)
            if not theirs or not theirs["macs"]:
                cells.append(f"{'':>17}")
                continue
            per_mac = theirs["instructions"] / theirs["macs"]
            ours = r["op_classes"].get(name)
            text = f"{per_mac:.2f}"
            if ours and ours["macs"]:
                text += f" ({ours['instructions'] / ours['macs'] / per_mac:.2f}x)"
            cells.append(f"{text:>17}")
        if any(c.strip() for c in cells):
            print(f"{name:<24} " + " ".join(cells))
    print("  TFLM's operators take the class of the layer of ours that runs them (a band ours fuses is 'fused "
          "MBConv' for both; TFLM runs its 1x1 / depthwise ops one by one), so both cover the same MACs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", choices=sorted(NETS), action="append")
    parser.add_argument("--baseline", metavar="REV", default=None, help="also measure commit REV's kernels")
    parser.add_argument("--runtime", choices=["tflm"], action="append", default=[],
                        help="also run the TFLM interpreter with CMSIS-NN (needs TFLM_SOURCE_DIR)")
    parser.add_argument("--fusion", choices=["auto", "fit", "off"], default="auto",
                        help="the planner's fusion mode of the main table (fit: the fastest plan within the QEMU "
                             "profile's 320 KiB SRAM budget)")
    parser.add_argument("--fusion-modes", action=argparse.BooleanOptionalAction, default=True,
                        help="measure the MobileNetV2-like nets with fusion off / auto / all")
    parser.add_argument("--paper-specs", type=int, default=200, help="random paper-preset specs to plan (0: skip)")
    args = parser.parse_args()
    if args.baseline and args.fusion != "auto":
        parser.error("--baseline runs the other commit's script, whose builds use fusion auto: drop --fusion")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tinyhil-runtime-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    names = args.only or list(NETS)
    rows = [measure_net(name, workdir, args.runs, fusion=args.fusion) for name in names]
    baseline = measure_baseline(args.baseline, names, workdir, args.runs) if args.baseline else None
    tflm: dict[str, dict] = {}
    skipped = None
    if "tflm" in args.runtime:
        from tinyhil.errors import BuildError
        from tinyhil.hil.firmware import tflm_source_dir

        try:
            tflm_source_dir()
        except BuildError as exc:  # TFLM's C++ sources are not installable; a tree is built beside the project
            skipped = str(exc)
        else:
            tflm = {name: measure_net(name, workdir, args.runs, runtime="tflm") for name in names}
    else:
        skipped = "not requested (--runtime tflm; needs TFLM_SOURCE_DIR)"
    if args.fusion_modes:
        for row in rows:
            if row["net"] in FUSION_NETS:
                row["fusion"] = measure_fusion_modes(row["net"], workdir, args.runs)
    print(f"tinyhil's builds: fusion {args.fusion}" + (" (the fastest plan within the QEMU profile's "
                                                         "320 KiB SRAM budget)" if args.fusion == "fit" else ""))
    print_table(rows, baseline, tflm, skipped)
    print_fusion_table(rows)
    paper = paper_specs_fit(args.paper_specs) if args.paper_specs else None
    if paper:
        print_paper_specs(paper)
    if args.json:
        args.json.write_text(json.dumps({"nets": rows, "paper_specs": paper} if paper else rows, indent=2))


if __name__ == "__main__":
    main()
