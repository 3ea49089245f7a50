"""Stand-ins for the other parts' modules, with exactly the contracted signatures (boards, space, cost, data,
train, export, reference, bench), installed into sys.modules so the real command and PipelineStages run
end to end without torch training, firmware or QEMU."""

from __future__ import annotations

import dataclasses
import json
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinyhil.hil.bench import SeededInputs

from .search_doubles import ToySpace, ToySpec, toy_accuracy, toy_estimate

CALLS: dict[str, list[Any]] = {}


@dataclass(frozen=True)
class FakeProfile:
    name: str = "qemu-m7"
    kind: str = "emulator"
    cpu: str = "cortex-m7"
    clock_hz: int = 25_000_000
    latency_unit: str = "instructions"
    sram_budget_bytes: int = 120_000
    flash_budget_bytes: int = 200_000
    runner: dict = field(default_factory=lambda: {"type": "fake"})


@dataclass
class FakeDataset:
    input_shape: tuple[int, int, int] = (8, 8, 1)
    num_classes: int = 10
    provenance: str = "digits (test double)"
    test_x: Any = None
    eval_split: str = "test"
    train_y: Any = tuple(range(64))

    def subset(self, train: int | None = None) -> "FakeDataset":
        return self

    def hold_out_validation(self, fraction: float, seed: int) -> "FakeDataset":
        CALLS.setdefault("validation", []).append((fraction, seed))
        return dataclasses.replace(self, eval_split="validation")


@dataclass
class TrainConfig:
    epochs: int = 1
    seed: int = 0
    batch_size: int = 16
    train_subset: int | None = None
    max_steps: int | None = None
    test_subset: int | None = None
    recalibrate_bn_images: int = 0

    @classmethod
    def proxy(cls) -> "TrainConfig":
        return cls()


@dataclass
class FakeMeasurement:
    latency_median: int
    peak_sram_bytes: int
    flash_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"latency_median": self.latency_median, "latency_unit": "instructions", "latency_runs": [self.latency_median] * 3,
                "static_ram_bytes": self.peak_sram_bytes - 1000, "stack_high_water_bytes": 1000,
                "peak_sram_bytes": self.peak_sram_bytes, "arena_bytes": 4096, "flash_bytes": self.flash_bytes,
                "bit_exact": True, "provenance": {"board": "qemu-m7", "kind": "emulator", "firmware_sha256": "f" * 64,
                                                  "toolchain": "test double", "runtime": "native"}}


STAGE_DELAY_S = {"value": 0.0}  # seconds each stand-in stage sleeps (the kill -9 test needs time to land mid-run)


def _train(spec: ToySpec, dataset: FakeDataset, config: TrainConfig, distiller: Any = None,
           checkpoint_dir: Path | None = None) -> Any:
    CALLS.setdefault("train", []).append(config)
    time.sleep(STAGE_DELAY_S["value"])
    Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    checkpoint = Path(checkpoint_dir) / "best.pt"
    if isinstance(spec, types.SimpleNamespace):  # a higher rung goes on from a checkpoint's model
        spec = spec.spec
    checkpoint.write_text(json.dumps(spec.to_dict()))
    return types.SimpleNamespace(checkpoint=checkpoint, float_accuracy=toy_accuracy(spec.to_dict()) + 0.01,
                                 model=types.SimpleNamespace(spec=spec), history=[])


def _load_checkpoint(path: Path) -> tuple[Any, dict]:
    spec = ToySpec.from_dict(json.loads(Path(path).read_text()))
    return types.SimpleNamespace(spec=spec), {}


def _export(model: Any, spec: ToySpec, dataset: FakeDataset, out_path: Path, qat_threshold: float | None = 1.0,
            test_count: int | None = 1000) -> Any:
    CALLS.setdefault("export_qat_threshold", []).append(qat_threshold)
    CALLS.setdefault("export_test_count", []).append(test_count)
    Path(out_path).write_text(json.dumps(spec.to_dict()))
    # export measures float again on its own test images: a different value from training's, on purpose
    return types.SimpleNamespace(tflite_path=Path(out_path), float_accuracy=toy_accuracy(spec.to_dict()) + 0.02,
                                 int8_accuracy=toy_accuracy(spec.to_dict()))


def _export_for_board(model: Any, spec: ToySpec, dataset: FakeDataset, out_path: Path) -> Path:
    CALLS.setdefault("export_for_board", []).append(spec.to_dict())
    Path(out_path).write_text(json.dumps(spec.to_dict()))
    return Path(out_path)


class _Reference:
    def __init__(self, src: Path):
        self.input_quant = (1 / 255, -128)
        self.input_shape = (1, 8, 8, 1)


def _model_inputs(images: np.ndarray, model: Any) -> np.ndarray:
    scale, zero_point = _Reference(model).input_quant
    nhwc = np.asarray(images).transpose(0, 2, 3, 1)
    return np.clip(np.round(nhwc / scale) + zero_point, -128, 127).astype(np.int8)


def _measure(model: Path, profile: FakeProfile, inputs: np.ndarray | SeededInputs, *, runtime: str = "native",
             workdir: Path, warmup: int = 1, on_stage: Any = None) -> FakeMeasurement:
    CALLS.setdefault("measure", []).append(inputs)
    time.sleep(STAGE_DELAY_S["value"])
    spec = ToySpec.from_dict(json.loads(Path(model).read_text()))
    cost = toy_estimate(spec)
    if on_stage:
        on_stage("build", 0.0)
    return FakeMeasurement(cost.macs * 3, cost.peak_activation_bytes + 9000, cost.flash_bytes + 30_000)


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    CALLS.clear()
    images = np.linspace(0, 1, 16 * 64, dtype=np.float32).reshape(16, 1, 8, 8)  # NCHW, as torch tensors come
    modules = {
        "tinyhil.hil.boards": {"load_profile": lambda name: FakeProfile(), "list_profiles": lambda: [FakeProfile()]},
        "tinyhil.spec.space": {"ArchSpec": ToySpec, "SearchSpace": ToySpace, "space_preset": lambda name: ToySpace()},
        "tinyhil.spec.cost": {"estimate": lambda spec, input_shape, num_classes: toy_estimate(spec)},
        "tinyhil.ml.data": {"load_dataset": lambda name, data_dir=None: FakeDataset(test_x=images)},
        "tinyhil.ml.train": {"TrainConfig": TrainConfig, "train": _train, "load_checkpoint": _load_checkpoint},
        "tinyhil.ml.export": {"export_int8": _export, "export_for_board": _export_for_board},
        "tinyhil.ml.model_inputs": {"model_inputs": _model_inputs},
        "tinyhil.codegen.reference": {"ReferenceInterpreter": _Reference},
        "tinyhil.hil.bench": {"measure": _measure, "SeededInputs": SeededInputs},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(__import__("sys").modules, name, module)
    # no LLM endpoint from the developer's environment
    for variable in ("TINYHIL_LLM_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(Path(__import__("tempfile").mkdtemp())))
