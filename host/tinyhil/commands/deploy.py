"""`tinyhil deploy RUN --candidate ID`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence

import click

from .. import options


def same_command(ctx: click.Context, leave_out: Sequence[str] = ()) -> str:
    """The command line that repeats this invocation: its arguments and every option not at its default."""
    parts = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.name in leave_out:
            continue
        if isinstance(param, click.Argument):
            parts.append(str(value))
        elif isinstance(param, click.Option) and value is not None and value != param.default:
            if param.is_flag:
                parts.append(param.opts[0] if value else param.secondary_opts[0])
            else:
                parts += [param.opts[0], str(value)]
    return shlex.join(parts)


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
@click.option("--fusion", type=click.Choice(["auto", "fit", "off"]), default="auto", show_default=True,
              help="auto: inverted-residual blocks fused where that lowers the peak SRAM (the plan the search "
                   "measured); fit: the fastest plan within the board's SRAM budget (plain where it fits); off: "
                   "every block plain.")
@click.option("--int8-writer", type=click.Choice(options.INT8_WRITERS), default=options.DEFAULT_INT8_WRITER,
              show_default=True, help="What writes the int8 .tflite: tinyhil's own quantiser (TFLite's rules) or "
                                      "TensorFlow's TFLiteConverter through the Keras twin.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Deploy folder (default RUN/deploy/ID).")
@click.option("--seed", default=0, show_default=True)
@click.option("--restart", is_flag=True, help="Run every stage again (default: a rerun reuses the stages an earlier "
              "run of this deploy finished with the same inputs, and resumes training from its last epoch).")
def command(run: Path, candidate_id: str, board: str | None, dataset: str | None, data_dir: Path | None, teacher: Path | None,
            kd_preset: str, temperature: float | None, alpha: float | None, epochs: int | None, train_subset: int | None, baseline: bool,
            explain: bool, design_explanation: str, fusion: str, int8_writer: str, out: Path | None, seed: int,
            restart: bool) -> None:
    """Full training (+ distillation), int8 export, C library, firmware measured on BOARD, explanations.
    Rerun the same command after a failure or a kill: finished stages are skipped, training resumes."""
    from ..deploy.pipeline import DeployConfig, deploy, summary_lines
    from ..ml.kd import resolve_kd

    temperature, alpha, epochs = resolve_kd(kd_preset, temperature, alpha, epochs)
    config = DeployConfig(kd_preset=kd_preset, board=board, dataset=dataset, data_dir=data_dir, teacher=teacher, temperature=temperature,
                          alpha=alpha, epochs=epochs, train_subset=train_subset, baseline=baseline, explain=explain,
                          design_explanation=design_explanation, fusion=fusion, int8_writer=int8_writer, seed=seed,
                          restart=restart)
    record = deploy(run, candidate_id, config, out, progress=lambda message: click.echo(message, err=True),
                    progress_bars=True, command=same_command(click.get_current_context(), leave_out=("restart",)))
    for line in summary_lines(record):
        click.echo(line)
