"""The `tinyhil` command. Each subcommand lives in tinyhil.commands.<name> and is loaded on
demand, so `tinyhil boards` does not pay for importing torch or tensorflow."""

from __future__ import annotations

import datetime as _dt
import importlib
import importlib.util
import logging
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

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
    "spec": "spec",
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


CRASH_LOG_DIR_ENV = "TINYHIL_LOG_DIR"  # where tracebacks of unexpected errors go (default ~/.cache/tinyhil/logs)
INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE: a bug in tinyhil, not in what the user gave it


_BULLET = re.compile(r"^\s*-\s+")


def one_line(message: str) -> str:
    """A multi-line error message (spec problems, last serial bytes) as one line for the terminal."""
    # a list item's "- " goes, an option's "--" stays ("--model X ..." used to read "model X ...")
    lines = [_BULLET.sub("", line).strip() for line in str(message).splitlines()]
    lines = [line for line in lines if line.strip("-")]
    if not lines:
        return "(no message)"
    head, rest = lines[0], "; ".join(lines[1:])
    return f"{head} {rest}" if head.endswith(":") else "; ".join(lines)


def crash_log(exc: BaseException) -> Path:
    """Write the traceback of an unexpected exception to a log file; return its path."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = f"tinyhil {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(exc))
    for folder in (Path(os.environ.get(CRASH_LOG_DIR_ENV, "~/.cache/tinyhil/logs")).expanduser(),
                   Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f"crash-{stamp}-", suffix=".log", dir=folder)
            with os.fdopen(handle, "w") as log_file:
                log_file.write(text)
            return Path(name)
        except OSError:
            continue
    raise exc


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
        click.secho(f"error: {one_line(str(exc))}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one line for the user, the traceback in a file for the report
        path = crash_log(exc)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        click.secho(f"internal error: {type(exc).__name__}{': ' + first if first else ''} (a bug in tinyhil); "
                    f"the traceback is in {path}", fg="red", err=True)
        sys.exit(INTERNAL_ERROR_EXIT)
