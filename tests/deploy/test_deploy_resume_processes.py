"""`tinyhil deploy` as its own process, with the real stages (training on digits, int8 export, generated C,
firmware on QEMU), interrupted and run again:
- kill -9 during training of a 48-px candidate (digits are 32 px): the rerun resumes training after the last
  epoch checkpoint, then exports and measures the model bit-exact on QEMU with inputs at the model's resolution;
- an error after training (the board profile names a QEMU binary that is not there): after fixing the profile,
  the same command skips teacher logits, both trainings, export and codegen, and measures.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tinyhil.search.store import RunStore

pytestmark = pytest.mark.qemu

REPO = Path(__file__).resolve().parents[2]
SPEC_48 = {"resolution": 48, "stem_channels": 8, "stem_kernel": 3, "stem_stride": 2, "head_channels": 0,
           "stages": [{"block": "dws", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 3, "expand": 1}]}
TIMEOUT_S = 420  # one deploy: training a few seconds, TensorFlow import and export, firmware build, QEMU


def _run_with_candidate(tmp_path: Path) -> tuple[Path, str]:
    run_dir = tmp_path / "run"
    with RunStore.create(run_dir, "run-resume", {"board": "qemu-m7", "dataset": "digits"}) as store:
        candidate = store.add_candidate(0, "evolution", SPEC_48, "h48")
        store.update_candidate(candidate, status="measured", metrics={"accuracy": 0.8})
    return run_dir, str(candidate)


def _deploy(args: list[str], pause_after_epoch: int = 0) -> list[str]:
    return [sys.executable, "-m", "tests.deploy.run_deploy", str(pause_after_epoch), "deploy", *args]


def _finish(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _epoch(checkpoint: Path) -> int:
    try:
        return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["epoch"])
    except (OSError, EOFError, RuntimeError, KeyError):  # not written yet
        return 0


def test_kill_9_during_training_resumes_from_the_last_epoch_and_measures_the_48px_model_bit_exact(tmp_path):
    run_dir, candidate = _run_with_candidate(tmp_path)
    args = [str(run_dir), "--candidate", candidate, "--epochs", "3", "--train-subset", "400", "--no-explain"]
    out = run_dir / "deploy" / candidate
    checkpoint = out / "checkpoints" / "baseline" / "last.pt"
    process = subprocess.Popen(_deploy(args, pause_after_epoch=1), cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and _epoch(checkpoint) < 1 and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL and _epoch(checkpoint) == 1
    killed_history = torch.load(checkpoint, map_location="cpu", weights_only=False)["history"]

    resumed = _finish(_deploy(args))
    assert "baseline training resumes after epoch 1 of 3" in resumed.stderr
    record = json.loads((out / "metrics.json").read_text())
    train = record["stages"]["train"]
    assert train["resumed_after_epoch"] == 1 and train["epochs"] == 3
    history = torch.load(checkpoint, map_location="cpu", weights_only=False)["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3] and history[0] == killed_history[0]
    # the model takes 48x48 and was measured on QEMU with the test images resized to it, bit-exact
    assert record["stages"]["codegen"]["input_shape"] == [1, 48, 48, 1]
    measured = record["stages"]["measure"]["measurement"]
    assert measured["bit_exact"] is True and measured["latency_unit"] == "instructions"
    assert measured["provenance"]["kind"] == "emulator" and record["stages"]["measure"]["inputs"] == 8
    assert "outputs bit-exact with the host int8 reference: True" in resumed.stdout

    print({name: stage.get("seconds") for name, stage in record["stages"].items()})  # -s: where the time goes
    again = _finish(_deploy(args))
    for stage in ("train", "export", "codegen", "measure"):
        assert f"[{candidate}] {stage}: skipped (finished earlier, inputs unchanged)" in again.stderr
    assert json.loads((out / "metrics.json").read_text())["stages"]["measure"] == record["stages"]["measure"]


def test_an_error_after_training_is_finished_by_the_same_command_without_training_again(tmp_path):
    from tinyhil.ml.data import load_dataset
    from tinyhil.ml.model import build_torch
    from tinyhil.spec.space import ArchSpec
    from tinyhil.ml.train import save_checkpoint

    run_dir, candidate = _run_with_candidate(tmp_path)
    # the teacher: a tinyhil training checkpoint (deploy takes one as a teacher); its weights are untrained,
    # its logits real, which is all the distillation stages need here
    spec = ArchSpec.from_dict({**SPEC_48, "resolution": 32})
    teacher = tmp_path / "teacher.pt"
    save_checkpoint(teacher, build_torch(spec, 1, 10), spec, load_dataset("digits"), {"epoch": 0})
    board = tmp_path / "board.toml"
    profile = (REPO / "board_profiles" / "qemu-m7.toml").read_text()
    assert 'binary = "qemu-system-arm"' in profile
    board.write_text(profile.replace('binary = "qemu-system-arm"', 'binary = "qemu-system-arm-not-installed"'))
    args = [str(run_dir), "--candidate", candidate, "--board", str(board), "--teacher", str(teacher), "--epochs", "1",
            "--train-subset", "300", "--no-explain"]

    failed = subprocess.run(_deploy(args), cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert failed.returncode != 0
    assert "failed at stage 'measure'" in failed.stderr and "run the same command again" in failed.stderr
    out = run_dir / "deploy" / candidate
    stopped = json.loads((out / "metrics.json").read_text())
    assert stopped["failed_stage"] == "measure"
    checkpoints = {name: (out / "checkpoints" / name / "last.pt").read_bytes() for name in ("distilled", "baseline")}
    tflite = (out / "model.tflite").read_bytes()

    from tinyhil.report.collect import collect_run

    winner = collect_run(run_dir).winners[0]
    assert not winner.deployed and "stopped at stage 'measure'" in winner.stopped
    assert winner.finish_command.startswith("tinyhil deploy ") and "--teacher" in winner.finish_command

    board.write_text(profile)  # the cause fixed; the same command again
    finished = _finish(_deploy(args))
    for stage in ("teacher_logits", "train", "train_baseline", "export"):
        assert f"[{candidate}] {stage}: skipped (finished earlier, inputs unchanged)" in finished.stderr
    assert "measure ..." in finished.stderr
    assert {name: (out / "checkpoints" / name / "last.pt").read_bytes() for name in checkpoints} == checkpoints
    assert (out / "model.tflite").read_bytes() == tflite
    record = json.loads((out / "metrics.json").read_text())
    assert record["failed_stage"] is None and record["stages"]["measure"]["measurement"]["bit_exact"] is True
    assert record["skipped"] == ["teacher_logits", "train", "train_baseline", "export"]  # the C library follows measure
    assert collect_run(run_dir).winners[0].deployed
