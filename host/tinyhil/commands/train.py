"""`tinyhil train SPEC.json`: train an ArchSpec on a dataset, write a checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from .. import options
from ..options import click_callback, positive_bytes


@click.command("train")
@click.argument("spec_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", default="fashion-mnist", show_default=True,
              help="fashion-mnist | digits | cifar10 | cifar100 | folder:PATH")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="local copy of the dataset files")
@click.option("--epochs", type=options.EPOCHS.click_type(), default=None, help="override the preset's epochs")
@click.option("--full", is_flag=True, help="full training (whole split, 30 epochs) instead of the proxy preset")
@click.option("--subset", type=options.SUBSET.click_type(), default=None, help="train on the first N training images")
@click.option("--batch-size", type=options.TRAIN_BATCH.click_type(), default=None,
              help="images per training step [default: the preset's, 128]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(options.DEVICES), default="auto", show_default=True)
@click.option("--force", is_flag=True, help="train a spec beyond the MAC limit or the memory estimate anyway")
@click.option("--memory-limit", callback=click_callback(positive_bytes), default=None,
              help="memory training may allocate, e.g. 4GiB [default: 80% of the memory available now]")
@click.option("--out", type=click.Path(path_type=Path), default=Path("train_out"), show_default=True)
def command(spec_json: Path, dataset: str, data_dir: Path | None, epochs: int | None, full: bool,
            subset: int | None, batch_size: int | None, seed: int, device: str, force: bool,
            memory_limit: int | None, out: Path) -> None:
    """Train SPEC_JSON (an ArchSpec) and write OUT/checkpoints/last.pt.

    The spec's analytic cost is checked first (MACs, training memory) and the training process is bounded
    to --memory-limit, so an oversized spec fails with a message instead of exhausting the machine."""
    import dataclasses

    from ..ml import train_guard
    from ..ml.data import load_dataset
    from ..errors import BudgetError
    from ..spec.specfile import read_spec
    from ..ml.train import TrainConfig, pick_device, train

    from .. import options

    spec = read_spec(spec_json)
    options.output_path(out, "--out", folder=True)  # before training, not at its first checkpoint
    pick_device(device)  # no CUDA here: say so before loading any data
    config = TrainConfig.full() if full else TrainConfig.proxy()
    changes = {"seed": seed, "device": device, "progress": True, "check_memory": False}  # checked here, with --force
    if epochs is not None:
        changes["epochs"] = epochs
    if subset is not None or full:
        changes["train_subset"] = subset
    if batch_size is not None:
        changes["batch_size"] = batch_size
    config = dataclasses.replace(config, **changes)
    data = load_dataset(dataset, data_dir)
    click.echo(f"dataset: {data.provenance}; input {data.input_shape} resized to {spec.resolution}px")
    cost = train_guard.training_cost(spec, data.input_shape, data.num_classes, config.batch_size)
    limit = train_guard.memory_limit_bytes(memory_limit)
    click.echo(f"cost: {cost.describe()}")
    if force:
        click.echo("--force: the cost limits are not checked")
    else:
        train_guard.check(cost, limit, str(spec_json))
    if limit is not None:
        import torch._dynamo  # noqa: F401  (AdamW imports it lazily; under the bound the import itself could fail)

        train_guard.bound_address_space(limit)
    try:
        result = train(spec, data, config, checkpoint_dir=out / "checkpoints")
    except (RuntimeError, MemoryError) as exc:
        if not train_guard.is_out_of_memory(exc):
            raise
        raise BudgetError(f"{spec_json}: training ran out of the {train_guard.format_bytes(limit or 0)} it may use "
                          f"({type(exc).__name__}); lower --batch-size, shrink the spec or raise --memory-limit. "
                          f"Finished epochs are kept in {out / 'checkpoints'}") from None
    click.echo(f"float test top-1: {result.float_accuracy:.4f} on {result.test_images} test images ({data.provenance})")
    click.echo(f"throughput: {result.images_per_second:.0f} images/s (host, measured)")
    click.echo(f"checkpoint: {result.checkpoint}")
