"""The search selects on a validation part held out of the training split; the test split is for deployed
models. Old stores, selected on test accuracy, still load and say so."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyhil.cli import cli
from tinyhil.search.store import RunStore
from tinyhil.search.summary import accuracy_caption, front_rows

from . import contract_doubles


def test_the_validation_part_is_stratified_seeded_disjoint_from_training_and_never_the_test_split() -> None:
    from tinyhil.ml.data import DataError, load_dataset

    digits = load_dataset("digits")
    split = digits.hold_out_validation(0.2, seed=3)
    assert split.eval_split == "validation" and digits.eval_split == "test"
    assert len(split.train_y) + len(split.test_y) == len(digits.train_y)
    # every held-out image comes from the training split and is not trained on
    train_rows = {bytes(x.numpy().tobytes()) for x in split.train_x}
    assert not any(bytes(x.numpy().tobytes()) in train_rows for x in split.test_x)
    test_rows = {bytes(x.numpy().tobytes()) for x in digits.test_x}
    assert not any(bytes(x.numpy().tobytes()) in test_rows for x in split.test_x)
    # stratified: each class keeps its share within one image
    whole, held = Counter(digits.train_y.tolist()), Counter(split.test_y.tolist())
    assert all(abs(held[c] - 0.2 * whole[c]) <= 1 for c in whole)
    # same seed, same part; another seed, another part
    assert digits.hold_out_validation(0.2, seed=3).test_y.tolist() == split.test_y.tolist()
    assert digits.hold_out_validation(0.2, seed=4).test_y.tolist() != split.test_y.tolist()
    assert "validation: 288 training images held out" in split.provenance
    with pytest.raises(DataError, match="between 0 and 1"):
        digits.hold_out_validation(1.0, seed=0)


def test_a_search_stores_and_writes_validation_accuracy_with_its_split(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    contract_doubles.install(monkeypatch)
    result = CliRunner().invoke(cli, ["search", "--no-live", "--iterations", "3", "--dataset", "digits", "--seed", "5",
                                      "--validation-fraction", "0.25", "--runs-dir", str(tmp_path), "--run-id", "r"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert contract_doubles.CALLS["validation"][0] == (0.25, 5)  # the run's seed picks the validation part
    assert "validation split (held out of training" in result.output
    with RunStore.open(tmp_path / "r") as store:
        measured = store.candidates("measured")
        assert measured and all(c.metrics["accuracy_split"] == "validation" for c in measured)
        assert all("validation split" in c.metrics["accuracy_kind"] for c in measured)
        assert store.info()["accuracy_split"] == "validation" and not store.selected_on_test_split()
    with (tmp_path / "r" / "front.csv").open() as handle:
        assert {row["accuracy_split"] for row in csv.DictReader(handle)} == {"validation"}
    front = json.loads((tmp_path / "r" / "front.json").read_text())
    assert "validation" in front["units"]["accuracy"]


def _old_store(run_dir: Path) -> None:
    """A store as the search wrote it before the validation split: no accuracy_split, no validation_fraction."""
    with RunStore.create(run_dir, "old", {"board": "qemu-m7", "dataset": "digits", "iterations": 1, "seed": 0}) as store:
        cid = store.add_candidate(0, "evolution", {"stages": []}, "h" * 64)
        store.update_candidate(cid, status="measured", metrics={"accuracy": 0.9, "accuracy_kind": "int8, reference interpreter",
                                                                "peak_sram_bytes": 1000, "macs": 10})


def test_an_old_store_selected_on_test_accuracy_loads_says_so_and_is_not_resumed(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _old_store(tmp_path / "old")
    with RunStore.open(tmp_path / "old") as store:
        candidates = store.candidates()
        assert store.selected_on_test_split()
        assert candidates[0].accuracy_split == "test"
        assert front_rows(candidates)[0]["accuracy_split"] == "test"
        assert "TEST split (this run predates the validation split" in accuracy_caption(candidates)
    contract_doubles.install(monkeypatch)
    result = CliRunner().invoke(cli, ["search", "--no-live", "--resume", str(tmp_path / "old")])
    assert result.exit_code != 0
    assert "made before the search had a validation split" in str(result.exception)
