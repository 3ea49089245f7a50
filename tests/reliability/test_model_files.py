"""A truncated .tflite says how much of it is there and to re-export it, whichever command reads it first."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..codegen.tflite_builder import small_conv_model
from .cli_run import one_error_line, tinyhil


@pytest.mark.parametrize("command", ["codegen", "bench"])
@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_a_truncated_tflite_says_how_many_bytes_are_there_and_to_re_export_it(
        command: str, fraction: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = small_conv_model()
    model = tmp_path / "cut.tflite"
    model.write_bytes(blob[:int(len(blob) * fraction)])
    args = ["codegen", str(model), "-o", str(tmp_path / "out")] if command == "codegen" else \
        ["bench", str(model), "--workdir", str(tmp_path / "out")]
    ran = tinyhil(args, capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert f"the .tflite is truncated: {int(len(blob) * fraction):,} of at least " in line and "re-export it" in line
    assert "unpack_from" not in line


def test_inputs_that_are_not_a_npy_file_are_named_with_how_to_write_one(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    inputs = tmp_path / "inputs.csv"
    inputs.write_text("1,2,3\n4,5,6\n")
    ran = tinyhil(["bench", str(model), "--inputs-file", str(inputs), "--workdir", str(tmp_path / "w")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert f"{inputs}: not a .npy array" in line and "numpy.save" in line
    assert not (tmp_path / "w").exists()  # refused before any build


def test_a_spec_error_points_at_the_command_that_prints_the_schema(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"resolution": 31, "stem_channels": 8, "stem_kernel": 3, "stem_stride": 2, "stages": []}')
    ran = tinyhil(["train", str(spec), "--dataset", "digits", "--out", str(tmp_path / "out")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and f"{spec}: invalid architecture spec: resolution 31" in line
    assert "`tinyhil spec schema` prints the allowed values" in line and "json_schema()" not in line
    schema = tinyhil(["spec", "schema"], capsys)
    assert schema.status == 0 and '"resolution"' in schema.out
