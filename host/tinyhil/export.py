"""torch -> int8 TFLite through the Keras twin and TFLiteConverter (representative dataset, int8 input and
output), with float and int8 test accuracy measured on the host (int8 with the TFLM reference interpreter)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import Dataset, to_resolution
from .errors import TinyhilError
from .space import ArchSpec
from .train import evaluate

log = logging.getLogger(__name__)


class ExportError(TinyhilError):
    """The TFLite converter or the int8 check failed."""


@dataclass
class ExportResult:
    tflite_path: Path
    float_accuracy: float  # torch float model, test split
    int8_accuracy: float  # TFLM reference interpreter on the int8 .tflite, same test images
    agreement: float  # fraction of test images where int8 and float top-1 agree
    input_quant: tuple[float, int]  # (scale, zero_point) the host uses to quantise images
    output_quant: tuple[float, int]
    representative: str  # what calibrated the quantisation
    test_images: int
    seconds: float
    dataset_provenance: str

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["tflite_path"] = str(self.tflite_path)
        return d


def quantize_input(images: torch.Tensor | np.ndarray, export: ExportResult | tuple[float, int],
                   resolution: int | None = None) -> np.ndarray:
    """Float NCHW images (the data.py normalisation) -> int8 NHWC, as the firmware takes them."""
    scale, zero_point = export.input_quant if isinstance(export, ExportResult) else export
    x = torch.as_tensor(images)
    if resolution is not None:
        x = to_resolution(x, resolution)
    nhwc = x.permute(0, 2, 3, 1).contiguous().numpy()
    return np.clip(np.round(nhwc / scale) + zero_point, -128, 127).astype(np.int8)


def convert_int8(model: torch.nn.Module, spec: ArchSpec, representative: torch.Tensor) -> bytes:
    """The int8 .tflite bytes for `model`, calibrated on `representative` (float NCHW at spec.resolution)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from .keras_model import build_keras

    keras_model = build_keras(model.cpu().eval(), int(representative.shape[1]))
    samples = representative.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)

    def gen():
        for i in range(len(samples)):
            yield [samples[i:i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        return converter.convert()
    except Exception as exc:
        raise ExportError(f"TFLiteConverter failed for spec {spec.canonical_hash()}: {exc}") from exc


def export_int8(model: torch.nn.Module, spec: ArchSpec, dataset: Dataset, out_path: Path,
                representative_count: int = 200, test_count: int | None = 1000) -> ExportResult:
    """Export, then measure float and int8 top-1 on the first `test_count` test images (None = all)."""
    from .reference import ReferenceInterpreter

    started = time.perf_counter()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    representative = to_resolution(dataset.train_x[:representative_count], spec.resolution)
    blob = convert_int8(model, spec, representative)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, out_path)
    test = dataset.subset(test=test_count)
    reference = ReferenceInterpreter(blob)
    x_int8 = quantize_input(test.test_x, reference.input_quant, spec.resolution)
    int8_top1 = np.array([int(np.argmax(reference.invoke(x[None]))) for x in x_int8])
    with torch.no_grad():
        float_top1 = np.concatenate([model(to_resolution(test.test_x[i:i + 256], spec.resolution)).argmax(1).numpy()
                                     for i in range(0, len(test.test_y), 256)])
    labels = test.test_y.numpy()
    result = ExportResult(out_path, float(evaluate(model, test, spec.resolution)), float((int8_top1 == labels).mean()),
                          float((int8_top1 == float_top1).mean()), reference.input_quant, reference.output_quant,
                          f"first {len(representative)} training images of {dataset.name}", len(labels),
                          time.perf_counter() - started, dataset.provenance)
    log.info("exported %s: float %.4f, int8 %.4f (TFLM reference), top-1 agreement %.4f on %d test images (%s)",
             out_path, result.float_accuracy, result.int8_accuracy, result.agreement, len(labels), dataset.provenance)
    return result
