"""Fused blocks on the Cortex-M7 emulator (two cascades of two, fusion "all"; and all plain; with every fused 3x3
and 5x5 depthwise on the pair kernel's q15 ring; and on q15 strips of the int8 ring): the DSP (asm) kernel paths give the reference's bytes, and the
arena the firmware measures (painted, high-water after each inference) is the planned one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from tinyhil.codegen.planner import ALIGNMENT

from .test_fused_blocks import (every_fused_pair_window_depthwise_on_the_q15_ring, four_block_nets, k5_block_nets,
                                se_block_nets, strip_block_nets, strip_channels_of)


# one firmware build and QEMU run per test: one drawn net, the same on every run
ONE_EMULATOR_EXAMPLE = settings(max_examples=1, deadline=None, derandomize=True,
                                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.mark.qemu
@ONE_EMULATOR_EXAMPLE
@given(blob=four_block_nets())
def test_fused_blocks_are_bit_exact_and_use_the_planned_arena_on_the_emulator(blob: bytes, tmp_path_factory) -> None:
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    profile = load_profile("qemu-m7")
    rng = np.random.default_rng(1)
    inputs = rng.integers(-128, 128, size=(3, 1, 13, 11, 4), dtype=np.int8)
    inputs[0] = -128
    for fusion in ("all", "off"):
        m = measure(blob, profile, inputs, runtime="native", workdir=tmp_path_factory.mktemp(f"fusion-{fusion}"),
                    fusion=fusion)
        assert m.bit_exact, fusion
        modes = [row["mode"] for row in m.memory_plan]
        assert modes == (["fused band, cascade"] * 2 if fusion == "all" else [mode for mode in modes
                                                                              if not mode.startswith("fused")])
        # measured: one past the last arena byte an inference changed; planned: buffers rounded up to 16 B
        assert m.planned_arena_bytes - ALIGNMENT < m.arena_bytes <= m.planned_arena_bytes, (fusion, m.arena_bytes,
                                                                                           m.planned_arena_bytes)
    assert m.unfused_arena_bytes == m.planned_arena_bytes  # the last run was the plain plan


@pytest.mark.qemu
@ONE_EMULATOR_EXAMPLE
@given(blob=se_block_nets())
def test_squeeze_excitation_in_two_passes_is_bit_exact_on_the_emulator(blob: bytes, tmp_path_factory) -> None:
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    inputs = np.random.default_rng(2).integers(-128, 128, size=(2, 1, 9, 7, 4), dtype=np.int8)
    m = measure(blob, load_profile("qemu-m7"), inputs, runtime="native", workdir=tmp_path_factory.mktemp("se"),
                fusion="all")
    assert m.bit_exact
    assert [row["mode"] for row in m.memory_plan] == ["fused band, SE in two passes, in place",
                                                      "fused band, SE in two passes"]
    assert m.planned_arena_bytes - ALIGNMENT < m.arena_bytes <= m.planned_arena_bytes


@pytest.mark.qemu
@ONE_EMULATOR_EXAMPLE
@given(blob=se_block_nets())
def test_fused_depthwise_on_the_q15_ring_is_bit_exact_on_the_emulator(blob: bytes, tmp_path_factory) -> None:
    """Its first block's 3x3 stride-1 depthwise (in place, SE in two passes) on the q15 ring, through the pair
    kernel's asm rows."""
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    inputs = np.random.default_rng(3).integers(-128, 128, size=(2, 1, 9, 7, 4), dtype=np.int8)
    inputs[0] = 127
    workdir = tmp_path_factory.mktemp("q15")
    with every_fused_pair_window_depthwise_on_the_q15_ring():
        m = measure(blob, load_profile("qemu-m7"), inputs, runtime="native", workdir=workdir, fusion="all")
    assert any(".depthwise_pairs = 1," in c.read_text() for c in workdir.rglob("*.c"))
    assert m.bit_exact
    assert m.planned_arena_bytes - ALIGNMENT < m.arena_bytes <= m.planned_arena_bytes


@pytest.mark.qemu
@ONE_EMULATOR_EXAMPLE
@given(blob=k5_block_nets())
def test_fused_5x5_depthwise_on_the_q15_ring_is_bit_exact_on_the_emulator(blob: bytes, tmp_path_factory) -> None:
    """Both blocks' 5x5 depthwise (stride 1 in place, stride 2) on the q15 ring, through the pair kernel's 5x5 asm
    rows."""
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    inputs = np.random.default_rng(4).integers(-128, 128, size=(3, 1, 11, 9, 4), dtype=np.int8)
    inputs[0], inputs[1] = 127, -128
    workdir = tmp_path_factory.mktemp("q15-k5")
    with every_fused_pair_window_depthwise_on_the_q15_ring():
        m = measure(blob, load_profile("qemu-m7"), inputs, runtime="native", workdir=workdir, fusion="all")
    assert sum(c.read_text().count(".depthwise_pairs = 1,") for c in workdir.rglob("model.c")) == 2
    assert m.bit_exact
    assert m.planned_arena_bytes - ALIGNMENT < m.arena_bytes <= m.planned_arena_bytes


@pytest.mark.qemu
@ONE_EMULATOR_EXAMPLE
@given(blob=strip_block_nets())
def test_fused_depthwise_on_q15_strips_is_bit_exact_on_the_emulator(blob: bytes, tmp_path_factory) -> None:
    """Blocks whose int8 rings run the pair kernel's asm rows on q15 strips."""
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.codegen.reader import read_tflite

    assert all(channels > 0 for channels in strip_channels_of(plan_memory(read_tflite(blob), fusion="all")))
    inputs = np.random.default_rng(4).integers(-128, 128, size=(2, 1, 4, 16, 20), dtype=np.int8)
    inputs[0] = -128
    m = measure(blob, load_profile("qemu-m7"), inputs, runtime="native", workdir=tmp_path_factory.mktemp("strips"),
                fusion="all")
    assert m.bit_exact
    assert m.planned_arena_bytes - ALIGNMENT < m.arena_bytes <= m.planned_arena_bytes
