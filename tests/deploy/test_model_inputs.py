"""model_inputs: a dataset's float NCHW images become the model's own int8 NHWC input, at the model's resolution and
with its input quantisation, read from the .tflite itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinyhil.ml.model_inputs import InputFormat, ModelInputError, model_inputs

from ..codegen.tflite_builder import TensorSpec, add_options, build_model


def _add_model(height: int, width: int, channels: int, scale: float, zero_point: int) -> bytes:
    """x + x, int8 (1, H, W, C): the smallest real .tflite with the input format under test."""
    shape = (1, height, width, channels)
    tensors = [TensorSpec(shape, scale=(scale,), zero_point=(zero_point,)),
               TensorSpec(shape, scale=(2 * scale,), zero_point=(zero_point,))]
    return build_model("ADD", tensors, [0, 0], [1], add_options("NONE"))


def _images(n: int, channels: int = 1, size: int = 32) -> torch.Tensor:
    return torch.linspace(-1, 1, n * channels * size * size).reshape(n, channels, size, size)


def test_images_of_the_dataset_size_become_the_48px_models_input_resized_and_quantised_with_its_own_scale():
    pytest.importorskip("tflite_micro")
    from tinyhil.codegen.reference import ReferenceInterpreter

    blob = _add_model(48, 48, 1, 2 / 255, -3)
    images = _images(3)
    inputs = model_inputs(images, blob)
    assert inputs.dtype == np.int8 and inputs.shape == (3, 48, 48, 1)
    resized = F.interpolate(images, size=(48, 48), mode="bilinear", align_corners=False).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(inputs, np.clip(np.round(resized / (2 / 255)) - 3, -128, 127).astype(np.int8))
    ReferenceInterpreter(blob).invoke(inputs[:1])  # the reference takes them as they are


def test_images_already_at_the_models_resolution_are_only_quantised():
    form = InputFormat(32, 32, 3, 1 / 127.5, 0)
    images = _images(2, channels=3)
    inputs = model_inputs(images, form)
    assert inputs.shape == (2, 32, 32, 3)
    assert np.array_equal(inputs, np.clip(np.round(images.permute(0, 2, 3, 1).numpy() / (1 / 127.5)), -128, 127))


def test_format_from_a_tflite_path_names_shape_and_quantisation(tmp_path):
    pytest.importorskip("tflite_micro")
    path = tmp_path / "m.tflite"
    path.write_bytes(_add_model(64, 64, 3, 0.05, 7))
    assert InputFormat.of(path) == InputFormat(64, 64, 3, pytest.approx(0.05), 7)
    assert InputFormat.of(str(path)).shape == (64, 64, 3)


@pytest.mark.parametrize("images, problem", [
    (torch.zeros(2, 3, 32, 32), "3 channel\\(s\\).*model takes 1"),
    (torch.zeros(2, 32, 32), "float NCHW images expected"),
    (torch.zeros(2, 1, 32, 32, dtype=torch.uint8), "float NCHW images expected"),
])
def test_images_that_cannot_be_the_models_input_are_a_one_line_error(images, problem):
    with pytest.raises(ModelInputError, match=problem):
        model_inputs(images, InputFormat(48, 48, 1, 1 / 128, 0))


def test_check_accepts_int8_of_the_models_shape_and_names_the_mismatch_otherwise():
    form = InputFormat(48, 48, 1, 1 / 128, 0)
    good = np.zeros((4, 48, 48, 1), np.int8)
    assert form.check(good) is not None and form.check(good).shape == (4, 48, 48, 1)
    assert form.check(good[0]).shape == (1, 48, 48, 1)  # one input without the batch
    with pytest.raises(ModelInputError, match=r"inputs.npy: inputs of shape \(4, 32, 32, 1\).*\(N, 48, 48, 1\)"):
        form.check(np.zeros((4, 32, 32, 1), np.int8), "inputs.npy")
    with pytest.raises(ModelInputError, match="int8 inputs expected, got float32"):
        form.check(np.zeros((4, 48, 48, 1), np.float32))


def test_an_empty_batch_is_an_empty_int8_batch_of_the_models_shape():
    assert model_inputs(torch.zeros(0, 1, 32, 32), InputFormat(48, 48, 1, 1 / 128, 0)).shape == (0, 48, 48, 1)


def test_bench_inputs_file_takes_float_images_for_the_model_and_refuses_int8_of_another_shape(tmp_path):
    pytest.importorskip("tflite_micro")
    from click.testing import CliRunner

    from tinyhil.cli import cli
    from tinyhil.commands.bench import _inputs

    model = tmp_path / "m.tflite"
    model.write_bytes(_add_model(48, 48, 1, 2 / 255, -3))
    images = _images(2)
    np.save(tmp_path / "images.npy", images.numpy())
    assert np.array_equal(_inputs(8, 0, tmp_path / "images.npy", model), model_inputs(images, model))
    np.save(tmp_path / "int8.npy", model_inputs(images, InputFormat(32, 32, 1, 2 / 255, -3)))
    result = CliRunner().invoke(cli, ["bench", str(model), "--inputs-file", str(tmp_path / "int8.npy")])
    assert isinstance(result.exception, ModelInputError)
    assert "inputs of shape (2, 32, 32, 1) but the model takes (N, 48, 48, 1)" in str(result.exception)
    assert _inputs(3, 0, None, model).shape == (3, 48, 48, 1)  # seeded random inputs of the model's shape


def test_a_model_whose_input_is_not_an_image_takes_int8_inputs_of_its_own_shape():
    """An audio net's (1, 49, 10) or a dense net's (1, 640): random or given int8 inputs fit, float images cannot be
    resized for it, and a wrong shape is named with the shape the model takes."""
    pytest.importorskip("tflite_micro")
    from tinyhil.ml.model_inputs import check_int8_inputs, input_dims

    tensors = [TensorSpec((1, 49, 10), scale=(0.1,), zero_point=(0,)), TensorSpec((1, 49, 10), scale=(0.2,), zero_point=(0,))]
    blob = build_model("ADD", tensors, [0, 0], [1], add_options("NONE"))
    assert input_dims(blob) == (49, 10)
    assert check_int8_inputs(np.zeros((49, 10), np.int8), (49, 10)).shape == (1, 49, 10)
    with pytest.raises(ModelInputError, match=r"takes \(N, 49, 10\) int8$"):
        check_int8_inputs(np.zeros((2, 49, 11), np.int8), (49, 10), "x.npy")
    with pytest.raises(ModelInputError, match="not an image"):
        InputFormat.of(blob)
