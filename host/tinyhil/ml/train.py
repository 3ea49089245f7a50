"""Proxy training (search) and full training (winners): seeded, cosine LR, label smoothing, CPU or CUDA,
a checkpoint written atomically after every epoch (a trained model is never lost to a later failure)."""

from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from .. import options
from ..errors import ConfigError, ModelError
from ..spec.space import ArchSpec
from .data import Dataset, to_resolution
from .model import build_torch

log = logging.getLogger(__name__)


class Distiller(Protocol):
    def loss(self, student_logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    batch_size: int = 128
    lr: float = 5e-3  # AdamW: converges in the few epochs proxy training has
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    train_subset: int | None = 5000  # None = the whole training split
    test_subset: int | None = None  # float accuracy on the first N test images (None = all)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    augment: bool = True
    progress: bool = False  # rich progress bar (CLI)
    check_memory: bool = True  # refuse a spec whose training step needs more memory than is available (train_guard)
    max_steps: int | None = None  # stop after this many optimiser steps (a multi-fidelity rung); the schedule spans them
    # > 0: at the end, BatchNorm's running statistics are recomputed from this many training images (a multi-fidelity
    # rung: after a few dozen steps the running averages still hold mostly their initial 0/1, and eval-mode
    # accuracy is at chance level whatever the weights learnt)
    recalibrate_bn_images: int = 0
    # False: float accuracy only after the last epoch (a search's proxy, which ranks by that one alone: the passes
    # after the other epochs were 2 of a 3-epoch proxy's 3 evaluations); the epochs before it record their loss
    evaluate_every_epoch: bool = True

    def check(self) -> None:
        """The ranges the CLI's options declare (tinyhil.options): 0 epochs would write an untrained checkpoint."""
        options.EPOCHS.check(self.epochs, "training configuration")
        options.TRAIN_BATCH.check(self.batch_size, "training configuration")
        if self.train_subset is not None:
            options.SUBSET.check(self.train_subset, "training configuration")
        if not isinstance(self.recalibrate_bn_images, int) or self.recalibrate_bn_images < 0:
            raise ConfigError(f"recalibrate_bn_images {self.recalibrate_bn_images!r} is not a whole number >= 0; "
                              "0 keeps BatchNorm's running statistics as training left them")

    @classmethod
    def proxy(cls) -> "TrainConfig":
        return cls(epochs=3, train_subset=5000, test_subset=2000)

    @classmethod
    def full(cls) -> "TrainConfig":
        return cls(epochs=30, train_subset=None)


@dataclass
class TrainResult:
    checkpoint: Path
    float_accuracy: float  # top-1 on the test split, float model
    history: list[dict[str, float]] = field(default_factory=list)
    test_images: int = 0  # how many test images float_accuracy was measured on
    images_per_second: float = 0.0
    model: Any = None

    @property
    def test_accuracy(self) -> float:
        return self.float_accuracy


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"device {name!r} is not one tinyhil trains on; use auto, cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise ConfigError(f"device {name!r}: CUDA is not available here (torch {torch.__version__}, {build}); "
                          "use --device cpu or auto")
    return torch.device(name)


@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset: Dataset, resolution: int, device: torch.device | str = "cpu",
             batch_size: int = 128) -> float:
    """Top-1 of the float model on the dataset's evaluation images. Batches of 128 (the training batch): on five
    random search candidates on 2 CPU threads, 1,000 images took 0.96 s in all at 128, 1.02 s at 256, 1.15 s
    at 512 (min of 3)."""
    model.eval()
    correct = 0
    for start in range(0, len(dataset.test_y), batch_size):
        x = to_resolution(dataset.test_x[start:start + batch_size], resolution).to(device)
        correct += int((model(x).argmax(1).cpu() == dataset.test_y[start:start + batch_size]).sum())
    return correct / max(1, len(dataset.test_y))


def recalibrate_batchnorm(model: torch.nn.Module, dataset: Dataset, resolution: int,
                          images: int, device: torch.device | str = "cpu", batch_size: int = 256) -> None:
    """Replace every BatchNorm's running mean and variance by the average of their batch statistics over the first
    `images` training images (no augmentation, no gradient; the weights are not touched). Short runs need it: with
    momentum 0.1 the running averages after n steps still weigh their initial values by 0.9^n and lag the changing
    weights."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches below
    model.train()
    try:
        with torch.no_grad():
            count = min(images, len(dataset.train_y))
            for start in range(0, count, batch_size):
                model(to_resolution(dataset.train_x[start:min(count, start + batch_size)], resolution).to(device))
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.eval()


@dataclass(frozen=True)
class DatasetInfo:
    """What a checkpoint records about its data, for weights trained elsewhere (no Dataset loaded here)."""

    name: str
    provenance: str
    input_shape: tuple[int, int, int]
    num_classes: int


def save_checkpoint(path: Path, model: torch.nn.Module, spec: ArchSpec, dataset: Dataset | DatasetInfo,
                    extra: dict) -> None:
    """Atomic: write a temporary file, then rename over the old checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "spec": spec.to_dict(),
                "in_channels": dataset.input_shape[-1], "num_classes": dataset.num_classes,
                "dataset": dataset.name, "dataset_provenance": dataset.provenance, **extra}, tmp)
    os.replace(tmp, path)


def resumable_epoch(checkpoint_dir: Path, resume_key: str) -> int | None:
    """Epochs done by the checkpoint in `checkpoint_dir` if it was written by a training with `resume_key`
    (the same spec, data, config and teacher), else None."""
    path = Path(checkpoint_dir) / "last.pt"
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a checkpoint cut short by a full disk: train from scratch
        log.warning("cannot read %s (%s): training from the start", path, exc)
        return None
    resume = payload.get("resume") if isinstance(payload, dict) else None
    return int(payload["epoch"]) if resume and resume.get("key") == resume_key else None


def train(spec_or_model: ArchSpec | torch.nn.Module, dataset: Dataset, config: TrainConfig,
          distiller: Distiller | None = None, checkpoint_dir: Path = Path("checkpoints"),
          resume_key: str | None = None) -> TrainResult:
    """Train and checkpoint after every epoch. With `resume_key`, a checkpoint in `checkpoint_dir` written under
    the same key (by a run that was killed) is continued from its last epoch: weights, optimiser, LR schedule
    and random generators come back as they were, so the result equals an uninterrupted run's."""
    config.check()
    torch.manual_seed(config.seed)
    if isinstance(spec_or_model, torch.nn.Module):
        model, spec = spec_or_model, spec_or_model.spec
    else:
        spec = spec_or_model if isinstance(spec_or_model, ArchSpec) else ArchSpec.from_dict(spec_or_model)
        if config.check_memory:
            from .train_guard import require_memory

            require_memory(spec, dataset.input_shape, dataset.num_classes, config.batch_size)
        model = build_torch(spec, dataset.input_shape[-1], dataset.num_classes)
    data = dataset.subset(train=config.train_subset, test=config.test_subset)
    device = pick_device(config.device)
    model = model.to(device).to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    per_epoch = -(-len(data.train_y) // config.batch_size)
    steps = config.epochs * per_epoch if config.max_steps is None else max(1, config.max_steps)
    epochs = -(-steps // per_epoch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(1, steps))
    generator = torch.Generator().manual_seed(config.seed)
    checkpoint = Path(checkpoint_dir) / "last.pt"
    history: list[dict[str, float]] = []
    first_epoch = 0
    if resume_key is not None and resumable_epoch(checkpoint_dir, resume_key) is not None:
        payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(payload["state_dict"])
        optimiser.load_state_dict(payload["resume"]["optimiser"])
        schedule.load_state_dict(payload["resume"]["schedule"])
        generator.set_state(payload["resume"]["generator"])
        torch.set_rng_state(payload["resume"]["torch_rng"])
        first_epoch, history = int(payload["epoch"]), list(payload["history"])
        log.info("resuming training from epoch %d of %d (%s)", first_epoch, epochs, checkpoint)
    images, busy, done = 0, 0.0, min(steps, first_epoch * per_epoch)
    progress = _Progress(steps, enabled=config.progress, done=done)
    with progress:
        for epoch in range(first_epoch, epochs):
            model.train()
            if distiller is not None and hasattr(distiller, "start_epoch"):
                distiller.start_epoch(epoch)  # a scheduled alpha (the paper's KD preset)
            total_loss, seen = 0.0, 0
            started = time.perf_counter()
            for x, y, idx in data.batches(config.batch_size, generator, config.augment, spec.resolution):
                if done == steps:  # the last epoch of a step budget is a partial one
                    break
                done += 1
                x, y = x.to(device), y.to(device)
                logits = model(x)
                loss = (distiller.loss(logits, y, idx) if distiller is not None
                        else F.cross_entropy(logits, y, label_smoothing=config.label_smoothing))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                total_loss += float(loss.detach()) * len(y)
                seen += len(y)
                images += len(y)
                progress.advance(f"epoch {epoch + 1}/{epochs} loss {float(loss.detach()):.3f}")
            busy += time.perf_counter() - started
            if config.recalibrate_bn_images and epoch == epochs - 1:
                recalibrate_batchnorm(model, data, spec.resolution, config.recalibrate_bn_images, device)
            history.append({"epoch": epoch + 1, "loss": total_loss / max(1, seen)})
            if config.evaluate_every_epoch or epoch == epochs - 1:
                history[-1]["test_accuracy"] = evaluate(model, data, spec.resolution, device)
                log.info("epoch %d: loss %.4f, float test accuracy %.4f (%s)", epoch + 1, history[-1]["loss"],
                         history[-1]["test_accuracy"], dataset.provenance)
            else:
                log.info("epoch %d: loss %.4f (%s)", epoch + 1, history[-1]["loss"], dataset.provenance)
            resume = {"key": resume_key, "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
                      "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}
            save_checkpoint(checkpoint, model, spec, dataset, {"epoch": epoch + 1, "history": history,
                                                              "config": asdict(config), "resume": resume})
    model = model.cpu().eval()
    final = history[-1].get("test_accuracy") if history else None
    return TrainResult(checkpoint, final if final is not None else evaluate(model, data, spec.resolution),
                       history, len(data.test_y), images / busy if busy else 0.0, model)


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode, checkpoint payload) from a tinyhil training checkpoint."""
    how = "give OUT/checkpoints/last.pt from `tinyhil train` (or a candidate's checkpoints/last.pt in a run folder)"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise ModelError(f"checkpoint {path} does not exist; {how}") from None
    except (pickle.UnpicklingError, EOFError, OSError, RuntimeError, ValueError, AttributeError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a torch checkpoint, or a truncated one ({type(exc).__name__}: {first}); "
                         f"{how}") from None
    missing = [key for key in ("spec", "in_channels", "num_classes", "state_dict")
               if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise ModelError(f"{path}: a torch file but not a tinyhil training checkpoint (no {', '.join(missing)}); {how}")
    model = build_torch(ArchSpec.from_dict(payload["spec"]), int(payload["in_channels"]), int(payload["num_classes"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"{path}: its weights do not fit its own spec ({first}); the checkpoint was edited or "
                         f"damaged: {how}") from None
    return model.eval(), payload


class _Progress:
    """A rich progress bar when enabled (the CLI), silent otherwise (library and tests)."""

    def __init__(self, total: int, enabled: bool, done: int = 0):
        self.total, self.enabled, self.done, self._bar, self._task = total, enabled, done, None, None

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.progress import Progress

            self._bar = Progress()
            self._bar.__enter__()
            self._task = self._bar.add_task("training", total=self.total, completed=self.done)
        return self

    def advance(self, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=description)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
