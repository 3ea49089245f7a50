"""`tinyhil teacher finetune|check`: make the distillation teacher."""

from __future__ import annotations

from pathlib import Path

import click

from .. import options


@click.group("teacher")
def command() -> None:
    """Pretrained teachers for distillation (EfficientNet-Lite0 offline, ViT-B/16 with its weights)."""


@command.command("check")
@click.option("--teacher", "arch", type=click.Choice(["efficientnet-lite0", "vit-b16"]), default="efficientnet-lite0",
              show_default=True)
@click.option("--download/--no-download", default=False, show_default=True,
              help="ViT-B/16: download the weights when no local file is found.")
def check(arch: str, download: bool) -> None:
    """Load the pretrained weights strictly and report missing/unexpected keys."""
    from ..ml.teacher import load_pretrained

    model, report = load_pretrained(arch, allow_download=download)
    params = sum(p.numel() for p in model.parameters())
    click.echo(f"{arch}: {params:,} parameters from {report.source}")
    click.echo(f"  missing keys: {len(report.missing_keys)}, unexpected keys: {len(report.unexpected_keys)}")


@command.command("finetune")
@click.option("--teacher", "arch", default="efficientnet-lite0", show_default=True,
              help="efficientnet-lite0 | vit-b16")
@click.option("--dataset", default="fashion-mnist", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--epochs", type=options.EPOCHS.click_type(), default=3, show_default=True)
@click.option("--image-size", type=options.IMAGE_SIZE.click_type(), default=None, help="Teacher input size in pixels (default 64; ViT 224).")
@click.option("--train-subset", type=options.SUBSET.click_type(), default=None, help="Fine-tune on the first N training images only.")
@click.option("--batch-size", type=options.TRAIN_BATCH.click_type(), default=64, show_default=True)
@click.option("--lr", type=options.LEARNING_RATE, default=1e-3, show_default=True)
@click.option("--freeze-blocks", type=options.FREEZE_BLOCKS.click_type(), default=8, show_default=True,
              help="Keep the stem and this many leading blocks at their ImageNet weights (faster on a CPU).")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Checkpoint path (default teachers/<teacher>-<dataset>.pt).")
def finetune_command(arch: str, dataset: str, data_dir: Path | None, epochs: int, image_size: int | None,
                     train_subset: int | None, batch_size: int, lr: float, freeze_blocks: int, seed: int,
                     out: Path | None) -> None:
    """Fine-tune an ImageNet-pretrained teacher on DATASET and save a teacher checkpoint."""
    from ..ml.teacher import finetune_on_dataset

    out = out or Path("teachers") / f"{arch}-{dataset.replace(':', '_').replace('/', '_')}.pt"
    result, provenance = finetune_on_dataset(arch, dataset, out, data_dir=data_dir, epochs=epochs,
                                             image_size=image_size, train_subset=train_subset, batch_size=batch_size,
                                             lr=lr, seed=seed, freeze_blocks=freeze_blocks)
    click.echo(f"dataset: {provenance}")
    for row in result.history:
        click.echo(f"  epoch {row['epoch']}: loss {row['loss']:.4f}, test accuracy {100 * row['test_accuracy']:.2f} %")
    click.echo(f"teacher {arch} at {result.image_size}px, {result.train_samples} training images, {result.seconds:.0f} s: "
               f"test accuracy {100 * result.test_accuracy:.2f} % (float, test split)")
    click.echo(f"checkpoint: {result.checkpoint}  (use: tinyhil deploy RUN --candidate ID --teacher {result.checkpoint})")
