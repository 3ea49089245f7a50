"""Quantisation-aware fine-tuning with nncf, for a model whose int8 export loses accuracy.

nncf inserts fake-quantisers in the torch graph (per-channel symmetric int8 weights on [-127, 127] and
asymmetric per-tensor int8 activations, as TFLite quantises them), the model is fine-tuned a few epochs at a low
learning rate with them in place, and the fake-quantisers are then stripped: the weights are left on their int8
grid, and a plain float `TinyNet` comes back. nncf's activation scales do not carry into TFLite, so the caller
exports that float model again through the export's int8 writer and measures it again.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import TinyhilError
from .data import Dataset, to_resolution
from .model import TinyNet, build_torch
from .train import TrainConfig, evaluate, train

log = logging.getLogger(__name__)

HOOKS_PREFIX = "__nncf_hooks."  # where nncf keeps its quantisers in the wrapped model's state dict


class QATError(TinyhilError):
    """nncf could not quantise, fine-tune or strip the model."""


@dataclass(frozen=True)
class QATConfig:
    epochs: int = 3
    lr_factor: float = 0.1  # fine-tuning learning rate = TrainConfig.lr x this
    calibration_images: int = 300  # training images nncf sets its initial ranges on
    calibration_batch: int = 32


@dataclass
class QATResult:
    model: TinyNet  # float, fake-quantisers stripped, weights on their int8 grid
    fake_quant_accuracy: float  # top-1 of the fake-quantised model after fine-tuning (test split used in training)
    float_accuracy: float  # top-1 of the stripped float model, same images
    epochs: int
    lr: float
    seconds: float


def _nncf():
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")  # the first use compiles a C++ extension (~1 min)
    import nncf

    return nncf


def quantise(model: TinyNet, dataset: Dataset, qat: QATConfig = QATConfig()) -> torch.nn.Module:
    """An nncf fake-quantised copy of `model`, ranges calibrated on the first training images."""
    nncf = _nncf()
    resolution = model.spec.resolution
    images = dataset.train_x[:qat.calibration_images]
    batches = [to_resolution(images[i:i + qat.calibration_batch], resolution)
               for i in range(0, len(images), qat.calibration_batch)]
    params = nncf.AdvancedQuantizationParameters(overflow_fix=nncf.OverflowFix.DISABLE)  # full 8-bit weight range
    try:
        return nncf.quantize(copy.deepcopy(model).cpu().eval(), nncf.Dataset(batches), subset_size=len(batches),
                             preset=nncf.QuantizationPreset.MIXED, advanced_parameters=params)
    except Exception as exc:
        raise QATError(f"nncf.quantize failed on spec {model.spec.canonical_hash()}: {exc}") from exc


def strip(quantised: torch.nn.Module, in_channels: int, num_classes: int) -> TinyNet:
    """A plain float TinyNet with the fine-tuned weights, each put on the int8 grid of its fake-quantiser.

    nncf.strip's NATIVE format needs torchao and IN_PLACE refuses activation quantisers, so this does what
    NATIVE does to the weights (nncf/torch/function_hook/strip.py) and drops the activation quantisers."""
    spec = quantised.spec
    example = torch.zeros(1, in_channels, spec.resolution, spec.resolution)
    quantised = copy.deepcopy(quantised).cpu().eval()
    try:
        _bake_weights(quantised, example)
    except Exception as exc:
        raise QATError(f"cannot strip the nncf quantisers of spec {spec.canonical_hash()} (nncf "
                       f"{_nncf().__version__}; written for 3.4): {exc}") from exc
    state = {k: v for k, v in quantised.state_dict().items() if not k.startswith(HOOKS_PREFIX)}
    model = build_torch(spec, in_channels, num_classes)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise QATError(f"the stripped nncf model does not match TinyNet (missing {missing}, unexpected "
                       f"{unexpected}): nncf changed the model's structure; export with --qat-threshold off")
    return model.eval()


@torch.no_grad()
def _bake_weights(quantised: torch.nn.Module, example: torch.Tensor) -> None:
    """Replace each quantised weight by its fake-quantised value (in place)."""
    _nncf()
    from nncf.torch.function_hook.hook_storage import decode_hook_name
    from nncf.torch.function_hook.nncf_graph.nncf_graph_builder import build_nncf_graph
    from nncf.torch.function_hook.wrapper import get_hook_storage
    from nncf.torch.model_graph_manager import get_const_data, get_const_node, get_module_by_name, split_const_name
    from nncf.torch.quantization.layers import BaseQuantizer

    graph = build_nncf_graph(quantised, example)
    baked = 0
    for name, quantiser in get_hook_storage(quantised).named_hooks():
        hook_type, op_name, port_id = decode_hook_name(name)
        if not isinstance(quantiser, BaseQuantizer) or hook_type != "pre_hooks":
            continue
        const = get_const_node(graph.get_node_by_name(op_name), port_id, graph)
        if const is None:  # a quantiser on an activation input, not on a weight
            continue
        low, high = quantiser.get_input_low_input_high()
        data = get_const_data(const, quantised)
        data = quantiser.quantize(torch.min(torch.max(data, low), high), execute_traced_op_as_identity=False)
        module_name, attr = split_const_name(const.layer_attributes.name)
        getattr(get_module_by_name(module_name, quantised), attr).data = data
        baked += 1
    log.debug("QAT: %d weight tensors put on their int8 grid", baked)


def finetune(model: TinyNet, dataset: Dataset, config: TrainConfig, qat: QATConfig = QATConfig()) -> QATResult:
    """Quantise `model` with nncf, fine-tune it `qat.epochs` epochs with the fake-quantisers in the graph (the
    training loop of train.py, at config.lr x qat.lr_factor), strip back to float. `model` is not changed."""
    started = time.perf_counter()
    quantised = quantise(model, dataset, qat)
    lr = config.lr * qat.lr_factor
    tuned = dataclasses.replace(config, epochs=qat.epochs, lr=lr, progress=False)
    log.info("QAT: fine-tuning %d epochs at lr %.2g with nncf fake-quantisers (%s)", qat.epochs, lr,
             dataset.provenance)
    try:
        with tempfile.TemporaryDirectory(prefix="tinyhil-qat-") as tmp:  # train() checkpoints every epoch
            result = train(quantised, dataset, tuned, checkpoint_dir=Path(tmp))
    except Exception as exc:
        raise QATError(f"QAT fine-tuning failed: {exc}") from exc
    stripped = strip(result.model, dataset.input_shape[-1], dataset.num_classes)
    test = dataset.subset(test=config.test_subset)
    out = QATResult(stripped, result.float_accuracy, evaluate(stripped, test, stripped.spec.resolution), qat.epochs,
                    lr, time.perf_counter() - started)
    log.info("QAT done in %.1f s: fake-quantised top-1 %.4f, stripped float top-1 %.4f", out.seconds,
             out.fake_quant_accuracy, out.float_accuracy)
    return out
