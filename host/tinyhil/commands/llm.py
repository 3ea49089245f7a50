"""`tinyhil llm setup|serve|status`: the local, keyless LLM endpoint."""

from __future__ import annotations

import time
from pathlib import Path

import click

from tinyhil.search import llm_local

_cache_option = click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                             help="Cache folder (default: $TINYHIL_CACHE/llm or ~/.cache/tinyhil/llm).")


@click.group("llm")
def command() -> None:
    """Local LLM endpoint (llama_cpp.server + a sha256-checked GGUF), no key, no network at run time."""


@command.command("setup")
@_cache_option
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None,
              help="Use this GGUF instead of the pinned default; its sha256 is recorded and checked at serve.")
def setup_cmd(cache_dir: Path | None, model_path: Path | None) -> None:
    """Build llama-cpp-python[server] in <cache>/venv and assemble the verified GGUF."""
    path = llm_local.setup(cache_dir, model_path)
    click.echo(f"local LLM ready: {path}")


@command.command("status")
@_cache_option
def status_cmd(cache_dir: Path | None) -> None:
    """Say whether the local LLM is set up, and why not."""
    ok, why = llm_local.is_set_up(cache_dir)
    click.echo(f"set up: {llm_local.gguf_path(cache_dir)}" if ok else f"not set up: {why}")


@command.command("serve")
@_cache_option
def serve_cmd(cache_dir: Path | None) -> None:
    """Serve the OpenAI API on 127.0.0.1 (free port) until Ctrl-C."""
    with llm_local.ensure_server(cache_dir) as (base_url, name):
        click.echo(f"serving {name} at {base_url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
