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


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_float_inputs_holding_nan_or_inf_are_refused_before_any_build(value: float, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    images = np.zeros((2, 3, 6, 6), np.float32)
    images[1, 0, 2, 3] = value
    inputs = tmp_path / "images.npy"
    np.save(inputs, images)
    ran = tinyhil(["bench", str(model), "--inputs-file", str(inputs), "--workdir", str(tmp_path / "w")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert f"{inputs}: images hold 1 NaN or infinite value(s)" in line and "numpy.nan_to_num" in line
    assert not (tmp_path / "w").exists()  # it used to measure, exit 0, on whatever int8 NaN became


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_bench_seed_out_of_the_32_bit_range_is_a_usage_error(seed: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    ran = tinyhil(["bench", str(model), "--seed", seed, "--workdir", str(tmp_path / "w")], capsys)
    assert ran.status == 2 and "Traceback" not in ran.err
    assert "Invalid value for '--seed': must be between 0 and 4294967295" in ran.err
    assert not (tmp_path / "w").exists()


def test_an_empty_inputs_file_of_the_right_shape_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    from tinyhil.codegen.reference import ReferenceInterpreter

    dims = tuple(int(d) for d in ReferenceInterpreter(model.read_bytes()).input_shape)[1:]
    inputs = tmp_path / "none.npy"
    np.save(inputs, np.zeros((0, *dims), np.int8))
    ran = tinyhil(["bench", str(model), "--inputs-file", str(inputs), "--workdir", str(tmp_path / "w")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and f"{inputs}: holds no inputs (shape (0, {', '.join(map(str, dims))}))" in line
    assert not (tmp_path / "w").exists()


def test_spec_import_names_a_weights_file_that_is_not_a_state_dict_in_one_line(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from ..models.test_paper_import import _config

    config = tmp_path / "paper.json"
    config.write_text(json.dumps(_config("QwNet-Core")))
    picture = tmp_path / "weights.pth"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    ran = tinyhil(["spec", "import", str(config), "--weights", str(picture), "--out", str(tmp_path / "spec.json"),
                   "--checkpoint", str(tmp_path / "ckpt.pt")], capsys)
    line = one_error_line(ran)
    assert ran.status != 0 and f"{picture}: not a torch state_dict" in line and "give the paper's .pth" in line
    assert not (tmp_path / "ckpt.pt").exists()


def test_spec_import_refuses_a_resolution_a_tinyhil_spec_would_ignore(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "mine.json"
    spec.write_text(Path(__file__).with_name("tiny_spec.json").read_text())
    ran = tinyhil(["spec", "import", str(spec), "--resolution", "96", "--out", str(tmp_path / "out.json")], capsys)
    line = one_error_line(ran)
    assert ran.status != 0 and f"--resolution 96: {spec} is a tinyhil spec" in line
    assert not (tmp_path / "out.json").exists()
    assert tinyhil(["spec", "import", str(spec), "--out", str(tmp_path / "out.json")], capsys).status == 0
