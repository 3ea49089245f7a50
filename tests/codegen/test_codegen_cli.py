"""`tinyhil codegen MODEL -o DIR` writes the model directory and prints the memory plan."""

from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from tinyhil.cli import cli

from .tflite_builder import small_conv_model


def test_codegen_command_prints_the_plan_and_checks_the_host_build(tmp_path) -> None:
    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    result = CliRunner().invoke(cli, ["codegen", str(model), "-o", str(tmp_path / "out"), "--golden", "--check-host"])
    assert result.exit_code == 0, result.output
    assert "CONV_2D" in result.output and "th_conv2d_im2col_s8" in result.output
    assert "arena: " in result.output and "analytic" in result.output
    assert "host check: 10/10 outputs bit-exact" in result.output
    for name in ("model.c", "model.h", "CMakeLists.txt", "golden_test.c"):
        assert (tmp_path / "out" / name).is_file()
    # the golden-vector test beside the generated model builds and passes on the host
    from tinyhil.codegen.emit import KERNELS_DIR

    out = tmp_path / "out"
    binary = tmp_path / "golden"
    subprocess.run(["gcc", "-std=c99", "-O2", f"-I{KERNELS_DIR}", f"-I{out}", str(out / "golden_test.c"),
                    str(out / "model.c"), *map(str, sorted(KERNELS_DIR.glob("*.c"))), "-o", str(binary)], check=True)
    run = subprocess.run([str(binary)], capture_output=True, text=True)
    assert run.returncode == 0 and "TINYHIL GOLDEN PASS" in run.stdout


@pytest.mark.qemu
def test_bench_runs_a_model_whose_input_is_not_an_image(tmp_path) -> None:
    """A (1, 12) dense model: random int8 inputs of its own shape, streamed and compared."""
    import numpy as np

    from .tflite_builder import TensorSpec, build_model, fc_options

    rng = np.random.default_rng(0)
    tensors = [TensorSpec((1, 12), scale=(0.05,), zero_point=(1,)),
               TensorSpec((5, 12), scale=(0.01,), zero_point=(0,), data=rng.integers(-127, 128, (5, 12)).astype(np.int8)),
               TensorSpec((5,), "int32", scale=(0.0005,), zero_point=(0,), data=rng.integers(-500, 500, 5).astype(np.int32)),
               TensorSpec((1, 5), scale=(0.1,), zero_point=(-3,))]
    model = tmp_path / "dense.tflite"
    model.write_bytes(build_model("FULLY_CONNECTED", tensors, [0, 1, 2], [3], fc_options("NONE")))
    result = CliRunner().invoke(cli, ["bench", str(model), "--inputs", "3", "--workdir", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    import re

    assert re.search(r"bit-exact vs\s*│\s*yes", result.output), result.output
