"""What happens to one accepted candidate: proxy-train -> int8 export -> measure on the board.

`Job` is what an executor is handed, `StageEvent` what it gives back (the loop writes each into the store
as one transaction). `PipelineStages` calls the real parts: tinyhil.ml.train, tinyhil.ml.export, tinyhil.hil.bench.
It is picklable and loads the dataset lazily, so a Ray worker can run it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import BuildError, TinyhilError
from .layers import layer_table

log = logging.getLogger(__name__)

# training images whose statistics a rung's BatchNorm layers take at its end: after the first rung's ~1/9 of the
# proxy budget (13 steps by default) the running averages are mostly their initial values and eval-mode accuracy
# was chance level (0.09-0.10 on Fashion-MNIST for four random specs; 0.26-0.45 recalibrated)
RUNG_BN_IMAGES = 512
# validation images every accuracy of a search is measured on (the first N of the seeded, stratified validation
# part): every rung's float accuracy and the last rung's int8 one (export_int8's evaluation images) alike, so a
# candidate's rungs compare on the same images. A float pass over all of a 60k dataset's 6,000 validation images
# was about a third of a small first rung's training (4.45 -> 2.83 s on a 0.6 M-MAC candidate).
SEARCH_EVAL_IMAGES = 1000


@dataclass(frozen=True)
class Job:
    candidate_id: int
    spec: dict[str, Any]
    seed: int  # derived from the run seed and the spec hash: the same on every executor
    workdir: str  # runs/<run>/candidates/<id>
    rung: int = 0  # multi-fidelity rung this job completes (0: the first, which also measures on the board)
    budget: tuple[float, float] = (0.0, 1.0)  # proxy budget trained before and after this job (fractions)
    init_checkpoint: str | None = None  # a rung above 0 continues from the previous rung's weights

    @property
    def measures(self) -> bool:
        """Only the first rung builds and measures: the board's numbers do not depend on the weights."""
        return self.rung == 0

    @property
    def final(self) -> bool:
        """This job ends at the whole proxy budget (the last rung, or single fidelity): its int8 model is exported and
        evaluated, and that int8 validation accuracy is the candidate's."""
        return self.budget[1] >= 1.0

    @property
    def exports(self) -> bool:
        """An int8 .tflite is written by the first rung (to measure) and the last (to evaluate int8 and deploy);
        a middle rung only trains on and is ranked by its float validation accuracy."""
        return self.measures or self.final


@dataclass
class TrainedModel:
    checkpoint: str
    tflite: str | None  # None: a middle rung, which writes no int8 model
    float_accuracy: float
    int8_accuracy: float | None
    timings: dict[str, float] = field(default_factory=dict)  # train, export (seconds)
    accuracy_split: str = "validation"  # the images both accuracies come from (a search never sees the test split)
    accuracy_images: int | None = None


@dataclass
class StageEvent:
    candidate_id: int
    status: str  # trained | exported | measured | failed
    stage: str
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    artefacts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    rung: int = 0


class StageFailure(TinyhilError):
    """A stage failed for this candidate; the search records `stage` and the reason and goes on."""

    def __init__(self, stage: str, reason: str):
        self.stage = stage
        self.reason = reason
        super().__init__(f"{stage}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:  # keep stage and reason across Ray's pickling
        return (StageFailure, (self.stage, self.reason))


class Stages(Protocol):
    def train_export(self, job: Job) -> TrainedModel: ...

    def measure(self, job: Job, tflite: str) -> dict[str, Any]:
        """{'metrics': {...}, 'provenance': {...}, 'artefacts': {...}} for the candidate's tflite."""


def failure_reason(exc: BaseException) -> str:
    """The exception type and its message (first lines, joined), short enough for a table cell."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (f"{type(exc).__name__}: " + " | ".join(lines[:12]))[:2000]


def trained_events(job: Job, trained: TrainedModel) -> list[StageEvent]:
    accuracy = trained.int8_accuracy if trained.int8_accuracy is not None else trained.float_accuracy
    kind = "int8, reference interpreter" if trained.int8_accuracy is not None else "float"
    kind += f", {trained.accuracy_split} split" + (f" ({trained.accuracy_images} images)" if trained.accuracy_images else "")
    split = {"accuracy_split": trained.accuracy_split}
    ranked = {"int8_accuracy": trained.int8_accuracy, "accuracy": accuracy, "accuracy_kind": kind, **split}
    if trained.tflite is None:  # a middle rung: trained on, no int8 model; its float accuracy ranks it
        return [StageEvent(job.candidate_id, "trained", "train", metrics={"float_accuracy": trained.float_accuracy, **ranked},
                           artefacts={"checkpoint": trained.checkpoint},
                           timings={"train": trained.timings.get("train", 0.0)}, rung=job.rung)]
    return [
        StageEvent(job.candidate_id, "trained", "train", metrics={"float_accuracy": trained.float_accuracy, **split},
                   artefacts={"checkpoint": trained.checkpoint}, timings={"train": trained.timings.get("train", 0.0)},
                   rung=job.rung),
        StageEvent(job.candidate_id, "exported", "export", metrics=ranked,
                   artefacts={"tflite": trained.tflite}, timings={"export": trained.timings.get("export", 0.0)},
                   rung=job.rung),
    ]


def rung_done_event(job: Job) -> StageEvent:
    """A rung above 0 is complete once trained and exported: its board numbers are rung 0's."""
    return StageEvent(job.candidate_id, "measured", f"rung {job.rung}", rung=job.rung)


def measured_event(job: Job, measured: dict[str, Any], seconds: float) -> StageEvent:
    return StageEvent(job.candidate_id, "measured", "measure", metrics=measured["metrics"],
                      provenance=measured["provenance"], artefacts=measured.get("artefacts", {}),
                      timings={"measure": seconds, **measured.get("timings", {})})


def measurement_record(measurement: Any) -> dict[str, Any]:
    """Store fields of a tinyhil.hil.measurement.Measurement: its numbers with unit and provenance."""
    data = measurement.to_dict() if hasattr(measurement, "to_dict") else dict(measurement)
    metrics = {key: data.get(key) for key in ("static_ram_bytes", "stack_high_water_bytes", "peak_sram_bytes",
                                              "arena_bytes", "flash_bytes", "bit_exact", "latency_runs")}
    metrics["latency"] = data.get("latency_median")
    metrics["latency_unit"] = data.get("latency_unit")
    return {"metrics": metrics, "provenance": dict(data.get("provenance") or {})}


@dataclass
class PipelineStages:
    """The real stages. Picklable: only names and numbers; the dataset and profile load on first use."""

    dataset: str
    board: str
    data_dir: str | None = None
    # held out of the training split, stratified, seeded by the run: every accuracy the search steers by comes
    # from it. None: evaluate on the test split (only for runs made before the validation split existed)
    validation_fraction: float | None = 0.1
    split_seed: int = 0
    train_subset: int | None = None
    train_overrides: dict[str, Any] = field(default_factory=dict)  # fields of TrainConfig.proxy() to change
    measure_inputs: int = 4
    # seeded: the firmware makes the inputs (tinyhil.hil.protocol.seeded_input) and sends back CRC-32s of its
    # outputs, checked against the reference's on the same bytes; images: the first validation images, streamed.
    # The board's numbers are the same either way (the kernels' instruction counts do not depend on the data:
    # equal latencies on three candidates), but QEMU's UART takes the input a byte at a time, ~60 ms a 1 KiB
    # Fashion-MNIST image, which was half a small candidate's measurement (0.53-0.67 -> 0.30-0.38 s seeded)
    measure_with: str = "seeded"
    runtime: str = "native"
    torch_threads: int | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def load_data(self) -> Any:
        if "dataset" not in self._cache:
            from ..ml.data import load_dataset

            dataset = load_dataset(self.dataset, Path(self.data_dir) if self.data_dir else None)
            if self.validation_fraction is not None:
                dataset = dataset.hold_out_validation(self.validation_fraction, self.split_seed)
            if self.train_subset:
                dataset = dataset.subset(train=self.train_subset)
            self._cache["dataset"] = dataset
        return self._cache["dataset"]

    def profile(self) -> Any:
        if "profile" not in self._cache:
            from ..hil.boards import load_profile

            self._cache["profile"] = load_profile(self.board)
        return self._cache["profile"]

    def train_config(self, seed: int) -> Any:
        from ..ml.train import TrainConfig

        config = TrainConfig.proxy()
        names = {f.name for f in dataclasses.fields(config)}
        unknown = sorted(set(self.train_overrides) - names)
        if unknown:
            raise StageFailure("train", f"TrainConfig has no field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        values = dict(self.train_overrides)
        if "test_subset" in names:  # an explicit train override wins
            values.setdefault("test_subset", SEARCH_EVAL_IMAGES)
        if "evaluate_every_epoch" in names:  # a candidate is ranked by its accuracy after the last epoch only
            values.setdefault("evaluate_every_epoch", False)
        if self.train_subset and "train_subset" in names:  # --train-subset N: N images, also above the proxy's default
            values.setdefault("train_subset", self.train_subset)
        if "seed" in names:
            values["seed"] = seed % (2**31)
        return dataclasses.replace(config, **values)

    def rung_config(self, job: Job, dataset: Any) -> Any:
        """The proxy TrainConfig, cut to this rung's part of the proxy budget (in optimiser steps)."""
        config = self.train_config(job.seed)
        low, high = job.budget
        if (low, high) == (0.0, 1.0):
            return config
        images = len(dataset.train_y) if config.train_subset is None else min(config.train_subset, len(dataset.train_y))
        total = config.epochs * -(-images // config.batch_size)
        # a rung's own data order (not the first rung's batches again) and BatchNorm statistics of its final weights
        return dataclasses.replace(config, max_steps=max(1, round(total * high) - round(total * low)),
                                   seed=(config.seed + job.rung) % (2**31), recalibrate_bn_images=RUNG_BN_IMAGES)

    def train_export(self, job: Job) -> TrainedModel:
        from ..ml.export import export_for_board, export_int8
        from ..spec.space import ArchSpec
        from ..ml.train import train

        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        workdir = Path(job.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        spec = ArchSpec.from_dict(job.spec)
        dataset = self.load_data()
        started = time.monotonic()
        rung_dir = "checkpoints" if job.budget == (0.0, 1.0) else f"checkpoints/rung{job.rung}"
        tflite = workdir / ("model.tflite" if job.rung == 0 else f"model.rung{job.rung}.tflite")
        try:
            # a higher rung goes on from the previous rung's weights (a fresh optimiser and schedule for its steps)
            start = _model_from_checkpoint(spec, dataset, job.init_checkpoint) if job.init_checkpoint else spec
            config = self.rung_config(job, dataset)
            result = train(start, dataset, config, checkpoint_dir=workdir / rung_dir)
        except StageFailure:
            raise
        except Exception as exc:  # a candidate that cannot train is recorded; the search goes on
            raise StageFailure("train", failure_reason(exc)) from exc
        trained_at = time.monotonic()
        # below the last rung the float validation accuracy train() measured ranks the candidate
        path, int8_accuracy = None, None
        float_accuracy, images = float(result.float_accuracy), getattr(result, "test_images", None) or None
        if job.exports:  # a middle rung only trains on
            try:
                model = getattr(result, "model", None) or _model_from_checkpoint(spec, dataset, result.checkpoint)
                if not job.final:  # the first of several rungs: an int8 file to measure on the board
                    path = export_for_board(model, spec, dataset, tflite)
                else:
                    # no QAT here: proxy accuracy ranks architectures; QAT is the deploy stage's fix for the winner
                    exported = export_int8(model, spec, dataset, tflite, qat_threshold=None,
                                           test_count=config.test_subset)
                    path = exported.tflite_path
                    # float and int8 on the same evaluation images (export's), so their difference is quantisation's
                    float_accuracy = float(getattr(exported, "float_accuracy", float_accuracy))
                    int8_accuracy = _optional_float(getattr(exported, "int8_accuracy", None))
                    images = getattr(exported, "test_images", None)
            except Exception as exc:
                raise StageFailure("export", failure_reason(exc)) from exc
        done = time.monotonic()
        return TrainedModel(checkpoint=str(result.checkpoint), tflite=None if path is None else str(path),
                            float_accuracy=float_accuracy, int8_accuracy=int8_accuracy,
                            timings={"train": trained_at - started, "export": done - trained_at},
                            accuracy_split=getattr(dataset, "eval_split", "test"), accuracy_images=images)

    def measure(self, job: Job, tflite: str) -> dict[str, Any]:
        from ..hil.bench import SeededInputs, measure
        from ..ml.model_inputs import model_inputs

        if self.measure_with == "seeded":
            inputs: Any = SeededInputs(job.seed & 0x7FFFFFFF, self.measure_inputs)
        else:
            inputs = model_inputs(self.load_data().test_x[:self.measure_inputs], tflite)
        substages: dict[str, float] = {}  # generate / build / run / reference seconds, as bench reports them
        try:
            measurement = measure(Path(tflite), self.profile(), inputs, runtime=self.runtime,
                                  workdir=Path(job.workdir) / "firmware",
                                  on_stage=lambda name, seconds: substages.__setitem__(f"measure.{name}", seconds))
        except BuildError as exc:
            raise StageFailure("build", failure_reason(exc)) from exc
        except TinyhilError as exc:
            raise StageFailure("measure", failure_reason(exc)) from exc
        record = measurement_record(measurement)
        # per layer: measured latency and the planner's live bytes (the LLM proposer's hardware feedback)
        record["metrics"]["layers"] = layer_table(tflite, getattr(measurement, "layer_latency", None) or [])
        record["artefacts"] = {"firmware_dir": str(Path(job.workdir) / "firmware")}
        record["timings"] = substages
        return record


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _model_from_checkpoint(spec: Any, dataset: Any, checkpoint: Any) -> Any:
    from ..ml.train import load_checkpoint

    model, _ = load_checkpoint(Path(checkpoint))
    return model

