"""kill -9 of a search while a candidate is being measured leaves no emulator behind (the kernel kills QEMU
with its parent), the resumed run measures the candidate again and completes; an emulator a dead run left in a
workdir is killed before a new one starts there. Checked on the process table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.hil.firmware import EXAMPLE_MODEL_DIR, build_firmware
from tinyhil.hil.runners import runner_for
from tinyhil.search.loop import EVALUATED
from tinyhil.search.store import RunStore

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.qemu


def emulators_of(elf: Path) -> list[int]:
    """PIDs of live (not zombie) qemu-system-arm processes running `elf` (a path private to this test module)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "qemu-system-arm" in command and str(elf) in command and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@pytest.fixture(scope="module")
def harness_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_firmware(EXAMPLE_MODEL_DIR, load_profile("qemu-m7"), tmp_path_factory.mktemp("fw")).elf


def search(elf: Path, seconds: float, *args: str) -> list[str]:
    return [sys.executable, "-m", "tests.reliability.run_measuring_search", str(elf), str(seconds), *args]


def test_kill_9_while_measuring_leaves_no_emulator_and_the_resumed_run_completes(tmp_path: Path, harness_elf: Path) -> None:
    run_dir = tmp_path / "run"
    first = subprocess.Popen(search(harness_elf, 60, "--iterations", "2", "--runs-dir", str(tmp_path), "--run-id", "run",
                                    "--dataset", "digits"), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker = run_dir / "candidates" / "00001" / "firmware" / "measuring.pid"
    assert wait_until(marker.is_file, 60), first.stderr.read().decode() if first.poll() is not None else "no marker"
    qemu_pid = int(marker.read_text())
    assert emulators_of(harness_elf) == [qemu_pid]  # measuring: the emulator runs, a child of the search
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert wait_until(lambda: not emulators_of(harness_elf), 5), f"orphaned emulator(s): {emulators_of(harness_elf)}"

    with RunStore.open(run_dir) as store:
        assert store.get_candidate(1).status == "exported" and not store.candidates(EVALUATED)
    resumed = subprocess.run(search(harness_elf, 0.2, "--resume", str(run_dir)), cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with RunStore.open(run_dir) as store:
        evaluated = store.candidates(EVALUATED)
        assert [c.id for c in evaluated] == [1, 2]  # the killed one measured again, once; nothing doubled
        assert len({c.spec_hash for c in store.candidates()}) == len(store.candidates())
    assert not emulators_of(harness_elf)


def test_an_emulator_left_in_a_workdir_by_a_dead_run_is_killed_before_a_new_one_starts(tmp_path: Path,
                                                                                       harness_elf: Path) -> None:
    workdir = tmp_path / "run"
    stale_runner = runner_for(load_profile("qemu-m7"), workdir)
    # a stale emulator: same command, its own session and no death signal, as if its parent had died elsewhere
    stale = subprocess.Popen(stale_runner.command_line(harness_elf), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        assert wait_until(lambda: emulators_of(harness_elf) == [stale.pid], 5)
        command = Path(f"/proc/{stale.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        stale_runner.pid_path.write_text(f"{stale.pid}\n{command}\n")
        runner = runner_for(load_profile("qemu-m7"), workdir)
        with runner:
            runner.start(harness_elf)
            assert stale.wait(timeout=5) == -signal.SIGKILL
            assert emulators_of(harness_elf) == [runner.process.pid]
        assert not emulators_of(harness_elf) and not runner.pid_path.exists()
    finally:
        if stale.poll() is None:
            stale.kill()
            stale.wait()
