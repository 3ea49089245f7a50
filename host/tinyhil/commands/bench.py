"""`tinyhil bench MODEL.tflite --board qemu-m7`: build, run, measure, compare bit-exact, report."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

if TYPE_CHECKING:
    from rich.table import Table

from .. import options
from ..codegen.planner import FUSION_MODES
from ..errors import BudgetError, ConfigError, TinyhilError
from ..hil.bench import INPUT_MODES, RUNTIMES, SeededInputs, measure
from ..hil.boards import load_profile
from ..hil.measurement import Measurement
from ..locks import exclusive
from ..units import format_bytes


def _inputs(count: int, seed: int, inputs_file: Path | None, model: Path) -> np.ndarray:
    """The inputs streamed to the board: the file's (int8 as the model takes them, or float NCHW images that
    model_inputs resizes and quantises for the model), else `count` seeded random int8 inputs."""
    from ..ml.model_inputs import InputFormat, ModelInputError, check_int8_inputs, input_dims, model_inputs

    dims = input_dims(model)  # any rank: an image, an audio feature map, a dense net's vector
    if inputs_file is not None:
        try:
            data = np.load(inputs_file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{inputs_file}: not a .npy array ({exc}): save one with numpy.save") from exc
        if data.dtype == np.int8:
            return check_int8_inputs(data, dims, str(inputs_file))
        if np.issubdtype(data.dtype, np.floating):
            try:
                return model_inputs(data.astype(np.float32), InputFormat.of(model))
            except ModelInputError as exc:
                raise ModelInputError(f"{inputs_file}: {exc}") from None
        raise ConfigError(f"{inputs_file}: inputs must be int8 (quantised, N x H x W x C) or float images "
                          f"(N x C x H x W, tinyhil's normalisation to [-1, 1]); got {data.dtype}")
    return np.random.default_rng(seed).integers(-128, 128, size=(count, *dims), dtype=np.int8)


def render(measurement: Measurement, sram_budget: int, flash_budget: int) -> None:
    from rich.console import Console
    from rich.table import Table

    p = measurement.provenance
    table = Table(title=f"{p['board']} ({p['kind']}), runtime {p['runtime']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("source")
    source = f"measured on {p['kind']} {p['board']}"
    table.add_row(f"latency (median of {len(measurement.latency_runs)})",
                  f"{measurement.latency_median:,} {measurement.latency_unit}", f"{source}: {p['latency_meaning']}")
    if measurement.latency_ms is not None:
        table.add_row("  latency in time", f"{measurement.latency_ms:,.3f} ms",
                      f"cycles / {measurement.cpu_hz / 1e6:g} MHz, the clock the firmware reported")
    table.add_row("peak SRAM (static + stack high-water)", f"{measurement.peak_sram_bytes:,} B "
                  f"({format_bytes(measurement.peak_sram_bytes)}) / budget {format_bytes(sram_budget)}",
                  "ELF .data+.bss + painted stack on target")
    table.add_row("  static RAM (.data + .bss)", f"{measurement.static_ram_bytes:,} B", "ELF section sizes")
    table.add_row("  stack high-water", f"{measurement.stack_high_water_bytes:,} B", source)
    if measurement.planned_arena_bytes is not None:
        table.add_row("arena high-water (inside static RAM)", f"{measurement.arena_bytes:,} B",
                      f"{source}: arena painted before each inference, last byte changed (max over runs)")
        fusion = measurement.provenance.get("fusion", "auto")
        limit = measurement.provenance.get("arena_limit_bytes")
        within = f", within {limit:,} B" if limit else ""
        table.add_row("  arena planned", f"{measurement.planned_arena_bytes:,} B "
                      f"(all blocks plain: {measurement.unfused_arena_bytes:,} B)",
                      f"analytic: tinyhil memory planner, fusion {fusion}{within}")
    else:
        table.add_row("arena (inside static RAM)", f"{measurement.arena_bytes:,} B", "arena size the runtime was given")
    table.add_row("flash (.text + .rodata + .data)", f"{measurement.flash_bytes:,} B "
                  f"({format_bytes(measurement.flash_bytes)}) / budget {format_bytes(flash_budget)}", "ELF section sizes")
    seeded = p.get("input_mode") == "seeded"
    table.add_row("bit-exact vs tflite-micro reference", "yes" if measurement.bit_exact else "NO",
                  f"{len(measurement.latency_runs)} inputs compared"
                  + (" by output CRC-32 (inputs generated on the device from the seed)" if seeded else ""))
    table.add_row("firmware sha256", p["firmware_sha256"][:16] + "...", p["toolchain"])
    console = Console()
    console.print(table)
    if measurement.memory_plan:
        console.print(memory_plan_table(measurement))
    if measurement.layer_latency:
        console.print(layer_table(measurement))


def memory_plan_table(measurement: Measurement) -> "Table":
    """Per planned operator (a fused block is one): its execution mode, the bytes alive while it runs, the peak."""
    from rich.table import Table

    table = Table(title="memory plan per block (analytic, tinyhil memory planner)",
                  caption="live: activations + the op's scratch alive while it runs; fused band: the block's "
                          "expanded tensor is computed a band of rows at a time and never exists whole; "
                          "in place: the output overwrites the input.")
    for name, justify in (("#", "right"), ("op", "left"), ("mode", "left"), ("live", "right"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in measurement.memory_plan:
        table.add_row(str(row["index"]), str(row["op"]), str(row["mode"]), f"{int(row['live_bytes']):,} B",
                      "peak" if row["peak"] else "")
    return table


def layer_table(measurement: Measurement) -> "Table":
    """Per-layer latency as the device measured it, with MACs from the code generator."""
    from rich.table import Table

    p, unit = measurement.provenance, measurement.latency_unit
    total, summed = measurement.latency_median, measurement.layer_latency_sum
    table = Table(title=f"per-layer latency, {unit} (median of {len(measurement.latency_runs)}), "
                        f"measured on {p['kind']} {p['board']}",
                  caption=f"sum of layers {summed:,} {unit} vs total {total:,} {unit}: "
                          f"{total - summed:,} outside the layers (call/return; the input and output stay in "
                          f"the arena, uncopied). Unit: {p.get('latency_meaning', unit)}. "
                          f"Source: {p.get('layer_latency_source', 'device')}.")
    for name, justify in (("#", "right"), ("op", "left"), ("MACs", "right"), (f"latency ({unit})", "right"),
                          (f"{unit}/MAC", "right"), ("share", "right")):
        table.add_column(name, justify=justify, no_wrap=name == "op")  # type: ignore[arg-type]
    for layer in measurement.layer_latency:
        macs, latency = layer.get("macs"), int(layer["latency"])
        table.add_row(str(layer["index"]), str(layer["op"]), f"{macs:,}" if macs is not None else "?", f"{latency:,}",
                      f"{latency / macs:.2f}" if macs else "-", f"{100 * latency / total:.1f}%" if total else "-")
    return table


@click.command("bench")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--board", default="qemu-m7", show_default=True, help="Board profile name, alias or .toml path.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="native", show_default=True)
@click.option("--inputs", "count", type=options.BENCH_INPUTS.click_type(), default=8, show_default=True,
              help="How many random int8 inputs to run.")
@click.option("--inputs-file", type=click.Path(exists=True, path_type=Path),
              help=".npy: int8 (N, H, W, C) as the model takes it, or float NCHW images in [-1, 1] (resized, quantised).")
@click.option("--seed", type=options.BENCH_SEED.click_type(), default=0, show_default=True,
              help="Seed of the random inputs.")
@click.option("--input-mode", type=click.Choice(tuple(INPUT_MODES)), default="stream", show_default=True,
              help="; ".join(f"{name}: {meaning}" for name, meaning in INPUT_MODES.items()) + ".")
@click.option("--sram-budget", help="Override the profile's SRAM budget, e.g. 256KiB.")
@click.option("--flash-budget", help="Override the profile's flash budget, e.g. 1MiB.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where generated C, builds and logs go (default: a temporary directory).")
@click.option("--fusion", type=click.Choice(FUSION_MODES), default="auto", show_default=True,
              help="native runtime: auto runs inverted-residual blocks fused where that lowers the peak SRAM; "
                   "off: every block plain; all: every fusable block fused; fit: the fastest plan within the "
                   "SRAM budget (plain where it fits, fused only as far as the budget needs).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the measurement here.")
def command(model: Path, board: str, runtime: str, count: int, inputs_file: Path | None, seed: int, input_mode: str,
            sram_budget: str | None, flash_budget: str | None, workdir: Path | None, fusion: str,
            json_path: Path | None) -> None:
    """Build firmware for MODEL, run it on BOARD, and report latency, SRAM, flash and bit-exactness."""
    profile = load_profile(board).with_budgets(sram_budget, flash_budget)
    if runtime == "native":  # an op the generator refuses: its one line, before the inputs load the TFLM reference
        from ..codegen.reader import read_tflite

        read_tflite(model)
    if json_path is not None:
        options.output_path(json_path, "--json")  # before the measurement, which a failed write would lose
    if input_mode == "seeded":
        if inputs_file is not None:
            raise ConfigError("--inputs-file streams the given tensors: it cannot be combined with "
                              "--input-mode seeded, where the firmware generates the inputs; drop one of the two")
        inputs: np.ndarray | SeededInputs = SeededInputs(seed, count)
    else:
        inputs = _inputs(count, seed, inputs_file, model)
    if workdir is not None:
        with exclusive(workdir, "bench workdir"):
            measurement = measure(model, profile, inputs, runtime=runtime, workdir=workdir, fusion=fusion)
    else:
        measurement = _measure_in_temporary_dir(model, profile, inputs, runtime, fusion)
    render(measurement, profile.sram_budget_bytes, profile.flash_budget_bytes)
    _note_float_edges(model)
    over = _over_budget(measurement, profile.sram_budget_bytes, profile.flash_budget_bytes)
    if json_path:
        data = measurement.to_dict()
        data["budgets"] = {"sram_bytes": profile.sram_budget_bytes, "flash_bytes": profile.flash_budget_bytes,
                           "fits": not over}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(data, indent=2))
    if not measurement.bit_exact:
        raise click.ClickException("outputs differ from the tflite-micro reference (see --json for the runs)")
    if over:
        raise BudgetError(f"{model.name} does not fit {profile.name}: {'; '.join(over.values())} (measured); shrink "
                          f"the model or raise {' / '.join(over)}")


def _note_float_edges(model: Path) -> None:
    from ..codegen.reader import read_tflite

    edges = read_tflite(model).float_edges
    if edges:
        click.echo(f"note: the model's {' and '.join(edges)} {'is' if len(edges) == 1 else 'are'} float32 (QUANTIZE / "
                   "DEQUANTIZE at the edge): the device runs, and the figures above measure, its int8 core; inputs "
                   "are quantised and outputs compared with the core's scale and zero point")


def _measure_in_temporary_dir(model: Path, profile: object, inputs: np.ndarray, runtime: str,
                              fusion: str) -> Measurement:
    """Measure in a fresh temporary folder, removed on success and kept on failure, so the runner.log and build
    log an error message points to still exist."""
    tmp = Path(tempfile.mkdtemp(prefix="tinyhil-bench-"))
    try:
        measurement = measure(model, profile, inputs, runtime=runtime, workdir=tmp,  # type: ignore[arg-type]
                              fusion=fusion)
    except TinyhilError as exc:
        exc.args = (f"{exc} (the generated C, build and logs are kept in {tmp})",)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return measurement


def _over_budget(measurement: Measurement, sram_budget: int, flash_budget: int) -> dict[str, str]:
    """The budgets the measurement exceeds: the option that raises each -> what exceeds it."""
    problems = {}
    if measurement.peak_sram_bytes > sram_budget:
        problems["--sram-budget"] = (f"peak SRAM {format_bytes(measurement.peak_sram_bytes)} > budget "
                                     f"{format_bytes(sram_budget)}")
    if measurement.flash_bytes > flash_budget:
        problems["--flash-budget"] = f"flash {format_bytes(measurement.flash_bytes)} > budget {format_bytes(flash_budget)}"
    return problems
