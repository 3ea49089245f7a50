""".tflite files whose flatbuffer parses but whose contents contradict themselves (what a flipped byte makes of a
model): a tensor index past the end, a filter that disagrees with its output, a NaN scale. Each is named as a
corrupt model to re-export, never an IndexError or a reshape error from deep inside the code generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ..codegen.tflite_builder import TensorSpec, build_graph, build_model, conv_options
from ..codegen.tflite_builder import OpSpec
from .cli_run import one_error_line, tinyhil

CONV = conv_options((1, 1), (1, 1), "VALID", "NONE")


def _conv(out_shape: tuple[int, ...] = (1, 4, 4, 2), scale: float = 0.05, filter_index: int = 1) -> bytes:
    tensors = [TensorSpec((1, 4, 4, 3), scale=(0.1,), zero_point=(0,)),
               TensorSpec((2, 1, 1, 3), scale=(0.01, 0.02), zero_point=(0, 0), data=np.ones((2, 1, 1, 3), np.int8)),
               TensorSpec(out_shape, scale=(scale,), zero_point=(1,))]
    return build_model("CONV_2D", tensors, [0, filter_index], [2], CONV)


def _output_past_the_end() -> bytes:
    tensors = [TensorSpec((1, 4, 4, 3), scale=(0.1,), zero_point=(0,)),
               TensorSpec((2, 1, 1, 3), scale=(0.01, 0.02), zero_point=(0, 0), data=np.ones((2, 1, 1, 3), np.int8)),
               TensorSpec((1, 4, 4, 2), scale=(0.05,), zero_point=(1,))]
    return build_graph(tensors, [OpSpec("CONV_2D", [0, 1], [57], CONV)], 0, 2)


@pytest.mark.parametrize("blob, words", [
    (_output_past_the_end(), "operator 0 (CONV_2D) output 0 is tensor 57, but the model has 3 tensors"),
    (_conv(out_shape=(1, 4, 4, 7)), "operator 0 (CONV_2D) has a filter of shape (2, 1, 1, 3) for an output of shape (1, 4, 4, 7)"),
    (_conv(scale=float("nan")), "tensor 2 ('t2') has quantisation scale nan"),
    (_conv(filter_index=-1), "operator 0 (CONV_2D) has inputs [0, -1]; it needs an input tensor and a filter"),
], ids=["tensor-index-past-the-end", "filter-disagrees-with-output", "nan-scale", "no-filter"])
def test_a_self_contradicting_tflite_is_named_corrupt_with_what_to_do(blob: bytes, words: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "flipped.tflite"
    model.write_bytes(blob)
    ran = tinyhil(["codegen", str(model), "-o", str(tmp_path / "out")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert line.startswith(f"error: corrupt .tflite ({len(blob):,} bytes): {words}") and "re-export the model" in line
    assert "internal error" not in line and "IndexError" not in line


def test_a_conv_whose_filter_is_computed_at_run_time_is_unsupported_not_a_crash(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    tensors = [TensorSpec((1, 4, 4, 3), scale=(0.1,), zero_point=(0,)),
               TensorSpec((2, 1, 1, 3), scale=(0.01, 0.02), zero_point=(0, 0)),  # no data: an activation
               TensorSpec((1, 4, 4, 2), scale=(0.05,), zero_point=(1,))]
    model = tmp_path / "dynamic.tflite"
    model.write_bytes(build_model("CONV_2D", tensors, [0, 1], [2], CONV))
    ran = tinyhil(["codegen", str(model), "-o", str(tmp_path / "out")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and "operator 0 (CONV_2D) takes its filter 't1' from a tensor computed at run time" in line
    assert "constant (trained) filters only" in line
