"""Hardware-grounded LLM feedback: the prompt carries each front member's measured per-layer latency and planned
memory and names the dominant layer; k specs per call; the LLM as the mutation / crossover operator; every
proposal's reasoning kept in the store. Against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinyhil.errors import ConfigError
from tinyhil.search.layers import describe_layers
from tinyhil.search.loop import EVALUATED
from tinyhil.search.proposers.llm import LLMProposer
from tinyhil.search.proposers.llm_endpoint import LLMEndpoint
from tinyhil.search.proposers.llm_reply import extract_reply

from .scripted_llm_server import ScriptedLLM, serve
from .search_doubles import build_toy_loop


def stages(*items: tuple[str, int, int]) -> dict:
    return {"stages": [{"op": o, "width": w, "kernel": k} for o, w, k in items]}


def reply(*specs: dict, reasoning: str = "scripted") -> str:
    if len(specs) == 1:
        return json.dumps({"reasoning": reasoning, "spec": specs[0]})
    return json.dumps({"reasoning": reasoning, "specs": list(specs)})


def user_prompts(script: ScriptedLLM) -> list[str]:
    return [next(m["content"] for m in r["messages"] if m["role"] == "user") for r in script.requests]


def test_the_layer_summary_names_the_slowest_layers_their_share_and_the_peak_memory_layer() -> None:
    layers = [{"index": 0, "op": "CONV_2D", "output_shape": [16, 16, 8], "macs": 100_000, "latency": 100, "live_bytes": 4096},
              {"index": 1, "op": "DEPTHWISE_CONV_2D", "output_shape": [16, 16, 32], "macs": 300_000, "latency": 600,
               "live_bytes": 20480},
              {"index": 2, "op": "FULLY_CONNECTED", "output_shape": [10], "macs": 1000, "latency": 300, "live_bytes": 1024}]
    text = describe_layers(layers, "instructions", top=2)
    assert text.startswith("slowest layers of 3: #1 DEPTHWISE_CONV_2D 16x16x32 (300.0 k MACs) 60 % of latency")
    assert "#2 FULLY_CONNECTED 10 (1.0 k MACs) 30 % of latency" in text and "#0" not in text.split(".")[0]
    assert "Latency is dominated by #1 DEPTHWISE_CONV_2D 16x16x32" in text
    assert "peak live activation memory 20.0 KiB at #1" in text
    assert describe_layers([], "instructions") == ""


def test_the_prompt_carries_the_front_members_per_layer_measurements(tmp_path: Path) -> None:
    script = ScriptedLLM([reply(stages(("conv", 16, 3))), reply(stages(("dwconv", 32, 5), ("conv", 8, 3))),
                          reply(stages(("conv", 24, 3)))])
    with serve(script) as base_url:
        loop = build_toy_loop(tmp_path / "run", LLMProposer(LLMEndpoint(base_url, "scripted")), iterations=3)
        loop.run()
    prompts = user_prompts(script)
    assert "No candidate has been measured yet" in prompts[0]
    assert "per layer: slowest layers of 2: #0 DEPTHWISE_CONV_2D 14x14x32" in prompts[2]
    assert "Latency is dominated by #0 DEPTHWISE_CONV_2D" in prompts[2] and "(emulator; live memory from" in prompts[2]
    assert "fix that bottleneck" in prompts[2]
    assert all(c.reasoning == "scripted" for c in loop.store.candidates(EVALUATED))


def test_k_specs_per_call_are_proposed_one_per_step_and_rechecked_when_their_turn_comes(tmp_path: Path) -> None:
    a, b, c = stages(("conv", 16, 3)), stages(("dwconv", 16, 3)), stages(("conv", 32, 5))
    script = ScriptedLLM([reply(a, b, a, reasoning="three at once"), reply(c, stages(("dwconv", 8, 3)), reasoning="again")])
    with serve(script) as base_url:
        proposer = LLMProposer(LLMEndpoint(base_url, "scripted"), specs_per_call=3)
        loop = build_toy_loop(tmp_path / "run", proposer, iterations=3)
        loop.run()
    assert len(script.requests) == 2  # three evaluations from two calls
    assert script.requests[0]["response_format"]["schema"]["properties"]["specs"]["minItems"] == 3
    assert '"specs": [<3 different architecture specs>]' in script.requests[0]["messages"][0]["content"]
    evaluated = loop.store.candidates(EVALUATED)
    assert [e.spec for e in evaluated] == [a, b, c]
    assert [e.reasoning for e in evaluated] == ["three at once", "three at once", "again"]
    assert any("duplicate of another spec in this reply" in error for e in loop.store.llm_exchanges() for error in e.errors)


def test_operator_mode_hands_the_llm_parents_from_the_measured_candidates(tmp_path: Path) -> None:
    script = ScriptedLLM([reply(stages(("conv", 16, 3))), reply(stages(("dwconv", 32, 5))),
                          reply(stages(("conv", 16, 5)), reasoning="child")], fallback=reply(stages(("conv", 48, 3))))
    with serve(script) as base_url:
        proposer = LLMProposer(LLMEndpoint(base_url, "scripted"), mode="operator")
        loop = build_toy_loop(tmp_path / "run", proposer, iterations=3)
        loop.run()
    prompts = user_prompts(script)
    assert "operator of an evolutionary search" not in prompts[1]  # one measured: proposes from scratch
    assert "operator of an evolutionary search" in prompts[2] and "parent 1: " in prompts[2]
    assert ("crossover operator" in prompts[2]) == ("parent 2: " in prompts[2])
    assert "per layer: slowest layers" in prompts[2]
    assert loop.store.candidates(EVALUATED)[-1].reasoning == "child"


def test_replies_and_options_are_validated() -> None:
    assert extract_reply('{"reasoning": "r", "specs": [{"a": 1}, 3, {"b": 2}]}') == ([{"a": 1}, {"b": 2}], "r")
    assert extract_reply('{"spec": {"a": 1}}') == ([{"a": 1}], "")
    with pytest.raises(ConfigError, match="specs per LLM call 0"):
        LLMProposer(LLMEndpoint("http://127.0.0.1:9/v1", "m"), specs_per_call=0, client=object())
    with pytest.raises(ConfigError, match="llm mode 'genetic'"):
        LLMProposer(LLMEndpoint("http://127.0.0.1:9/v1", "m"), mode="genetic", client=object())
