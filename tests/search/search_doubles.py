"""Test doubles at the search's stage boundaries: a tiny space, a cost model and stages whose numbers are
deterministic functions of the spec (so runs are reproducible and executor-independent)."""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyhil.errors import SpecError
from tinyhil.search.evaluation import Job, StageFailure, TrainedModel

KERNELS = (3, 5, 7)
OPS = ("conv", "dwconv")
WIDTHS = (8, 16, 24, 32, 48, 64)


@dataclass(frozen=True)
class ToySpec:
    stages: tuple[tuple[str, int, int], ...]  # (op, width, kernel)

    def to_dict(self) -> dict[str, Any]:
        return {"stages": [{"op": op, "width": w, "kernel": k} for op, w, k in self.stages]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ToySpec":
        problems = []
        stages = data.get("stages") if isinstance(data, dict) else None
        if not isinstance(stages, list) or not 1 <= len(stages) <= 4:
            raise SpecError("stages: expected a list of 1 to 4 stages")
        parsed = []
        for i, stage in enumerate(stages, start=1):
            if not isinstance(stage, dict):
                problems.append(f"stage {i}: expected an object")
                continue
            op, width, kernel = stage.get("op"), stage.get("width"), stage.get("kernel")
            if op not in OPS:
                problems.append(f"stage {i}: op {op!r} not in {set(OPS)}")
            if width not in WIDTHS:
                problems.append(f"stage {i}: width {width} not in {set(WIDTHS)}")
            if kernel not in KERNELS:
                problems.append(f"stage {i}: kernel {kernel} not in {set(KERNELS)}")
            parsed.append((op, width, kernel))
        if problems:
            raise SpecError(problems)
        return cls(tuple(parsed))

    def canonical_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


class ToySpace:
    def from_dict(self, data: dict[str, Any]) -> ToySpec:
        return ToySpec.from_dict(data)

    def runnable_with(self, operators: Any) -> tuple["ToySpace", list[str]]:
        return self, []

    def json_schema(self) -> dict[str, Any]:
        stage = {"type": "object", "properties": {"op": {"enum": list(OPS)}, "width": {"enum": list(WIDTHS)},
                                                   "kernel": {"enum": list(KERNELS)}},
                 "required": ["op", "width", "kernel"], "additionalProperties": False}
        return {"type": "object", "properties": {"stages": {"type": "array", "items": stage, "minItems": 1, "maxItems": 4}},
                "required": ["stages"], "additionalProperties": False}

    def random_spec(self, rng: random.Random) -> ToySpec:
        return ToySpec(tuple((rng.choice(OPS), rng.choice(WIDTHS), rng.choice(KERNELS))
                             for _ in range(rng.randint(1, 4))))

    def mutate(self, spec: ToySpec, rng: random.Random) -> ToySpec:
        stages = list(spec.stages)
        i = rng.randrange(len(stages))
        op, width, kernel = stages[i]
        choice = rng.randrange(3)
        stages[i] = (rng.choice(OPS), width, kernel) if choice == 0 else \
            (op, rng.choice(WIDTHS), kernel) if choice == 1 else (op, width, rng.choice(KERNELS))
        return ToySpec(tuple(stages))

    def crossover(self, a: ToySpec, b: ToySpec, rng: random.Random) -> ToySpec:
        cut = rng.randint(1, min(len(a.stages), len(b.stages)))
        return ToySpec(a.stages[:cut] + b.stages[cut:])


@dataclass
class ToyCost:
    macs: int
    params: int
    peak_activation_bytes: int
    flash_bytes: int


def toy_estimate(spec: ToySpec) -> ToyCost:
    macs = sum(w * k * k * (1 if op == "dwconv" else w // 4) * 196 for op, w, k in spec.stages)
    params = sum(w * k * k * (1 if op == "dwconv" else 8) for op, w, k in spec.stages)
    peak = max(w for _, w, _ in spec.stages) * 28 * 28 * 2
    return ToyCost(macs, params, peak, params + 20_000)


def toy_accuracy(spec: dict[str, Any]) -> float:
    capacity = sum(s["width"] * s["kernel"] for s in spec["stages"])
    return round(0.5 + 0.45 * capacity / (capacity + 300), 6)


class ToyStages:
    """train_export and measure as pure functions of the spec. `fail_kernel`: specs with a stage of that
    kernel fail to build; `delay_s`: sleep per stage (for the kill -9 test)."""

    def __init__(self, fail_kernel: int | None = None, delay_s: float = 0.0):
        self.fail_kernel = fail_kernel
        self.delay_s = delay_s
        self.trained: list[Job] = []
        self.measured: list[Job] = []

    def train_export(self, job: Job) -> TrainedModel:
        """Accuracy grows with the part of the proxy budget trained (multi-fidelity rungs)."""
        self.trained.append(job)
        time.sleep(self.delay_s)
        Path(job.workdir).mkdir(parents=True, exist_ok=True)
        accuracy = round(toy_accuracy(job.spec) - 0.2 * (1.0 - job.budget[1]), 6)
        checkpoint = str(Path(job.workdir) / f"ckpt.rung{job.rung}.pt")
        if not job.exports:  # like PipelineStages: a middle rung writes no int8 model, its float accuracy ranks it
            return TrainedModel(checkpoint, None, accuracy + 0.01, None, {"train": self.delay_s, "export": 0.0})
        tflite = Path(job.workdir) / f"model.rung{job.rung}.tflite"
        tflite.write_bytes(json.dumps(job.spec).encode())
        # the first of several rungs is exported to be measured, not evaluated in int8
        return TrainedModel(checkpoint, str(tflite), accuracy + 0.01, accuracy if job.final else None,
                            {"train": self.delay_s, "export": 0.0})

    def measure(self, job: Job, tflite: str) -> dict[str, Any]:
        self.measured.append(job)
        time.sleep(self.delay_s)
        if self.fail_kernel is not None and any(s["kernel"] == self.fail_kernel for s in job.spec["stages"]):
            raise StageFailure("build", "region RAM overflowed by 1234 bytes (test double)")
        cost = toy_estimate(ToySpec.from_dict(job.spec))
        # one layer per stage: latency 3 instructions per MAC, live bytes those of its activations
        layers = [{"index": i, "op": "CONV_2D" if s["op"] == "conv" else "DEPTHWISE_CONV_2D", "output_shape": [14, 14, s["width"]],
                   "macs": s["width"] * s["kernel"] ** 2 * 196, "latency": 3 * s["width"] * s["kernel"] ** 2 * 196,
                   "live_bytes": s["width"] * 28 * 28 * 2} for i, s in enumerate(job.spec["stages"])]
        return {"metrics": {"peak_sram_bytes": cost.peak_activation_bytes + 9000, "flash_bytes": cost.flash_bytes + 30000,
                            "latency": cost.macs * 3, "latency_unit": "instructions", "bit_exact": True, "layers": layers},
                "provenance": {"board": "toy-emulator", "kind": "emulator"}}


BOARD = {"name": "toy-emulator", "kind": "emulator", "cpu": "cortex-m7", "clock_hz": 25_000_000,
         "latency_unit": "instructions"}
TASK = {"dataset": "toy", "provenance": "synthetic (test double)", "input_shape": [28, 28, 1], "num_classes": 10}


def build_toy_loop(run_dir: Path, proposer: Any, iterations: int, seed: int = 0, executor: Any = None,
                   budgets: Any = None, stages: Any = None, batch_size: int = 1, on_change: Any = None,
                   fidelity: Any = None, time_budget_s: float | None = None) -> Any:
    from tinyhil.search.fidelity import Fidelity
    from tinyhil.search.executors import LocalExecutor
    from tinyhil.search.loop import SearchLoop, SearchSettings
    from tinyhil.search.pareto import Constraints
    from tinyhil.search.screening import Budgets
    from tinyhil.search.store import RunStore

    budgets = budgets or Budgets(macs=2_000_000, peak_sram_bytes=120_000, flash_bytes=200_000)
    store_path = Path(run_dir) / "store.sqlite"
    store = RunStore.open(run_dir) if store_path.exists() else RunStore.create(run_dir, Path(run_dir).name, {"seed": seed})
    constraints = Constraints({"macs": budgets.macs, "peak_sram_bytes": budgets.peak_sram_bytes,
                               "flash_bytes": budgets.flash_bytes})
    return SearchLoop(store, proposer, ToySpace(), ToySpec, toy_estimate, stages or ToyStages(),
                      executor or LocalExecutor(), budgets, constraints,
                      SearchSettings(iterations=iterations, seed=seed, batch_size=batch_size,
                                     fidelity=fidelity or Fidelity(), time_budget_s=time_budget_s), BOARD, TASK,
                      on_change=on_change)
