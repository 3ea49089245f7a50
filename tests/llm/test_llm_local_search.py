"""A real search of 2 iterations with the real local model (Qwen2.5-Coder-0.5B through llama_cpp.server) on the
QEMU board: every proposal the model makes is either validated and measured, or rejected with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyhil.search import llm_local

READY, WHY = llm_local.is_set_up()

pytestmark = [pytest.mark.llm_local, pytest.mark.qemu, pytest.mark.slow,
              pytest.mark.skipif(not READY, reason=WHY or "local LLM set up")]


def test_a_two_iteration_search_with_the_local_model_measures_or_rejects_every_proposal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyhil.cli import cli
    from tinyhil.errors import SearchIncomplete
    from tinyhil.search.loop import EVALUATED
    from tinyhil.search.store import RunStore

    for variable in ("TINYHIL_LLM_BASE_URL", "TINYHIL_LLM_MODEL", "TINYHIL_LLM_API_KEY"):
        monkeypatch.delenv(variable, raising=False)  # the local model, not a configured endpoint
    result = CliRunner().invoke(cli, [
        "search", "--no-live", "--board", "qemu-m7", "--dataset", "digits", "--proposer", "llm", "--iterations", "2",
        "--proxy-epochs", "1", "--train-subset", "256", "--measure-inputs", "2", "--runs-dir", str(tmp_path),
        "--run-id", "local-llm"])
    # a search that stopped early or measured nothing ends in SearchIncomplete (exit 3) saying why
    incomplete = str(result.exception) if isinstance(result.exception, SearchIncomplete) else ""
    assert result.exit_code == 0 or incomplete, f"{result.output}\n{result.exception!r}"
    assert "proposer: llm" in result.output and "local model" in result.output

    with RunStore.open(tmp_path / "local-llm") as store:
        exchanges = store.llm_exchanges()
        candidates = store.candidates()
    accepted = [e for e in exchanges if not e.errors]
    rejected_replies = [e for e in exchanges if e.errors]
    llm_candidates = [c for c in candidates if c.proposer == "llm"]
    evaluated = [c for c in llm_candidates if c.status in EVALUATED]
    rejected = [c for c in llm_candidates if c.status == "rejected"]
    print(f"\nlocal model: {len(exchanges)} replies, {len(accepted)} valid proposals, "
          f"{len(rejected_replies)} rejected; evaluated {len(evaluated)}: "
          + ", ".join(f"#{c.id} {c.status}" for c in evaluated))
    for c in rejected:
        print(f"  rejected #{c.id} ({c.stage}): {c.reason}")

    # every valid reply became a candidate that went through training and the board
    assert len(evaluated) == len(accepted)
    # every invalid reply is on record with its reason (duplicates are skipped, not recorded as candidates)
    assert all(c.reason for c in rejected)
    assert all(e.errors for e in rejected_replies)
    duplicates = sum(1 for e in rejected_replies if all("duplicate" in error for error in e.errors))
    assert len([c for c in rejected if c.stage != "propose"]) == len(rejected_replies) - duplicates
    # the search reached its 2 evaluations, or stopped saying why
    assert len(evaluated) == 2 or "stopped early" in incomplete or "evaluated nothing" in incomplete
    measured = [c for c in evaluated if c.status == "measured"]
    for c in measured:
        assert c.provenance["kind"] == "emulator" and c.metrics["latency_unit"] == "instructions"
        assert c.metrics["bit_exact"]
