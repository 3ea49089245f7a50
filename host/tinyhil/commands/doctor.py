"""`tinyhil doctor --board stm32h7`: check the bench step by step, one line each (ok / what failed / what to do)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click


@click.command("doctor")
@click.option("--board", default="stm32h7", show_default=True, help="Board profile: name, alias or .toml path.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the build, runner log and serial log here (default: a temporary folder, removed).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(1.0, 600.0), default=30.0, show_default=True,
              help="Seconds to wait for each inference's reply.")
@click.pass_context
def command(ctx: click.Context, board: str, workdir: Path | None, timeout_s: float) -> None:
    """Probe, target, flash, hello, clock, cycle counter and a bit-exact round trip, each a line."""
    from ..hil.boards import load_profile
    from ..hil.doctor import run_doctor

    profile = load_profile(board)
    click.echo(f"tinyhil doctor: {profile.name} ({profile.kind}, runner {profile.runner['type']})")
    with tempfile.TemporaryDirectory(prefix="tinyhil-doctor-") as scratch:
        folder = workdir or Path(scratch)
        checks = []
        for check in run_doctor(profile, folder, timeout_s):
            checks.append(check)
            colour = {"ok": "green", "warn": "yellow", "FAIL": "red"}.get(check.status)
            click.secho(check.line(), fg=colour)
    failed = [c.step for c in checks if c.failed]
    if failed:
        click.echo(f"doctor: {len(failed)} step(s) failed ({', '.join(failed)}); README 'Bench checklist' explains each")
        ctx.exit(1)
    click.echo(f"doctor: all {len(checks)} steps passed")
