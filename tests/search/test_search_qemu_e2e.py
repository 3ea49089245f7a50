"""A real search, end to end, on the QEMU board: real training (a few batches), int8 export, generated C,
firmware, measurement in the emulator. With `evolution`, and with `llm` against a scripted endpoint whose
replies include malformed JSON, unknown ops, out-of-range fields and over-budget nets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

for part in ("tinyhil.spec.space", "tinyhil.spec.cost", "tinyhil.ml.data", "tinyhil.ml.train", "tinyhil.ml.export", "tinyhil.hil.bench",
             "tinyhil.hil.boards"):
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


def _small_and_large_specs() -> tuple[dict, dict, int]:
    """A small spec, a larger one, and a MAC budget between them (analytic, on the digits input)."""
    import random

    from tinyhil.spec.cost import estimate
    from tinyhil.ml.data import load_dataset
    from tinyhil.spec.space import SearchSpace

    shape = load_dataset("digits").input_shape
    specs = sorted((SearchSpace().random_spec(random.Random(seed)) for seed in range(20)),
                   key=lambda spec: estimate(spec, shape, 10).macs)
    small, large = specs[0], specs[-1]
    small_macs, large_macs = estimate(small, shape, 10).macs, estimate(large, shape, 10).macs
    assert small_macs < large_macs
    return small.to_dict(), large.to_dict(), (small_macs + large_macs) // 2


def test_llm_search_rejects_bad_replies_with_reasons_and_measures_the_good_one(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    good, huge, budget = _small_and_large_specs()
    script = ScriptedLLM([
        "{this is not json",  # malformed JSON
        json.dumps({"spec": {**good, "stages": [{**good["stages"][0], "block": "attention"}]}}),  # unknown op
        json.dumps({"spec": {**good, "stem_kernel": 9}}),  # out of range
        json.dumps({"spec": huge}),  # over the MAC budget
    ], fallback=json.dumps({"reasoning": "scripted", "spec": good}))
    with serve(script) as base_url:
        monkeypatch.setenv("TINYHIL_LLM_BASE_URL", base_url)
        monkeypatch.setenv("TINYHIL_LLM_MODEL", "scripted")
        output = search(["--proposer", "llm", "--iterations", "1", "--budget-macs", str(budget), "--runs-dir", str(tmp_path),
                         "--run-id", "llm"])
    assert "proposer: llm" in output
    with RunStore.open(tmp_path / "llm") as store:
        rejected = store.candidates("rejected")
        reasons = " | ".join(c.reason for c in rejected)
        assert "not a JSON object" in reasons and "attention" in reasons and "9" in reasons
        assert "exceeds the macs budget" in reasons
        assert len(store.candidates(("measured", "failed", "infeasible"))) == 1
        assert store.llm_exchanges()
