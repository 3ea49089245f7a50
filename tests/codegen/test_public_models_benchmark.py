"""benchmarks/public_models.py: every .tflite of a folder runs on the QEMU board or gets its one-line reason, the
TFLM column says why it was skipped, and an empty folder is an error."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from .tflite_builder import TensorSpec, build_model, small_conv_model

_spec = importlib.util.spec_from_file_location(
    "public_models_benchmark", Path(__file__).resolve().parents[2] / "benchmarks" / "public_models.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)  # type: ignore[union-attr]  (benchmarks/ is scripts, not a package)


@pytest.mark.qemu
def test_a_folder_of_models_prints_the_runnable_ones_and_the_reason_for_the_others(tmp_path, monkeypatch, capsys) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "conv.tflite").write_bytes(small_conv_model())
    tensors = [TensorSpec((1, 4), scale=(0.1,), zero_point=(0,)), TensorSpec((1, 4), scale=(0.1,), zero_point=(0,))]
    (models / "gelu.tflite").write_bytes(build_model("GELU", tensors, [0], [1]))
    monkeypatch.delenv("TFLM_SOURCE_DIR", raising=False)
    monkeypatch.setattr(sys, "argv", ["public_models.py", str(models), "--runs", "1", "--runtime", "tflm",
                                      "--workdir", str(tmp_path / "work"), "--json", str(tmp_path / "out.json")])
    assert bench.main() == 0
    out = capsys.readouterr().out
    conv = next(line for line in out.splitlines() if line.startswith("conv "))
    assert conv.split()[7] == "True"  # bit-exact
    assert "gelu" in out and "not run: operator 0 is GELU" in out
    assert "skipped: TFLM_SOURCE_DIR is not set" in out


def test_an_empty_folder_is_an_error_that_says_what_to_do(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["public_models.py", str(tmp_path)])
    assert bench.main() == 2
    assert "no .tflite files" in capsys.readouterr().err
