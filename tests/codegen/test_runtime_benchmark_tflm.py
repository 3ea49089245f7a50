"""benchmarks/runtime.py's TFLM column: the ratio ours / TFLM + CMSIS-NN per net and per op class, the op
class of every TFLM operator, and the reason printed when the column was skipped."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tinyhil.errors import BuildError
from tinyhil.hil.firmware import tflm_source_dir

from .tflite_builder import small_conv_model

_spec = importlib.util.spec_from_file_location(
    "runtime_benchmark", Path(__file__).resolve().parents[2] / "benchmarks" / "runtime.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)  # type: ignore[union-attr]  (benchmarks/ is scripts, not a package)


def _row(net: str, instructions: int, classes: dict[str, dict[str, int]], exact: bool = True) -> dict:
    return {"net": net, "macs": 1000, "arena_ours": 512, "arena_tflm": 4096, "flash_bytes": 20_000,
            "instructions": instructions, "instructions_per_mac": instructions / 1000, "op_classes": classes,
            "bit_exact": exact, "provenance": {"toolchain": "arm-none-eabi-gcc 12.2", "board": "qemu-m7",
                                              "kind": "emulator", "latency_meaning": "instructions",
                                              "compared_with": "tflite-micro host interpreter"}}


def test_the_tflm_tables_print_ours_over_tflm_per_net_and_per_op_class(capsys: pytest.CaptureFixture[str]) -> None:
    ours = _row("net-a", 2000, {"conv 1x1": {"layers": 1, "macs": 1000, "instructions": 1500}})
    theirs = _row("net-a", 5000, {"conv 1x1": {"layers": 1, "macs": 1000, "instructions": 3000},
                                  "FULLY_CONNECTED": {"layers": 1, "macs": 100, "instructions": 700}}, exact=True)
    theirs["flash_bytes"] = 61_400
    bench.print_table([ours], None, {"net-a": theirs}, None)
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("net-a") and "61400" in line)
    assert line.split()[1:5] == ["2000", "5000", "0.40", "5.00"]  # ours, TFLM, ratio, TFLM instructions / MAC
    conv = next(line for line in out.splitlines() if line.startswith("conv 1x1") and "x)" in line)
    assert "3.00 (0.50x)" in conv  # TFLM 3.0 per MAC; ours 1.5, half of it
    assert "7.00" in next(line for line in out.splitlines() if line.startswith("FULLY_CONNECTED") and "7.00" in line)
    assert "TFLM: ours / TFLM + CMSIS-NN instructions" in out


def test_without_tflm_sources_the_table_says_the_column_was_skipped_and_why(monkeypatch: pytest.MonkeyPatch,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TFLM_SOURCE_DIR", raising=False)
    with pytest.raises(BuildError) as error:
        tflm_source_dir()
    bench.print_table([_row("net-a", 2000, {})], None, {}, str(error.value))
    out = capsys.readouterr().out
    assert "TFLM column skipped: the TFLM runtime needs TFLM's C++ sources and TFLM_SOURCE_DIR is not set" in out
    assert "ours vs TFLM" not in out


def _separable_block() -> bytes:
    """1x1 expand -> PAD -> 3x3 stride-2 depthwise -> 1x1 project, as the converter writes an MBConv block."""
    from hypothesis import find
    from hypothesis import strategies as st

    from .test_fused_blocks import _Blocks

    b = _Blocks(lambda strategy: find(strategy, lambda _: True), (1, 8, 8, 12))  # the simplest draw of each
    return b.model(b.block(b.input, 2, 3, 2, 16, explicit_pad=True, residual=False))


@pytest.mark.parametrize("fusion, expected", [
    ("all", ["fused MBConv"] * 4),
    ("off", ["conv 1x1", "depthwise kxk mult 1", "depthwise kxk mult 1", "conv 1x1"])])
def test_each_tflm_operator_takes_the_class_of_the_layer_of_ours_that_runs_it(fusion: str, expected: list[str]) -> None:
    from tinyhil.codegen.lower import lower
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.codegen.reader import read_tflite

    blob = _separable_block()
    graph = read_tflite(blob)
    assert [op.opcode for op in graph.operators] == ["CONV_2D", "PAD", "DEPTHWISE_CONV_2D", "CONV_2D"]
    plan = plan_memory(graph, fusion=fusion)
    layers = lower(plan.graph)
    classes = bench.tflm_operator_classes(blob, plan.graph, layers)
    assert [name for name, _ in classes] == expected  # the PAD goes with the depthwise it is folded into
    assert [macs for _, macs in classes] == [8 * 8 * 24 * 12, 0, 4 * 4 * 24 * 9, 4 * 4 * 16 * 24]
    assert sum(macs for _, macs in classes) == sum(layer.macs for layer in layers)


def test_an_operator_after_the_last_scheduled_one_counts_as_no_macs() -> None:
    from tinyhil.codegen.lower import lower
    from tinyhil.codegen.reader import read_tflite

    blob = small_conv_model()
    graph = read_tflite(blob)
    empty = type(graph)(**{**graph.__dict__, "operators": []})
    assert bench.tflm_operator_classes(blob, empty, []) == [(bench.OP_CLASSES[-1], lower(graph)[0].macs)]
    assert bench.tflm_operator_classes(blob, graph, lower(graph)) == [("conv C_in<=8", 3 * 3 * 4 * 27)]


def test_class_totals_sum_each_class_and_refuse_a_stamp_count_that_differs() -> None:
    stamped = [("conv 1x1", 100), (bench.OP_CLASSES[-1], 0), ("conv 1x1", 50)]
    stamps = [{"index": i, "latency": v} for i, v in enumerate((300, 20, 120))]
    assert bench.class_totals(stamped, stamps) == {"conv 1x1": {"layers": 2, "macs": 150, "instructions": 420},
                                                   bench.OP_CLASSES[-1]: {"layers": 1, "macs": 0, "instructions": 20}}
    assert bench.class_totals(stamped, stamps[:2]) == {}
