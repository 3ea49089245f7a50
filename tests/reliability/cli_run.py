"""Run `tinyhil` the way a user's shell does: through cli.main(), so the one-line error and the exit status are
the real ones (CliRunner calls the click group and would show tracebacks instead)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from tinyhil.cli import main


@dataclass
class Ran:
    status: int
    out: str
    err: str


def tinyhil(args: list[str], capsys: pytest.CaptureFixture[str]) -> Ran:
    argv = sys.argv
    sys.argv = ["tinyhil", *args]
    try:
        main()
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return Ran(status, captured.out, captured.err)


def one_error_line(ran: Ran) -> str:
    """The single error line on stderr (asserting that there is exactly one and no traceback)."""
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert "Traceback" not in ran.err and "Traceback" not in ran.out, ran.err
    assert len(lines) == 1, ran.err
    return lines[0]
