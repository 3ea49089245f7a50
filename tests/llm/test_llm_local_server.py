"""With the real local model: the server starts, answers schema-constrained JSON, and stops."""

import json

import pytest

from tinyhil.search import llm_local

READY, WHY = llm_local.is_set_up()

pytestmark = [pytest.mark.llm_local, pytest.mark.skipif(not READY, reason=WHY or "local LLM set up")]


def test_local_server_answers_schema_constrained_specs_and_every_reply_is_judged():
    from openai import OpenAI

    from tinyhil.errors import SpecError
    from tinyhil.spec.space import ArchSpec, SearchSpace

    schema = SearchSpace().json_schema()
    valid, rejected = 0, []
    with llm_local.ensure_server() as (base_url, model):
        client = OpenAI(base_url=base_url, api_key="local")
        for seed in range(2):
            reply = client.chat.completions.create(
                model=model, seed=seed, temperature=0.7, max_tokens=512,
                messages=[{"role": "user", "content": "Propose one small CNN architecture as JSON "
                           f"matching this schema: {json.dumps(schema)}"}],
                response_format={"type": "json_object", "schema": schema})
            text = reply.choices[0].message.content
            try:
                ArchSpec.from_dict(json.loads(text))
                valid += 1
            except (SpecError, json.JSONDecodeError, TypeError, KeyError) as err:
                rejected.append(str(err))
    print(f"valid proposals: {valid}/2; rejected: {rejected}")
    assert valid + len(rejected) == 2
    assert all(reason for reason in rejected)
