"""`tinyhil search --space paper` end to end on the offline dataset: a known 160-px architecture of the paper's
space given with --seed-specs is proxy-trained, exported, built and measured bit-exact on QEMU, and recorded as
the seed it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyhil.cli import cli
from tinyhil.search.store import RunStore

from tests.models.test_paper_space_on_qemu import SPEC

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def test_a_paper_space_search_measures_its_seed_on_the_emulator(tmp_path: Path) -> None:
    seeds = tmp_path / "seed.json"
    seeds.write_text(json.dumps(SPEC))
    result = CliRunner().invoke(cli, [
        "search", "--space", "paper", "--seed-specs", str(seeds), "--board", "qemu-m7", "--dataset", "digits",
        "--proposer", "evolution", "--iterations", "1", "--fidelity", "single", "--proxy-epochs", "1",
        "--train-subset", "64", "--measure-inputs", "1", "--budget-sram", "1MiB", "--no-live",
        "--runs-dir", str(tmp_path), "--run-id", "paper"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with RunStore.open(tmp_path / "paper") as store:
        assert store.config()["space"] == "paper"
        measured = store.candidates("measured")
        assert [c.proposer for c in measured] == ["seed"], [(c.status, c.reason) for c in store.candidates()]
        metrics = measured[0].metrics
        assert metrics["bit_exact"] and metrics["latency_unit"] == "instructions"
        assert measured[0].spec["resolution"] == 160 and measured[0].spec["stem_channels"] == 0
