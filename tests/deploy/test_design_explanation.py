"""The paper's explainability, grounded: the LLM explains a deployed model's design with its measured per-layer
table, MACs, SRAM plan and saliency summary in the prompt; the report shows the text as the model's; a run
without an LLM says so instead of inventing text. Against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tinyhil.cli import cli
from tinyhil.deploy.pipeline import DeployRecord
from tinyhil.explain.design import explain_design
from tinyhil.errors import LLMError
from tinyhil.search.store import RunStore

from ..search.scripted_llm_server import ScriptedLLM, serve
from .test_report_from_store import make_run

LAYERS = [{"index": 0, "op": "CONV_2D", "macs": 10, "latency": 1_500_000},
          {"index": 1, "op": "DEPTHWISE_CONV_2D", "macs": 5, "latency": 900_000},
          {"index": 2, "op": "FULLY_CONNECTED", "macs": 1, "latency": 99_960}]
TEXT = "Layer #0 dominates the latency because its 3x3 stem runs at full resolution.\n\nThe depthwise stage is cheap."


def _run_with(tmp_path, llm: bool):
    make_run(tmp_path, layer_latency=LAYERS)
    with RunStore.open(tmp_path) as store:
        store.update_info(proposer="llm" if llm else "evolution", llm="scripted at 127.0.0.1" if llm else None)
        store.update_candidate(2, metrics={"accuracy_split": "validation"})
        store._db.execute("UPDATE candidates SET reasoning = 'wide early stages for texture' WHERE id = 2")
    record = DeployRecord.load(tmp_path / "deploy" / "2" / "metrics.json")
    record.stages["explain"] = {"faithfulness": {"gradcam": {"deletion_auc": 0.21, "insertion_auc": 0.64}},
                                "float_int8_occlusion_correlation": 0.93}
    return record


def _clear_endpoints(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("TINYHIL_LLM_BASE_URL", "TINYHIL_LLM_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.config/tinyhil/llm.toml
    monkeypatch.setenv("TINYHIL_CACHE", str(tmp_path / "no-cache"))  # the local model is not set up there


def test_a_run_without_an_llm_says_so_and_the_report_invents_nothing(tmp_path, monkeypatch) -> None:
    _clear_endpoints(monkeypatch, tmp_path)
    record = _run_with(tmp_path, llm=False)
    design = explain_design(record, tmp_path, "auto")
    assert design["status"] == "not written" and "ran without an LLM (proposer evolution)" in design["note"]
    with pytest.raises(LLMError, match="no endpoint configured and the local model is not set up"):
        explain_design(record, tmp_path, "llm")
    record.stages["design"] = design
    record.save()
    assert CliRunner().invoke(cli, ["report", str(tmp_path)]).exit_code == 0
    html = (tmp_path / "report.html").read_text()
    assert "No design explanation: the search ran without an LLM" in html and "The model's text" not in html


def test_the_llm_explains_the_design_from_the_measurements_and_the_report_labels_it(tmp_path, monkeypatch) -> None:
    _clear_endpoints(monkeypatch, tmp_path)
    record = _run_with(tmp_path, llm=True)
    script = ScriptedLLM([TEXT])
    with serve(script) as base_url:
        monkeypatch.setenv("TINYHIL_LLM_BASE_URL", base_url)
        monkeypatch.setenv("TINYHIL_LLM_MODEL", "scripted-explainer")
        design = explain_design(record, tmp_path, "auto")
    assert design["status"] == "written" and design["text"] == TEXT and design["model"] == "scripted-explainer"
    prompt = script.requests[0]["messages"][1]["content"]
    assert "#0 CONV_2D 14x14x16, 10 MACs, 19.5 KiB, 1.50 M" in prompt  # the measured per-layer table
    assert "arena 29.3 KiB" in prompt and "MACs per inference: 16" in prompt  # SRAM plan, analytic MACs
    assert "gradcam: deletion AUC 0.210, insertion AUC 0.640" in prompt and "correlate at 0.93" in prompt
    assert "wide early stages for texture" in prompt  # what the proposer said
    assert "Validation accuracy in the search" in prompt
    assert "79.5" not in prompt and "test accuracy" not in prompt.lower()  # the test split never reaches a prompt
    record.stages["design"] = design
    record.save()
    assert CliRunner().invoke(cli, ["report", str(tmp_path)]).exit_code == 0
    html = (tmp_path / "report.html").read_text()
    assert "Layer #0 dominates the latency" in html and "The model's text: written by the LLM scripted-explainer" in html
    # placed with the measurements it refers to: right after the per-layer table
    assert html.index("latency (instructions)") < html.index("Layer #0 dominates")
