"""Train on digits (real, offline), export int8, check it against the float net, the runtime and the cost model."""

import dataclasses

import numpy as np
import pytest
import torch

from tinyhil.spec.cost import estimate
from tinyhil.ml.data import load_dataset
from tinyhil.errors import ConfigError
from tinyhil.ml.export import export_int8
from tinyhil.ml.model_inputs import model_inputs
from tinyhil.spec.space import ArchSpec
from tinyhil.ml.train import TrainConfig, load_checkpoint, train

SPEC = {"resolution": 32, "stem_channels": 16, "stem_kernel": 3, "stem_stride": 2, "head_channels": 128,
        "stages": [{"block": "ir", "depth": 1, "out_channels": 24, "stride": 2, "kernel": 3, "expand": 3},
                   {"block": "dws", "depth": 1, "out_channels": 48, "stride": 2, "kernel": 3, "expand": 1}]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("roundtrip")
    dataset = load_dataset("digits")
    spec = ArchSpec.from_dict(SPEC)
    result = train(spec, dataset, TrainConfig(epochs=6, batch_size=32, train_subset=None, seed=0),
                   checkpoint_dir=out / "checkpoints")
    exported = export_int8(result.model, spec, dataset, out / "model.tflite", test_count=None)
    return spec, dataset, result, exported, out


def test_training_learns_and_checkpoints_every_epoch(trained):
    spec, dataset, result, _, _ = trained
    assert result.float_accuracy > 0.7  # 10 classes: chance is 0.1
    assert [h["epoch"] for h in result.history] == list(range(1, 7))
    model, payload = load_checkpoint(result.checkpoint)
    assert payload["epoch"] == 6 and payload["spec"] == spec.to_dict()
    assert "digits (real" in payload["dataset_provenance"]
    x = dataset.test_x[:8]
    with torch.no_grad():
        assert torch.allclose(model(x), result.model(x), atol=1e-5)


def test_int8_model_agrees_with_float_on_98_percent_of_held_out_images(trained):
    _, dataset, result, exported, _ = trained
    assert exported.test_images == len(dataset.test_y) == 360
    assert exported.agreement >= 0.98
    assert abs(exported.int8_accuracy - exported.float_accuracy) < 0.03


def test_model_inputs_match_the_reference_interpreter_input(trained):
    from tinyhil.codegen.reference import ReferenceInterpreter

    spec, dataset, _, exported, _ = trained
    reference = ReferenceInterpreter(exported.tflite_path)
    x = model_inputs(dataset.test_x[:4], reference)
    assert x.dtype == np.int8 and x.shape == (4, 32, 32, 1)
    assert reference.input_shape == (1, 32, 32, 1)
    assert reference.invoke(x[:1]).shape == (1, 10)


def test_cost_model_arena_equals_the_generated_runtime_arena(trained):
    from tinyhil.codegen import generate
    from tinyhil.codegen.reader import read_tflite

    spec, dataset, _, exported, out = trained
    generated = generate(exported.tflite_path, out / "generated")
    assert estimate(spec, dataset.input_shape, dataset.num_classes).peak_activation_bytes == generated.arena_bytes
    ops = {op.opcode for op in read_tflite(exported.tflite_path).operators}
    assert ops == {"PAD", "CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"}


def test_generated_c_runs_bit_exact_with_the_reference(trained, tmp_path):
    import shutil

    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    from tinyhil.codegen import generate
    from tinyhil.codegen.host import build_host_model
    from tinyhil.codegen.reference import ReferenceInterpreter

    spec, dataset, _, exported, _ = trained
    host = build_host_model(generate(exported.tflite_path, tmp_path / "gen"), tmp_path / "build")
    reference = ReferenceInterpreter(exported.tflite_path)
    for x in model_inputs(dataset.test_x[:5], reference):
        assert np.array_equal(host.invoke(x[None]), reference.invoke(x[None]))


def test_a_step_budget_ends_training_inside_an_epoch_and_a_checkpoint_trains_on(tmp_path):
    """Multi-fidelity rungs: max_steps counts optimiser steps (a partial last epoch), and training goes on from a
    checkpoint's model."""
    dataset = load_dataset("digits").subset(train=256, test=64)
    config = TrainConfig(epochs=3, batch_size=32, train_subset=None, seed=0, max_steps=10)  # 8 steps per epoch
    first = train(ArchSpec.from_dict(SPEC), dataset, config, checkpoint_dir=tmp_path / "rung0")
    assert [h["epoch"] for h in first.history] == [1, 2]
    assert first.images_per_second > 0
    model, _ = load_checkpoint(first.checkpoint)
    before = [p.detach().clone() for p in model.parameters()]
    x = dataset.test_x[:4]
    with torch.no_grad():
        assert torch.allclose(model(x), first.model(x), atol=1e-5)  # starts from the rung's weights
    second = train(model, dataset, TrainConfig(epochs=3, batch_size=32, train_subset=None, seed=0, max_steps=3),
                   checkpoint_dir=tmp_path / "rung1")
    assert [h["epoch"] for h in second.history] == [1]
    assert any(not torch.equal(b, a) for b, a in zip(before, second.model.parameters()))


def test_a_proxy_evaluates_only_after_its_last_epoch_to_the_same_accuracy(tmp_path, monkeypatch):
    """evaluate_every_epoch=False (a search's proxy): one float pass, after the last epoch, giving the accuracy an
    every-epoch run reports for the same seed; the earlier epochs keep their loss."""
    import tinyhil.ml.train as training

    dataset = load_dataset("digits").subset(train=256, test=64)
    config = TrainConfig(epochs=3, batch_size=32, train_subset=None, seed=0)
    passes: list[int] = []
    evaluate = training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: passes.append(1) or evaluate(*a, **k))
    every = train(ArchSpec.from_dict(SPEC), dataset, config, checkpoint_dir=tmp_path / "every")
    assert len(passes) == 3
    passes.clear()
    last = train(ArchSpec.from_dict(SPEC), dataset, dataclasses.replace(config, evaluate_every_epoch=False),
                 checkpoint_dir=tmp_path / "last")
    assert len(passes) == 1
    assert last.float_accuracy == every.float_accuracy == every.history[-1]["test_accuracy"]
    assert [sorted(h) for h in last.history] == [["epoch", "loss"], ["epoch", "loss"], ["epoch", "loss", "test_accuracy"]]
    assert [h["loss"] for h in last.history] == [h["loss"] for h in every.history]


def test_batchnorm_recalibration_takes_the_exact_statistics_of_the_first_training_images():
    """recalibrate_batchnorm: running mean and (unbiased) variance become those of the first N training images
    (the average of equal batches' statistics); the momentum and the weights are left as they were."""
    from tinyhil.ml.train import recalibrate_batchnorm

    dataset = load_dataset("digits").subset(train=300, test=16)
    norm = torch.nn.BatchNorm2d(dataset.train_x.shape[1], momentum=0.1)
    norm.weight.data.fill_(2.0)
    model = torch.nn.Sequential(norm)
    recalibrate_batchnorm(model, dataset, dataset.train_x.shape[-1], images=256, batch_size=64)
    first = dataset.train_x[:256].double()
    expected_mean = first.mean(dim=(0, 2, 3))
    expected_var = first.var(dim=(0, 2, 3), unbiased=True)
    assert torch.allclose(norm.running_mean.double(), expected_mean, atol=1e-5)
    # a cumulative average of per-batch unbiased variances (what BatchNorm keeps), near the pooled one
    assert torch.allclose(norm.running_var.double(), expected_var, rtol=0.05)
    assert norm.momentum == 0.1 and not norm.training and torch.all(norm.weight == 2.0)


def test_a_short_run_ends_with_the_batchnorm_statistics_of_its_final_weights(tmp_path):
    """With recalibrate_bn_images the checkpoint and the returned model hold BatchNorm statistics recomputed from
    the final weights (recomputing them again changes nothing); without it they are the running averages."""
    from tinyhil.ml.train import recalibrate_batchnorm

    dataset = load_dataset("digits").subset(train=256, test=64)
    config = TrainConfig(epochs=1, batch_size=32, train_subset=None, seed=0, max_steps=5, augment=False)
    kept = train(ArchSpec.from_dict(SPEC), dataset, config, checkpoint_dir=tmp_path / "kept")
    redone = train(ArchSpec.from_dict(SPEC), dataset, dataclasses.replace(config, recalibrate_bn_images=128),
                   checkpoint_dir=tmp_path / "redone")

    def stats(model):
        return [b.clone() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
                for b in (m.running_mean, m.running_var)]

    saved, _ = load_checkpoint(redone.checkpoint)
    assert all(torch.equal(a, b) for a, b in zip(stats(saved), stats(redone.model)))
    recalibrate_batchnorm(saved, dataset, ArchSpec.from_dict(SPEC).resolution, 128)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(stats(saved), stats(redone.model)))
    # the same seed and steps: the same weights, only the statistics differ
    assert all(torch.equal(a, b) for a, b in zip(kept.model.parameters(), redone.model.parameters()))
    assert not all(torch.allclose(a, b) for a, b in zip(stats(kept.model), stats(redone.model)))
    with pytest.raises(ConfigError, match="recalibrate_bn_images"):
        TrainConfig(recalibrate_bn_images=-1).check()


def test_the_first_rungs_board_export_has_the_graph_and_memory_plan_of_the_full_export(trained):
    """A multi-fidelity search measures the first rung's file (export_for_board: no int8 evaluation, fewer
    calibration images); what the board measures (operators, tensor shapes, arena) must be the full export's."""
    from tinyhil.codegen import generate
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.ml.export import export_for_board

    spec, dataset, result, exported, out = trained
    path = export_for_board(result.model, spec, dataset, out / "board.tflite")
    board, full = read_tflite(path), read_tflite(exported.tflite_path)
    assert [op.opcode for op in board.operators] == [op.opcode for op in full.operators]
    assert [tuple(t.shape) for t in board.tensors] == [tuple(t.shape) for t in full.tensors]
    assert generate(path, out / "board_generated").arena_bytes == generate(exported.tflite_path, out / "g2").arena_bytes


# nets of the search space with the paper's blocks, each exported whole (export_int8) and compared with the SavedModel
# conversion: MBConv with SE and hard-swish (the deployed swish), stride 2, an identity residual at its second block;
# depthwise-separable with SE and leaky relu, a residual through a projection, GAP + dense without a head conv;
# the paper's depthwise block (ir, expand 1), a 5x5 / 7x7 MBConv with a projected residual, no stem conv
EQUALITY_NETS = {  # name -> (spec, operators its blocks must have put in the file)
    "mbconv_se_hswish": ({**SPEC, "stages": [
        {"block": "ir", "depth": 2, "out_channels": 24, "stride": 2, "kernel": 3, "expand": 3, "se_ratio": 0.25,
         "activation": "hswish"}, SPEC["stages"][1]]},
        {"ADD", "MUL", "LOGISTIC", "HARD_SWISH", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"}),
    "dws_se_leakyrelu_projection_gap_dense": ({**SPEC, "stem_stride": 1, "head_channels": 0, "stages": [
        {"block": "dws", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 5, "se_ratio": 0.5,
         "activation": "leakyrelu"},
        {"block": "dws", "depth": 2, "out_channels": 32, "stride": 1, "kernel": 3, "skip": "residual",
         "activation": "relu6"}]},
        {"ADD", "MUL", "LOGISTIC", "LEAKY_RELU", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"}),
    "depthwise_and_mbconv_projection_no_stem": ({**SPEC, "stem_channels": 0, "head_channels": 256, "stages": [
        {"block": "ir", "depth": 1, "out_channels": 8, "stride": 2, "kernel": 3, "expand": 1, "activation": "relu6"},
        {"block": "ir", "depth": 2, "out_channels": 24, "stride": 1, "kernel": 7, "expand": 6, "skip": "residual",
         "se_ratio": 0.25, "activation": "hswish"},
        {"block": "ir", "depth": 1, "out_channels": 40, "stride": 2, "kernel": 5, "expand": 4,
         "activation": "leakyrelu"}]},
        {"ADD", "MUL", "LOGISTIC", "HARD_SWISH", "LEAKY_RELU", "DEPTHWISE_CONV_2D", "CONV_2D", "FULLY_CONNECTED"}),
}


def _assert_same_model(frozen_path, saved_path) -> None:
    """What the code generator and the reference interpreter read is the same: operators, their options, tensor
    shapes, dtypes, quantisation and every constant; only tensor names may differ."""
    from tinyhil.codegen.reader import read_tflite

    frozen, saved = read_tflite(frozen_path), read_tflite(saved_path)
    assert [(op.opcode, op.inputs, op.outputs, op.options) for op in frozen.operators] == \
        [(op.opcode, op.inputs, op.outputs, op.options) for op in saved.operators]
    assert (frozen.inputs, frozen.outputs) == (saved.inputs, saved.outputs)
    assert len(frozen.tensors) == len(saved.tensors)
    for a, b in zip(frozen.tensors, saved.tensors):
        assert (a.shape, a.dtype, a.quant) == (b.shape, b.dtype, b.quant), (a.name, b.name)
        assert (a.data is None) == (b.data is None) and (a.data is None or np.array_equal(a.data, b.data)), a.name
    assert frozen.tensor(frozen.inputs[0]).dtype == frozen.tensor(frozen.outputs[0]).dtype == "int8"


def _assert_saved_model_conversion_is_the_export(model, spec, dataset, exported, out) -> None:
    """export_int8's file with writer "tensorflow" (the frozen graph) equals the SavedModel conversion of the same
    model with the same representative images, and its int8 evaluation (accuracy, agreement, input/output
    quantisation) too."""
    from tinyhil.ml.data import to_resolution
    from tinyhil.ml.export import _check_int8, _float_top1, convert_int8

    representative = to_resolution(dataset.train_x[:200], spec.resolution)  # export_int8's default calibration
    saved_path = out / "via_saved_model.tflite"
    saved_path.write_bytes(convert_int8(model, spec, representative, via_saved_model=True, writer="tensorflow"))
    _assert_same_model(exported.tflite_path, saved_path)
    test = dataset.subset(test=exported.test_images)
    saved = _check_int8(saved_path.read_bytes(), test, _float_top1(model, test, spec.resolution))
    assert (saved.int8_accuracy, saved.agreement, saved.input_quant, saved.output_quant) == \
        (exported.int8_accuracy, exported.agreement, exported.input_quant, exported.output_quant)


@pytest.fixture(scope="module")
def exported_by_tensorflow(trained):
    spec, dataset, result, _, out = trained
    return export_int8(result.model, spec, dataset, out / "tensorflow.tflite", test_count=None, writer="tensorflow")


def test_the_full_int8_export_writes_the_saved_model_conversions_model_and_accuracy(trained, exported_by_tensorflow):
    """export_int8 with TensorFlow's writer converts the traced, frozen graph: the trained net's file and its int8
    accuracy on all 360 test images must be the SavedModel conversion's."""
    spec, dataset, result, _, out = trained
    _assert_saved_model_conversion_is_the_export(result.model, spec, dataset, exported_by_tensorflow, out)


def test_tinyhils_int8_writer_is_as_accurate_as_tensorflows_converter_on_a_trained_net(trained, exported_by_tensorflow):
    """The default writer (tinyhil's own quantiser) against TFLiteConverter on the same trained weights and the
    same 200 calibration images: int8 accuracy on all 360 test images within one image in a hundred, top-1 agreement
    with the float net as high, the same input quantisation (the images' range) and the same graph."""
    from tinyhil.codegen.reader import read_tflite

    _, _, _, ours, _ = trained
    theirs = exported_by_tensorflow
    assert ours.writer == "tinyhil" and theirs.writer == "tensorflow"
    assert "tinyhil's int8 writer" in ours.summary()
    assert abs(ours.int8_accuracy - theirs.int8_accuracy) <= 0.01
    assert ours.agreement >= theirs.agreement - 0.01
    assert ours.input_quant[1] == theirs.input_quant[1] and ours.input_quant[0] == pytest.approx(theirs.input_quant[0])
    a, b = read_tflite(ours.tflite_path), read_tflite(theirs.tflite_path)
    assert [(op.opcode, op.options) for op in a.operators] == [(op.opcode, op.options) for op in b.operators]


@pytest.mark.parametrize("net", sorted(EQUALITY_NETS))
def test_the_frozen_graph_export_of_the_search_spaces_blocks_is_the_saved_model_conversions(net, tmp_path):
    """For each net of EQUALITY_NETS the frozen-graph export (export_int8: 200 calibration images, int8 input and
    output) equals from_keras_model's conversion, and so does its int8 evaluation."""
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.ml.train import build_torch

    spec_dict, blocks_ops = EQUALITY_NETS[net]
    spec = ArchSpec.from_dict(spec_dict)
    dataset = load_dataset("digits")
    torch.manual_seed(0)
    model = build_torch(spec, 1, 10).eval()
    exported = export_int8(model, spec, dataset, tmp_path / "model.tflite", test_count=100, qat_threshold=None,
                           writer="tensorflow")
    _assert_saved_model_conversion_is_the_export(model, spec, dataset, exported, tmp_path)
    assert {op.opcode for op in read_tflite(exported.tflite_path).operators} >= blocks_ops  # the blocks are there
