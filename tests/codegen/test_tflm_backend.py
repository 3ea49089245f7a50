"""`--runtime tflm` writes a model directory with the same API around a TFLM MicroInterpreter;
without TFLM sources, configuring it stops with a message that says what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tinyhil.codegen import generate
from tinyhil.codegen.lower import SUPPORTED_OPS
from tinyhil.codegen.tflm_backend import KERNEL_FILES, RESOLVER_METHODS, tflm_kernel_files
from tinyhil.codegen.reference import tflm_arena_bytes

from .tflite_builder import TensorSpec, build_model, softmax_options


def _softmax_model() -> bytes:
    tensors = [TensorSpec((1, 6), scale=(0.1,), zero_point=(3,)), TensorSpec((1, 6), scale=(1 / 256,), zero_point=(-128,))]
    return build_model("SOFTMAX", tensors, [0], [1], softmax_options(1.0))


def test_tflm_model_dir_has_the_model_h_api_and_only_the_ops_it_needs(tmp_path) -> None:
    blob = _softmax_model()
    generated = generate(blob, tmp_path, runtime="tflm")
    header = (tmp_path / "model.h").read_text()
    assert f'#define TINYHIL_MODEL_HASH "{generated.model_hash}"' in header
    assert '#define TINYHIL_MODEL_RUNTIME "tflm"' in header
    assert "int tinyhil_model_invoke(const int8_t *input, int8_t *output);" in header
    glue = (tmp_path / "tflm_model.cc").read_text()
    assert "resolver->AddSoftmax();" in glue and "AddConv2D" not in glue
    assert "#define TINYHIL_MODEL_LAYER_COUNT 1" in header  # one operator, one profiler stamp
    assert "class LayerStamps : public tflite::MicroProfilerInterface" in glue
    cmake = (tmp_path / "CMakeLists.txt").read_text()
    assert f'set(TINYHIL_TFLM_KERNELS "{";".join(tflm_kernel_files())}")' in cmake
    assert generated.arena_bytes >= tflm_arena_bytes(blob)
    data = (tmp_path / "model_data.c").read_text()
    assert f"tinyhil_tflm_model_data[{len(blob)}]" in data


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("g++") is None, reason="needs cmake and g++")
def test_configuring_without_tflm_sources_says_how_to_get_them(tmp_path, monkeypatch) -> None:
    generate(_softmax_model(), tmp_path / "model", runtime="tflm")
    project = tmp_path / "project"
    project.mkdir()
    (project / "CMakeLists.txt").write_text(
        f"cmake_minimum_required(VERSION 3.16)\nproject(check C CXX)\nadd_subdirectory({(tmp_path / 'model').as_posix()} model)\n")
    monkeypatch.delenv("TFLM_SOURCE_DIR", raising=False)
    result = subprocess.run(["cmake", "-S", str(project), "-B", str(tmp_path / "build"),
                             f"-DTFLM_SOURCE_DIR={tmp_path / 'nowhere'}"], capture_output=True, text=True)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "needs TFLM's C++ sources" in message and "--runtime native" in message


def test_the_tflm_glue_registers_every_op_tinyhil_reads_and_builds_each_ones_kernel_files() -> None:
    assert set(RESOLVER_METHODS) == set(SUPPORTED_OPS)  # a model the native runtime takes, the TFLM one takes too
    assert set(KERNEL_FILES) == set(RESOLVER_METHODS)
    assert {"conv", "depthwise_conv", "fully_connected", "kernel_util"} <= set(tflm_kernel_files())


@pytest.mark.skipif(not os.environ.get("TFLM_SOURCE_DIR"), reason="TFLM_SOURCE_DIR is not set (TFLM's sources are "
                    "not installable here; see firmware/tflm/CMakeLists.txt)")
def test_the_kernel_files_exist_in_the_tflm_tree_with_cmsis_nn_in_place_of_the_reference_kernels() -> None:
    kernels = Path(os.environ["TFLM_SOURCE_DIR"]) / "tensorflow" / "lite" / "micro" / "kernels"
    missing = [stem for stem in tflm_kernel_files()
               if not (kernels / f"{stem}.cc").exists() and not (kernels / "cmsis_nn" / f"{stem}.cc").exists()]
    assert not missing
    for stem in ("conv", "depthwise_conv", "fully_connected", "add", "softmax", "pooling"):
        assert (kernels / "cmsis_nn" / f"{stem}.cc").exists() and not (kernels / f"{stem}.cc").exists()

