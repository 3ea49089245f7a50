"""`tinyhil explain RUN --candidate ID`: saliency of a deployed candidate, float and int8."""

from __future__ import annotations

from pathlib import Path

import click

from .. import options


@click.command("explain")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--candidate", "candidate_id", required=True, help="A candidate already deployed with `tinyhil deploy`.")
@click.option("--per-class", type=options.PER_CLASS.click_type(), default=2, show_default=True, help="Test images explained per class.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Deploy folder (default RUN/deploy/ID).")
def command(run: Path, candidate_id: str, per_class: int, out: Path | None) -> None:
    """Grad-CAM, Integrated Gradients and occlusion on the float model, occlusion through the host int8
    reference on the deployed model; per-class PNG grids; deletion/insertion AUC."""
    from ..deploy.pipeline import DeployConfig, DeployRecord, Deployment, default_out_dir

    folder = out or default_out_dir(run, candidate_id)
    previous = DeployRecord.load(folder / "metrics.json")
    config = DeployConfig(board=previous.config.get("board"), dataset=previous.config.get("dataset"),
                          data_dir=Path(previous.config["data_dir"]) if previous.config.get("data_dir") else None,
                          per_class=per_class, train_subset=previous.config.get("train_subset"))
    record = Deployment(run, candidate_id, config, folder, progress=lambda m: click.echo(m, err=True)).explain_again()
    result = record.stages["explain"]
    click.echo(f"saliency grids: {Path(result['overview']).parent}")
    for method, score in result["faithfulness"].items():
        click.echo(f"  {method}: deletion AUC {score['deletion_auc']:.3f} (lower is better), "
                   f"insertion AUC {score['insertion_auc']:.3f} (higher is better)")
    if result.get("float_int8_occlusion_correlation") is not None:
        click.echo(f"  float vs int8 occlusion maps: correlation {result['float_int8_occlusion_correlation']:.2f}")
