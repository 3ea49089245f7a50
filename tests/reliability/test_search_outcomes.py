"""How a search ends when it did not succeed: a status that is not 0 and one line saying why and what to do,
with what was evaluated kept; a damaged store refused on resume, untouched; an unexpected exception reported
as one line plus the log file holding its traceback. Real command over the contract doubles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tinyhil.errors import BuildError
from tinyhil.search.store import RunStore

from ..search import contract_doubles
from .cli_run import one_error_line, tinyhil

BASE = ["search", "--no-live", "--dataset", "digits", "--proxy-epochs", "1"]


def test_a_search_whose_budget_rejects_everything_exits_3_and_says_to_widen_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    contract_doubles.install(monkeypatch)
    ran = tinyhil([*BASE, "--iterations", "3", "--budget-sram", "1KiB", "--runs-dir", str(tmp_path), "--run-id", "r"],
                  capsys)
    line = one_error_line(ran)
    assert ran.status == 3
    assert f"search {tmp_path / 'r'}: evaluated nothing: 5 consecutive proposal steps gave no acceptable spec" in line
    assert "widen the budgets" in line and f"tinyhil search --resume {tmp_path / 'r'}" in line
    with RunStore.open(tmp_path / "r") as store:
        assert store.candidates() and all(c.status == "rejected" for c in store.candidates())


def test_a_search_whose_every_measurement_fails_exits_3_naming_the_failures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    contract_doubles.install(monkeypatch)

    def measure(*args: object, **kwargs: object) -> None:
        raise BuildError("arm-none-eabi-gcc: region RAM overflowed")

    monkeypatch.setattr(sys.modules["tinyhil.hil.bench"], "measure", measure, raising=False)
    ran = tinyhil([*BASE, "--iterations", "2", "--runs-dir", str(tmp_path), "--run-id", "r"], capsys)
    line = one_error_line(ran)
    assert ran.status == 3
    assert "none of the 2 evaluated candidates was measured within the budgets (2 failed)" in line
    assert "all candidates" in ran.out  # the table with the reasons was printed first
    with RunStore.open(tmp_path / "r") as store:
        failed = store.candidates("failed")
        assert len(failed) == 2 and all("region RAM overflowed" in c.reason for c in failed)


@pytest.mark.parametrize("damage, words", [
    (lambda path: os.truncate(path, path.stat().st_size // 2), "is damaged"),
    (lambda path: os.truncate(path, 0), "is empty (0 bytes)"),
    (lambda path: path.write_bytes(b"<html>not a database</html>" * 200), "is damaged or not a run store"),
], ids=["truncated-half", "empty", "not-sqlite"])
def test_resuming_a_damaged_store_is_refused_and_leaves_it_untouched(
        damage, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    contract_doubles.install(monkeypatch)
    ran = tinyhil([*BASE, "--iterations", "2", "--runs-dir", str(tmp_path), "--run-id", "r"], capsys)
    assert ran.status == 0, ran.err
    store = tmp_path / "r" / "store.sqlite"
    assert not Path(f"{store}-wal").exists()  # closed cleanly: checkpointed into the main file
    damage(store)
    before = store.read_bytes()
    ran = tinyhil([*BASE, "--resume", str(tmp_path / "r"), "--iterations", "3"], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert f"run store {store} {words}" in line and ".recover" in line and "backup" in line
    assert store.read_bytes() == before  # not rewritten, not "repaired" into an empty run
    wal = Path(f"{store}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # a read-only look at most leaves an empty WAL


def test_an_unexpected_exception_is_one_line_and_a_log_file_with_the_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    contract_doubles.install(monkeypatch)

    def load_profile(name: str) -> None:
        raise KeyError("clock_hz")  # a bug, not a TinyhilError

    monkeypatch.setattr(sys.modules["tinyhil.hil.boards"], "load_profile", load_profile)
    monkeypatch.setenv("TINYHIL_LOG_DIR", str(tmp_path / "logs"))
    ran = tinyhil([*BASE, "--iterations", "1", "--runs-dir", str(tmp_path), "--run-id", "r"], capsys)
    line = one_error_line(ran)
    assert ran.status == 70
    assert line.startswith("internal error: KeyError: 'clock_hz' (a bug in tinyhil); the traceback is in ")
    log = Path(line.rsplit(" ", 1)[1])
    assert log.parent == tmp_path / "logs"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "KeyError: 'clock_hz'" in text and "search" in text
