"""A deployment records every stage in metrics.json; a failure after training keeps the checkpoint and says
where and why it stopped."""

from __future__ import annotations

import json

import pytest

from tinyhil.deploy import stages as deploy_stages
from tinyhil.deploy.pipeline import DeployConfig, DeployRecord, Deployment, summary_lines
from tinyhil.errors import BuildError, TinyhilError


@pytest.fixture
def stages_until_export_fails(monkeypatch, tmp_path):
    """Stage doubles: load and train really write files; export fails like a too-big model would."""
    def load(dep):
        dep.record.dataset_provenance = "digits (real, scikit-learn, 8x8 upscaled)"
        return {"spec_hash": "abc"}

    def train(dep, distill):
        checkpoint = dep.out / "checkpoints" / ("distilled" if distill else "baseline") / "last.pt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.write_bytes(b"weights")
        return {"distilled": distill, "checkpoint": str(checkpoint), "float_accuracy": 0.9 if distill else 0.88}

    def export(dep):
        raise BuildError("region RAM overflowed by 4096 bytes")

    monkeypatch.setattr(deploy_stages, "load_candidate", load)
    monkeypatch.setattr(deploy_stages, "teacher_logits", lambda dep: {"teacher": "efficientnet-lite0"})
    monkeypatch.setattr(deploy_stages, "train_student", train)
    monkeypatch.setattr(deploy_stages, "export", export)
    return tmp_path


def test_failure_after_training_keeps_the_checkpoint_and_records_the_stage(stages_until_export_fails):
    run_dir = stages_until_export_fails
    config = DeployConfig(teacher=run_dir / "teacher.pt")
    with pytest.raises(TinyhilError, match="failed at stage 'export'.*RAM overflowed") as info:
        Deployment(run_dir, "7", config).run()
    out = run_dir / "deploy" / "7"
    assert "metrics.json" in str(info.value)
    record = DeployRecord.load(out / "metrics.json")
    assert record.failed_stage == "export" and "RAM overflowed by 4096 bytes" in record.error
    assert list(record.stages) == ["load", "teacher_logits", "train", "train_baseline"]
    assert (out / "checkpoints" / "distilled" / "last.pt").read_bytes() == b"weights"
    assert record.config["teacher"] == str(run_dir / "teacher.pt")
    json.loads((out / "metrics.json").read_text())  # plain JSON for other tools


def test_summary_names_source_and_unit_of_every_number(tmp_path):
    record = DeployRecord(str(tmp_path), "3", str(tmp_path / "d"), {}, dataset_provenance="Fashion-MNIST (real images)",
                          stages={"train": {"distilled": True, "float_accuracy": 0.81},
                                  "train_baseline": {"distilled": False, "float_accuracy": 0.78},
                                  "export": {"int8_accuracy": 0.805},
                                  "measure": {"measurement": {"latency_median": 1234567, "latency_unit": "instructions",
                                                              "peak_sram_bytes": 70000, "flash_bytes": 120000,
                                                              "bit_exact": True,
                                                              "provenance": {"kind": "emulator", "board": "qemu-m7"}}}})
    text = "\n".join(summary_lines(record))
    print(text)
    for phrase in ("Fashion-MNIST", "+3.00 points", "1,234,567 instructions", "emulator qemu-m7", "70,000 bytes",
                   "host int8 reference", "bit-exact with the host int8 reference: True"):
        assert phrase in text


def test_deploy_measures_int8_accuracy_on_the_whole_test_split(monkeypatch, tmp_path):
    """The proxy export checks 1,000 test images (enough to rank candidates); the deployed model's int8 accuracy
    is the number users quote, measured on the same whole split as its float accuracy, with the student's
    training configuration for QAT."""
    import types

    import tinyhil.ml.export

    seen = {}

    def export_int8(model, spec, dataset, out_path, **kwargs):
        seen.update(kwargs)
        return types.SimpleNamespace(tflite_path=out_path, float_accuracy=0.9, int8_accuracy=0.89, test_images=10_000,
                                     qat_note="not needed", writer="tinyhil")

    monkeypatch.setattr(tinyhil.ml.export, "export_int8", export_int8)
    dep = Deployment(tmp_path / "run", "3", DeployConfig(), out_dir=tmp_path / "out")
    dep.state.update(model=object(), spec=object(), dataset=object(), train_config="the student's")
    result = deploy_stages.export(dep)
    assert seen["test_count"] is None and seen["train_config"] == "the student's" and seen["writer"] == "tinyhil"
    assert result["test_images"] == 10_000 and result["int8_accuracy"] == 0.89 and result["int8_writer"] == "tinyhil"


def test_the_export_stage_is_keyed_by_a_writer_other_than_the_default(tmp_path, monkeypatch):
    """A deploy folder written before the writer was an option resumes with the default writer without exporting
    again (its export inputs have no writer key); --int8-writer tensorflow exports again, with that writer."""
    import types

    import tinyhil.ml.export

    seen = {}

    def export_int8(model, spec, dataset, out_path, **kwargs):
        seen.update(kwargs)
        return types.SimpleNamespace(tflite_path=out_path, float_accuracy=0.9, int8_accuracy=0.89, test_images=10,
                                     qat_note="off", writer=kwargs["writer"])

    monkeypatch.setattr(tinyhil.ml.export, "export_int8", export_int8)
    monkeypatch.setattr(deploy_stages, "_data_inputs", lambda dep: {"dataset": "digits"})
    monkeypatch.setattr(deploy_stages, "_train_config_inputs", lambda dep: {"epochs": 1})
    default = Deployment(tmp_path / "run", "3", DeployConfig(), out_dir=tmp_path / "a")
    tensorflow = Deployment(tmp_path / "run", "3", DeployConfig(int8_writer="tensorflow"), out_dir=tmp_path / "b")
    assert "int8_writer" not in deploy_stages.export_inputs(default)
    assert deploy_stages.export_inputs(tensorflow)["int8_writer"] == "tensorflow"
    tensorflow.state.update(model=object(), spec=object(), dataset=object())
    assert deploy_stages.export(tensorflow)["int8_writer"] == "tensorflow" and seen["writer"] == "tensorflow"
