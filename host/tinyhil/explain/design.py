"""The paper's explainability module, grounded: for a deployed model, the LLM explains its design (kernel sizes,
expansion, activation, squeeze-excitation, where it downsamples) with tinyhil's measurements in context: the
measured per-layer latency, the analytic MACs, the memory planner's SRAM plan, the saliency summary and what the
proposer said when it proposed the spec. The text is the model's, stored and shown as such; tinyhil writes none
itself. Test-split accuracy is never put in the prompt (the search never sees it); the validation accuracy the
search selected on is.

Which LLM: `auto` asks the one the search used (its configured endpoint, or the local model when it proposed
with it) and says so when the search ran without one; `llm` resolves an endpoint as the search would (the
configured one, else the local model), and fails when there is none; `off` skips the stage.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import jinja2

from ..errors import LLMError
from ..paths import TEMPLATE_DIR
from ..units import format_bytes, format_count

log = logging.getLogger(__name__)

MODES = ("auto", "llm", "off")
PROMPT_DIR = TEMPLATE_DIR / "prompts"
MAX_TOKENS = 600


def design_context(record: Any, candidate: Any) -> dict[str, Any]:
    """What the LLM is shown, from a deploy record (stages) and the search's stored candidate."""
    stages = record.stages
    measured = stages.get("measure", {}).get("measurement", {})
    codegen = stages.get("codegen", {})
    live = codegen.get("live_bytes_per_op", [])
    latency = {int(row["index"]): int(row["latency"]) for row in measured.get("layer_latency", []) or []}
    layers = []
    for i, layer in enumerate(codegen.get("layers", [])):
        shape = layer.get("output_shape") or []
        layers.append({"index": i, "op": layer.get("opcode", "?"), "output": "x".join(str(d) for d in shape[1:]),
                       "macs": int(layer.get("macs", 0) or 0), "live_bytes": live[i] if i < len(live) else None,
                       "latency": latency.get(i)})
    explain = stages.get("explain", {})
    metrics = getattr(candidate, "metrics", {}) or {}
    return {
        "spec": record.spec, "reasoning": getattr(candidate, "reasoning", "") or "",
        "validation_accuracy": metrics.get("accuracy") if metrics.get("accuracy_split") == "validation" else None,
        "macs": sum(layer["macs"] for layer in layers), "layers": layers,
        "arena_bytes": codegen.get("arena_bytes"), "peak_live_bytes": max(live, default=None),
        "latency": measured.get("latency_median"), "latency_unit": measured.get("latency_unit", "?"),
        "peak_sram_bytes": measured.get("peak_sram_bytes"), "flash_bytes": measured.get("flash_bytes"),
        "where": " ".join(str(measured.get("provenance", {}).get(k, "")) for k in ("kind", "board")).strip() or "measured",
        "faithfulness": explain.get("faithfulness", {}),
        "float_int8_correlation": explain.get("float_int8_occlusion_correlation"),
    }


def messages(context: dict[str, Any]) -> list[dict[str, str]]:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(PROMPT_DIR), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    env.filters["count"] = format_count
    env.filters["bytes"] = lambda v: "-" if v is None else format_bytes(v)
    user = env.get_template("explain_design.j2").render(c=context, spec_json=json.dumps(context["spec"]))
    return [{"role": "system", "content": "You are an embedded machine-learning engineer. You explain, in plain prose, "
                                          "why a neural network was designed the way it was, using only the facts given."},
            {"role": "user", "content": user}]


def ask(endpoint: Any, prompt: list[dict[str, str]], client: Any = None, timeout_s: float = 300.0) -> str:
    """One chat completion, the reply's text."""
    from openai import APIConnectionError, APIStatusError, APITimeoutError, OpenAI

    client = client or OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=timeout_s, max_retries=1)
    try:
        response = client.chat.completions.create(model=endpoint.model, messages=prompt, temperature=0.3, seed=0,
                                                  max_tokens=MAX_TOKENS)
    except (APIConnectionError, APITimeoutError, APIStatusError) as exc:
        raise LLMError(f"design explanation: the LLM endpoint {endpoint.base_url} failed ({exc}); rerun the deploy "
                       "with the endpoint up, or --design-explanation off") from None
    text = (response.choices[0].message.content or "").strip() if response.choices else ""
    if not text:
        raise LLMError(f"design explanation: {endpoint.model} at {endpoint.base_url} answered with no text")
    return text


def not_written(note: str) -> dict[str, Any]:
    return {"status": "not written", "note": note}


def explain_design(record: Any, run_dir: Path, mode: str = "auto", client: Any = None) -> dict[str, Any]:
    """The deploy stage: ask the LLM for the design explanation, or say why there is none."""
    from ..search.session import SearchConfig, llm_endpoint
    from ..search.store import RunStore

    if mode not in MODES:
        raise LLMError(f"design explanation mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "off":
        return not_written("turned off (--design-explanation off)")
    with RunStore.open(run_dir) as store:
        config = SearchConfig.from_dict(store.config())
        info = store.info()
        candidate = store.get_candidate(record.candidate_id)
    if mode == "auto" and not info.get("llm"):
        return not_written(f"the search ran without an LLM (proposer {info.get('proposer', '?')}), so no model "
                           "explained this design and tinyhil does not write one itself; deploy with "
                           "--design-explanation llm and an endpoint (or `tinyhil llm setup`) to ask one")
    context = design_context(record, candidate)
    prompt = messages(context)
    with llm_endpoint(config) as endpoint:
        if endpoint is None:
            if mode == "llm":
                raise LLMError("--design-explanation llm: no endpoint configured and the local model is not set up; "
                               "set TINYHIL_LLM_BASE_URL and TINYHIL_LLM_MODEL or run `tinyhil llm setup`")
            return not_written("no LLM endpoint is configured now and the local model is not set up, so no model "
                               "explained this design (tinyhil does not write one itself)")
        started = time.monotonic()
        text = ask(endpoint, prompt, client)
        seconds = time.monotonic() - started
    log.info("design explanation: %d characters from %s in %.1f s", len(text), endpoint.model, seconds)
    return {"status": "written", "text": text, "model": endpoint.model, "endpoint": endpoint.base_url,
            "source": endpoint.source, "seconds": round(seconds, 1), "prompt": prompt,
            "label": f"written by the LLM {endpoint.model}, from the measurements shown with it; not checked by tinyhil"}
