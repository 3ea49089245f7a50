"""`tinyhil report RUN`: one self-contained HTML page for a run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write (default RUN/report.html).")
def command(run: Path, out: Path | None) -> None:
    """Pareto front, hypervolume, measured winners with provenance, memory plans, saliency, distillation gain."""
    from ..report.page import render_report
    from ..report.collect import collect_run

    data = collect_run(run)
    page = render_report(data, out or run / "report.html")
    click.echo(f"report: {page} ({len(data.candidates)} candidates, {len(data.winners)} deployed; "
               f"dataset: {data.dataset_provenance})")
