"""kill -9 in the middle of `tinyhil search`, then `--resume`: every finished evaluation is kept, once, and a
candidate killed in the middle of a multi-fidelity rung trains on from its last finished rung without being
measured again. The search runs as its own process over stand-ins of the other parts (contract_doubles)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from tinyhil.search.loop import EVALUATED
from tinyhil.search.store import RunStore

REPO = Path(__file__).resolve().parents[2]
BOARD_FIELDS = ("peak_sram_bytes", "flash_bytes", "latency", "latency_unit", "bit_exact")


def finished_rows(run_dir: Path) -> dict[int, tuple]:
    """id -> (spec hash, status, metrics, timings) of the evaluated candidates."""
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        rows = db.execute("SELECT id, spec_hash, status, metrics, timings FROM candidates WHERE status IN "
                          "('measured', 'failed', 'infeasible')").fetchall()
    except sqlite3.OperationalError:  # the table is not there yet
        rows = []
    db.close()
    return {row[0]: (row[1], row[2], json.loads(row[3]), json.loads(row[4])) for row in rows}


def kill_when(run_dir: Path, process: subprocess.Popen, ready: Callable[[dict[int, tuple]], bool]) -> dict[int, tuple]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (run_dir / "store.sqlite").exists() and ready(finished_rows(run_dir)):
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    return finished_rows(run_dir)


def start(tmp_path: Path, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.search.run_toy_search", "0.1", "--iterations", "8", "--runs-dir",
               str(tmp_path), "--run-id", "run", "--seed", "7", *options]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def resume(run_dir: Path) -> dict[int, tuple]:
    resumed = subprocess.run([sys.executable, "-m", "tests.search.run_toy_search", "0", "--resume", str(run_dir)],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "(resumed)" in resumed.stdout and (run_dir / "front.json").is_file()
    with RunStore.open(run_dir) as store:
        hashes = [c.spec_hash for c in store.candidates() if c.spec_hash]
        assert len(hashes) == len(set(hashes))
        assert not store.candidates(("proposed", "trained", "exported"))
        assert len(store.candidates(EVALUATED)) == 8
        assert not any(c.metrics.get("rung_pending") is not None for c in store.candidates())
    return finished_rows(run_dir)


def test_a_search_killed_with_sigkill_resumes_without_losing_or_repeating_evaluations(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    before = kill_when(run_dir, start(tmp_path, "--fidelity", "single"), lambda rows: len(rows) >= 3)
    assert 3 <= len(before) < 8, "the kill should land mid-run"
    after = resume(run_dir)
    assert {k: v for k, v in after.items() if k in before} == before  # finished ones untouched
    assert len(after) == 8


def test_a_candidate_killed_mid_rung_trains_on_from_its_last_rung_and_is_measured_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"

    def mid_rung(rows: dict[int, tuple]) -> bool:  # a promoted candidate whose next rung is training
        return any(metrics.get("rung_pending") is not None for _, _, metrics, _ in rows.values())

    before = kill_when(run_dir, start(tmp_path), mid_rung)
    pending = {cid: row for cid, row in before.items() if row[2].get("rung_pending") is not None}
    assert pending, "the kill should land while a promoted candidate trains on"
    after = resume(run_dir)
    for cid, (spec_hash, status, metrics, timings) in pending.items():
        _, _, resumed_metrics, resumed_timings = after[cid]
        assert resumed_metrics["rung"] >= metrics["rung_pending"] > metrics["rung"]
        assert [h["rung"] for h in resumed_metrics["rung_history"]] == list(range(resumed_metrics["rung"] + 1))
        # the board numbers are rung 0's, measured once: not measured again after the resume
        assert {k: resumed_metrics[k] for k in BOARD_FIELDS} == {k: metrics[k] for k in BOARD_FIELDS}
        assert resumed_timings["measure"] == timings["measure"]
    done = {cid: row for cid, row in before.items() if cid not in pending}
    for cid, (spec_hash, status, metrics, timings) in done.items():
        if after[cid][2].get("rung") == metrics.get("rung"):
            assert after[cid] == done[cid]  # finished and not gone on: untouched
            continue
        # waiting at its rung when killed, promoted (ASHA) after the resume: its finished rungs are kept as they
        # were, and its board numbers are still the ones measured once, before the kill
        _, resumed_status, resumed_metrics, resumed_timings = after[cid]
        assert resumed_status == status == "measured" and resumed_metrics["rung"] > metrics["rung"]
        assert resumed_metrics["rung_history"][:len(metrics["rung_history"])] == metrics["rung_history"]
        assert {k: resumed_metrics[k] for k in BOARD_FIELDS} == {k: metrics[k] for k in BOARD_FIELDS}
        assert resumed_timings["measure"] == timings["measure"]
