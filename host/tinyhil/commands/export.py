"""`tinyhil export CHECKPOINT`: int8 .tflite from a training checkpoint, with float and int8 accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="output .tflite (default: beside the checkpoint)")
@click.option("--dataset", default=None, help="dataset for calibration/accuracy (default: the checkpoint's)")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--test-count", type=int, default=1000, show_default=True, help="test images for the accuracy check")
def command(checkpoint: Path, out: Path | None, dataset: str | None, data_dir: Path | None, test_count: int) -> None:
    """Export CHECKPOINT to an int8 TFLite model (int8 input and output, logits)."""
    from ..data import load_dataset
    from ..export import export_int8
    from ..train import load_checkpoint

    model, payload = load_checkpoint(checkpoint)
    data = load_dataset(dataset or payload.get("dataset", "fashion-mnist"), data_dir)
    out = out or checkpoint.with_name("model.tflite")
    result = export_int8(model, model.spec, data, out, test_count=test_count)
    click.echo(f"dataset: {data.provenance}")
    click.echo(f"float top-1 {result.float_accuracy:.4f}, int8 top-1 {result.int8_accuracy:.4f} (TFLM reference "
               f"interpreter, host), agreement {result.agreement:.4f} on {result.test_images} test images")
    click.echo(f"input quantisation: scale {result.input_quant[0]:.6g}, zero point {result.input_quant[1]}")
    click.echo(f"wrote {result.tflite_path} ({result.tflite_path.stat().st_size} bytes) in {result.seconds:.1f} s")
    out.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=2))
