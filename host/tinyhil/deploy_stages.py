"""The stages of a deployment (see deploy.py). Each takes the Deployment, keeps what later stages need in
`dep.state`, and returns the JSON-safe results that go into metrics.json."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .errors import TinyhilError

if TYPE_CHECKING:
    from .deploy import Deployment

log = logging.getLogger(__name__)

C_LIBRARY_CMAKE = """\
# tinyhil generated C library for candidate {candidate} (model sha256 {model_hash}).
# In your firmware's CMakeLists.txt:
#   add_subdirectory(path/to/c_library tinyhil)
#   target_link_libraries(your_app PRIVATE tinyhil_model)
# then call tinyhil_model_invoke(input, output) from model/model.h.
cmake_minimum_required(VERSION 3.16)
if(NOT TARGET tinyhil_kernels)
  add_subdirectory(${{CMAKE_CURRENT_LIST_DIR}}/kernels ${{CMAKE_CURRENT_BINARY_DIR}}/kernels)
endif()
add_subdirectory(${{CMAKE_CURRENT_LIST_DIR}}/model ${{CMAKE_CURRENT_BINARY_DIR}}/model)
"""


def load_candidate(dep: "Deployment") -> dict[str, Any]:
    from .data import load_dataset
    from .search.store import RunStore
    from .space import ArchSpec

    store = RunStore.open(dep.run_dir)
    candidate = store.get_candidate(dep.candidate_id)
    spec = ArchSpec.from_dict(candidate.spec)
    dataset = load_dataset(dep.config.dataset, dep.config.data_dir)
    if dep.config.train_subset:
        dataset = dataset.subset(train=dep.config.train_subset)
    dep.state.update(spec=spec, dataset=dataset)
    dep.record.spec = spec.to_dict()
    dep.record.dataset_provenance = dataset.provenance
    return {"spec_hash": spec.canonical_hash(), "train_samples": int(dataset.train_x.shape[0]),
            "test_samples": int(dataset.test_x.shape[0]), "search_metrics": getattr(candidate, "metrics", {}) or {}}


def _student_builder(payload: dict[str, Any]) -> torch.nn.Module:
    """Rebuild a tinyhil-trained network from its training checkpoint (a larger CNN can be the teacher)."""
    from .model import build_torch
    from .space import ArchSpec

    if "spec" not in payload:
        raise TinyhilError("checkpoint has no `spec`: not a tinyhil training checkpoint")
    return build_torch(ArchSpec.from_dict(payload["spec"]), int(payload["in_channels"]), int(payload["num_classes"]))


def teacher_logits(dep: "Deployment") -> dict[str, Any]:
    from .kd import CacheKey, Distiller, TeacherLogitsCache
    from .teacher import describe_transform, load_teacher

    dataset = dep.state["dataset"]
    teacher = load_teacher(dep.config.teacher, _student_builder)
    train_x = dataset.train_x
    key = CacheKey(teacher.teacher_id, f"{dep.config.dataset} | {dataset.provenance}", "train", int(train_x.shape[0]),
                   describe_transform(teacher.model))
    digest = hashlib.sha256(json.dumps(key.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    cache = TeacherLogitsCache.open_or_build(dep.run_dir / "teacher_logits" / digest, key, teacher.model, train_x)
    dep.state["distiller"] = Distiller(cache, dep.config.temperature, dep.config.alpha)
    teacher_accuracy = teacher.meta.get("test_accuracy")
    return {"teacher_id": teacher.teacher_id, "teacher": teacher.meta.get("arch", "tinyhil model"),
            "teacher_test_accuracy": teacher_accuracy, "cache": str(cache.cache_dir), "transform": key.transform}


def train_student(dep: "Deployment", distill: bool) -> dict[str, Any]:
    from .train import TrainConfig, train

    config = TrainConfig.full()
    if dep.config.epochs:
        config = config.with_epochs(dep.config.epochs)
    config = config.with_seed(dep.config.seed)
    name = "distilled" if distill else "baseline"
    result = train(dep.state["spec"], dep.state["dataset"], config, distiller=dep.state.get("distiller") if distill else None,
                   checkpoint_dir=dep.out / "checkpoints" / name)
    if distill or "trained" not in dep.state:
        dep.state["trained"] = result
    return {"distilled": distill, "checkpoint": str(result.checkpoint), "float_accuracy": float(result.test_accuracy),
            "epochs": config.epochs}


def export(dep: "Deployment") -> dict[str, Any]:
    from .export import export_int8

    trained = dep.state["trained"]
    result = export_int8(trained.model, dep.state["spec"], dep.state["dataset"], dep.out / "model.tflite")
    dep.state["export"] = result
    return {"tflite": str(result.tflite_path), "float_accuracy": float(result.float_accuracy),
            "int8_accuracy": float(result.int8_accuracy)}


def c_library(dep: "Deployment") -> dict[str, Any]:
    from .codegen import generate
    from .deploy import copy_tree, repo_firmware_dir

    lib = dep.out / "c_library"
    generated = generate(dep.out / "model.tflite", lib / "model")
    copy_tree(repo_firmware_dir() / "kernels", lib / "kernels")
    (lib / "CMakeLists.txt").write_text(C_LIBRARY_CMAKE.format(candidate=dep.candidate_id, model_hash=generated.model_hash))
    dep.state["generated"] = generated
    return {"c_library": str(lib), "model_hash": generated.model_hash, "arena_bytes": int(generated.arena_bytes),
            "input_shape": list(generated.input_shape), "output_shape": list(generated.output_shape),
            "layers": [_jsonable(layer) for layer in generated.layers],
            "live_bytes_per_op": [int(b) for b in generated.plan.live_bytes_per_op]}


def measure(dep: "Deployment") -> dict[str, Any]:
    from .bench import measure as bench_measure
    from .boards import load_profile

    profile = load_profile(dep.config.board)
    inputs = quantized_test_inputs(dep, dep.config.measure_inputs)
    workdir = dep.out / "firmware"
    measurement = bench_measure(dep.out / "model.tflite", profile, inputs, runtime="native", workdir=workdir)
    elves = sorted(workdir.rglob("*.elf"), key=lambda p: p.stat().st_mtime)
    if elves:
        shutil.copy2(elves[-1], workdir / "firmware.elf")
    return {"measurement": measurement.to_dict(), "elf": str(workdir / "firmware.elf") if elves else None,
            "inputs": int(inputs.shape[0])}


def quantized_test_inputs(dep: "Deployment", count: int) -> np.ndarray:
    from .data import quantize_input

    images = dep.state["dataset"].test_x[:count]
    return quantize_input(images, dep.state["export"])


def explain(dep: "Deployment") -> dict[str, Any]:
    from .explain import Int8Model, explain as run_explain
    from .reference import ReferenceInterpreter

    dataset = dep.state["dataset"]
    reference = ReferenceInterpreter(dep.out / "model.tflite")
    (in_scale, in_zero), (out_scale, out_zero) = reference.input_quant, reference.output_quant
    int8 = Int8Model(reference, float(in_scale), int(in_zero), float(out_scale), int(out_zero))
    result = run_explain(dep.state["trained"].model, dataset.test_x, dataset.test_y, list(dataset.class_names),
                         dep.out / "explain", int8=int8, per_class=dep.config.per_class)
    return result.to_dict()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(v) for k, v in vars(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
