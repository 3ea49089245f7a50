"""A model made for another task than the dataset at hand (the LLM-NAS paper's CIFAR-100 nets: 3 channels, 100
classes) exports calibrated on the offline set: grey images replicated to 3 channels, no accuracy (the labels are
not the model's), the int8 / float top-1 agreement instead; a channel count that cannot be matched is one line."""

from __future__ import annotations

import pytest
import torch

from tinyhil.codegen.reference import ReferenceInterpreter
from tinyhil.ml.data import DataError, load_dataset
from tinyhil.ml.export import export_int8
from tinyhil.ml.model import build_torch
from tinyhil.spec.space import ArchSpec

SPEC = {"resolution": 32, "stem_channels": 8, "stem_kernel": 3, "stem_stride": 2, "head_channels": 0,
        "stages": [{"block": "ir", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 3, "expand": 2}]}


def test_a_colour_model_of_100_classes_exports_calibrated_on_grey_digits_without_an_accuracy(tmp_path) -> None:
    spec = ArchSpec.from_dict(SPEC)
    torch.manual_seed(0)
    model = build_torch(spec, 3, 100).eval()
    result = export_int8(model, spec, load_dataset("digits"), tmp_path / "model.tflite", test_count=40,
                         qat_threshold=1.0)
    assert result.float_accuracy is None and result.int8_accuracy is None and not result.qat_ran
    assert 0.0 <= result.agreement <= 1.0 and result.test_images == 40
    assert "grey replicated to 3 channels" in result.dataset_provenance
    assert "100 classes and digits 10" in result.summary() and "agree on top-1" in result.summary()
    reference = ReferenceInterpreter(result.tflite_path)
    assert tuple(reference.input_shape) == (1, 32, 32, 3)


def test_a_grey_model_given_colour_images_is_refused_naming_both_channel_counts(tmp_path) -> None:
    spec = ArchSpec.from_dict(SPEC)
    dataset = load_dataset("digits").with_channels(3)
    with pytest.raises(DataError, match="takes 1-channel images and digits has 3-channel ones"):
        export_int8(build_torch(spec, 1, 10).eval(), spec, dataset, tmp_path / "model.tflite", test_count=10)
    assert not (tmp_path / "model.tflite").exists()
