"""`tinyhil deploy RUN --candidate ID`."""

from __future__ import annotations

from pathlib import Path

import click

from .. import options


@click.command("deploy")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--candidate", "candidate_id", required=True, help="Candidate id in the run store.")
@click.option("--board", default=None, help="Board profile name, alias or TOML path (default: the run's board).")
@click.option("--dataset", default=None, help="Dataset (default: the run's dataset).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--teacher", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Teacher checkpoint from `tinyhil teacher finetune` (or a tinyhil training checkpoint).")
@click.option("--kd-preset", type=click.Choice(["tinyhil", "paper"]), default="tinyhil", show_default=True,
              help="tinyhil: --temperature/--alpha, constant. paper: the LLM-NAS paper's kd_phase.py, T = 10, its "
                   "alpha (weight of cross-entropy) 0.4 -> 0.8 over the epochs, 50 epochs unless --epochs.")
@click.option("--temperature", type=options.TEMPERATURE, default=None, help="Distillation temperature T [default 4.0].")
@click.option("--alpha", type=options.ALPHA, default=None, help="Weight of the soft (teacher) term [default 0.5].")
@click.option("--epochs", type=options.EPOCHS.click_type(), default=None, help="Training epochs (default: the full-training schedule).")
@click.option("--train-subset", type=options.SUBSET.click_type(), default=None, help="Train on the first N training images only.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also train without the teacher to report the distillation gain.")
@click.option("--explain/--no-explain", default=True, show_default=True)
@click.option("--design-explanation", type=click.Choice(["auto", "llm", "off"]), default="auto", show_default=True,
              help="Ask an LLM to explain the design with the measurements in context. auto: the LLM the search "
                   "used, none if it ran without one; llm: the configured endpoint or the local model.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Deploy folder (default RUN/deploy/ID).")
@click.option("--seed", default=0, show_default=True)
def command(run: Path, candidate_id: str, board: str | None, dataset: str | None, data_dir: Path | None, teacher: Path | None,
            kd_preset: str, temperature: float | None, alpha: float | None, epochs: int | None, train_subset: int | None, baseline: bool,
            explain: bool, design_explanation: str, out: Path | None, seed: int) -> None:
    """Full training (+ distillation), int8 export, C library, firmware measured on BOARD, explanations."""
    from ..deploy import DeployConfig, deploy, summary_lines
    from ..kd import resolve_kd

    temperature, alpha, epochs = resolve_kd(kd_preset, temperature, alpha, epochs)
    config = DeployConfig(kd_preset=kd_preset, board=board, dataset=dataset, data_dir=data_dir, teacher=teacher, temperature=temperature,
                          alpha=alpha, epochs=epochs, train_subset=train_subset, baseline=baseline, explain=explain,
                          design_explanation=design_explanation, seed=seed)
    record = deploy(run, candidate_id, config, out, progress=lambda message: click.echo(message, err=True),
                    progress_bars=True)
    for line in summary_lines(record):
        click.echo(line)
