"""A real search, end to end, on the QEMU board: real training (a few batches), int8 export, generated C,
firmware, measurement in the emulator. With `evolution`, and with `llm` against a scripted endpoint whose
replies include malformed JSON, unknown ops, out-of-range fields and over-budget nets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

for part in ("tinyhil.space", "tinyhil.cost", "tinyhil.data", "tinyhil.train", "tinyhil.export", "tinyhil.bench",
             "tinyhil.boards"):
    pytest.importorskip(part, reason=f"{part} (another part of tinyhil) is not in this tree yet")

from tinyhil.cli import cli  # noqa: E402
from tinyhil.search.store import RunStore  # noqa: E402

from .scripted_llm_server import ScriptedLLM, serve  # noqa: E402

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

# tiny proxy training: the point is the loop through the real stages, not the accuracy
COMMON = ["--board", "qemu-m7", "--dataset", "digits", "--proxy-epochs", "1", "--train-subset", "256",
          "--measure-inputs", "2", "--no-live"]


def search(args: list[str]) -> str:
    result = CliRunner().invoke(cli, ["search", *COMMON, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_evolution_search_on_the_emulator_prints_a_measured_front(tmp_path: Path) -> None:
    output = search(["--proposer", "evolution", "--iterations", "2", "--runs-dir", str(tmp_path), "--run-id", "evo"])
    assert "measured Pareto front" in output and "emulator" in output and "instructions" in output
    front = json.loads((tmp_path / "evo" / "front.json").read_text())
    with RunStore.open(tmp_path / "evo") as store:
        evaluated = store.candidates(("measured", "failed", "infeasible"))
        assert len(evaluated) == 2
        measured = store.candidates("measured")
        assert measured, [f"{c.stage}: {c.reason}" for c in evaluated]
        for c in measured:
            assert c.provenance["kind"] == "emulator" and c.metrics["latency_unit"] == "instructions"
            assert c.metrics["peak_sram_bytes"] > 0 and c.metrics["flash_bytes"] > 0 and c.metrics["bit_exact"]
            assert Path(c.artefacts["tflite"]).is_file()
    assert front["front"]


def _valid_spec_from_the_space() -> dict:
    import random

    from tinyhil.space import SearchSpace

    return SearchSpace().random_spec(random.Random(1)).to_dict()


def test_llm_search_rejects_bad_replies_with_reasons_and_measures_the_good_one(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    good = _valid_spec_from_the_space()
    huge = json.loads(json.dumps(good))
    script = ScriptedLLM([
        "{this is not json",
        json.dumps({"spec": {**good, "stages": "not-a-list"}}),
        json.dumps({"spec": {**good, "unknown_field": 3}}),
        json.dumps({"spec": huge}),
    ], fallback=json.dumps({"reasoning": "scripted", "spec": good}))
    with serve(script) as base_url:
        monkeypatch.setenv("TINYHIL_LLM_BASE_URL", base_url)
        monkeypatch.setenv("TINYHIL_LLM_MODEL", "scripted")
        output = search(["--proposer", "llm", "--iterations", "1", "--budget-macs", "100M", "--runs-dir", str(tmp_path),
                         "--run-id", "llm"])
    assert "proposer: llm" in output
    with RunStore.open(tmp_path / "llm") as store:
        rejected = store.candidates("rejected")
        assert rejected and all(c.reason for c in rejected)
        assert len(store.candidates(("measured", "failed", "infeasible"))) == 1
        assert store.llm_exchanges()
