"""`tinyhil boards`: every board profile, and whether it can be used right now (and why not)."""

from __future__ import annotations

import click

from ..hil.boards import list_profiles
from ..hil.runners import runner_class
from ..units import format_bytes


@click.command("boards")
def command() -> None:
    """List board profiles and whether each is usable now (probe attached, qemu / renode on PATH)."""
    for profile in list_profiles():
        usable, reason = runner_class(profile.runner["type"]).availability(profile)
        aliases = f" (aliases: {', '.join(profile.aliases)})" if profile.aliases else ""
        click.echo(f"{profile.name}{aliases}")
        click.echo(f"  {profile.kind}, {profile.cpu} @ {profile.clock_hz / 1e6:g} MHz, runner {profile.runner['type']}, "
                   f"latency in {profile.latency_unit}")
        click.echo(f"  budgets: SRAM {format_bytes(profile.sram_budget_bytes)}, flash {format_bytes(profile.flash_budget_bytes)}"
                   f"  [{profile.source}]")
        click.secho(f"  usable now: {'yes' if usable else 'no'} - {reason}", fg="green" if usable else "yellow")
