"""The stages of a deployment (see deploy.py). Each takes the Deployment, keeps what later stages need in
`dep.state`, and returns the JSON-safe results that go into metrics.json.

Beside each stage: `<stage>_inputs(dep)`, what its result depends on (options, and the hashes the stages before
it recorded), and a restore that puts a finished stage's outputs back into `dep.state` on a rerun, or raises
StaleStage when they are no longer on disk as recorded. Training and export code is not hashed (a changed
tinyhil needs `--restart` to retrain); the code generator, kernels and firmware sources are."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import TinyhilError
from ..options import DEFAULT_INT8_WRITER
from ..paths import PACKAGE_DIR
from .pipeline import StaleStage, digest, file_sha256

if TYPE_CHECKING:
    from .pipeline import Deployment
    from ..ml.train import TrainConfig

log = logging.getLogger(__name__)

C_LIBRARY_CMAKE = """\
# tinyhil generated C library for {candidate} (model sha256 {model_hash}).
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
    from ..ml.data import load_dataset
    from ..search.store import RunStore
    from ..spec.space import ArchSpec

    with RunStore.open(dep.run_dir) as store:
        candidate, run_config = store.get_candidate(dep.candidate_id), store.config()
    if candidate.spec is None:
        raise TinyhilError(f"candidate {dep.candidate_id} has no architecture (it was rejected: {candidate.reason})")
    dep.config.board = dep.config.board or run_config.get("board", "qemu-m7")
    dep.config.dataset = dep.config.dataset or run_config.get("dataset", "fashion-mnist")
    if dep.config.data_dir is None and run_config.get("data_dir"):
        dep.config.data_dir = Path(run_config["data_dir"])
    dep.record.config.update(board=dep.config.board, dataset=dep.config.dataset)
    spec = ArchSpec.from_dict(candidate.spec)
    dataset = load_dataset(dep.config.dataset, dep.config.data_dir)
    if dep.config.train_subset:
        dataset = dataset.subset(train=dep.config.train_subset)
    dep.state.update(spec=spec, dataset=dataset)
    dep.record.spec = spec.to_dict()
    dep.record.dataset_provenance = dataset.provenance
    return {"spec_hash": spec.canonical_hash(), "train_samples": int(dataset.train_x.shape[0]),
            "test_samples": int(dataset.test_x.shape[0]), "search_metrics": getattr(candidate, "metrics", {}) or {}}


# DeployConfig fields that do not change the trained weights; every other field (and any added later) does
NOT_TRAINING_OPTIONS = frozenset({"board", "baseline", "explain", "per_class", "measure_inputs", "restart", "teacher",
                                  "data_dir", "design_explanation"})
KD_OPTIONS = frozenset({"temperature", "alpha"})  # only the distilled training reads them
HOST = PACKAGE_DIR


def _tree_sha256(root: Path) -> str | None:
    """sha256 over the relative paths and contents of every file under root, leaving out what copy_tree leaves
    out (build*, __pycache__)."""
    root = Path(root)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts = path.relative_to(root).parts
        if any(part.startswith("build") or part == "__pycache__" for part in parts):
            continue
        h.update("/".join(parts).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _sources(*paths: Path) -> dict[str, str | None]:
    """Hashes of the source trees/files a stage's output is made by."""
    return {p.name: (_tree_sha256(p) if p.is_dir() else file_sha256(p)) for p in paths}


def _stage(dep: "Deployment", name: str) -> dict[str, Any]:
    return dep.record.stages.get(name, {})


def _data_inputs(dep: "Deployment") -> dict[str, Any]:
    load = _stage(dep, "load")
    return {"dataset": dep.record.dataset_provenance, "spec": load.get("spec_hash"),
            "train_images": load.get("train_samples"), "test_images": load.get("test_samples")}


def _student_builder(payload: dict[str, Any]) -> torch.nn.Module:
    """Rebuild a tinyhil-trained network from its training checkpoint (a larger CNN can be the teacher)."""
    from ..ml.model import build_torch
    from ..spec.space import ArchSpec

    if "spec" not in payload:
        raise TinyhilError("checkpoint has no `spec`: not a tinyhil training checkpoint")
    return build_torch(ArchSpec.from_dict(payload["spec"]), int(payload["in_channels"]), int(payload["num_classes"]))


def teacher_logits_inputs(dep: "Deployment") -> dict[str, Any]:
    return {"teacher": file_sha256(dep.config.teacher), **_data_inputs(dep)}


def teacher_logits(dep: "Deployment") -> dict[str, Any]:
    from ..ml.kd import CacheKey, TeacherLogitsCache
    from ..ml.teacher import describe_transform, load_teacher

    dataset = dep.state["dataset"]
    teacher = load_teacher(dep.config.teacher, _student_builder)
    train_x = dataset.train_x
    key = CacheKey(teacher.teacher_id, f"{dep.config.dataset} | {dataset.provenance}", "train", int(train_x.shape[0]),
                   describe_transform(teacher.model))
    cache_dir = dep.run_dir / "teacher_logits" / digest(key.to_dict())
    if dep.config.restart:
        cache = TeacherLogitsCache.build(cache_dir, key, teacher.model, train_x)
    else:
        cache = TeacherLogitsCache.open_or_build(cache_dir, key, teacher.model, train_x)
    distiller = _distiller(dep, cache)
    dep.state["distiller"] = distiller
    return {"teacher": teacher.meta.get("arch", "tinyhil model"), "teacher_test_accuracy": teacher.meta.get("test_accuracy"),
            "teacher_dataset": teacher.meta.get("dataset"), "cache": str(cache.cache_dir), "cache_key": key.to_dict(),
            **distiller.describe()}


def _distiller(dep: "Deployment", cache: Any) -> Any:
    from ..ml.kd import KD_PRESETS, Distiller, paper_alpha_schedule

    schedule = (paper_alpha_schedule(student_epochs(dep)) if KD_PRESETS[dep.config.kd_preset].scheduled else None)
    return Distiller(cache, dep.config.temperature, dep.config.alpha, alpha_schedule=schedule)


def restore_teacher_logits(dep: "Deployment", done: dict[str, Any]) -> None:
    from ..ml.kd import CacheKey, TeacherLogitsCache

    if "cache_key" not in done:
        raise StaleStage("its record names no logits cache key")
    cache = TeacherLogitsCache.open(Path(done["cache"]), CacheKey(**done["cache_key"]))
    if cache is None:
        raise StaleStage(f"its logits cache {done['cache']} is gone or was rebuilt for another teacher")
    dep.state["distiller"] = _distiller(dep, cache)


def student_epochs(dep: "Deployment") -> int:
    """--epochs, else the KD preset's (the paper's: 50), else the full-training schedule's."""
    from ..ml.kd import KD_PRESETS
    from ..ml.train import TrainConfig

    return dep.config.epochs or KD_PRESETS[dep.config.kd_preset].epochs or TrainConfig.full().epochs


def train_config(dep: "Deployment") -> "TrainConfig":
    """Full training's schedule with the deploy's epochs and seed; QAT at export fine-tunes with the same."""
    from ..ml.train import TrainConfig

    changes: dict[str, Any] = {"seed": dep.config.seed, "progress": dep.progress_bars, "epochs": student_epochs(dep)}
    return dataclasses.replace(TrainConfig.full(), **changes)


def _train_config_inputs(dep: "Deployment") -> dict[str, Any]:
    config = dataclasses.asdict(train_config(dep))
    config.pop("progress")  # a progress bar changes no weight
    return config


def train_inputs(dep: "Deployment", distill: bool) -> dict[str, Any]:
    options = {k: v for k, v in dataclasses.asdict(dep.config).items()
               if k not in NOT_TRAINING_OPTIONS and (distill or k not in KD_OPTIONS)}
    inputs = {**_data_inputs(dep), "train_config": _train_config_inputs(dep), "options": options}
    if distill:
        inputs["teacher_logits"] = _stage(dep, "teacher_logits").get("input_hashes")
    return inputs


def train_student(dep: "Deployment", distill: bool) -> dict[str, Any]:
    from ..ml.train import resumable_epoch, train

    config = train_config(dep)
    dep.state["train_config"] = config  # QAT at export fine-tunes with the same batch size, subset and seed
    name = "distilled" if distill else "baseline"
    checkpoint_dir = dep.out / "checkpoints" / name
    resume_key = digest(train_inputs(dep, distill))  # a killed training continues only for the same inputs
    if dep.config.restart:
        (checkpoint_dir / "last.pt").unlink(missing_ok=True)
    resumed = resumable_epoch(checkpoint_dir, resume_key)
    if resumed is not None:
        dep.progress(f"[{dep.candidate_id}] {name} training resumes after epoch {resumed} of {config.epochs} "
                     f"({checkpoint_dir / 'last.pt'})")
    result = train(dep.state["spec"], dep.state["dataset"], config, distiller=dep.state.get("distiller") if distill else None,
                   checkpoint_dir=checkpoint_dir, resume_key=resume_key)
    if distill or "model" not in dep.state:  # the deployed model is the distilled one when there is a teacher
        dep.state["model"] = getattr(result, "model", None) or model_from_checkpoint(dep, result.checkpoint)
    return {"distilled": distill, "checkpoint": str(result.checkpoint), "checkpoint_sha256": file_sha256(result.checkpoint),
            "float_accuracy": float(result.test_accuracy), "epochs": config.epochs, "resumed_after_epoch": resumed}


def restore_training(dep: "Deployment", done: dict[str, Any], distill: bool) -> None:
    checkpoint = done.get("checkpoint")
    if file_sha256(checkpoint) != done.get("checkpoint_sha256") or checkpoint is None:
        raise StaleStage(f"its checkpoint {checkpoint} is gone or changed")
    dep.state["train_config"] = train_config(dep)
    if distill or "model" not in dep.state:
        dep.state["model"] = model_from_checkpoint(dep, checkpoint)


def model_from_checkpoint(dep: "Deployment", checkpoint: Path | str) -> torch.nn.Module:
    from ..ml.model import build_torch

    dataset = dep.state["dataset"]
    payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else payload
    model = build_torch(dep.state["spec"], int(dataset.input_shape[-1]), int(dataset.num_classes))
    model.load_state_dict(state)
    return model.eval()


def export_inputs(dep: "Deployment") -> dict[str, Any]:
    # the writer only when it is not the default, so a deploy folder of an earlier version resumes without exporting again
    writer = {} if dep.config.int8_writer == DEFAULT_INT8_WRITER else {"int8_writer": dep.config.int8_writer}
    return {**_data_inputs(dep), "checkpoint": _stage(dep, "train").get("checkpoint_sha256"),
            "train_config": _train_config_inputs(dep), **writer}


def export(dep: "Deployment") -> dict[str, Any]:
    from ..ml.export import export_int8

    # the whole test split (the proxy's 1,000 images are for ranking): the deployed int8 accuracy is the number
    # users quote, and training's float accuracy is measured on the same images
    result = export_int8(dep.state["model"], dep.state["spec"], dep.state["dataset"], dep.out / "model.tflite",
                         test_count=None, train_config=dep.state.get("train_config"), writer=dep.config.int8_writer)
    dep.state["export"] = result
    return {"tflite": str(result.tflite_path), "tflite_sha256": file_sha256(result.tflite_path),
            "float_accuracy": float(result.float_accuracy),
            "int8_accuracy": float(result.int8_accuracy), "test_images": int(result.test_images), "qat": result.qat_note,
            "int8_writer": result.writer}


def _generator_sources() -> dict[str, str | None]:
    from .pipeline import repo_firmware_dir

    return _sources(HOST / "codegen", HOST / "templates" / "c", repo_firmware_dir() / "kernels")


def codegen_inputs(dep: "Deployment") -> dict[str, Any]:
    plan = {} if dep.config.fusion == "auto" else {"fusion": dep.config.fusion,
                                                   "arena_limit_bytes": _measured_arena_limit(dep)}
    return {"tflite": _stage(dep, "export").get("tflite_sha256"), "sources": _generator_sources(), **plan}


def _measured_arena_limit(dep: "Deployment") -> int | None:
    """The arena limit the measured firmware was planned within (fusion fit), None for the other modes."""
    provenance = _stage(dep, "measure").get("measurement", {}).get("provenance", {})
    return provenance.get("arena_limit_bytes") if dep.config.fusion == "fit" else None


def c_library(dep: "Deployment") -> dict[str, Any]:
    generated = write_c_library(dep.out / "model.tflite", dep.out / "c_library", f"candidate {dep.candidate_id}",
                                dep.config.fusion, _measured_arena_limit(dep))
    dep.state["generated"] = generated
    return {"c_library": str(dep.out / "c_library"), "c_library_sha256": _tree_sha256(dep.out / "c_library"),
            "model_hash": generated.model_hash,
            "arena_bytes": int(generated.arena_bytes), "input_shape": list(generated.input_shape),
            "output_shape": list(generated.output_shape), "layers": [_jsonable(layer) for layer in generated.layers],
            "live_bytes_per_op": [int(b) for b in generated.plan.live_bytes_per_op]}


def write_c_library(tflite: Path, lib: Path, label: str, fusion: str = "auto",
                    arena_limit_bytes: int | None = None) -> Any:
    """Generated model + a copy of the kernels + a CMakeLists.txt to add_subdirectory(): a folder that builds
    on its own, away from this repository. fusion / arena_limit_bytes: the planner's (codegen.planner.plan_memory)."""
    from ..codegen import generate
    from .pipeline import copy_tree, repo_firmware_dir

    generated = generate(Path(tflite), lib / "model", fusion=fusion, arena_limit_bytes=arena_limit_bytes)
    copy_tree(repo_firmware_dir() / "kernels", lib / "kernels")
    (lib / "CMakeLists.txt").write_text(C_LIBRARY_CMAKE.format(candidate=label, model_hash=generated.model_hash))
    return generated


def measure_inputs(dep: "Deployment") -> dict[str, Any]:
    from ..hil.boards import load_profile
    from .pipeline import repo_firmware_dir

    profile = load_profile(dep.config.board)
    host = [HOST / name for name in ("bench.py", "dut.py", "protocol.py", "firmware.py", "measurement.py", "runners")]
    return {**_data_inputs(dep), "tflite": _stage(dep, "export").get("tflite_sha256"),
            "board": dataclasses.asdict(profile) if dataclasses.is_dataclass(profile) else repr(profile),
            "measure_inputs": dep.config.measure_inputs,
            **({} if dep.config.fusion == "auto" else {"fusion": dep.config.fusion}),
            "sources": {**_generator_sources(), **_sources(repo_firmware_dir(), *host)}}


def measure(dep: "Deployment") -> dict[str, Any]:
    from ..hil.bench import measure as bench_measure
    from ..hil.boards import load_profile
    from ..ml.model_inputs import model_inputs

    profile = load_profile(dep.config.board)
    inputs = model_inputs(dep.state["dataset"].test_x[:dep.config.measure_inputs], dep.out / "model.tflite")
    workdir = dep.out / "firmware"
    measurement = bench_measure(dep.out / "model.tflite", profile, inputs, runtime="native", workdir=workdir,
                                fusion=dep.config.fusion)
    elves = sorted(workdir.rglob("*.elf"), key=lambda p: p.stat().st_mtime)
    if elves:
        shutil.copy2(elves[-1], workdir / "firmware.elf")
    elf = workdir / "firmware.elf" if elves else None
    return {"measurement": measurement.to_dict(), "elf": str(elf) if elf else None, "elf_sha256": file_sha256(elf),
            "inputs": int(inputs.shape[0])}


def explain_inputs(dep: "Deployment") -> dict[str, Any]:
    return {**_data_inputs(dep), "tflite": _stage(dep, "export").get("tflite_sha256"),
            "checkpoint": _stage(dep, "train").get("checkpoint_sha256"), "per_class": dep.config.per_class,
            "explain": file_sha256(HOST / "explain.py")}


def explain(dep: "Deployment") -> dict[str, Any]:
    from ..ml.data import to_resolution
    from ..explain.saliency import Int8Model, explain as run_explain, pick_per_class
    from ..codegen.reference import ReferenceInterpreter

    dataset = dep.state["dataset"]
    reference = ReferenceInterpreter(dep.out / "model.tflite")
    (in_scale, in_zero), (out_scale, out_zero) = reference.input_quant, reference.output_quant
    int8 = Int8Model(reference, float(in_scale), int(in_zero), float(out_scale), int(out_zero))
    # the explained images only, at the model's resolution: float and int8 attributions share one input space
    chosen = torch.from_numpy(pick_per_class(dataset.test_y.numpy(), dep.config.per_class, int(dataset.num_classes)))
    images = to_resolution(dataset.test_x[chosen], int(reference.input_shape[1])).contiguous()
    result = run_explain(dep.state["model"], images, dataset.test_y[chosen], list(dataset.class_names),
                         dep.out / "explain", int8=int8, per_class=dep.config.per_class)
    results = result.to_dict()
    results["overview_sha256"] = file_sha256(results.get("overview"))
    return results


def restore_files(done: dict[str, Any], **hashes: str) -> None:
    """Checks that each recorded output (result key -> key of its recorded sha256) is on disk unchanged."""
    for key, hash_key in hashes.items():
        path = done.get(key)
        current = (_tree_sha256(Path(path)) if path and Path(path).is_dir() else file_sha256(path))
        if current != done.get(hash_key):
            raise StaleStage(f"its output {path} is gone or changed")


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


def design_inputs(dep: "Deployment") -> dict[str, Any]:
    """The LLM's design explanation reads the spec, the measurements and the explanations."""
    return {"mode": dep.config.design_explanation, "spec": _stage(dep, "load").get("spec_hash"),
            **{name: _stage(dep, name).get("input_hashes") for name in ("export", "measure", "explain")}}


def restore_design(done: dict[str, Any]) -> None:
    if done.get("status") != "written":  # none was written (no endpoint then, or off): ask again, it may be there now
        raise StaleStage("no explanation was written then")
