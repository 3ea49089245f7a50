"""`tinyhil export CHECKPOINT`: int8 .tflite from a training checkpoint, with float and int8 accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import options


@click.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="output .tflite (default: beside the checkpoint)")
@click.option("--dataset", default=None, help="dataset for calibration/accuracy (default: the checkpoint's)")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--test-count", type=options.TEST_COUNT.click_type(), default=1000, show_default=True, help="test images for the accuracy check")
@click.option("--qat-threshold", default="1.0", show_default=True, metavar="PP|off",
              help="run nncf quantisation-aware fine-tuning when int8 top-1 is more than PP percentage points "
                   "below float top-1; 'off' never runs it")
@click.option("--qat-epochs", type=click.IntRange(min=1), default=3, show_default=True,
              help="QAT fine-tuning epochs (at a tenth of the checkpoint's training learning rate)")
@click.option("--int8-writer", type=click.Choice(options.INT8_WRITERS), default=options.DEFAULT_INT8_WRITER, show_default=True,
              help="what writes the int8 .tflite: tinyhil's own quantiser (TFLite's rules, fast) or TensorFlow's "
                   "TFLiteConverter through the Keras twin")
def command(checkpoint: Path, out: Path | None, dataset: str | None, data_dir: Path | None, test_count: int,
            qat_threshold: str, qat_epochs: int, int8_writer: str) -> None:
    """Export CHECKPOINT to an int8 TFLite model (int8 input and output, logits)."""
    from ..ml.data import load_dataset
    from ..ml.export import export_int8
    from ..ml.train import load_checkpoint

    from .. import options

    threshold = _threshold(qat_threshold)
    model, payload = load_checkpoint(checkpoint)
    out = options.output_path(out or checkpoint.with_name("model.tflite"), "--out")
    data = load_dataset(dataset or payload.get("dataset", "fashion-mnist"), data_dir)
    result = export_int8(model, model.spec, data, out, test_count=test_count, qat_threshold=threshold,
                         qat_epochs=qat_epochs, train_config=_train_config(payload), writer=int8_writer)
    click.echo(f"dataset: {result.dataset_provenance}")
    click.echo(result.summary())
    click.echo(f"input quantisation: scale {result.input_quant[0]:.6g}, zero point {result.input_quant[1]}")
    click.echo(f"wrote {result.tflite_path} ({result.tflite_path.stat().st_size} bytes) in {result.seconds:.1f} s")
    out.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=2))


def _threshold(text: str) -> float | None:
    if text.strip().lower() in ("off", "none", "never"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give percentage points (e.g. 1.0) or 'off'",
                                 param_hint="--qat-threshold") from None
    if value < 0:
        raise click.BadParameter(f"{value} is negative: give percentage points >= 0 or 'off'",
                                 param_hint="--qat-threshold")
    return value


def _train_config(payload: dict):
    """The checkpoint's TrainConfig (batch size, learning rate, subset, seed) for QAT; defaults if absent."""
    import dataclasses

    from ..ml.train import TrainConfig

    saved = payload.get("config") or {}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in saved.items() if k in known and k != "progress"})
