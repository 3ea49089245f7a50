"""The llm proposer against a scripted OpenAI-compatible server on 127.0.0.1: bad replies are rejected with
their reasons recorded, repaired within the bound, and the search goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinyhil.search.proposers.llm import LLMProposer
from tinyhil.search.proposers.llm_endpoint import LLMEndpoint, resolve_endpoint
from tinyhil.search.proposers.llm_reply import ReplyError, extract_spec
from tinyhil.search.loop import EVALUATED

from .scripted_llm_server import ScriptedLLM, serve
from .search_doubles import ToySpec, build_toy_loop, toy_estimate

SECRET = "sk-test-never-stored-0123456789"


def spec(*stages: tuple[str, int, int]) -> str:
    return json.dumps({"reasoning": "scripted", "spec": {"stages": [{"op": o, "width": w, "kernel": k} for o, w, k in stages]}})


SCRIPT = [
    '```json\n{"reasoning": "x", "spec": {"stages": [ {"op": "conv", }\n```',  # step 0 round 0: malformed JSON
    spec(("attention", 16, 3)),  # round 1: unknown op
    spec(("conv", 16, 9)),  # round 2: out of range -> step 0 gives up
    spec(("conv", 64, 7), ("conv", 64, 7)),  # step 1 round 0: over the MAC budget
    "Sure! Here it is:\n```json\n" + spec(("dwconv", 16, 3)) + "\n```",  # round 1: valid, in fences
    spec(("dwconv", 16, 3)),  # step 2 round 0: duplicate
    spec(("conv", 16, 3)),  # round 1: valid
    spec(("dwconv", 32, 5), ("conv", 16, 3)),  # step 3: valid
]


def test_bad_llm_replies_are_rejected_with_reasons_and_the_search_continues(tmp_path: Path) -> None:
    script = ScriptedLLM(SCRIPT)
    with serve(script) as base_url:
        proposer = LLMProposer(LLMEndpoint(base_url, "scripted-model", SECRET, source="test"), repair_rounds=2)
        loop = build_toy_loop(tmp_path / "run", proposer, iterations=3)
        outcome = loop.run()

    assert outcome.evaluated == 3 and not outcome.stopped_reason
    candidates = loop.store.candidates()
    rejected = [c for c in candidates if c.status == "rejected"]
    reasons = "\n".join(f"{c.stage}: {c.reason}" for c in rejected)
    assert "not a JSON object" in reasons or "not valid JSON" in reasons
    assert "op 'attention' not in" in reasons
    assert "kernel 9 not in" in reasons
    assert "exceeds the macs budget" in reasons
    assert "no acceptable spec after 2 repair rounds" in reasons
    evaluated = [c for c in candidates if c.status in EVALUATED]
    assert [c.spec["stages"][0]["op"] for c in evaluated] == ["dwconv", "conv", "dwconv"]

    exchanges = loop.store.llm_exchanges()
    assert len(exchanges) == len(SCRIPT)
    assert [e.round for e in exchanges] == [0, 1, 2, 0, 1, 0, 1, 0]
    assert any("duplicate" in error for e in exchanges for error in e.errors)
    # the repair round sends the problems back to the model
    repair_request = script.requests[1]["messages"]
    assert repair_request[-2]["role"] == "assistant" and "rejected" in repair_request[-1]["content"]
    # a duplicate is answered with what to change, and each repair round samples hotter
    assert "proposed already" in script.requests[6]["messages"][-1]["content"]
    assert "proposed already" not in repair_request[-1]["content"]
    temperatures = [r["temperature"] for r in script.requests[:3]]
    assert temperatures == sorted(temperatures) and temperatures[0] < temperatures[2]
    assert script.requests[5]["temperature"] < script.requests[6]["temperature"]
    # the prompt carries the schema, the budgets, the board and the history with failure reasons
    last_prompt = script.requests[-1]["messages"]
    assert '"enum":["conv","dwconv"]' in last_prompt[0]["content"]
    assert "macs <= 2000000" in last_prompt[1]["content"] and "toy-emulator" in last_prompt[1]["content"]
    assert "kernel 9 not in" in last_prompt[1]["content"]
    assert script.requests[0]["response_format"]["type"] == "json_object"
    # the key went to the server and nowhere into the store
    assert script.headers[0]["authorization"] == f"Bearer {SECRET}"
    loop.store.close()
    for path in (p for p in (tmp_path / "run").rglob("*") if p.is_file()):
        assert SECRET.encode() not in path.read_bytes()


def test_an_endpoint_without_response_format_gets_plain_json_requests(tmp_path: Path) -> None:
    script = ScriptedLLM([], fallback="```json\n" + spec(("conv", 8, 3)) + "\n```", reject_response_format=True)
    with serve(script) as base_url:
        proposer = LLMProposer(LLMEndpoint(base_url, "m", "k", source="test"))
        loop = build_toy_loop(tmp_path / "run", proposer, iterations=1)
        assert loop.run().evaluated == 1
    assert "response_format" in script.requests[0] and "response_format" not in script.requests[-1]


def test_an_unreachable_endpoint_is_recorded_and_stops_after_bounded_failures(tmp_path: Path) -> None:
    proposer = LLMProposer(LLMEndpoint("http://127.0.0.1:9/v1", "m", "k", source="test"), timeout_s=2)
    loop = build_toy_loop(tmp_path / "run", proposer, iterations=2)
    loop.settings.max_proposal_failures = 2
    outcome = loop.run()
    assert outcome.evaluated == 0 and "consecutive proposal steps" in outcome.stopped_reason
    assert all("llm endpoint" in c.reason for c in loop.store.candidates("rejected"))


def test_reply_extraction_reads_fences_wrappers_and_prose() -> None:
    assert extract_spec('{"spec": {"a": 1}}') == {"a": 1}
    assert extract_spec('here:\n```json\n{"a": 2}\n```') == {"a": 2}
    assert extract_spec('I propose {"a": 3} as it is small') == {"a": 3}
    with pytest.raises(ReplyError, match="not valid JSON"):
        extract_spec("{nope")
    with pytest.raises(ReplyError, match="list"):
        extract_spec("[1, 2]")


def test_endpoint_resolution_prefers_tinyhil_variables_then_openai_then_the_config_file(tmp_path: Path) -> None:
    env = {"TINYHIL_LLM_BASE_URL": "http://a/v1/", "TINYHIL_LLM_MODEL": "qwen", "TINYHIL_LLM_API_KEY": "k1",
           "OPENAI_BASE_URL": "http://b/v1", "OPENAI_MODEL": "gpt"}
    endpoint = resolve_endpoint(environ=env, default_config=tmp_path / "none.toml")
    assert (endpoint.base_url, endpoint.model, endpoint.api_key) == ("http://a/v1", "qwen", "k1")
    assert "k1" not in repr(endpoint)
    env = {"OPENAI_BASE_URL": "http://b/v1", "OPENAI_MODEL": "gpt", "OPENAI_API_KEY": "k2"}
    assert resolve_endpoint(environ=env, default_config=tmp_path / "none.toml").model == "gpt"
    config = tmp_path / "llm.toml"
    config.write_text('base_url = "http://c/v1"\nmodel = "local"\napi_key_env = "MY_KEY"\n')
    endpoint = resolve_endpoint(environ={"MY_KEY": "k3"}, default_config=config)
    assert (endpoint.base_url, endpoint.api_key, endpoint.source) == ("http://c/v1", "k3", str(config))
    assert resolve_endpoint(environ={}, default_config=tmp_path / "none.toml") is None


OVER_BUDGET = spec(("conv", 64, 7), ("conv", 64, 7))  # 19.7 M MACs against the toy's 2 M budget


def test_a_model_that_resends_an_over_budget_spec_is_told_why_and_its_spec_is_repaired_into_the_budget(
        tmp_path: Path) -> None:
    script = ScriptedLLM([], fallback=OVER_BUDGET)
    with serve(script) as base_url:
        loop = build_toy_loop(tmp_path / "run", LLMProposer(LLMEndpoint(base_url, "m", "k", source="test"),
                                                            repair_rounds=2), iterations=2)
        outcome = loop.run()

    assert outcome.evaluated == 2 and not outcome.stopped_reason
    evaluated = loop.store.candidates(EVALUATED)
    assert {c.proposer for c in evaluated} == {"llm+repair"}
    first = evaluated[0]
    assert toy_estimate(ToySpec.from_dict(first.spec)).macs <= 2_000_000
    assert "model's spec" in first.reasoning and "exceeds the macs budget" in first.reasoning
    # a resent spec is a duplicate whose problem repeats why the first copy was rejected
    resend = script.requests[2]["messages"][-1]["content"]
    assert "duplicate of an earlier candidate" in resend and "rejected: macs" in resend and "proposed already" in resend


def test_without_budget_repair_a_model_that_only_resends_an_over_budget_spec_loses_the_step(tmp_path: Path) -> None:
    script = ScriptedLLM([], fallback=OVER_BUDGET)
    with serve(script) as base_url:
        proposer = LLMProposer(LLMEndpoint(base_url, "m", "k", source="test"), repair_rounds=1, budget_repair=False)
        loop = build_toy_loop(tmp_path / "run", proposer, iterations=1)
        loop.settings.max_proposal_failures = 1
        outcome = loop.run()
    assert outcome.evaluated == 0
    assert any("no acceptable spec after 1 repair rounds" in c.reason for c in loop.store.candidates("rejected"))


def _toy_context(tmp_path: Path, history: int):
    """A proposal context whose history holds `history` rejected candidates (long reasons, as budget problems are)."""
    from tinyhil.search.proposers.base import ProposalContext
    from tinyhil.search.store import Candidate
    from .search_doubles import BOARD, TASK, ToySpace

    loop = build_toy_loop(tmp_path / "run", None, iterations=1)
    past = [Candidate(i, i, "llm", {"stages": [{"op": "conv", "width": 64, "kernel": 7}] * 4}, f"h{i}", "rejected",
                      stage="screen (over_budget, llm round 0)", reason="macs 19.67 M MACs (analytic) exceeds the macs "
                      "budget 2.00 M MACs") for i in range(1, history + 1)]
    return ProposalContext(step=history + 1, space=ToySpace(), history=past, front=[], budgets=loop.budgets.as_dict(),
                           board=BOARD, task=TASK, check=loop.screener.check,
                           record_rejection=lambda result, by: None, record_exchange=lambda exchange: None)


def test_the_prompt_keeps_within_its_character_budget_by_dropping_the_oldest_history(tmp_path: Path) -> None:
    context = _toy_context(tmp_path, history=30)
    proposer = LLMProposer(LLMEndpoint("http://127.0.0.1:9/v1", "m"), client=object(), prompt_chars=4000)
    system, user = proposer.messages(context)
    assert len(system["content"]) + len(user["content"]) <= 4000
    assert "#30 rejected" in user["content"] and "#1 rejected" not in user["content"]
    assert "older ones omitted" in user["content"]
    # specs are written compactly (no spaces after the separators)
    assert '{"kernel":7,"op":"conv","width":64}' in user["content"]
    roomy = LLMProposer(LLMEndpoint("http://127.0.0.1:9/v1", "m"), client=object(), prompt_chars=10**6)
    assert "#1 rejected" in roomy.messages(context)[1]["content"]


def test_a_request_over_the_context_window_is_asked_again_with_half_the_history_keeping_the_schema(
        tmp_path: Path) -> None:
    context = _toy_context(tmp_path, history=30)
    roomy = LLMProposer(LLMEndpoint("http://127.0.0.1:9/v1", "m"), client=object(), prompt_chars=10**6)
    full = sum(len(m["content"]) for m in roomy.messages(context))
    script = ScriptedLLM([], fallback=spec(("dwconv", 24, 5)), context_chars=full - 1)
    with serve(script) as base_url:
        proposer = LLMProposer(LLMEndpoint(base_url, "m", "k", source="test"), prompt_chars=10**6)
        result = proposer.propose(context, __import__("random").Random(0))
    assert result.ok and proposer.schema_constrained
    assert len(script.requests) == 2 and all("response_format" in r for r in script.requests)
    assert "#1 rejected" in script.requests[0]["messages"][1]["content"]
    assert "#1 rejected" not in script.requests[1]["messages"][1]["content"]
