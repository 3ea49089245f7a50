"""Fusion "fit": the fastest plan within a given arena limit (the board's SRAM budget less the firmware's other
RAM). Every block plain with every pair ring where that fits; rings given up, then blocks fused, only as far as
the limit needs; auto's plan where nothing fits. On QEMU: bit-exact, within the budget, and no slower than plain."""

from __future__ import annotations

import numpy as np
import pytest

from tinyhil.codegen.planner import FUSED_KERNEL_EXTRA_STACK_BYTES, plan_memory
from tinyhil.codegen.reader import read_tflite
from tinyhil.errors import ModelError

from .depthwise_chains import Depthwise, depthwise_chain
from .test_fused_blocks import _no_two_live_tensors_overlap, _ShapeGraph

# 24x24x8, then 12x12 and 6x6: the first depthwise is the peak, where "auto" keeps the tap list (its pair ring
# would raise the arena)
CHAIN = (Depthwise(3, 3, 2), Depthwise(3, 3), Depthwise(3, 3, 2), Depthwise(3, 3))


def _chain_blob() -> bytes:
    return depthwise_chain(CHAIN, 24, 24, 8, seed=0)


def _pairs(plan) -> list[bool]:
    from tinyhil.codegen.scratch import runs_depthwise_pairs

    return [runs_depthwise_pairs(plan.graph, op) for op in plan.graph.operators]


def _mobilenet_like() -> object:
    g = _ShapeGraph((1, 48, 48, 3))
    x = g.conv(0, 8, 3, stride=2)
    for cin, cout, stride in ((8, 8, 1), (8, 16, 2), (16, 16, 1), (16, 24, 2), (24, 24, 1)):
        p = g.conv(g.conv(g.conv(x, cin * 6, 1), cin * 6, 3, stride, depthwise=True), cout, 1)
        x = g.op("ADD", (x, p), g.tensors[p].shape, fused_activation="NONE") if cin == cout and stride == 1 else p
    return g.graph(x)


def _fused(plan) -> int:
    return sum(op.opcode == "FUSED_MBCONV" for op in plan.graph.operators)


def test_with_room_every_depthwise_gets_its_pair_ring_even_where_auto_keeps_the_tap_list() -> None:
    graph = read_tflite(_chain_blob())
    auto = plan_memory(graph)
    fit = plan_memory(graph, fusion="fit", arena_limit_bytes=320 * 1024)
    assert _pairs(auto) == [False, True, True, True]
    assert _pairs(fit) == [True, True, True, True]
    assert auto.arena_bytes < fit.arena_bytes <= 320 * 1024
    assert fit.unfused_arena_bytes == plan_memory(graph, fusion="off").arena_bytes  # what "off" plans, as for auto
    _no_two_live_tensors_overlap(fit)


def test_a_limit_under_the_rings_arena_gives_up_rings_until_it_fits() -> None:
    graph = read_tflite(_chain_blob())
    auto = plan_memory(graph)
    roomy = plan_memory(graph, fusion="fit", arena_limit_bytes=320 * 1024)
    fit = plan_memory(graph, fusion="fit", arena_limit_bytes=roomy.arena_bytes - 1)
    assert fit.arena_bytes <= roomy.arena_bytes - 1
    assert fit.arena_bytes == auto.arena_bytes and _pairs(fit) == _pairs(auto)


def test_plain_blocks_when_the_plain_plan_fits_and_fused_only_as_far_as_the_limit_needs() -> None:
    graph = _mobilenet_like()
    plain, auto = plan_memory(graph, fusion="off"), plan_memory(graph, fusion="auto")
    assert _fused(auto) >= 2 and auto.arena_bytes < plain.arena_bytes
    roomy = plan_memory(graph, fusion="fit", arena_limit_bytes=plain.arena_bytes)
    assert _fused(roomy) == 0 and roomy.arena_bytes == plain.arena_bytes
    # just under the plain arena: one fused block is enough, where auto fuses every block at the peak
    tight = plan_memory(graph, fusion="fit", arena_limit_bytes=plain.arena_bytes - 1)
    assert 1 <= _fused(tight) < _fused(auto)
    assert tight.arena_bytes <= plain.arena_bytes - 1 - FUSED_KERNEL_EXTRA_STACK_BYTES  # room for the fused stack
    _no_two_live_tensors_overlap(tight)


def test_a_limit_nothing_fits_plans_what_auto_plans() -> None:
    graph = _mobilenet_like()
    auto = plan_memory(graph, fusion="auto")
    fit = plan_memory(graph, fusion="fit", arena_limit_bytes=64)
    assert fit.arena_bytes == auto.arena_bytes and fit.origin == auto.origin


@pytest.mark.parametrize("fusion, limit, message", [
    ("fit", None, "fusion 'fit' needs the arena limit"),
    ("auto", 4096, "only 'fit' takes one"),
    ("fit", 0, "arena limit 0 B: must be at least 1 byte"),
])
def test_a_limit_without_fit_or_fit_without_a_limit_is_refused(fusion: str, limit: int | None, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        plan_memory(_mobilenet_like(), fusion=fusion, arena_limit_bytes=limit)


@pytest.mark.parametrize("args, message", [
    (["--fusion", "fit"], "--fusion fit needs --arena-limit"),
    (["--arena-limit", "64KiB"], "--arena-limit needs --fusion fit"),
    (["--fusion", "fit", "--arena-limit", "0"], "--arena-limit 0: must be a positive size"),
    (["--fusion", "fit", "--arena-limit", "lots"], "cannot read 'lots' as a byte size"),
])
def test_codegen_cli_names_a_missing_or_bad_arena_limit_in_one_line(tmp_path, capsys, args: list[str],
                                                                    message: str) -> None:
    from ..reliability.cli_run import one_error_line, tinyhil

    model = tmp_path / "chain.tflite"
    model.write_bytes(_chain_blob())
    ran = tinyhil(["codegen", str(model), "-o", str(tmp_path / "out"), *args], capsys)
    assert ran.status != 0
    assert message in one_error_line(ran)
    assert not (tmp_path / "out").exists()


def test_codegen_cli_with_fit_prints_the_plan_it_chose(tmp_path, capsys) -> None:
    from ..reliability.cli_run import tinyhil

    model = tmp_path / "chain.tflite"
    model.write_bytes(_chain_blob())
    ran = tinyhil(["codegen", str(model), "-o", str(tmp_path / "out"), "--fusion", "fit", "--arena-limit", "320KiB"],
                  capsys)
    assert ran.status == 0, ran.err
    roomy = plan_memory(read_tflite(_chain_blob()), fusion="fit", arena_limit_bytes=320 * 1024)
    assert f"arena {roomy.arena_bytes:,} B planned (analytic, fusion fit: 0 block(s) fused)" in ran.out


@pytest.mark.qemu
def test_fit_on_the_emulator_is_bit_exact_within_the_budget_and_faster_than_auto(tmp_path) -> None:
    """The chain with the QEMU profile's 320 KiB: every layer on the pair kernel. With a budget just over auto's
    peak, the measurement corrects the first guess of the firmware's other RAM and still fits."""
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    blob = _chain_blob()
    profile = load_profile("qemu-m7")
    inputs = np.random.default_rng(3).integers(-128, 128, size=(2, 1, 24, 24, 8), dtype=np.int8)
    auto = measure(blob, profile, inputs, workdir=tmp_path / "auto", fusion="auto")
    fit = measure(blob, profile, inputs, workdir=tmp_path / "fit", fusion="fit")
    assert auto.bit_exact and fit.bit_exact
    assert fit.latency_median < auto.latency_median
    assert auto.peak_sram_bytes < fit.peak_sram_bytes <= profile.sram_budget_bytes
    tight = profile.with_budgets(str(auto.peak_sram_bytes + 16), None)
    squeezed = measure(blob, tight, inputs, workdir=tmp_path / "tight", fusion="fit")
    assert squeezed.bit_exact and squeezed.peak_sram_bytes <= tight.sram_budget_bytes


def test_fit_with_the_tflm_runtime_is_refused_before_anything_is_written(tmp_path) -> None:
    from tinyhil.codegen import generate

    with pytest.raises(ModelError, match="--fusion fit plans tinyhil's own arena: it needs --runtime native"):
        generate(_chain_blob(), tmp_path / "out", runtime="tflm", fusion="fit")
    assert not (tmp_path / "out").exists()
