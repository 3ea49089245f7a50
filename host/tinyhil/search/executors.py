"""Where evaluations run. Both executors take the same jobs and give back the same StageEvents.

- local: one candidate after another in this process.
- ray: training + export as Ray tasks (with a GPU each where the cluster has GPUs), measurement by one
  Ray actor per attached board. The actor needs the custom resource `board:<name>`, which only the node
  with that board advertises (`ray start --resources='{"board:nucleo-h743zi": 1}'`), so a cluster with a
  board farm measures on every board at once. A local instance started here advertises it itself.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator, Protocol

from ..errors import ConfigError
from .evaluation import (Job, StageEvent, StageFailure, Stages, failure_reason, measured_event, rung_done_event,
                         trained_events)

log = logging.getLogger(__name__)


class Executor(Protocol):
    name: str

    def run(self, jobs: list[Job], stages: Stages) -> Iterator[StageEvent]: ...

    def close(self) -> None: ...


def _failed(job: Job, exc: BaseException, default_stage: str) -> StageEvent:
    if isinstance(exc, StageFailure):
        return StageEvent(job.candidate_id, "failed", exc.stage, reason=exc.reason, rung=job.rung)
    return StageEvent(job.candidate_id, "failed", default_stage, reason=failure_reason(exc), rung=job.rung)


class LocalExecutor:
    name = "local"

    def run(self, jobs: list[Job], stages: Stages) -> Iterator[StageEvent]:
        for job in jobs:
            try:
                trained = stages.train_export(job)
            except Exception as exc:  # recorded per candidate; KeyboardInterrupt still stops the search
                yield _failed(job, exc, "train")
                continue
            yield from trained_events(job, trained)
            if not job.measures:
                yield rung_done_event(job)
                continue
            started = time.monotonic()
            try:
                measured = stages.measure(job, trained.tflite)
            except Exception as exc:
                yield _failed(job, exc, "measure")
                continue
            yield measured_event(job, measured, time.monotonic() - started)

    def close(self) -> None:
        pass


def board_resource(board: str) -> str:
    return f"board:{board}"


class RayExecutor:
    """Training tasks spread over the cluster; one measuring actor per board."""

    name = "ray"

    def __init__(self, board: str, address: str | None = None, boards: int = 1, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise ConfigError('--executor ray needs Ray: pip install "ray[default]" (or tinyhil[ray])') from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:  # a local instance: it owns the board(s) attached to this machine
                ray.init(num_cpus=num_cpus, resources={board_resource(board): boards}, include_dashboard=False,
                         log_to_driver=False)
        available = ray.cluster_resources()
        slots = int(available.get(board_resource(board), 0))
        if slots < 1:
            raise ConfigError(f"no Ray node offers the resource {board_resource(board)!r}: start the node with the "
                              f"board attached as `ray start --resources='{{\"{board_resource(board)}\": 1}}'`")
        self._gpus_per_task = 1 if available.get("GPU", 0) >= 1 else 0
        actor_class = ray.remote(num_cpus=0, resources={board_resource(board): 1})(_BoardActor)
        self._actors = [actor_class.remote() for _ in range(slots)]
        self._train = ray.remote(num_gpus=self._gpus_per_task)(_train_export)
        log.info("ray: %d board actor(s) for %s, %s GPU per training task", slots, board, self._gpus_per_task)

    def run(self, jobs: list[Job], stages: Stages) -> Iterator[StageEvent]:
        ray = self._ray
        stages_ref = ray.put(stages)
        pending: dict[Any, tuple[str, Job, float]] = {}
        for job in jobs:
            pending[self._train.remote(stages_ref, job)] = ("train", job, time.monotonic())
        next_actor = 0
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            kind, job, started = pending.pop(ref)
            try:
                value = ray.get(ref)
            except Exception as exc:
                cause = getattr(exc, "cause", None) or exc
                yield _failed(job, cause, "train" if kind == "train" else "measure")
                continue
            if kind == "train":
                yield from trained_events(job, value)
                if not job.measures:
                    yield rung_done_event(job)
                    continue
                actor = self._actors[next_actor % len(self._actors)]
                next_actor += 1
                pending[actor.measure.remote(stages_ref, job, value.tflite)] = ("measure", job, time.monotonic())
            else:
                yield measured_event(job, value, time.monotonic() - started)

    def close(self) -> None:
        if self._started_here:
            self._ray.shutdown()


def _train_export(stages: Stages, job: Job) -> Any:
    return stages.train_export(job)


class _BoardActor:
    """Holds one board: measurements on it run one at a time."""

    def measure(self, stages: Stages, job: Job, tflite: str) -> dict[str, Any]:
        return stages.measure(job, tflite)


def make_executor(name: str, board: str, address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(board, address=address)
    raise ConfigError(f"unknown executor {name!r}; choose local or ray")
