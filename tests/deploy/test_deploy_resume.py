"""A rerun of a deploy skips the stages an earlier run finished with the same inputs, says which, and continues
from the first unfinished one; a changed input reruns that stage and the ones its outputs feed; restart runs
everything. Stage doubles write real files (their outputs are hashed like the real stages'); the real stages
run in test_deploy_resume_processes.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyhil.deploy import stages as deploy_stages
from tinyhil.deploy.pipeline import DeployConfig, DeployRecord, Deployment, file_sha256
from tinyhil.errors import RunnerError, TinyhilError


class Doubles:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.measure_fails = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("load_candidate", "teacher_logits", "train_student", "export", "c_library", "measure", "explain"):
            monkeypatch.setattr(deploy_stages, name, getattr(self, name))
        monkeypatch.setattr(deploy_stages, "restore_teacher_logits", lambda dep, done: self.calls.append("restore teacher"))
        monkeypatch.setattr(deploy_stages, "model_from_checkpoint", lambda dep, path: f"model from {Path(path).name}")

    def load_candidate(self, dep):
        self.calls.append("load")
        dep.state.update(spec="spec", dataset="dataset")
        dep.record.dataset_provenance = "digits (real, scikit-learn)"
        return {"spec_hash": "s48", "train_samples": 1437, "test_samples": 360}

    def teacher_logits(self, dep):
        self.calls.append("teacher_logits")
        return {"teacher": "efficientnet-lite0", "cache": str(dep.run_dir / "teacher_logits")}

    def train_student(self, dep, distill):
        name = "distilled" if distill else "baseline"
        self.calls.append(f"train {name}")
        checkpoint = dep.out / "checkpoints" / name / "last.pt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        kd = f", alpha {dep.config.alpha}" if distill else ""
        checkpoint.write_bytes(f"{name} weights after {dep.config.epochs} epochs{kd}".encode())
        if distill or "model" not in dep.state:
            dep.state["model"] = "trained model"
        return {"distilled": distill, "checkpoint": str(checkpoint), "checkpoint_sha256": file_sha256(checkpoint),
                "float_accuracy": 0.9, "epochs": dep.config.epochs}

    def export(self, dep):
        self.calls.append("export")
        tflite = dep.out / "model.tflite"
        tflite.write_bytes(b"TFL3 of " + Path(dep.record.stages["train"]["checkpoint"]).read_bytes())
        return {"tflite": str(tflite), "tflite_sha256": file_sha256(tflite), "int8_accuracy": 0.89}

    def c_library(self, dep):
        self.calls.append("codegen")
        lib = dep.out / "c_library"
        (lib / "model").mkdir(parents=True, exist_ok=True)
        (lib / "model" / "model.c").write_bytes(b"/* from */ " + (dep.out / "model.tflite").read_bytes())
        return {"c_library": str(lib), "c_library_sha256": deploy_stages._tree_sha256(lib)}

    def measure(self, dep):
        self.calls.append("measure")
        if self.measure_fails:
            raise RunnerError("qemu-system-arm not found: install qemu-system-arm (scripts/install.sh)")
        elf = dep.out / "firmware" / "firmware.elf"
        elf.parent.mkdir(parents=True, exist_ok=True)
        elf.write_bytes(b"\x7fELF" + (dep.out / "model.tflite").read_bytes())
        return {"measurement": {"latency_median": 1000, "latency_unit": "instructions", "bit_exact": True},
                "elf": str(elf), "elf_sha256": file_sha256(elf)}

    def explain(self, dep):
        self.calls.append("explain")
        overview = dep.out / "explain" / "saliency_overview.png"
        overview.parent.mkdir(parents=True, exist_ok=True)
        overview.write_bytes(b"png of " + str(dep.state["model"]).encode())
        return {"overview": str(overview), "overview_sha256": file_sha256(overview), "grids": {}, "faithfulness": {}}


@pytest.fixture
def doubles(monkeypatch):
    stages = Doubles()
    stages.install(monkeypatch)
    return stages


def _deploy(tmp_path: Path, messages: list[str] | None = None, **options) -> DeployRecord:
    options.setdefault("epochs", 3)
    # no LLM here: the design stage writes nothing, so it runs every time (it may find an endpoint next time)
    config = DeployConfig(board="qemu-m7", teacher=tmp_path / "teacher.pt", design_explanation="off", **options)
    (tmp_path / "teacher.pt").write_bytes(b"teacher weights")
    progress = messages.append if messages is not None else None
    return Deployment(tmp_path, "8", config, progress=progress).run()


# measured before the C library is written: the library is the plan the board ran
ALL = ["load", "teacher_logits", "train distilled", "train baseline", "export", "measure", "codegen", "explain"]


def test_after_an_error_at_measure_a_rerun_skips_what_was_finished_and_measures(doubles, tmp_path):
    doubles.measure_fails = True
    with pytest.raises(TinyhilError, match="(?s)failed at stage 'measure'.*run the same command again"):
        _deploy(tmp_path)
    assert doubles.calls == ALL[:ALL.index("measure") + 1]
    stopped = DeployRecord.load(tmp_path / "deploy" / "8" / "metrics.json")
    assert stopped.failed_stage == "measure" and not stopped.measured

    doubles.calls.clear()
    doubles.measure_fails = False
    messages: list[str] = []
    record = _deploy(tmp_path, messages)
    # nothing trained, exported or generated again; the finished stages' outputs came back from disk
    assert doubles.calls == ["load", "restore teacher", "measure", "codegen", "explain"]
    assert record.skipped == ["teacher_logits", "train", "train_baseline", "export"]
    assert record.measured and record.failed_stage is None
    for stage in record.skipped:
        assert f"[8] {stage}: skipped (finished earlier, inputs unchanged)" in messages
    assert any("taken from the earlier run" in m and "--restart" in m for m in messages)
    saved = DeployRecord.load(tmp_path / "deploy" / "8" / "metrics.json")
    assert set(saved.stages) == {"load", "teacher_logits", "train", "train_baseline", "export", "codegen", "measure",
                                 "explain", "design"}
    assert all(len(saved.stages[s]["input_hashes"]) >= 1 for s in saved.stages if s != "load")


def test_a_rerun_of_a_finished_deploy_runs_nothing_but_load(doubles, tmp_path):
    _deploy(tmp_path)
    doubles.calls.clear()
    record = _deploy(tmp_path)
    assert doubles.calls == ["load", "restore teacher"]
    assert record.skipped == ["teacher_logits", "train", "train_baseline", "export", "measure", "codegen", "explain"]


def test_more_epochs_retrain_both_students_and_redo_what_follows_but_keep_the_teacher_logits(doubles, tmp_path):
    _deploy(tmp_path)
    doubles.calls.clear()
    record = _deploy(tmp_path, epochs=4)
    assert doubles.calls == ["load", "restore teacher", "train distilled", "train baseline", "export", "measure",
                             "codegen", "explain"]
    assert record.skipped == ["teacher_logits"]


def test_a_new_alpha_retrains_the_distilled_student_only(doubles, tmp_path):
    _deploy(tmp_path)
    doubles.calls.clear()
    record = _deploy(tmp_path, alpha=0.7)
    assert "train baseline" not in doubles.calls and "train distilled" in doubles.calls
    assert record.skipped == ["teacher_logits", "train_baseline"]  # new weights: exported, generated, measured again


def test_a_deleted_tflite_is_exported_again(doubles, tmp_path):
    _deploy(tmp_path)
    (tmp_path / "deploy" / "8" / "model.tflite").unlink()
    doubles.calls.clear()
    messages: list[str] = []
    record = _deploy(tmp_path, messages)
    assert "export" in doubles.calls and "train distilled" not in doubles.calls
    assert any("export: finished earlier but its output" in m and "gone or changed" in m for m in messages)
    assert record.skipped == ["teacher_logits", "train", "train_baseline", "measure", "codegen", "explain"]


def test_restart_runs_every_stage_again(doubles, tmp_path):
    _deploy(tmp_path)
    doubles.calls.clear()
    record = _deploy(tmp_path, restart=True)
    assert doubles.calls == ALL and record.skipped == []


def test_report_marks_a_deploy_that_stopped_before_measuring_as_not_deployed_and_says_how_to_finish(doubles, tmp_path):
    from tinyhil.report.page import render_report
    from tinyhil.report.collect import collect_run
    from tinyhil.search.store import RunStore

    RunStore.create(tmp_path, "run-resume", {"board": "qemu-m7", "dataset": "digits"}).close()
    doubles.measure_fails = True
    with pytest.raises(TinyhilError):
        Deployment(tmp_path, "8", DeployConfig(board="qemu-m7", epochs=3, design_explanation="off"),
                   command=f"tinyhil deploy {tmp_path} --candidate 8 --epochs 3").run()
    winner = collect_run(tmp_path).winners[0]
    assert not winner.deployed and "stopped at stage 'measure'" in winner.stopped
    html = render_report(collect_run(tmp_path), tmp_path / "report.html").read_text()
    assert "Not deployed: candidate 8" in html and "Deployed: candidate 8" not in html
    assert f"<code>tinyhil deploy {tmp_path} --candidate 8 --epochs 3</code>" in html
    assert "No candidate deployed yet" in html

    doubles.measure_fails = False
    Deployment(tmp_path, "8", DeployConfig(board="qemu-m7", epochs=3, design_explanation="off")).run()
    html = render_report(collect_run(tmp_path), tmp_path / "report.html").read_text()
    assert "Deployed: candidate 8" in html and "Not deployed" not in html


def test_a_killed_deploy_is_reported_as_stopped_after_its_last_finished_stage(tmp_path):
    from tinyhil.report.collect import winner_from_record

    record = DeployRecord(str(tmp_path), "8", str(tmp_path), {}, stages={"load": {}, "train": {"float_accuracy": 0.9}},
                          command="tinyhil deploy runs/r --candidate 8")
    winner = winner_from_record(record)
    assert not winner.deployed
    assert winner.stopped == "stopped after stage 'train' (interrupted: no error was recorded)"
    assert winner.finish_command == "tinyhil deploy runs/r --candidate 8"
