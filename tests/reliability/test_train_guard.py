"""`tinyhil train` checks a spec's analytic cost before building it, refuses one beyond its limits unless
--force, and trains inside a memory bound, so an oversized spec ends in one clear line, not in the OOM killer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_run import one_error_line, tinyhil

REPO = Path(__file__).resolve().parents[2]
TINY = Path(__file__).with_name("tiny_spec.json")
HUGE = {"resolution": 96, "stem_channels": 32, "stem_kernel": 3, "stem_stride": 1,
        "stages": [{"block": "ir", "depth": 4, "out_channels": 160, "stride": 1, "kernel": 7, "expand": 6}] * 6,
        "head_channels": 512}  # 76 G MACs: reached 22 GB RSS and the OOM killer before the guard
WIDE = {"resolution": 32, "stem_channels": 32, "stem_kernel": 3, "stem_stride": 1,
        "stages": [{"block": "ir", "depth": 2, "out_channels": 32, "stride": 1, "kernel": 3, "expand": 4}],
        "head_channels": 0}  # 19 M MACs, about 1 GiB per training step at batch 128


def test_a_spec_beyond_the_mac_limit_is_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "huge.json"
    spec.write_text(json.dumps(HUGE))
    ran = tinyhil(["train", str(spec), "--dataset", "digits", "--subset", "20", "--epochs", "1",
                   "--out", str(tmp_path / "out")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert "76.27 G MACs per inference is over train's limit of 1.00 G" in line
    assert "training needs about" in line and "(analytic, tinyhil.spec.cost)" in line
    assert "--force trains it anyway" in line and "lower --batch-size" in line
    assert not (tmp_path / "out").exists()


def test_a_forced_spec_that_outgrows_the_memory_bound_fails_with_a_message_not_the_oom_killer(tmp_path: Path) -> None:
    spec = tmp_path / "wide.json"
    spec.write_text(json.dumps(WIDE))
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'host'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", "from tinyhil.cli import main; main()", "train", str(spec),
                           "--dataset", "digits", "--subset", "256", "--epochs", "1", "--force",
                           "--memory-limit", "150MiB", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr  # not -9 (killed), not 1 (traceback)
    assert "--force: the cost limits are not checked" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "training ran out of the 150.00 MiB it may use" in lines[0]
    assert "lower --batch-size, shrink the spec or raise --memory-limit" in lines[0]


def test_a_spec_file_that_is_not_json_is_a_spec_error_with_line_and_column(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "broken.json"
    spec.write_text('{"resolution": 32,\n  "stages": [}')
    ran = tinyhil(["train", str(spec), "--dataset", "digits", "--out", str(tmp_path / "out")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert line.startswith("error: invalid architecture spec: ") and f"{spec}: not valid JSON (line 2, column" in line
    assert "fix the file" in line and "tinyhil spec schema" in line
    assert not (tmp_path / "out").exists()


def test_cuda_on_a_machine_without_it_says_to_use_the_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ran = tinyhil(["train", str(TINY), "--dataset", "digits", "--device", "cuda", "--out", str(tmp_path / "out")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert "device 'cuda': CUDA is not available here" in line and "use --device cpu or auto" in line
    assert not (tmp_path / "out").exists()


def test_a_dataset_folder_that_does_not_exist_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nonexistent"
    ran = tinyhil(["train", str(TINY), "--dataset", f"folder:{missing}", "--out", str(tmp_path / "out")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert f"dataset folder {missing} does not exist" in line and "one sub-folder of PNG/JPEG images per class" in line


def test_search_training_fails_the_one_candidate_that_needs_more_memory_than_is_available(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyhil.ml import train_guard
    from tinyhil.search.evaluation import Job, PipelineStages, StageFailure

    monkeypatch.setattr(train_guard, "available_memory_bytes", lambda: 256 * 2**20)  # a machine with 256 MiB free
    stages = PipelineStages(dataset="digits", board="qemu-m7", train_overrides={"epochs": 1})
    job = Job(7, WIDE, seed=1, workdir=str(tmp_path / "candidates" / "00007"))
    with pytest.raises(StageFailure) as caught:
        stages.train_export(job)
    assert caught.value.stage == "train"
    assert "BudgetError: training needs about 1009.87 MiB per step at batch 128, 256.00 MiB are available" in caught.value.reason
    assert "lower the batch size" in caught.value.reason
    assert not (tmp_path / "candidates" / "00007" / "checkpoints").exists()  # refused before building the model
