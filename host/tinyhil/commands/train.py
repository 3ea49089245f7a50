"""`tinyhil train SPEC.json`: train an ArchSpec on a dataset, write a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("train")
@click.argument("spec_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", default="fashion-mnist", show_default=True,
              help="fashion-mnist | digits | cifar10 | cifar100 | folder:PATH")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="local copy of the dataset files")
@click.option("--epochs", type=int, default=None, help="override the preset's epochs")
@click.option("--full", is_flag=True, help="full training (whole split, 30 epochs) instead of the proxy preset")
@click.option("--subset", type=int, default=None, help="train on the first N training images")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda")
@click.option("--out", type=click.Path(path_type=Path), default=Path("train_out"), show_default=True)
def command(spec_json: Path, dataset: str, data_dir: Path | None, epochs: int | None, full: bool,
            subset: int | None, seed: int, device: str, out: Path) -> None:
    """Train SPEC_JSON (an ArchSpec) and write OUT/checkpoints/last.pt."""
    import dataclasses

    from ..data import load_dataset
    from ..space import ArchSpec
    from ..train import TrainConfig, train

    spec = ArchSpec.from_dict(json.loads(spec_json.read_text()))
    data = load_dataset(dataset, data_dir)
    click.echo(f"dataset: {data.provenance}; input {data.input_shape} resized to {spec.resolution}px")
    config = TrainConfig.full() if full else TrainConfig.proxy()
    changes = {"seed": seed, "device": device, "progress": True}
    if epochs is not None:
        changes["epochs"] = epochs
    if subset is not None or full:
        changes["train_subset"] = subset
    config = dataclasses.replace(config, **changes)
    result = train(spec, data, config, checkpoint_dir=out / "checkpoints")
    click.echo(f"float test top-1: {result.float_accuracy:.4f} on {result.test_images} test images ({data.provenance})")
    click.echo(f"throughput: {result.images_per_second:.0f} images/s (host, measured)")
    click.echo(f"checkpoint: {result.checkpoint}")
