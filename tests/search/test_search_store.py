"""The SQLite run store: states, merges, exchanges, reopening."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyhil.errors import ConfigError
from tinyhil.search.store import LLMExchange, RunStore


def test_a_candidate_moves_through_its_states_and_merges_metrics(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", "run", {"seed": 3})
    cid = store.add_candidate(0, "evolution", {"stages": []}, "abc", metrics={"macs": 10})
    store.update_candidate(cid, status="trained", stage="train", metrics={"float_accuracy": 0.5},
                           artefacts={"checkpoint": "c.pt"}, timings={"train": 1.5})
    store.update_candidate(cid, status="measured", stage="measure", metrics={"peak_sram_bytes": 100},
                           provenance={"kind": "emulator", "board": "qemu-m7"}, timings={"measure": 2.0})
    store.close()

    reopened = RunStore.open(tmp_path / "run")
    candidate = reopened.get_candidate(str(cid))  # deploy passes the id as a string
    assert candidate.status == "measured" and candidate.finished
    assert candidate.metrics == {"macs": 10, "float_accuracy": 0.5, "peak_sram_bytes": 100}
    assert candidate.timings == {"train": 1.5, "measure": 2.0}
    assert candidate.provenance["kind"] == "emulator" and candidate.artefacts == {"checkpoint": "c.pt"}
    assert reopened.find_by_hash("abc").id == cid
    assert reopened.config() == {"seed": 3} and reopened.run_id() == "run"


def test_creating_a_second_run_in_the_same_folder_says_to_resume(tmp_path: Path) -> None:
    RunStore.create(tmp_path, "a", {}).close()
    with pytest.raises(ConfigError, match="--resume"):
        RunStore.create(tmp_path, "b", {})


def test_unknown_candidates_and_missing_stores_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no run store"):
        RunStore.open(tmp_path / "nowhere")
    store = RunStore.create(tmp_path, "a", {})
    with pytest.raises(ConfigError, match="not in"):
        store.get_candidate(42)
    with pytest.raises(ConfigError, match="not a number"):
        store.get_candidate("best")


def test_a_spec_hash_is_stored_once(tmp_path: Path) -> None:
    import sqlite3

    store = RunStore.create(tmp_path, "a", {})
    store.add_candidate(0, "random", {"x": 1}, "h1")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_candidate(1, "random", {"x": 1}, "h1")
    store.add_candidate(2, "llm", None, None, status="rejected", reason="not JSON")
    store.add_candidate(3, "llm", None, None, status="rejected", reason="not JSON")
    assert [c.status for c in store.candidates("rejected")] == ["rejected", "rejected"]


def test_llm_exchanges_round_trip(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path, "a", {})
    store.add_llm_exchange(LLMExchange(4, 1, "http://127.0.0.1:1/v1", "m", [{"role": "user", "content": "hi"}],
                                       "{}", ["stage 1: kernel 9 not in {3,5,7}"], 0.25))
    [exchange] = store.llm_exchanges()
    assert exchange.step == 4 and exchange.round == 1 and exchange.errors == ["stage 1: kernel 9 not in {3,5,7}"]
    assert exchange.request[0]["content"] == "hi"
