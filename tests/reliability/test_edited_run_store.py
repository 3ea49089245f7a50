"""A run store whose rows were edited or half-written (valid SQLite, wrong JSON inside): the stored configuration
a list or a key of the wrong type, a candidate's metrics or spec cut short. Resume, report and deploy each name the
row and the key and how to recover, and leave the store as it was; a deploy of an id the run does not hold makes no
deploy folder. Real commands over the contract doubles."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Callable

import pytest

from ..search import contract_doubles
from .cli_run import one_error_line, tinyhil

BASE = ["search", "--no-live", "--dataset", "digits", "--proxy-epochs", "1"]


def _sql(statement: str) -> Callable[[sqlite3.Connection], None]:
    return lambda db: db.execute(statement)


def _config_key(key: str, value: object) -> Callable[[sqlite3.Connection], None]:
    def edit(db: sqlite3.Connection) -> None:
        config = json.loads(db.execute("SELECT config FROM run").fetchone()[0])
        db.execute("UPDATE run SET config = ?", (json.dumps({**config, key: value}),))
    return edit


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    contract_doubles.install(monkeypatch)
    ran = tinyhil([*BASE, "--iterations", "1", "--runs-dir", str(tmp_path), "--run-id", "r"], capsys)
    assert ran.status == 0, ran.err
    return tmp_path / "r"


# which commands read what was edited: a search configuration key only a resume uses; the rest every reader
@pytest.mark.parametrize("edit, words, readers", [
    (_sql("UPDATE run SET config = '[1, 2]'"), "the run's configuration is a JSON list, not an object",
     ("search", "deploy")),
    (_config_key("board", 5), "the stored search configuration: key 'board' is 5; it must be a string", ("search",)),
    (_config_key("iterations", "many"), "key 'iterations' is 'many'; it must be a whole number", ("search",)),
    (_sql("UPDATE candidates SET metrics = '{\"acc'"), "candidate 1's metrics is not readable JSON",
     ("search", "report", "deploy")),
    (_sql("UPDATE candidates SET spec = '[1'"), "candidate 1's spec is not readable JSON", ("search", "report", "deploy")),
], ids=["config-list", "config-board-int", "config-iterations-str", "metrics-cut", "spec-cut"])
def test_an_edited_store_is_named_row_and_key_by_resume_and_report_and_left_as_it_was(
        edit: Callable[[sqlite3.Connection], None], words: str, readers: tuple[str, ...], run_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = run_dir / "store.sqlite"
    db = sqlite3.connect(store)
    edit(db)
    db.commit()
    db.close()
    before = store.read_bytes()
    commands = {"search": [*BASE, "--resume", str(run_dir), "--iterations", "2"], "report": ["report", str(run_dir)],
                "deploy": ["deploy", str(run_dir), "--candidate", "1", "--no-explain"]}
    for args in (commands[name] for name in readers):
        ran = tinyhil(args, capsys)
        line = one_error_line(ran)
        assert ran.status == 2, (args, line)
        assert f"run store {store}" in line and words in line, (args, line)
        assert "backup" in line, line
    assert store.read_bytes() == before
    assert not (run_dir / "deploy").exists()


@pytest.mark.parametrize("candidate, words", [
    ("99", "candidate 99 is not in {store} (it holds candidates 1 to 1); `tinyhil report {run}` lists them"),
    ("abc", "candidate id 'abc' is not a number"),
    ("", "candidate id '' is not a number"),
])
def test_deploying_an_id_the_run_does_not_hold_says_which_it_holds_and_makes_no_deploy_folder(
        candidate: str, words: str, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = tinyhil(["deploy", str(run_dir), "--candidate", candidate, "--no-explain"], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and words.format(store=run_dir / "store.sqlite", run=run_dir) in line
    assert "run the same command again" not in line  # rerunning cannot fix a mistyped id
    assert not (run_dir / "deploy").exists()
