"""Read a spec out of an LLM reply. The reply is data: it is parsed as JSON and nothing else."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class ReplyError(ValueError):
    """The reply holds no JSON object we can read."""


def extract_spec(reply: str) -> dict[str, Any]:
    """The spec object from a reply: bare JSON, JSON in ```json fences, or the first {...} in prose.
    A wrapper {"spec": {...}} is unwrapped."""
    value = _json_object(reply)
    if isinstance(value.get("spec"), dict):
        return value["spec"]
    return value


def extract_reply(reply: str) -> tuple[list[dict[str, Any]], str]:
    """(specs, reasoning) from a reply: {"reasoning": "...", "spec": {...}}, {"reasoning": "...", "specs": [...]}
    (k specs per call) or a bare spec. Items of "specs" that are not objects are left out."""
    value = _json_object(reply)
    reasoning = value.get("reasoning") if isinstance(value.get("reasoning"), str) else ""
    if isinstance(value.get("specs"), list):
        specs = [item for item in value["specs"] if isinstance(item, dict)]
        if not specs:
            raise ReplyError('"specs" holds no JSON object')
        return specs, reasoning
    if isinstance(value.get("spec"), dict):
        return [value["spec"]], reasoning
    return [value], reasoning


def _json_object(reply: str) -> dict[str, Any]:
    candidates = [reply.strip()] + [m.strip() for m in _FENCE.findall(reply)]
    start, end = reply.find("{"), reply.rfind("}")
    if 0 <= start < end:
        candidates.append(reply[start:end + 1])
    last_error = "empty reply"
    for text in candidates:
        if not text:
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            last_error = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            continue
        if not isinstance(value, dict):
            last_error = f"JSON is a {type(value).__name__}, expected an object"
            continue
        return value
    raise ReplyError(last_error)
