"""A dataset's images as a given model's int8 inputs: the one place that knows how.

Datasets hold float NCHW images in data.py's normalisation at their own size (Fashion-MNIST and digits are
32x32); a model takes int8 NHWC at its spec's resolution, quantised with its own input scale and zero point.
The search, deploy, `tinyhil bench --inputs-file`, explanations and export's int8 check all call
`model_inputs`, so what is measured on the board is what the host reference was given, at any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from ..errors import ModelError


class ModelInputError(ModelError):
    """Images or an inputs array that do not fit the model's input."""


@dataclass(frozen=True)
class InputFormat:
    """What a model's input tensor is: NHWC int8 of this size, real value = scale * (q - zero_point)."""

    height: int
    width: int
    channels: int
    scale: float
    zero_point: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """One input, NHWC without the batch: what the firmware receives."""
        return (self.height, self.width, self.channels)

    @classmethod
    def of(cls, model: "ModelLike") -> "InputFormat":
        """From a .tflite (path or bytes) or anything with `input_shape` (NHWC) and `input_quant` (scale, zero
        point), such as a ReferenceInterpreter or an ExportResult-like object."""
        if isinstance(model, InputFormat):
            return model
        if isinstance(model, (str, Path, bytes, bytearray)):
            from ..codegen.reference import ReferenceInterpreter

            model = ReferenceInterpreter(Path(model) if isinstance(model, str) else model)
        shape = tuple(int(d) for d in model.input_shape)
        if len(shape) != 4:
            raise ModelInputError(f"the model's input has shape {shape}, not an image (1, H, W, C): tinyhil cannot "
                                  "resize and quantise images for it; give int8 inputs of that shape (a .npy) instead")
        scale, zero_point = model.input_quant
        return cls(shape[1], shape[2], shape[3], float(scale), int(zero_point))

    def check(self, inputs: np.ndarray, source: str = "inputs") -> np.ndarray:
        """`inputs` as given if it is an int8 batch of this model's input shape, else a ModelInputError."""
        return check_int8_inputs(inputs, self.shape, source)

    def quantise(self, images_nchw: torch.Tensor) -> np.ndarray:
        """Float NCHW images already at this resolution -> int8 NHWC (round half to even, saturate)."""
        nhwc = images_nchw.detach().cpu().permute(0, 2, 3, 1).contiguous().numpy()
        return np.clip(np.round(nhwc / self.scale) + self.zero_point, -128, 127).astype(np.int8)


ModelLike = Union[InputFormat, str, Path, bytes, Any]


def input_dims(model: ModelLike) -> tuple[int, ...]:
    """One input of the model without the batch, any rank (an image's (H, W, C), an audio net's (frames, features),
    a dense net's (features,)): what the firmware receives."""
    if isinstance(model, InputFormat):
        return model.shape
    if isinstance(model, (str, Path, bytes, bytearray)):
        from ..codegen.reference import ReferenceInterpreter

        model = ReferenceInterpreter(Path(model) if isinstance(model, str) else model)
    return tuple(int(d) for d in model.input_shape)[1:]


def check_int8_inputs(inputs: np.ndarray, dims: tuple[int, ...], source: str = "inputs") -> np.ndarray:
    """`inputs` as a batch (N, *dims) of int8 (one input without its batch axis is taken as N = 1), else a
    ModelInputError that says what the model takes."""
    inputs = np.asarray(inputs)
    if inputs.dtype != np.int8:
        raise ModelInputError(f"{source}: int8 inputs expected, got {inputs.dtype}")
    if tuple(inputs.shape) == tuple(dims):
        inputs = inputs[None]
    if tuple(inputs.shape[1:]) != tuple(dims):
        hint = ": give float NCHW images instead and tinyhil resizes and quantises them" if len(dims) == 3 else ""
        raise ModelInputError(f"{source}: inputs of shape {tuple(inputs.shape)} but the model takes "
                              f"(N, {', '.join(str(d) for d in dims)}) int8{hint}")
    if len(inputs) == 0:
        raise ModelInputError(f"{source}: holds no inputs (shape {tuple(inputs.shape)}); give at least one, "
                              f"(N, {', '.join(str(d) for d in dims)}) int8 with N >= 1")
    return inputs

_CHUNK = 512  # images resized at a time: a 160-px test split would otherwise be gigabytes of float32


def model_inputs(images: torch.Tensor | np.ndarray, model: ModelLike) -> np.ndarray:
    """Float NCHW images (data.py's normalisation, any resolution) -> the model's int8 input batch (N, H, W, C):
    resized bilinearly to the model's resolution, quantised with the model's input scale and zero point.
    `model` is a .tflite path or bytes, a ReferenceInterpreter, or an InputFormat."""
    from .data import to_resolution

    form = InputFormat.of(model)
    x = torch.as_tensor(images)
    if x.ndim != 4 or not x.is_floating_point():
        raise ModelInputError(f"images of shape {tuple(x.shape)} ({x.dtype}): float NCHW images expected (N, C, H, W), "
                              "as tinyhil's datasets hold them")
    if int(x.shape[1]) != form.channels:
        raise ModelInputError(f"images have {int(x.shape[1])} channel(s) (NCHW shape {tuple(x.shape)}) but the model "
                              f"takes {form.channels}: use the dataset the model was trained on")
    if form.height != form.width:
        raise ModelInputError(f"the model's input is {form.height}x{form.width}: tinyhil resizes to square inputs only")
    if len(x) == 0:
        return np.zeros((0, *form.shape), np.int8)
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ModelInputError(f"images hold {bad:,} NaN or infinite value(s), which quantise to no int8 value: "
                              "replace them (e.g. numpy.nan_to_num) or drop those images")
    return np.concatenate([form.quantise(to_resolution(x[i:i + _CHUNK].float(), form.height))
                           for i in range(0, len(x), _CHUNK)])
