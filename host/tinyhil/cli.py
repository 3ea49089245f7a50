"""The `tinyhil` command. Each subcommand lives in tinyhil.commands.<name> and is loaded on
demand, so `tinyhil boards` does not pay for importing torch or tensorflow."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import click

from .errors import TinyhilError

# name -> module under tinyhil.commands exposing `command` (a click.Command)
COMMANDS = {
    "boards": "boards",
    "bench": "bench",
    "codegen": "codegen",
    "train": "train",
    "export": "export",
    "search": "search",
    "deploy": "deploy",
    "teacher": "teacher",
    "explain": "explain",
    "report": "report",
    "llm": "llm",
    "build": "build",
    "doctor": "doctor",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if importlib.util.find_spec(f"tinyhil.commands.{COMMANDS[name]}"))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"tinyhil.commands.{COMMANDS[name]}")
        return module.command


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="tinyhil")
def cli(verbose: int) -> None:
    """tinyhil: TinyML models designed by an LLM, measured on the microcontroller."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TinyhilError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
