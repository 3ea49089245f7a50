"""The `llm` proposer: asks an OpenAI-compatible endpoint for a spec.

The prompt (jinja2 templates in tinyhil/templates/prompts, StrictUndefined) holds the space's JSON schema,
the budgets, the board, the history and the front; for each front member also its measured per-layer latency
and planned live memory (the slowest layers, the dominant one), the feedback only a hardware-in-the-loop search
has. Modes: `propose` (a new spec from the whole state) and `operator` (the LLM as the mutation / crossover
operator of an evolutionary search, EvoPrompting / LLMatic style: one or two parents picked from the measured
candidates, one child). A call may ask for k specs; the extra accepted ones are proposed in the next steps,
each checked again then. The reply is parsed as JSON, validated against the
space and the analytic cost budget; the problems go back to the model in at most `repair_rounds` repair
rounds. When those end without one, the spec the model sent last is moved into the budgets by a few mutations
(budget_repair; stored as proposed by "llm+repair", the model's reasoning kept with a note saying so) unless
`budget_repair` is off. Every exchange is recorded in the run store (without the API key). Nothing the model
writes is run.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Any

import jinja2

from ...errors import ConfigError
from ...paths import TEMPLATE_DIR
from ...units import format_count
from ..layers import describe_layers
from ..pareto import rank_for_selection
from ..store import Candidate, LLMExchange
from .base import CheckResult, ProposalContext, ProposalError
from .budget_repair import REPAIRED_BY, nearest_acceptable
from .llm_endpoint import LLMEndpoint
from .llm_reply import ReplyError, extract_reply

log = logging.getLogger(__name__)

PROMPT_DIR = TEMPLATE_DIR / "prompts"
REPAIR_TEMPERATURE_STEP = 0.3
MAX_TEMPERATURE = 1.3
MAX_SPECS_PER_CALL = 8


# characters of a request's prompts (system + user): about 4,000 tokens of JSON-heavy text, so that with a k-spec
# reply and a repair round it fits an 8k-token context (the local server's); the oldest history goes first
PROMPT_CHARS = 12_000


def compact_json(value: Any, sort_keys: bool = True) -> str:
    """JSON without the spaces after separators: a spec in the prompt costs ~15 % fewer tokens."""
    return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(PROMPT_DIR), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    env.filters["compact"] = compact_json
    return env


class ContextOverflow(ProposalError):
    """The endpoint refused the request for its length (the prompt and reply exceed the model's context)."""


# what endpoints say when a request does not fit (llama.cpp: "Requested tokens (5000) exceed context window of
# 4096", which its server answers as OpenAI does: "This model's maximum context length is 4096 tokens", code
# context_length_exceeded). A prompt that fits with too little room left gets a reply cut short instead (invalid
# JSON): hence the prompt budget above.
CONTEXT_OVERFLOW = re.compile(r"context[ _](window|length)|maximum context|too many tokens", re.IGNORECASE)


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


MODES = ("propose", "operator")  # operator: the LLM mutates or crosses over parents from the front


def describe_hardware(candidate: Candidate, top: int = 3) -> str:
    """The measured per-layer feedback of a candidate (slowest layers, the dominant one, peak live memory)."""
    where = candidate.provenance.get("kind", "measured")
    text = describe_layers(candidate.metrics.get("layers") or [], candidate.metrics.get("latency_unit", "?"), top)
    return f"{text} ({where}; live memory from the memory planner)" if text else ""


def reply_schema(spec_schema: dict[str, Any], k: int) -> dict[str, Any]:
    """The JSON schema of a reply: a reasoning string and one spec, or k specs."""
    if k == 1:
        return {"type": "object", "properties": {"reasoning": {"type": "string"}, "spec": spec_schema},
                "required": ["spec"]}
    return {"type": "object", "properties": {"reasoning": {"type": "string"},
                                             "specs": {"type": "array", "items": spec_schema, "minItems": k,
                                                       "maxItems": k}},
            "required": ["specs"]}


class LLMProposer:
    name = "llm"

    def __init__(self, endpoint: LLMEndpoint, repair_rounds: int = 2, history_limit: int = 30,
                 temperature: float = 0.7, timeout_s: float = 300.0, client: Any = None,
                 schema_constrained: bool = True, specs_per_call: int = 1, mode: str = "propose",
                 crossover_rate: float = 0.5, parent_pool: int = 8, budget_repair: bool = True,
                 prompt_chars: int = PROMPT_CHARS):
        if mode not in MODES:
            raise ConfigError(f"llm mode {mode!r} is not one of {', '.join(MODES)}")
        if not 1 <= specs_per_call <= MAX_SPECS_PER_CALL:
            raise ConfigError(f"specs per LLM call {specs_per_call} is not in [1, {MAX_SPECS_PER_CALL}]")
        self.endpoint = endpoint
        self.repair_rounds = repair_rounds
        self.history_limit = history_limit
        self.temperature = temperature
        self.specs_per_call = specs_per_call
        self.mode = mode
        self.crossover_rate = crossover_rate
        self.parent_pool = parent_pool
        self.budget_repair = budget_repair
        self.prompt_chars = prompt_chars
        self._env = _environment()
        self._queue: list[tuple[dict[str, Any], str]] = []  # further specs of a k-spec reply, proposed in later steps
        # ask for JSON constrained by the spec's schema; dropped for good once the endpoint rejects response_format
        self.schema_constrained = schema_constrained
        if client is None:
            from openai import OpenAI

            client = OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=timeout_s, max_retries=1)
        self._client = client

    def messages(self, context: ProposalContext, parents: list[Candidate] | None = None,
                 history_limit: int | None = None) -> list[dict[str, str]]:
        """The system and user prompts; the history is the most recent `history_limit` candidates (default the
        proposer's), fewer while the two prompts would be longer than `prompt_chars` (the front always stays)."""
        schema = context.space.json_schema()
        system = self._env.get_template("system.j2").render(schema_json=compact_json(schema, sort_keys=False),
                                                            k=self.specs_per_call)
        shared = dict(task=context.task, board=context.board, budgets=context.budgets, describe=describe_metrics,
                      layers=describe_hardware, k=self.specs_per_call)
        if parents:
            user = self._env.get_template("operator.j2").render(parents=parents, front=context.front, **shared)
            return [{"role": "system", "content": system}, {"role": "user", "content": user}]
        count = min(len(context.history), self.history_limit if history_limit is None else history_limit)
        while True:
            history = context.history[len(context.history) - count:] if count else []
            user = self._env.get_template("propose.j2").render(front=context.front, history=history,
                                                               omitted=len(context.history) - len(history), **shared)
            if count == 0 or len(system) + len(user) <= self.prompt_chars:
                return [{"role": "system", "content": system}, {"role": "user", "content": user}]
            count = count * 3 // 4  # a quarter fewer per try: a few renders even for a long history

    def parents(self, context: ProposalContext, rng: random.Random) -> list[Candidate] | None:
        """Operator mode: one parent (mutation) or two (crossover) by binary tournament on the NSGA-II order of the
        measured candidates; None until two are measured (then the LLM proposes from scratch)."""
        if self.mode != "operator":
            return None
        measured = [c for c in context.history if c.status == "measured" and c.spec is not None]
        if len(measured) < 2:
            return None
        order = rank_for_selection([c.metrics for c in measured])
        pool = [measured[i] for i in order[: self.parent_pool]]

        def pick() -> Candidate:
            a, b = rng.randrange(len(pool)), rng.randrange(len(pool))
            return pool[min(a, b)]

        first = pick()
        if rng.random() < self.crossover_rate:
            others = [c for c in pool if c.id != first.id]
            second = others[min(rng.randrange(len(others)), rng.randrange(len(others)))]
            return [first, second]
        return [first]

    def propose(self, context: ProposalContext, rng: random.Random) -> CheckResult:
        while self._queue:  # specs an earlier k-spec reply gave: checked again now (the history has moved on)
            spec_dict, reasoning = self._queue.pop(0)
            result = context.check(spec_dict)
            result.reasoning = reasoning
            if result.ok:
                return result
            if result.kind != "duplicate":
                context.record_rejection(result, "llm (queued from an earlier reply)")
        parents = self.parents(context, rng)
        history_limit = self.history_limit
        base = self.messages(context, parents, history_limit)
        messages = base
        schema = context.space.json_schema()
        seed = rng.randrange(2**31)
        problems: list[str] = []
        rejected: list[CheckResult] = []  # the parsed specs of the latest round, for the budget repair
        for round_index in range(self.repair_rounds + 1):
            started = time.monotonic()
            # each repair round samples hotter: small models otherwise repeat the spec they were told is taken
            temperature = min(self.temperature + REPAIR_TEMPERATURE_STEP * round_index, MAX_TEMPERATURE)
            try:
                reply = self.complete(messages, schema, seed + round_index, temperature)
            except ContextOverflow as exc:  # this round again from a prompt with half the history
                if history_limit == 0 or parents:
                    raise
                history_limit //= 2
                log.info("%s; asking again with at most %d history entries", exc, history_limit)
                problems = [str(exc)]
                messages = base = self.messages(context, parents, history_limit)
                continue
            seconds = time.monotonic() - started
            results = self.check_replies(context, reply)
            accepted = [r for r in results if r.ok]
            problems = [p for r in results if not r.ok for p in r.problems]
            rejected = [r for r in results if r.spec is not None] or rejected
            context.record_exchange(LLMExchange(context.step, round_index, self.endpoint.base_url, self.endpoint.model,
                                                messages, reply, problems, seconds))
            for result in results:
                if not result.ok and result.kind != "duplicate":
                    context.record_rejection(result, f"llm round {round_index}")
            if accepted:
                self._queue.extend((r.spec_dict or {}, r.reasoning) for r in accepted[1:])
                return accepted[0]
            log.info("LLM spec rejected (round %d): %s", round_index, "; ".join(problems))
            duplicate = all(r.kind == "duplicate" for r in results)
            # the repair follows the first prompt and the latest reply only: the earlier rounds' replies would
            # grow the request by a k-spec reply each (their problems are in the store and the next history)
            messages = base + [{"role": "assistant", "content": reply},
                               {"role": "user", "content": self._env.get_template("repair.j2").render(
                                   problems=problems, duplicate=duplicate, k=self.specs_per_call)}]
        repaired = self.repair(context, rejected, rng) if self.budget_repair else None
        if repaired is not None:
            return repaired
        raise ProposalError(f"llm: no acceptable spec after {self.repair_rounds} repair rounds; last problems: "
                            + "; ".join(problems))

    @staticmethod
    def repair(context: ProposalContext, rejected: list[CheckResult], rng: random.Random) -> CheckResult | None:
        """The nearest acceptable spec to one the model sent in its last round (see budget_repair), labelled."""
        for result in rejected:
            repaired = nearest_acceptable(context, result, rng)
            if repaired is not None:
                note = (f"[tinyhil: the model's spec {(result.spec_hash or '')[:12]} was rejected "
                        f"({'; '.join(result.problems)}); this is the nearest acceptable spec found by mutating it]")
                repaired.reasoning = f"{result.reasoning}\n{note}" if result.reasoning else note
                repaired.proposed_by = REPAIRED_BY
                log.info("LLM spec repaired into the budgets by mutation: %s", repaired.spec_hash)
                return repaired
        return None

    def check_reply(self, context: ProposalContext, reply: str) -> CheckResult:
        """The reply's first spec, parsed as JSON and checked like any proposal: in the space, within budget, new."""
        return self.check_replies(context, reply)[0]

    def check_replies(self, context: ProposalContext, reply: str) -> list[CheckResult]:
        """Every spec in the reply (k per call), each checked; a reply that does not parse is one invalid result."""
        try:
            specs, reasoning = extract_reply(reply)
        except ReplyError as exc:
            return [CheckResult(None, None, None, problems=[f"reply is not a JSON object: {exc}"], kind="invalid")]
        results = []
        seen: set[str] = set()
        for spec_dict in specs[: self.specs_per_call]:
            result = context.check(spec_dict)
            if result.ok and result.spec_hash in seen:  # the same spec twice in one reply
                result.problems, result.kind = [f"duplicate of another spec in this reply ({result.spec_hash[:12]})"], "duplicate"
            seen.add(result.spec_hash or "")
            result.reasoning = reasoning
            results.append(result)
        return results

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], seed: int,
                 temperature: float | None = None) -> str:
        """One chat completion; the reply's text."""
        from openai import APIConnectionError, APIError, APIStatusError, APITimeoutError

        kwargs: dict[str, Any] = dict(model=self.endpoint.model, messages=messages, seed=seed,
                                      temperature=self.temperature if temperature is None else temperature)
        try:
            if self.schema_constrained:
                try:
                    wrapper = reply_schema(schema, self.specs_per_call)
                    response = self._client.chat.completions.create(
                        response_format={"type": "json_object", "schema": wrapper}, **kwargs)
                except APIStatusError as exc:
                    if exc.status_code not in (400, 422) or CONTEXT_OVERFLOW.search(str(exc)):
                        raise
                    log.info("endpoint rejected response_format (%s); asking for plain JSON from now on", exc.status_code)
                    self.schema_constrained = False
                    response = self._client.chat.completions.create(**kwargs)
            else:
                response = self._client.chat.completions.create(**kwargs)
        except (APIConnectionError, APITimeoutError, APIStatusError, APIError) as exc:
            if isinstance(exc, APIStatusError) and CONTEXT_OVERFLOW.search(str(exc)):
                raise ContextOverflow(f"llm endpoint {self.endpoint.base_url}: the request does not fit the model's "
                                      f"context ({exc})") from None
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
