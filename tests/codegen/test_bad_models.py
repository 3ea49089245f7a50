"""Bad input gives clear errors: truncated or corrupt files, float models, unsupported ops."""

from __future__ import annotations

import numpy as np
import pytest

from tinyhil.codegen import generate
from tinyhil.codegen.reader import read_tflite
from tinyhil.errors import ModelError, UnsupportedOpError

from .tflite_builder import TensorSpec, build_model, conv_options


def _tiny_conv() -> bytes:
    w = np.ones((2, 1, 1, 3), np.int8)
    tensors = [TensorSpec((1, 4, 4, 3), scale=(0.1,), zero_point=(0,)),
               TensorSpec((2, 1, 1, 3), scale=(0.01, 0.02), zero_point=(0, 0), data=w),
               TensorSpec((1, 4, 4, 2), scale=(0.05,), zero_point=(1,))]
    return build_model("CONV_2D", tensors, [0, 1], [2], conv_options((1, 1), (1, 1), "VALID", "NONE"))


def test_a_truncated_file_is_reported_as_corrupt() -> None:
    blob = _tiny_conv()
    with pytest.raises(ModelError, match="corrupt|is truncated: |not a .tflite"):
        read_tflite(blob[: len(blob) // 3])


def test_random_bytes_are_not_a_tflite_model() -> None:
    with pytest.raises(ModelError, match="no 'TFL3' identifier"):
        read_tflite(b"\x00" * 64)


def test_a_missing_file_says_how_to_get_one(tmp_path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        read_tflite(tmp_path / "absent.tflite")


def test_a_float_model_is_refused_with_a_hint_to_quantise() -> None:
    blob = build_model("SOFTMAX", [TensorSpec((1, 4), "float32"), TensorSpec((1, 4), "float32")], [0], [1])
    with pytest.raises(UnsupportedOpError, match="float32.*int8 quantisation"):
        read_tflite(blob)


def test_an_unsupported_op_names_the_op_its_index_and_the_supported_set() -> None:
    tensors = [TensorSpec((1, 4), scale=(0.1,), zero_point=(0,)), TensorSpec((1, 4), scale=(0.1,), zero_point=(0,))]
    blob = build_model("GELU", tensors, [0], [1])
    with pytest.raises(UnsupportedOpError) as info:
        read_tflite(blob)
    message = str(info.value)
    assert "operator 0 is GELU" in message and "CONV_2D" in message and "SOFTMAX" in message
    assert all(op in message for op in ("LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "MUL", "ELU", "RSQRT"))


def test_gelu_is_refused_in_one_line_that_says_tflm_lacks_it_too_and_what_to_do(tmp_path) -> None:
    """ConvNeXt's and transformers' GELU: the reader's line says what to do; the TFLM reference, which has no GELU
    kernel, says so instead of only "failed to allocate tensors"; `tinyhil bench` gives the reader's line before
    loading the reference for the inputs."""
    from click.testing import CliRunner

    from tinyhil.cli import cli
    from tinyhil.codegen.reference import ReferenceInterpreter

    tensors = [TensorSpec((1, 4), scale=(0.1,), zero_point=(0,)), TensorSpec((1, 4), scale=(0.1,), zero_point=(0,))]
    blob = build_model("GELU", tensors, [0], [1])
    with pytest.raises(UnsupportedOpError, match=r"^operator 0 is GELU, which the tinyhil int8 runtime does not "
                                                 r"implement \(nor does the tflite-micro interpreter, .* Keras 'swish' "
                                                 r"or 'relu' in place of 'gelu', and re-export\); supported ops: ADD, "):
        read_tflite(blob)
    with pytest.raises(ModelError, match=r"^the TFLM reference interpreter cannot load the model: .*\(it has no "
                                         r"kernel for GELU: TFLM cannot run this model"):
        ReferenceInterpreter(blob)
    model = tmp_path / "gelu.tflite"
    model.write_bytes(blob)
    result = CliRunner().invoke(cli, ["bench", str(model), "--board", "qemu-m7"])
    assert isinstance(result.exception, UnsupportedOpError) and "operator 0 is GELU" in str(result.exception)


def test_a_broadcast_of_more_than_four_dims_is_named(tmp_path) -> None:
    # (2,1,2,1,2) + (1,2,1,2,1): every dim alternates which operand repeats, so none merge: five dims to walk
    from .tflite_builder import add_options
    tensors = [TensorSpec((2, 1, 2, 1, 2), scale=(0.1,), zero_point=(0,)),
               TensorSpec((1, 2, 1, 2, 1), scale=(0.1,), zero_point=(0,), data=np.ones((1, 2, 1, 2, 1), np.int8)),
               TensorSpec((2, 2, 2, 2, 2), scale=(0.1,), zero_point=(0,))]
    blob = build_model("ADD", tensors, [0, 1], [2], add_options("NONE"))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(ADD\) broadcasts .* in at most 4 dims"):
        generate(blob, tmp_path / "out")


def test_a_maximum_broadcast_other_than_over_leading_dims_is_named(tmp_path) -> None:
    from .tflite_builder import OpSpec, build_graph, mean_options

    # MEAN over W only keeps (1, 4, 1, 3): MAXIMUM (1, 4, 4, 3), (1, 4, 1, 3) broadcasts an inner dimension
    q = {"scale": (0.1,), "zero_point": (0,)}
    tensors = [TensorSpec((1, 4, 4, 3), **q), TensorSpec((1,), "int32", data=np.array([2], np.int32)),
               TensorSpec((1, 4, 1, 3), **q), TensorSpec((1, 4, 4, 3), **q)]
    blob = build_graph(tensors, [OpSpec("MEAN", [0, 1], [2], mean_options(True)),
                                 OpSpec("MAXIMUM", [0, 2], [3])], 0, 3)
    with pytest.raises(UnsupportedOpError,
                       match=r"operator 1 \(MAXIMUM\) broadcasts \(1, 4, 4, 3\) and \(1, 4, 1, 3\).*squeeze"):
        generate(blob, tmp_path / "out")


def test_a_logistic_with_another_output_zero_point_is_refused(tmp_path) -> None:
    tensors = [TensorSpec((1, 4), scale=(0.1,), zero_point=(0,)), TensorSpec((1, 4), scale=(1 / 256,), zero_point=(0,))]
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(LOGISTIC\) output zero point 0.*-128"):
        generate(build_model("LOGISTIC", tensors, [0], [1]), tmp_path / "out")


def test_an_unknown_runtime_is_refused(tmp_path) -> None:
    with pytest.raises(ModelError, match="unknown runtime"):
        generate(_tiny_conv(), tmp_path, runtime="onnx")


def test_a_model_without_tensor_names_reads_and_runs(check_bit_exact) -> None:
    """Stripped models (TFLM's keyword_scrambled benchmark model has no tensor or subgraph names) read as they
    are: the tensors are named by index."""
    from .tflite_builder import OpSpec, build_graph

    tensors = [TensorSpec((1, 4, 4, 3), scale=(0.1,), zero_point=(2,)), TensorSpec((1, 4, 4, 3), scale=(0.1,), zero_point=(2,))]
    blob = build_graph(tensors, [OpSpec("RELU6", [0], [1])], 0, 1, names=False)
    graph = read_tflite(blob)
    assert graph.tensor(0).name == "tensor0" and graph.name == "model"
    assert check_bit_exact(blob) == 6


def test_an_int8_neg_outside_a_float_island_is_named(tmp_path) -> None:
    """NEG runs only as the converter writes it for LayerNormalization (in float, between DEQUANTIZE and QUANTIZE)."""
    tensors = [TensorSpec((1, 4), scale=(0.1,), zero_point=(0,)), TensorSpec((1, 4), scale=(0.1,), zero_point=(0,))]
    with pytest.raises(UnsupportedOpError, match=r"operator 0 is an int8 NEG.*between a DEQUANTIZE and a QUANTIZE"):
        generate(build_model("NEG", tensors, [0], [1]), tmp_path / "out")
