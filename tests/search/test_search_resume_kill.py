"""kill -9 in the middle of `tinyhil search`, then `--resume`: every finished evaluation is kept, once.
The search runs as its own process over stand-ins of the other parts (contract_doubles)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tinyhil.search.loop import EVALUATED
from tinyhil.search.store import RunStore

REPO = Path(__file__).resolve().parents[2]


def finished_rows(run_dir: Path) -> dict[int, tuple]:
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        rows = db.execute("SELECT id, spec_hash, status, metrics FROM candidates WHERE status IN ('measured', 'failed', "
                          "'infeasible')").fetchall()
    except sqlite3.OperationalError:  # the table is not there yet
        rows = []
    db.close()
    return {row[0]: row[1:] for row in rows}


def test_a_search_killed_with_sigkill_resumes_without_losing_or_repeating_evaluations(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    start = [sys.executable, "-m", "tests.search.run_toy_search", "0.1", "--iterations", "8", "--runs-dir", str(tmp_path),
             "--run-id", "run", "--seed", "7"]
    process = subprocess.Popen(start, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (run_dir / "store.sqlite").exists() and len(finished_rows(run_dir)) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    before = finished_rows(run_dir)
    assert 3 <= len(before) < 8, "the kill should land mid-run"

    resume = [sys.executable, "-m", "tests.search.run_toy_search", "0", "--resume", str(run_dir)]
    resumed = subprocess.run(resume, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "(resumed)" in resumed.stdout and (run_dir / "front.json").is_file()
    after = finished_rows(run_dir)
    assert {k: v for k, v in after.items() if k in before} == before  # finished ones untouched
    assert len(after) == 8
    with RunStore.open(run_dir) as store:
        hashes = [c.spec_hash for c in store.candidates() if c.spec_hash]
        assert len(hashes) == len(set(hashes))
        assert not store.candidates(("proposed", "trained", "exported"))
        assert len(store.candidates(EVALUATED)) == 8
