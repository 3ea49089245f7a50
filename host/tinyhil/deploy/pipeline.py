"""`tinyhil deploy RUN --candidate ID`: the final stage for a search winner.

full training (+ distillation from a teacher) -> int8 export -> generated C -> firmware measured on the
board -> explanations -> a deployable folder:

    runs/<run>/deploy/<candidate>/
      model.tflite              the int8 model
      c_library/                add_subdirectory() this: targets `tinyhil_model` and `tinyhil_kernels`
      firmware/firmware.elf     the measured firmware (harness + model)
      checkpoints/              trained weights (kept whatever fails later)
      explain/                  saliency PNGs
      metrics.json              everything measured, with provenance; `stages` says how far it got

metrics.json is rewritten after every stage, so a failure after training leaves the checkpoint and a record
of what was done and why it stopped. Each stage records the hashes of its inputs (the options it reads, the
files and results of the stages before it); a rerun of the same command skips every finished stage whose
inputs hash the same and whose outputs are still on disk, and continues from the first one that is not.
Training killed mid-way continues from its last epoch checkpoint. `restart=True` runs everything again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import TinyhilError
from ..options import DEFAULT_INT8_WRITER

log = logging.getLogger(__name__)


@dataclass
class DeployConfig:
    board: str | None = None  # None: the board the search ran on
    dataset: str | None = None  # None: the search's dataset
    data_dir: Path | None = None
    teacher: Path | None = None  # a teacher checkpoint (tinyhil teacher finetune); None: no distillation
    temperature: float = 4.0
    alpha: float = 0.5  # weight of the soft (teacher) term; with kd_preset "paper": its schedule's first epoch
    epochs: int | None = None  # None: TrainConfig.full()'s epochs
    kd_preset: str = "tinyhil"  # kd.KD_PRESETS: "paper" = T 10, the paper's alpha schedule, 50 epochs
    train_subset: int | None = None  # train on the first N training images (quick runs, tests)
    baseline: bool = True  # also train without the teacher, same epochs and seed: the distillation gain
    explain: bool = True
    design_explanation: str = "auto"  # auto | llm | off (tinyhil.explain.design)
    per_class: int = 2  # explained test images per class
    measure_inputs: int = 8  # test images streamed to the board
    fusion: str = "auto"  # the planner's mode (codegen.planner.FUSION_MODES); fit: the fastest within the board's budget
    int8_writer: str = DEFAULT_INT8_WRITER  # what writes the int8 .tflite (options.INT8_WRITERS)
    seed: int = 0
    restart: bool = False  # run every stage again, ignoring what an earlier run of this deploy left


@dataclass
class DeployRecord:
    run_dir: str
    candidate_id: str
    out_dir: str
    config: dict[str, Any]
    spec: dict[str, Any] = field(default_factory=dict)
    dataset_provenance: str = ""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> {seconds, input_hashes, ...results}
    failed_stage: str | None = None
    error: str | None = None
    skipped: list[str] = field(default_factory=list)  # stages this run took from an earlier one (inputs unchanged)
    command: str = ""  # the command that runs (or finishes) this deploy

    @property
    def measured(self) -> bool:
        """The deploy got as far as measuring on the board: only then is the candidate deployed."""
        return "measure" in self.stages and self.failed_stage != "measure"

    def save(self) -> Path:
        path = Path(self.out_dir) / "metrics.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, default=str))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path) -> "DeployRecord":
        if not Path(path).is_file():
            raise TinyhilError(f"no deploy record at {path}: run `tinyhil deploy RUN --candidate ID` first")
        return cls(**json.loads(Path(path).read_text()))


class StaleStage(TinyhilError):
    """A finished stage's output is gone or changed on disk: the stage runs again."""


def digest(value: Any) -> str:
    """sha256 (16 hex digits) of a JSON-able value, keys sorted: the same inputs hash the same in every run."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_sha256(path: Path | str | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def default_out_dir(run_dir: Path, candidate_id: str) -> Path:
    return Path(run_dir) / "deploy" / str(candidate_id)


def repo_firmware_dir() -> Path:
    """firmware/ of the source tree this package runs from (the kernels are copied into the deploy folder)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "firmware" / "kernels" / "CMakeLists.txt").exists():
            return parent / "firmware"
    raise TinyhilError("cannot find firmware/kernels next to the tinyhil sources: run from a clone of the "
                       "repository installed with `pip install -e .`")


class Deployment:
    """One deployment, stage by stage; each stage stores its results in the record and saves it."""

    def __init__(self, run_dir: Path, candidate_id: str, config: DeployConfig, out_dir: Path | None = None,
                 progress: Callable[[str], None] | None = None, progress_bars: bool = False, command: str = ""):
        self.run_dir = Path(run_dir)
        self.candidate_id = str(candidate_id)
        self.config = config
        self.out = Path(out_dir) if out_dir else default_out_dir(self.run_dir, self.candidate_id)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress = progress or (lambda message: log.info("%s", message))
        self.progress_bars = progress_bars  # a training bar per epoch step (the CLI): full training takes long
        self.record = DeployRecord(str(self.run_dir), self.candidate_id, str(self.out),
                                   {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
                                   command=command or f"tinyhil deploy {self.run_dir} --candidate {self.candidate_id}")
        self.state: dict[str, Any] = {}
        self.earlier = self._earlier_stages()

    def _earlier_stages(self) -> dict[str, dict[str, Any]]:
        """The stages an earlier run of this deploy finished (none with restart, or when there is no record)."""
        path = self.out / "metrics.json"
        if self.config.restart or not path.is_file():
            return {}
        try:
            return dict(DeployRecord.load(path).stages)
        except (ValueError, TypeError) as exc:
            log.warning("%s is not a deploy record (%s): every stage runs", path, exc)
            return {}

    def stage(self, name: str, action: Callable[[], dict[str, Any]],
              inputs: Callable[[], dict[str, Any]] | None = None,
              restore: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Run `action`, unless an earlier run finished this stage with the same `inputs` (hashed) and `restore`
        brings its outputs back (it raises StaleStage when they are gone). Without `inputs` the stage always runs."""
        started = time.perf_counter()
        try:
            hashes = {key: digest(value) for key, value in inputs().items()} if inputs else None
            done = self.earlier.get(name)
            if hashes is not None and done is not None and done.get("input_hashes") == hashes:
                try:
                    if restore is not None:
                        restore(done)
                except StaleStage as exc:
                    self.progress(f"[{self.candidate_id}] {name}: finished earlier but {exc}; running it again")
                else:
                    self.progress(f"[{self.candidate_id}] {name}: skipped (finished earlier, inputs unchanged)")
                    self.record.stages[name] = done
                    self.record.skipped.append(name)
                    self.record.save()
                    return done
            self.progress(f"[{self.candidate_id}] {name} ...")
            results = action()
        except Exception as exc:
            self.record.failed_stage, self.record.error = name, f"{type(exc).__name__}: {exc}"
            self.record.save()
            if isinstance(exc, TinyhilError):
                raise TinyhilError(f"deploy of candidate {self.candidate_id} failed at stage '{name}': {exc}\n"
                                   f"  what was done so far is kept in {self.out} (metrics.json); run the same "
                                   f"command again to continue from this stage: {self.record.command}") from exc
            raise
        self.record.stages[name] = {"seconds": round(time.perf_counter() - started, 2), **results,
                                    **({"input_hashes": hashes} if hashes is not None else {})}
        self.record.save()
        return results

    def run(self) -> DeployRecord:
        from . import stages
        from ..explain.design import explain_design

        self.stage("load", lambda: stages.load_candidate(self))
        if self.config.teacher:
            self.stage("teacher_logits", lambda: stages.teacher_logits(self), lambda: stages.teacher_logits_inputs(self),
                       lambda done: stages.restore_teacher_logits(self, done))
        distill = bool(self.config.teacher)
        self.stage("train", lambda: stages.train_student(self, distill=distill),
                   lambda: stages.train_inputs(self, distill), lambda done: stages.restore_training(self, done, distill))
        if self.config.teacher and self.config.baseline:
            self.stage("train_baseline", lambda: stages.train_student(self, distill=False),
                       lambda: stages.train_inputs(self, False), lambda done: stages.restore_training(self, done, False))
        self.stage("export", lambda: stages.export(self), lambda: stages.export_inputs(self),
                   lambda done: stages.restore_files(done, tflite="tflite_sha256"))
        # measured first: the C library is the plan the board ran (fusion fit's arena limit comes from the run)
        self.stage("measure", lambda: stages.measure(self), lambda: stages.measure_inputs(self),
                   lambda done: stages.restore_files(done, elf="elf_sha256"))
        self.stage("codegen", lambda: stages.c_library(self), lambda: stages.codegen_inputs(self),
                   lambda done: stages.restore_files(done, c_library="c_library_sha256"))
        if self.config.explain:
            self.stage("explain", lambda: stages.explain(self), lambda: stages.explain_inputs(self),
                       lambda done: stages.restore_files(done, overview="overview_sha256"))
        self.stage("design", lambda: explain_design(self.record, self.run_dir, self.config.design_explanation),
                   lambda: stages.design_inputs(self), stages.restore_design)
        if self.record.skipped:
            self.progress(f"[{self.candidate_id}] taken from the earlier run (inputs unchanged): "
                          f"{', '.join(self.record.skipped)}; --restart runs every stage again")
        self.progress(f"[{self.candidate_id}] deployed to {self.out}")
        return self.record

    def explain_again(self) -> DeployRecord:
        """Re-run the explanations of a finished deployment (its checkpoint and .tflite) in place."""
        from . import stages

        previous = DeployRecord.load(self.out / "metrics.json")
        self.record.stages = previous.stages
        self.earlier = {}  # asked for explicitly: explain again even if nothing changed
        for stage in ("train", "export"):
            if stage not in previous.stages:
                raise TinyhilError(f"{self.out} has no finished '{stage}' stage: run `tinyhil deploy` first")
        self.stage("load", lambda: stages.load_candidate(self))
        self.state["model"] = stages.model_from_checkpoint(self, previous.stages["train"]["checkpoint"])
        self.stage("explain", lambda: stages.explain(self), lambda: stages.explain_inputs(self))
        return self.record


def deploy(run_dir: Path, candidate_id: str, config: DeployConfig | None = None, out_dir: Path | None = None,
           progress: Callable[[str], None] | None = None, progress_bars: bool = False, command: str = "") -> DeployRecord:
    check_candidate(run_dir, candidate_id)
    return Deployment(run_dir, candidate_id, config or DeployConfig(), out_dir, progress, progress_bars, command).run()


def check_candidate(run_dir: Path, candidate_id: str) -> None:
    """The run store opens and holds `candidate_id`, checked before a deploy folder is made for it: a mistyped id
    or a damaged store is an error to fix, not a failed stage to rerun."""
    from ..search.store import RunStore

    with RunStore.open(run_dir) as store:
        store.config()
        store.get_candidate(candidate_id)


def copy_tree(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build*", "__pycache__"))


def summary_lines(record: DeployRecord) -> list[str]:
    """What the command prints at the end: every number with where it came from and its unit."""
    stages = record.stages
    lines = [f"candidate {record.candidate_id} deployed to {record.out_dir}",
             f"  dataset: {record.dataset_provenance}"]
    train, baseline = stages.get("train", {}), stages.get("train_baseline")
    if train:
        how = "with distillation" if train.get("distilled") else "without teacher"
        lines.append(f"  float test accuracy ({how}): {100 * train['float_accuracy']:.2f} % (PyTorch, test split)")
    if baseline:
        gain = 100 * (train["float_accuracy"] - baseline["float_accuracy"])
        lines.append(f"  without teacher, same epochs and seed: {100 * baseline['float_accuracy']:.2f} % "
                     f"-> distillation gain {gain:+.2f} points")
    export = stages.get("export", {})
    if export.get("int8_accuracy") is not None:
        lines.append(f"  int8 test accuracy: {100 * export['int8_accuracy']:.2f} % (host int8 reference interpreter)")
    measured = stages.get("measure", {}).get("measurement", {})
    if measured:
        where = f"{measured.get('provenance', {}).get('kind', '?')} {measured.get('provenance', {}).get('board', '?')}"
        fusion = measured.get("provenance", {}).get("fusion")
        plan = f", fusion {fusion}" if fusion else ""
        lines += [f"  latency: {measured['latency_median']:,} {measured['latency_unit']} (median, {where}{plan})",
                  f"  peak SRAM: {measured['peak_sram_bytes']:,} bytes (static RAM + stack high-water, {where})",
                  f"  flash: {measured['flash_bytes']:,} bytes (.text + .rodata + .data of the ELF)",
                  f"  outputs bit-exact with the host int8 reference: {measured['bit_exact']}"]
    codegen = stages.get("codegen", {})
    if codegen:
        lines.append(f"  C library: {codegen['c_library']} (add_subdirectory(); link target tinyhil_model)")
    explain = stages.get("explain", {})
    if explain.get("float_int8_occlusion_correlation") is not None:
        lines.append(f"  float vs int8 occlusion maps: correlation {explain['float_int8_occlusion_correlation']:.2f}")
    design = stages.get("design", {})
    if design.get("status") == "written":
        lines.append(f"  design explanation ({design['label']}):")
        lines.extend(f"    {line}" for line in design["text"].splitlines() if line.strip())
    elif design:
        lines.append(f"  design explanation: not written: {design.get('note', '')}")
    return lines
