"""Two tinyhil processes on one run folder or one bench workdir: the second is refused at once with the
first one's PID, and the first finishes with every evaluation stored exactly once. Real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyhil.locks import LOCK_FILE
from tinyhil.search.loop import EVALUATED
from tinyhil.search.store import RunStore

from ..search.test_search_resume_kill import finished_rows

REPO = Path(__file__).resolve().parents[2]


def toy_search(delay_s: float, *args: str) -> list[str]:
    return [sys.executable, "-m", "tests.search.run_toy_search", str(delay_s), *args]


def wait_for_holder(folder: Path, pid: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if (folder / LOCK_FILE).read_text().split() == [str(pid)]:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never took the lock on {folder}")


def test_a_second_resume_of_a_run_in_use_is_refused_and_nothing_is_trained_twice(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # a run killed after its first evaluations, with one candidate left in flight
    killed = subprocess.Popen(toy_search(0.2, "--iterations", "4", "--runs-dir", str(tmp_path), "--run-id", "run"),
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ((run_dir / "store.sqlite").exists() and finished_rows(run_dir)):
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)

    # slow stages (1.5 s each): the first must still hold the run while the second starts up on a loaded machine
    first = subprocess.Popen(toy_search(1.5, "--resume", str(run_dir)), cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    wait_for_holder(run_dir, first.pid)
    second = subprocess.run(toy_search(0, "--resume", str(run_dir)), cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert second.returncode == 75, second.stdout + second.stderr
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in second.stderr
    assert f"run {run_dir} is in use by PID {first.pid}" in lines[0]
    assert f"wait for it to finish or stop it (kill {first.pid}), then retry" in lines[0]

    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    with RunStore.open(run_dir) as store:
        assert len(store.candidates(EVALUATED)) == 4  # not "5/4 evaluated"
        hashes = [c.spec_hash for c in store.candidates() if c.spec_hash]
        assert len(hashes) == len(set(hashes))


@pytest.mark.qemu
def test_a_second_bench_on_a_workdir_in_use_is_refused_and_the_first_finishes_intact(tmp_path: Path) -> None:
    from tests.codegen.tflite_builder import small_conv_model

    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    workdir = tmp_path / "w"
    bench = [sys.executable, "-c", "from tinyhil.cli import main; main()", "bench", str(model), "--inputs", "2",
             "--workdir", str(workdir)]
    first = subprocess.Popen([*bench, "--json", str(tmp_path / "m0.json")], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    # frozen while it holds the lock, so the second certainly starts while the first is at work (a bench of this
    # model takes about a second: two started "at once" could run one after the other)
    wait_for_holder(workdir, first.pid)
    first.send_signal(signal.SIGSTOP)
    try:
        second = subprocess.run([*bench, "--json", str(tmp_path / "m1.json")], cwd=REPO, capture_output=True,
                                text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 75), (out, err, second.stdout, second.stderr)
    assert f"bench workdir {workdir} is in use by PID {first.pid}" in second.stderr
    assert len([line for line in second.stderr.splitlines() if line.strip()]) == 1
    assert json.loads((tmp_path / "m0.json").read_text())["bit_exact"] is True  # the first one's result, intact
    assert not (tmp_path / "m1.json").exists()


def test_a_second_new_search_with_the_same_run_id_is_refused_and_leaves_the_first_ones_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "same"
    start = toy_search(2.5, "--iterations", "2", "--runs-dir", str(tmp_path), "--run-id", "same")
    first = subprocess.Popen(start, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_holder(run_dir, first.pid)
    second = subprocess.run(start, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert second.returncode == 75, second.stdout + second.stderr
    assert f"run {run_dir} is in use by PID {first.pid}" in second.stderr
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    with RunStore.open(run_dir) as store:
        assert len(store.candidates(EVALUATED)) == 2
