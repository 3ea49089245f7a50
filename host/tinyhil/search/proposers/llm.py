"""The `llm` proposer: asks an OpenAI-compatible endpoint for a spec.

The prompt (jinja2 templates in tinyhil/templates/prompts, StrictUndefined) holds the space's JSON schema,
the budgets, the board, the history and the front. The reply is parsed as JSON, validated against the
space and the analytic cost budget; the problems go back to the model in at most `repair_rounds` repair
rounds. Every exchange is recorded in the run store (without the API key). Nothing the model writes is run.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import jinja2

from ...units import format_count
from ..store import Candidate, LLMExchange
from .base import CheckResult, ProposalContext, ProposalError
from .llm_endpoint import LLMEndpoint
from .llm_reply import ReplyError, extract_spec

log = logging.getLogger(__name__)

PROMPT_DIR = Path(__file__).resolve().parents[2] / "templates" / "prompts"
REPAIR_TEMPERATURE_STEP = 0.3
MAX_TEMPERATURE = 1.3


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(PROMPT_DIR), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def describe_metrics(candidate: Candidate) -> str:
    """One line of a candidate's numbers, each with its unit and provenance."""
    m, parts = candidate.metrics, []
    if m.get("accuracy") is not None:
        parts.append(f"accuracy {m['accuracy']:.4f} ({m.get('accuracy_kind', '?')})")
    if m.get("macs") is not None:
        parts.append(f"MACs {format_count(m['macs'])} (analytic)")
    where = candidate.provenance.get("kind", "measured")
    if m.get("peak_sram_bytes") is not None:
        parts.append(f"peak SRAM {m['peak_sram_bytes']} bytes ({where})")
    if m.get("flash_bytes") is not None:
        parts.append(f"flash {m['flash_bytes']} bytes ({where})")
    if m.get("latency") is not None:
        parts.append(f"latency {m['latency']} {m.get('latency_unit', '?')} ({where})")
    return ", ".join(parts) or "no metrics"


class LLMProposer:
    name = "llm"

    def __init__(self, endpoint: LLMEndpoint, repair_rounds: int = 2, history_limit: int = 30,
                 temperature: float = 0.7, timeout_s: float = 300.0, client: Any = None,
                 schema_constrained: bool = True):
        self.endpoint = endpoint
        self.repair_rounds = repair_rounds
        self.history_limit = history_limit
        self.temperature = temperature
        self._env = _environment()
        # ask for JSON constrained by the spec's schema; dropped for good once the endpoint rejects response_format
        self.schema_constrained = schema_constrained
        if client is None:
            from openai import OpenAI

            client = OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=timeout_s, max_retries=1)
        self._client = client

    def messages(self, context: ProposalContext) -> list[dict[str, str]]:
        schema = context.space.json_schema()
        history = context.history[-self.history_limit:]
        system = self._env.get_template("system.j2").render(schema_json=json.dumps(schema))
        user = self._env.get_template("propose.j2").render(
            task=context.task, board=context.board, budgets=context.budgets, front=context.front, history=history,
            omitted=len(context.history) - len(history), describe=describe_metrics)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def propose(self, context: ProposalContext, rng: random.Random) -> CheckResult:
        messages = self.messages(context)
        schema = context.space.json_schema()
        seed = rng.randrange(2**31)
        problems: list[str] = []
        for round_index in range(self.repair_rounds + 1):
            started = time.monotonic()
            # each repair round samples hotter: small models otherwise repeat the spec they were told is taken
            temperature = min(self.temperature + REPAIR_TEMPERATURE_STEP * round_index, MAX_TEMPERATURE)
            reply = self.complete(messages, schema, seed + round_index, temperature)
            seconds = time.monotonic() - started
            result = self.check_reply(context, reply)
            problems = result.problems
            context.record_exchange(LLMExchange(context.step, round_index, self.endpoint.base_url, self.endpoint.model,
                                                messages, reply, problems, seconds))
            if result.ok:
                return result
            if result.kind != "duplicate":
                context.record_rejection(result, f"llm round {round_index}")
            log.info("LLM spec rejected (round %d): %s", round_index, "; ".join(problems))
            messages = messages + [{"role": "assistant", "content": reply},
                                   {"role": "user", "content": self._env.get_template("repair.j2").render(
                                       problems=problems, duplicate=result.kind == "duplicate")}]
        raise ProposalError(f"llm: no acceptable spec after {self.repair_rounds} repair rounds; last problems: "
                            + "; ".join(problems))

    def check_reply(self, context: ProposalContext, reply: str) -> CheckResult:
        """The reply parsed as JSON and checked like any proposal: in the space, within budget, new."""
        try:
            spec_dict = extract_spec(reply)
        except ReplyError as exc:
            return CheckResult(None, None, None, problems=[f"reply is not a JSON object: {exc}"], kind="invalid")
        return context.check(spec_dict)

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], seed: int,
                 temperature: float | None = None) -> str:
        """One chat completion; the reply's text."""
        from openai import APIConnectionError, APIError, APIStatusError, APITimeoutError

        kwargs: dict[str, Any] = dict(model=self.endpoint.model, messages=messages, seed=seed,
                                      temperature=self.temperature if temperature is None else temperature)
        try:
            if self.schema_constrained:
                try:
                    wrapper = {"type": "object", "properties": {"reasoning": {"type": "string"}, "spec": schema},
                               "required": ["spec"]}
                    response = self._client.chat.completions.create(
                        response_format={"type": "json_object", "schema": wrapper}, **kwargs)
                except APIStatusError as exc:
                    if exc.status_code not in (400, 422):
                        raise
                    log.info("endpoint rejected response_format (%s); asking for plain JSON from now on", exc.status_code)
                    self.schema_constrained = False
                    response = self._client.chat.completions.create(**kwargs)
            else:
                response = self._client.chat.completions.create(**kwargs)
        except (APIConnectionError, APITimeoutError, APIStatusError, APIError) as exc:
            raise ProposalError(f"llm endpoint {self.endpoint.base_url} failed: {exc}; check that it is running and "
                                "TINYHIL_LLM_BASE_URL / TINYHIL_LLM_MODEL are right") from None
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError: a body that is not JSON
            raise ProposalError(f"llm endpoint {self.endpoint.base_url} answered a body that is not JSON ({exc}); "
                                f"{NOT_A_CHAT_ENDPOINT}") from None
        return reply_text(response, self.endpoint.base_url)


NOT_A_CHAT_ENDPOINT = ("check that the base URL is an OpenAI-compatible API (it usually ends in /v1) and not a web "
                       "page or proxy")


def reply_text(response: Any, base_url: str) -> str:
    """The text of a chat completion's first choice; ProposalError when the endpoint answered something else
    (the openai client hands back a plain str for a text/plain body, a loose object for odd JSON)."""
    if isinstance(response, (str, bytes)) or not hasattr(response, "choices"):
        shown = response if isinstance(response, (str, bytes)) else type(response).__name__
        raise ProposalError(f"llm endpoint {base_url} answered {str(shown)[:120]!r}, not a chat completion; "
                            f"{NOT_A_CHAT_ENDPOINT}")
    try:
        if not response.choices:
            return ""
        content = response.choices[0].message.content
    except (AttributeError, TypeError, IndexError, KeyError) as exc:
        raise ProposalError(f"llm endpoint {base_url} answered a malformed chat completion ({type(exc).__name__}: "
                            f"{exc}); {NOT_A_CHAT_ENDPOINT}") from None
    if content is not None and not isinstance(content, str):
        raise ProposalError(f"llm endpoint {base_url} answered message content of type {type(content).__name__}, "
                            f"not text; {NOT_A_CHAT_ENDPOINT}")
    return content or ""
