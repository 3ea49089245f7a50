"""Where the `llm` proposer sends its requests: an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama,
a llama.cpp server).

Resolution order: an explicit config file (--llm-config), the environment (TINYHIL_LLM_BASE_URL /
TINYHIL_LLM_MODEL / TINYHIL_LLM_API_KEY, falling back to OPENAI_BASE_URL / OPENAI_MODEL / OPENAI_API_KEY),
then ~/.config/tinyhil/llm.toml. The file holds `base_url`, `model` and optionally `api_key` or
`api_key_env` (the name of a variable holding the key). The key is never logged or stored.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ...errors import ConfigError

DEFAULT_CONFIG = Path("~/.config/tinyhil/llm.toml")


@dataclass(frozen=True)
class LLMEndpoint:
    base_url: str
    model: str
    api_key: str = field(default="not-needed", repr=False)
    source: str = ""  # where it was configured (for the log and the store; never the key)

    def describe(self) -> str:
        return f"{self.model} at {self.base_url} (from {self.source})"


def resolve_endpoint(config_file: Path | None = None, environ: Mapping[str, str] | None = None,
                     default_config: Path = DEFAULT_CONFIG) -> LLMEndpoint | None:
    """The configured endpoint, or None when nothing is configured (the caller may start the local model)."""
    env = os.environ if environ is None else environ
    if config_file is not None:
        return _from_file(Path(config_file), env, required=True)
    for prefix in ("TINYHIL_LLM_", "OPENAI_"):
        base_url = env.get(prefix + "BASE_URL")
        if base_url:
            model = env.get(prefix + "MODEL") or env.get("TINYHIL_LLM_MODEL")
            if not model:
                raise ConfigError(f"{prefix}BASE_URL is set but {prefix}MODEL is not: set the model name the "
                                  "endpoint serves, e.g. export TINYHIL_LLM_MODEL=qwen2.5-coder")
            key = env.get(prefix + "API_KEY") or env.get("OPENAI_API_KEY") or "not-needed"
            return LLMEndpoint(base_url.rstrip("/"), model, key, source=f"environment {prefix}*")
    if prefix_key_only(env):
        return LLMEndpoint("https://api.openai.com/v1", env.get("OPENAI_MODEL", "gpt-4o-mini"), env["OPENAI_API_KEY"],
                           source="environment OPENAI_API_KEY (OpenAI's API)")
    path = default_config.expanduser()
    if path.is_file():
        return _from_file(path, env, required=False)
    return None


def prefix_key_only(env: Mapping[str, str]) -> bool:
    return bool(env.get("OPENAI_API_KEY")) and not env.get("OPENAI_BASE_URL")


def _from_file(path: Path, env: Mapping[str, str], required: bool) -> LLMEndpoint:
    if not path.is_file():
        raise ConfigError(f"LLM config {path} does not exist; write base_url = \"...\" and model = \"...\" into it")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"LLM config {path} is not valid TOML: {exc}") from None
    missing = [key for key in ("base_url", "model") if not data.get(key)]
    if missing:
        raise ConfigError(f"LLM config {path}: missing {', '.join(missing)}; e.g. base_url = \"http://127.0.0.1:8080/v1\""
                          " and model = \"qwen2.5-coder\"")
    key = data.get("api_key") or (env.get(data["api_key_env"]) if data.get("api_key_env") else None) or "not-needed"
    return LLMEndpoint(str(data["base_url"]).rstrip("/"), str(data["model"]), str(key), source=str(path))
