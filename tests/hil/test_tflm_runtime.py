"""`--runtime tflm`: without TFLM's sources `tinyhil bench` says so in one line before any CMake runs; with them
(TFLM_SOURCE_DIR, a create_tflm_tree.py tree with CMSIS-NN kernels, built beside the project) the TFLM
interpreter runs on QEMU bit-exact with the reference and its profiler stamps every operator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ..codegen.tflite_builder import OpSpec, TensorSpec, build_graph, conv_options, small_conv_model

ROOT = Path(__file__).resolve().parents[2]


def _bench(model: Path, workdir: Path, tflm_source_dir: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TFLM_SOURCE_DIR"}
    if tflm_source_dir is not None:
        env["TFLM_SOURCE_DIR"] = tflm_source_dir
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "host"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", "from tinyhil.cli import main; main()", "bench", str(model),
                           "--runtime", "tflm", "--inputs", "1", "--workdir", str(workdir)],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("source, says", [(None, "TFLM_SOURCE_DIR is not set"),
                                          ("nowhere", "has no tensorflow/lite/micro/micro_interpreter.h")])
def test_bench_runtime_tflm_without_sources_prints_one_line_and_runs_no_cmake(tmp_path: Path, source: str | None,
                                                                             says: str) -> None:
    pytest.importorskip("tflite_micro")  # the TFLM glue is sized with the host interpreter's arena
    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    ran = _bench(model, tmp_path / "work", None if source is None else str(tmp_path / source))
    lines = [line for line in (ran.stdout + ran.stderr).splitlines() if line.strip()]
    assert ran.returncode != 0
    assert len(lines) == 1, lines
    assert says in lines[0] and "create_tflm_tree.py" in lines[0] and "--runtime native" in lines[0]
    assert not (tmp_path / "work" / "build").exists()  # refused before the firmware build started


def _two_conv_model() -> bytes:
    """A 3x3 stride-2 conv then a 1x1 conv: two operators, so two profiler stamps per inference."""
    rng = np.random.default_rng(1)
    tensors = [TensorSpec((1, 6, 6, 3), scale=(0.05,), zero_point=(-3,)),
               TensorSpec((4, 3, 3, 3), scale=(0.01,) * 4, zero_point=(0,) * 4,
                          data=rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)),
               TensorSpec((1, 3, 3, 4), scale=(0.1,), zero_point=(5,)),
               TensorSpec((8, 1, 1, 4), scale=(0.02,) * 8, zero_point=(0,) * 8,
                          data=rng.integers(-127, 128, (8, 1, 1, 4)).astype(np.int8)),
               TensorSpec((1, 3, 3, 8), scale=(0.08,), zero_point=(-2,))]
    ops = [OpSpec("CONV_2D", [0, 1], [2], conv_options((2, 2), (1, 1), "SAME", "RELU")),
           OpSpec("CONV_2D", [2, 3], [4], conv_options((1, 1), (1, 1), "VALID", "NONE"))]
    return build_graph(tensors, ops, 0, 4)


@pytest.mark.qemu
@pytest.mark.skipif(not os.environ.get("TFLM_SOURCE_DIR"),
                    reason="TFLM_SOURCE_DIR is not set: TFLM's C++ sources are not installable here (a tree made by "
                           "create_tflm_tree.py with OPTIMIZED_KERNEL_DIR=cmsis_nn, see firmware/tflm/CMakeLists.txt)")
def test_tflm_runtime_on_qemu_is_bit_exact_and_stamps_every_operator(tmp_path: Path) -> None:
    pytest.importorskip("tflite_micro")
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    inputs = np.random.default_rng(0).integers(-128, 128, size=(2, 1, 6, 6, 3), dtype=np.int8)
    m = measure(_two_conv_model(), load_profile("qemu-m7"), inputs, runtime="tflm", workdir=tmp_path)
    assert m.bit_exact and m.provenance["runtime"] == "tflm"
    assert m.latency_unit == "instructions"
    assert [(row["index"], row["op"], row["macs"]) for row in m.layer_latency] == [(0, "CONV_2D", 3 * 3 * 4 * 27),
                                                                                  (1, "CONV_2D", 3 * 3 * 8 * 4)]
    assert all(row["latency"] > 0 for row in m.layer_latency)
    assert sum(row["latency"] for row in m.layer_latency) <= m.latency_median
