"""torch -> int8 TFLite, with float and int8 test accuracy measured on the host (int8 with the TFLM reference
interpreter). Two writers make the file, both calibrated on a representative set, int8 input and output:
- "tinyhil" (the default): int8_graph.py quantises the TinyNet itself by TFLite's rules and tflite_flatbuffer.py
  writes it, in milliseconds and without TensorFlow;
- "tensorflow": the Keras twin (keras_model.py) through TFLiteConverter, the reference the first is tested
  against (tests/models/test_int8_writer.py: same operators, shapes and weights, outputs within a step or two)."""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from . import tf_quiet
from ..errors import TinyhilError
from ..options import DEFAULT_INT8_WRITER, INT8_WRITERS
from ..spec.space import ArchSpec
from .data import Dataset, to_resolution
from .model_inputs import model_inputs
from .train import TrainConfig, save_checkpoint

log = logging.getLogger(__name__)


class ExportError(TinyhilError):
    """The TFLite converter or the int8 check failed."""


WRITER_WORDS = {"tinyhil": "tinyhil's int8 writer (TFLite's quantisation rules, no TensorFlow)",
                "tensorflow": "TensorFlow's TFLiteConverter (Keras twin)"}


@dataclass
class ExportResult:
    tflite_path: Path
    float_accuracy: float | None  # torch float model, test split (None: the labels are not the model's classes)
    int8_accuracy: float | None  # TFLM reference interpreter on the written int8 .tflite, same test images
    agreement: float  # fraction of test images where that int8 model and the float model agree on top-1
    input_quant: tuple[float, int]  # (scale, zero_point) the host uses to quantise images
    output_quant: tuple[float, int]
    representative: str  # what calibrated the quantisation
    test_images: int
    seconds: float
    dataset_provenance: str
    ptq_int8_accuracy: float | None = None  # int8 top-1 of the plain post-training export
    qat_int8_accuracy: float | None = None  # int8 top-1 after nncf QAT and re-export (None: QAT not run/failed)
    qat_ran: bool = False
    qat_kept: bool = False  # the written .tflite is the QAT one
    qat_note: str = ""  # why QAT ran or not, and what came of it (the reason, if it failed)
    qat_checkpoint: Path | None = None  # the QAT float weights the written .tflite came from (when kept)
    writer: str = DEFAULT_INT8_WRITER  # what wrote the .tflite (INT8_WRITERS)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["tflite_path"] = str(self.tflite_path)
        d["qat_checkpoint"] = str(self.qat_checkpoint) if self.qat_checkpoint else None
        return d

    def summary(self) -> str:
        """One line per fact, for the CLI."""
        if self.float_accuracy is None or self.int8_accuracy is None:
            return (f"top-1 accuracy not measured: {self.qat_note.removeprefix('off: ')}; int8 (TFLM reference "
                    f"interpreter, host) and float agree on top-1 for {self.agreement:.4f} of {self.test_images} test "
                    f"images\nQAT: off\nint8 file written by: {WRITER_WORDS[self.writer]}")
        lines = [f"float top-1 {self.float_accuracy:.4f}, int8 top-1 {self.int8_accuracy:.4f} (TFLM reference "
                 f"interpreter, host), agreement {self.agreement:.4f} on {self.test_images} test images"]
        if self.qat_ran:
            after = "failed" if self.qat_int8_accuracy is None else f"{self.qat_int8_accuracy:.4f}"
            lines.append(f"QAT (nncf): int8 top-1 {self.ptq_int8_accuracy:.4f} before, {after} after; kept the "
                         f"{'QAT' if self.qat_kept else 'post-training'} model")
        lines.append(f"QAT: {self.qat_note}")
        lines.append(f"int8 file written by: {WRITER_WORDS[self.writer]}")
        return "\n".join(lines)


def keras_to_int8_tflite(keras_model: Any, samples: Sequence[np.ndarray], via_saved_model: bool = False) -> bytes:
    """Full-integer .tflite bytes (int8 weights, activations, input and output) for a Keras model, calibrated on
    `samples`, each one float32 NHWC batch of one image. The converter's console output is kept off the terminal;
    its exceptions pass through with that output attached as a note.

    Converts the model's traced, frozen graph, not the SavedModel Keras writes and reads back for
    from_keras_model (via_saved_model=True; that round trip was 4.1 of a 6.2 s export): the operators, their
    options, tensor shapes, constants and quantisation come out the same, only the tensor names and the signature
    differ (nothing here reads them; tested on the search space's blocks in
    tests/models/test_train_export_roundtrip.py, with the int8 accuracy of the exported file)."""
    tf = tf_quiet.tensorflow()
    with tf_quiet.captured_native_stderr() as native, warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": the int8 input's scale comes from calibration
        warnings.simplefilter("ignore", UserWarning)
        try:
            converter = (tf.lite.TFLiteConverter.from_keras_model(keras_model) if via_saved_model
                         else _frozen_graph_converter(tf, keras_model, samples[0].shape))
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([sample] for sample in samples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
            return converter.convert()
        except Exception as exc:
            native_error = exc
    if native.tail():
        native_error.add_note(f"TFLiteConverter printed:\n{native.tail()}")
    raise native_error


def _frozen_graph_converter(tf: Any, keras_model: Any, sample_shape: Sequence[int]) -> Any:
    """A TFLiteConverter over the Keras model's graph traced for one batch-of-one input; the converter folds its
    variables into constants itself (what from_keras_model's SavedModel round trip also ends with)."""
    signature = tf.TensorSpec([1, *sample_shape[1:]], tf.float32)
    traced = tf.function(lambda x: keras_model(x, training=False), input_signature=[signature]).get_concrete_function()
    # no trackable_obj: with one, TF converts concrete functions through a SavedModel again (as slow as
    # from_keras_model); without, it freezes the graph and converts the GraphDef (it logs that this path is
    # deprecated). Freezing it here first instead took 5-15 % longer (min of 3, three random specs, same int8 outputs).
    return tf.lite.TFLiteConverter.from_concrete_functions([traced])


def check_writer(writer: str) -> str:
    if writer not in INT8_WRITERS:
        raise ExportError(f"int8 writer {writer!r} is unknown: choose one of {', '.join(INT8_WRITERS)}")
    return writer


def convert_int8(model: torch.nn.Module, spec: ArchSpec, representative: torch.Tensor,
                 via_saved_model: bool = False, writer: str = DEFAULT_INT8_WRITER) -> bytes:
    """The int8 .tflite bytes for `model`, calibrated on `representative` (float NCHW at spec.resolution), made by
    `writer` (INT8_WRITERS); via_saved_model (tensorflow only) as in keras_to_int8_tflite."""
    if check_writer(writer) == "tinyhil":
        if via_saved_model:
            raise ExportError("via_saved_model is a TFLiteConverter path: give writer='tensorflow' with it")
        from .int8_graph import int8_graph
        from .tflite_flatbuffer import write_tflite

        try:
            return write_tflite(int8_graph(model, representative))
        except ValueError as exc:
            raise ExportError(f"the int8 writer cannot export spec {spec.canonical_hash()}: {exc}") from exc
    from .keras_model import build_keras

    keras_model = build_keras(model.cpu().eval(), int(representative.shape[1]))
    samples = representative.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)
    try:
        return keras_to_int8_tflite(keras_model, [samples[i:i + 1] for i in range(len(samples))], via_saved_model)
    except Exception as exc:
        notes = "".join(f"\n{note}" for note in getattr(exc, "__notes__", ()))
        raise ExportError(f"TFLiteConverter failed for spec {spec.canonical_hash()}: {exc}{notes}") from exc


@dataclass(frozen=True)
class _Checked:
    blob: bytes
    int8_accuracy: float
    agreement: float
    input_quant: tuple[float, int]
    output_quant: tuple[float, int]


def _check_int8(blob: bytes, test: Dataset, float_top1: np.ndarray) -> _Checked:
    """Top-1 accuracy of the int8 model with the TFLM reference interpreter, and agreement with `float_top1`."""
    from ..codegen.reference import ReferenceInterpreter
    from ..codegen.reference_pool import reference_outputs

    reference = ReferenceInterpreter(blob)  # loads the model here first: a model TFLM refuses fails in this process
    x_int8 = model_inputs(test.test_x, reference)
    outputs = reference_outputs(blob, x_int8)  # on the idle cores too: one interpreter holds the GIL
    int8_top1 = outputs.reshape(len(x_int8), -1).argmax(axis=1)
    labels = test.test_y.numpy()
    return _Checked(blob, float((int8_top1 == labels).mean()), float((int8_top1 == float_top1).mean()),
                    reference.input_quant, reference.output_quant)


@torch.no_grad()
def _float_top1(model: torch.nn.Module, test: Dataset, resolution: int) -> np.ndarray:
    model.eval()
    return np.concatenate([model(to_resolution(test.test_x[i:i + 256], resolution)).argmax(1).numpy()
                           for i in range(0, len(test.test_y), 256)])


def _write(blob: bytes, out_path: Path) -> None:
    tmp = out_path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, out_path)


def export_for_board(model: torch.nn.Module, spec: ArchSpec, dataset: Dataset, out_path: Path,
                     representative_count: int = 50, writer: str = DEFAULT_INT8_WRITER) -> Path:
    """The int8 .tflite only, without evaluating it: for a multi-fidelity search's first rung, whose file is built
    and measured on the board (the measurement depends on the graph and the tensor sizes, not on the accuracy),
    while the rung is ranked by its float validation accuracy. Fewer calibration images than export_int8's: the
    scales only have to be plausible here; a candidate that reaches the last rung is exported and evaluated again."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    representative = to_resolution(dataset.train_x[:representative_count], spec.resolution)
    _write(convert_int8(model.cpu().eval(), spec, representative, writer=writer), out_path)
    return out_path


def export_int8(model: torch.nn.Module, spec: ArchSpec, dataset: Dataset, out_path: Path,
                representative_count: int = 200, test_count: int | None = 1000,
                qat_threshold: float | None = 1.0, qat_epochs: int = 3,
                train_config: TrainConfig | None = None, writer: str = DEFAULT_INT8_WRITER) -> ExportResult:
    """Export, then measure float and int8 top-1 on the first `test_count` test images (None = all).

    When int8 top-1 is more than `qat_threshold` percentage points below float top-1 (None: never), the model is
    fine-tuned `qat_epochs` epochs with nncf fake-quantisers (qat.py; `train_config` gives batch size, learning
    rate, subset and seed, default TrainConfig()), exported again the same way and measured again; the better of
    the two int8 models is written. A QAT failure is logged and reported; the post-training export is kept.
    `writer` (INT8_WRITERS) makes every .tflite of the export."""
    check_writer(writer)
    started = time.perf_counter()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    dataset = dataset.with_channels(int(getattr(model, "in_channels", dataset.input_shape[2])))
    classes = int(getattr(model, "num_classes", dataset.num_classes))
    representative = to_resolution(dataset.train_x[:representative_count], spec.resolution)
    test = dataset.subset(test=test_count)
    if classes != dataset.num_classes:  # another task's images: they calibrate, their labels measure nothing
        return _export_calibrated_only(model, spec, dataset, out_path, representative, test, classes, started, writer)
    float_top1 = _float_top1(model, test, spec.resolution)
    float_accuracy = float((float_top1 == test.test_y.numpy()).mean())  # the same pass gives both
    ptq = _check_int8(convert_int8(model, spec, representative, writer=writer), test, float_top1)
    _write(ptq.blob, out_path)  # the post-training export is on disk before QAT is tried
    drop = 100.0 * (float_accuracy - ptq.int8_accuracy)  # percentage points
    log.info("post-training int8: float %.4f, int8 %.4f (drop %.2f pp) on %d test images", float_accuracy,
             ptq.int8_accuracy, drop, len(test.test_y))
    kept, qat_accuracy, qat_checkpoint = ptq, None, None
    ran = qat_threshold is not None and drop > qat_threshold
    if qat_threshold is None:
        note = "off"
    elif not ran:
        note = f"not needed: int8 drop {drop:.2f} pp <= threshold {qat_threshold:g} pp"
    else:
        note = f"int8 drop {drop:.2f} pp > threshold {qat_threshold:g} pp"
        try:
            qat_checked, qat_model = _qat_export(model, spec, dataset, representative, test, float_top1,
                                                 qat_epochs, train_config, writer)
            qat_accuracy = qat_checked.int8_accuracy
            if qat_accuracy > ptq.int8_accuracy:
                kept = qat_checked
                _write(kept.blob, out_path)
                qat_checkpoint = out_path.with_name(out_path.stem + ".qat.pt")
                save_checkpoint(qat_checkpoint, qat_model, spec, dataset,
                                {"qat": {"epochs": qat_epochs, "int8_accuracy": qat_accuracy}})
                note += f"; QAT raised int8 top-1 to {qat_accuracy:.4f}, QAT model kept"
            else:
                note += f"; QAT int8 top-1 {qat_accuracy:.4f} is no better, post-training model kept"
        except Exception as exc:  # never lose the post-training export to a QAT failure
            log.warning("QAT failed, keeping the post-training int8 model: %s", exc)
            note += f"; QAT failed ({type(exc).__name__}: {exc}), post-training model kept"
    result = ExportResult(out_path, float_accuracy, kept.int8_accuracy, kept.agreement, kept.input_quant,
                          kept.output_quant, f"first {len(representative)} training images of {dataset.name}",
                          len(test.test_y), time.perf_counter() - started, dataset.provenance,
                          ptq_int8_accuracy=ptq.int8_accuracy, qat_int8_accuracy=qat_accuracy, qat_ran=ran,
                          qat_kept=kept is not ptq, qat_note=note, qat_checkpoint=qat_checkpoint, writer=writer)
    log.info("exported %s: float %.4f, int8 %.4f (TFLM reference), top-1 agreement %.4f on %d test images (%s); "
             "QAT: %s", out_path, result.float_accuracy, result.int8_accuracy, result.agreement, len(test.test_y),
             dataset.provenance, note)
    return result


def _export_calibrated_only(model: torch.nn.Module, spec: ArchSpec, dataset: Dataset, out_path: Path,
                            representative: torch.Tensor, test: Dataset, classes: int, started: float,
                            writer: str) -> ExportResult:
    """export_int8 for a model of another task than the dataset's (its classes differ): the images calibrate the
    quantisation and show how often int8 and float agree on top-1; no accuracy, no QAT (it would train on labels
    that are not the model's)."""
    float_top1 = _float_top1(model, test, spec.resolution)
    checked = _check_int8(convert_int8(model, spec, representative, writer=writer), test, float_top1)
    _write(checked.blob, out_path)
    note = (f"off: the model has {classes} classes and {dataset.name} {dataset.num_classes}, so its labels do not "
            "apply: accuracy and QAT need the model's own dataset")
    log.info("exported %s calibrated on %s only (%s)", out_path, dataset.provenance, note)
    return ExportResult(out_path, None, None, checked.agreement, checked.input_quant, checked.output_quant,
                        f"first {len(representative)} training images of {dataset.name}", len(test.test_y),
                        time.perf_counter() - started, dataset.provenance, qat_note=note, writer=writer)


def _qat_export(model: torch.nn.Module, spec: ArchSpec, dataset: Dataset, representative: torch.Tensor,
                test: Dataset, float_top1: np.ndarray, epochs: int, train_config: TrainConfig | None,
                writer: str) -> tuple[_Checked, torch.nn.Module]:
    from .qat import QATConfig, finetune

    config = train_config or TrainConfig(device="cpu")  # nncf's CUDA extension needs nvcc: QAT on CPU by default
    tuned = finetune(model, dataset, config, QATConfig(epochs=epochs)).model
    return _check_int8(convert_int8(tuned, spec, representative, writer=writer), test, float_top1), tuned
