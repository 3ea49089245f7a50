"""The local LLM as a proposer: tokens/s, seconds per proposal, and the share of valid proposals out of N,
with and without schema-constrained output (response_format json_object + the ArchSpec schema).

Every request is the search's own first-step prompt (tinyhil.search.proposers.llm: system prompt with the
space's JSON schema, the board, the budgets and the task), and every reply is judged by the search's own
checks (JSON, the space's validation, the analytic budget, duplicates among the replies of the same mode).

    .venv/bin/python benchmarks/llm_local.py [--proposals 20] [--dataset fashion-mnist] [--board qemu-m7]

Uses TINYHIL_LLM_BASE_URL / TINYHIL_LLM_MODEL when set, else the local model of `tinyhil llm setup`
(started on a free port and stopped at the end). Wall-clock figures: this machine, as measured.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

from tinyhil.hil.boards import load_profile
from tinyhil.spec.cost import estimate
from tinyhil.ml.data import load_dataset
from tinyhil.search.proposers.base import ProposalContext
from tinyhil.search.proposers.llm import LLMProposer
from tinyhil.search.proposers.llm_endpoint import LLMEndpoint, resolve_endpoint
from tinyhil.search.screening import Screener
from tinyhil.search.session import SearchConfig, board_info, budgets_for, task_info
from tinyhil.spec.space import ArchSpec, SearchSpace

OUTCOMES = ("valid", "not JSON", "invalid spec", "over budget", "duplicate")


class RecordingClient:
    """An OpenAI client that keeps the wall time and token counts of every completion."""

    def __init__(self, client: Any):
        self._client = client
        self.calls: list[dict[str, float]] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    def _create(self, **kwargs: Any) -> Any:
        started = time.monotonic()
        response = self._client.chat.completions.create(**kwargs)
        usage = getattr(response, "usage", None)
        self.calls.append({"seconds": time.monotonic() - started,
                           "completion_tokens": getattr(usage, "completion_tokens", 0) or 0,
                           "prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0})
        return response


@contextlib.contextmanager
def endpoint() -> Iterator[LLMEndpoint]:
    configured = resolve_endpoint(None)
    if configured is not None:
        yield configured
        return
    from tinyhil.search import llm_local

    with llm_local.ensure_server() as (base_url, model):
        yield LLMEndpoint(base_url, model, source="local model (tinyhil llm setup)")


def outcome_of(result: Any) -> str:
    if result.ok:
        return "valid"
    if result.kind == "invalid" and result.problems and result.problems[0].startswith("reply is not a JSON object"):
        return "not JSON"
    return {"invalid": "invalid spec", "over_budget": "over budget", "duplicate": "duplicate"}.get(result.kind,
                                                                                                  result.kind)


def run_mode(llm: LLMEndpoint, schema_constrained: bool, proposals: int, dataset: Any, profile: Any) -> dict[str, Any]:
    from openai import OpenAI

    client = RecordingClient(OpenAI(base_url=llm.base_url, api_key=llm.api_key, timeout=600, max_retries=0))
    proposer = LLMProposer(llm, client=client, schema_constrained=schema_constrained)
    seen: set[str] = set()
    budgets = budgets_for(SearchConfig(board=profile.name), profile)  # the search's defaults: 100 M MACs, board memory
    shape = tuple(int(d) for d in dataset.input_shape)
    screener = Screener(ArchSpec, functools.partial(estimate, input_shape=shape, num_classes=dataset.num_classes),
                        budgets, seen.__contains__)
    context = ProposalContext(step=0, space=SearchSpace(), history=[], front=[], budgets=budgets.as_dict(),
                              board=board_info(profile), task=task_info(dataset.name, dataset),
                              check=screener.check, record_rejection=lambda *_: None,
                              record_exchange=lambda *_: None)
    messages = proposer.messages(context)
    schema = context.space.json_schema()
    counts = {name: 0 for name in OUTCOMES}
    examples: dict[str, str] = {}
    for seed in range(proposals):
        result = proposer.check_reply(context, proposer.complete(messages, schema, seed))
        outcome = outcome_of(result)
        counts[outcome] = counts.get(outcome, 0) + 1
        if result.ok:
            seen.add(result.spec_hash)
        elif outcome not in examples:
            examples[outcome] = "; ".join(result.problems)[:160]
        print(f"  {'schema' if schema_constrained else 'plain '} #{seed:02d}: {outcome}", flush=True)
    seconds = [c["seconds"] for c in client.calls]
    tokens = sum(c["completion_tokens"] for c in client.calls)
    return {"mode": "schema-constrained" if schema_constrained else "plain prompt",
            "proposals": proposals, "counts": counts, "valid_share": counts["valid"] / proposals,
            "seconds_per_proposal": statistics.mean(seconds), "completion_tokens": tokens,
            "prompt_tokens": statistics.mean(c["prompt_tokens"] for c in client.calls),
            "tokens_per_second": tokens / sum(seconds), "examples": examples,
            "endpoint_still_schema_constrained": proposer.schema_constrained}


def print_table(llm: LLMEndpoint, rows: list[dict[str, Any]]) -> None:
    header = (f"{'mode':<20} {'valid':>9} {'not JSON':>9} {'invalid':>8} {'over budget':>12} {'duplicate':>10} "
              f"{'s/proposal':>11} {'tokens/s':>9}")
    print("\n" + header)
    print("-" * len(header))
    for r in rows:
        c = r["counts"]
        print(f"{r['mode']:<20} {c['valid']:>4}/{r['proposals']:<4} {c['not JSON']:>9} {c['invalid spec']:>8} "
              f"{c['over budget']:>12} {c['duplicate']:>10} {r['seconds_per_proposal']:>11.1f} "
              f"{r['tokens_per_second']:>9.1f}")
    print(f"\nwhere the figures come from: {llm.describe()}; wall-clock on this machine, measured")
    print("  s/proposal: mean seconds per chat completion (prompt processing + generation); "
          f"prompt ~{rows[0]['prompt_tokens']:.0f} tokens")
    print("  tokens/s: completion tokens reported by the endpoint / total seconds of the completions")
    print("  valid: parsed as JSON, valid in tinyhil's search space, within the analytic budgets, not a repeat")
    for r in rows:
        for outcome, example in r["examples"].items():
            print(f"  e.g. {r['mode']}, {outcome}: {example}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=20)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--board", default="qemu-m7")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    profile = load_profile(args.board)
    with endpoint() as llm:
        rows = [run_mode(llm, constrained, args.proposals, dataset, profile) for constrained in (True, False)]
    print_table(llm, rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
