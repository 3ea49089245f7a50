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
of what was done and why it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import TinyhilError

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
    design_explanation: str = "auto"  # auto | llm | off (tinyhil.design_explanation)
    per_class: int = 2  # explained test images per class
    measure_inputs: int = 8  # test images streamed to the board
    seed: int = 0


@dataclass
class DeployRecord:
    run_dir: str
    candidate_id: str
    out_dir: str
    config: dict[str, Any]
    spec: dict[str, Any] = field(default_factory=dict)
    dataset_provenance: str = ""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> {seconds, ...results}
    failed_stage: str | None = None
    error: str | None = None

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
                 progress: Callable[[str], None] | None = None, progress_bars: bool = False):
        self.run_dir = Path(run_dir)
        self.candidate_id = str(candidate_id)
        self.config = config
        self.out = Path(out_dir) if out_dir else default_out_dir(self.run_dir, self.candidate_id)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress = progress or (lambda message: log.info("%s", message))
        self.progress_bars = progress_bars  # a training bar per epoch step (the CLI): full training takes long
        self.record = DeployRecord(str(self.run_dir), self.candidate_id, str(self.out),
                                   {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()})
        self.state: dict[str, Any] = {}

    def stage(self, name: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        self.progress(f"[{self.candidate_id}] {name} ...")
        started = time.perf_counter()
        try:
            results = action()
        except Exception as exc:
            self.record.failed_stage, self.record.error = name, f"{type(exc).__name__}: {exc}"
            self.record.save()
            if isinstance(exc, TinyhilError):
                raise TinyhilError(f"deploy of candidate {self.candidate_id} failed at stage '{name}': {exc}\n"
                                   f"  what was done so far is kept in {self.out} (metrics.json)") from exc
            raise
        self.record.stages[name] = {"seconds": round(time.perf_counter() - started, 2), **results}
        self.record.save()
        return results

    def run(self) -> DeployRecord:
        from . import deploy_stages as stages
        from .design_explanation import explain_design

        self.stage("load", lambda: stages.load_candidate(self))
        if self.config.teacher:
            self.stage("teacher_logits", lambda: stages.teacher_logits(self))
        self.stage("train", lambda: stages.train_student(self, distill=bool(self.config.teacher)))
        if self.config.teacher and self.config.baseline:
            self.stage("train_baseline", lambda: stages.train_student(self, distill=False))
        self.stage("export", lambda: stages.export(self))
        self.stage("codegen", lambda: stages.c_library(self))
        self.stage("measure", lambda: stages.measure(self))
        if self.config.explain:
            self.stage("explain", lambda: stages.explain(self))
        self.stage("design", lambda: explain_design(self.record, self.run_dir, self.config.design_explanation))
        self.progress(f"[{self.candidate_id}] deployed to {self.out}")
        return self.record


    def explain_again(self) -> DeployRecord:
        """Re-run the explanations of a finished deployment (its checkpoint and .tflite) in place."""
        from . import deploy_stages as stages

        previous = DeployRecord.load(self.out / "metrics.json")
        self.record.stages = previous.stages
        for stage in ("train", "export"):
            if stage not in previous.stages:
                raise TinyhilError(f"{self.out} has no finished '{stage}' stage: run `tinyhil deploy` first")
        self.stage("load", lambda: stages.load_candidate(self))
        self.state["model"] = stages.model_from_checkpoint(self, previous.stages["train"]["checkpoint"])
        self.stage("explain", lambda: stages.explain(self))
        return self.record


def deploy(run_dir: Path, candidate_id: str, config: DeployConfig | None = None, out_dir: Path | None = None,
           progress: Callable[[str], None] | None = None, progress_bars: bool = False) -> DeployRecord:
    return Deployment(run_dir, candidate_id, config or DeployConfig(), out_dir, progress, progress_bars).run()


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
        lines += [f"  latency: {measured['latency_median']:,} {measured['latency_unit']} (median, {where})",
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
