"""The deploy folder's c_library/ is something a firmware engineer can add_subdirectory() into their own
project: a separate CMake project (host gcc here) builds against it, away from this repository, and its
outputs equal the int8 reference interpreter's."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from tinyhil.deploy.stages import write_c_library

from .test_explain_saliency import synthetic

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("cc") is None,
                                reason="cmake and a host C compiler are needed")

APP_CMAKE = """cmake_minimum_required(VERSION 3.16)
project(customer_app C)
add_subdirectory(${TINYHIL_LIB} tinyhil)
add_executable(app main.c)
target_link_libraries(app PRIVATE tinyhil_model)
"""

APP_MAIN = """#include <stdio.h>
#include <stdint.h>
#include "model.h"
int main(void) {
  static int8_t input[TINYHIL_MODEL_INPUT_BYTES];
  static int8_t output[TINYHIL_MODEL_OUTPUT_BYTES];
  if (fread(input, 1, sizeof input, stdin) != sizeof input) return 3;
  if (tinyhil_model_invoke(input, output) != 0) return 4;
  fwrite(output, 1, sizeof output, stdout);
  fprintf(stderr, "model %s, arena %d bytes\\n", TINYHIL_MODEL_HASH, (int)TINYHIL_MODEL_ARENA_BYTES);
  return 0;
}
"""


def test_c_library_builds_in_a_separate_project_and_matches_the_reference(tmp_path, square_tflite):
    from tinyhil.codegen.reference import ReferenceInterpreter

    tflite = square_tflite
    lib = tmp_path / "deploy" / "c_library"
    generated = write_c_library(tflite, lib, "test model")
    assert (lib / "kernels" / "CMakeLists.txt").exists() and (lib / "model" / "model.h").exists()

    app = tmp_path / "customer_app"  # the library is moved away from where it was generated
    app.mkdir()
    moved = shutil.move(str(lib), str(app / "third_party_tinyhil"))
    (app / "CMakeLists.txt").write_text(APP_CMAKE.replace("${TINYHIL_LIB}", "third_party_tinyhil"))
    (app / "main.c").write_text(APP_MAIN)
    build = app / "build"
    for command in (["cmake", "-S", str(app), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
                    ["cmake", "--build", str(build), "-j", "2"]):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert moved

    reference = ReferenceInterpreter(tflite)
    scale, zero_point = reference.input_quant
    x, _ = synthetic(4, seed=3)
    for image in x.permute(0, 2, 3, 1).numpy():
        q = np.clip(np.round(image / scale) + zero_point, -128, 127).astype(np.int8)
        run = subprocess.run([str(build / "app")], input=q.tobytes(), capture_output=True)
        assert run.returncode == 0, run.stderr
        expected = np.asarray(reference.invoke(q[None]), np.int8).reshape(-1)
        assert np.frombuffer(run.stdout, np.int8).tolist() == expected.tolist()
    assert generated.model_hash in run.stderr.decode()
