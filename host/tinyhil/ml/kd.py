"""Logits knowledge distillation (Hinton et al.) with the teacher's logits cached on disk.

The loss is  alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y).
T^2 keeps the soft term's gradient on the same scale as the hard term when T changes.

The teacher runs once over the training split; its logits go to a float32 .npy (memory-mapped when
read) next to a manifest naming the teacher, the dataset, the split and the input transform. A cache
whose manifest does not match what the caller asks for is never reused: it is rebuilt.

Cached logits are those of the un-augmented image. When training augments (crop, flip), the student
sees an augmented view while the target stays the clean view's logits: the usual trade-off that makes
the teacher cost one pass instead of one pass per epoch.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import TinyhilError

log = logging.getLogger(__name__)

LOGITS_FILE = "logits.npy"
MANIFEST_FILE = "manifest.json"


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            temperature: float, alpha: float) -> torch.Tensor:
    """alpha * T^2 * KL(p_teacher^T || p_student^T) + (1 - alpha) * CE(student, labels), batch mean."""
    t = float(temperature)
    log_p_student = F.log_softmax(student_logits / t, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.to(student_logits.dtype) / t, dim=1)
    soft = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * t * t * soft + (1.0 - alpha) * hard


@dataclass(frozen=True)
class CacheKey:
    """What the cached logits depend on; any difference means a different cache."""

    teacher_id: str  # e.g. "efficientnet-lite0:<sha256 of the checkpoint>"
    dataset: str  # dataset name plus its provenance line
    split: str  # "train"
    num_samples: int
    transform: str  # how inputs were turned into teacher inputs, e.g. "grey->rgb, bilinear 64px"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class TeacherLogitsCache:
    """Teacher logits of one split, indexed by the sample index the training loader yields."""

    def __init__(self, cache_dir: Path, logits: np.ndarray, key: CacheKey):
        self.cache_dir = cache_dir
        self.key = key
        self._logits = logits

    @property
    def num_samples(self) -> int:
        return int(self._logits.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self._logits.shape[1])

    def lookup(self, indices: torch.Tensor | np.ndarray) -> torch.Tensor:
        idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_samples):
            raise TinyhilError(
                f"teacher logits cache {self.cache_dir} holds {self.num_samples} samples but index "
                f"{int(idx.max())} was asked for: the training split differs from the cached one; delete the "
                f"cache folder or pass the same dataset/subset")
        return torch.from_numpy(np.ascontiguousarray(self._logits[idx]))

    @classmethod
    def open(cls, cache_dir: Path, key: CacheKey) -> "TeacherLogitsCache | None":
        """The cache at cache_dir if it exists and was made for exactly `key`, else None."""
        manifest_path = Path(cache_dir) / MANIFEST_FILE
        logits_path = Path(cache_dir) / LOGITS_FILE
        if not (manifest_path.exists() and logits_path.exists()):
            return None
        stored = json.loads(manifest_path.read_text())
        if stored.get("key") != key.to_dict():
            log.info("teacher logits cache %s is stale (made for %s); rebuilding", cache_dir, stored.get("key"))
            return None
        logits = np.load(logits_path, mmap_mode="r")
        if logits.shape[0] != key.num_samples:
            return None
        return cls(Path(cache_dir), logits, key)

    @classmethod
    def build(cls, cache_dir: Path, key: CacheKey, teacher: torch.nn.Module, inputs: torch.Tensor,
              batch_size: int = 256, progress: Callable[[int, int], None] | None = None) -> "TeacherLogitsCache":
        """Run `teacher` (which takes the student's inputs, resizing inside) over `inputs` once, in order."""
        if inputs.shape[0] != key.num_samples:
            raise TinyhilError(f"cache key says {key.num_samples} samples but {inputs.shape[0]} inputs were given")
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        teacher.eval()
        chunks = []
        with torch.inference_mode():
            for start in range(0, inputs.shape[0], batch_size):
                chunks.append(teacher(inputs[start:start + batch_size].float()).float().cpu().numpy())
                if progress:
                    progress(min(start + batch_size, inputs.shape[0]), inputs.shape[0])
        logits = np.concatenate(chunks).astype(np.float32)
        # write to temporary names, then rename: a killed run never leaves a half cache that looks whole
        tmp_logits = cache_dir / (LOGITS_FILE + ".tmp.npy")
        np.save(tmp_logits, logits)
        os.replace(tmp_logits, cache_dir / LOGITS_FILE)
        tmp_manifest = cache_dir / (MANIFEST_FILE + ".tmp")
        tmp_manifest.write_text(json.dumps({"key": key.to_dict(), "shape": list(logits.shape)}, indent=2))
        os.replace(tmp_manifest, cache_dir / MANIFEST_FILE)
        log.info("cached %d teacher logits in %s", logits.shape[0], cache_dir)
        return cls(cache_dir, np.load(cache_dir / LOGITS_FILE, mmap_mode="r"), key)

    @classmethod
    def open_or_build(cls, cache_dir: Path, key: CacheKey, teacher: torch.nn.Module, inputs: torch.Tensor,
                      batch_size: int = 256) -> "TeacherLogitsCache":
        return cls.open(cache_dir, key) or cls.build(cache_dir, key, teacher, inputs, batch_size)


def paper_alpha_schedule(epochs: int) -> list[float]:
    """The soft-term weight (tinyhil's alpha) of each epoch under the LLM-NAS paper's kd_phase.py schedule.

    Its own alpha weighs the cross-entropy term (loss = a * CE + (1 - a) * T^2 * KL) and is updated at the
    start of every epoch e as a <- a + (0.8 - a) * e / epochs from a = 0.4: it rises from 0.4 towards 0.8, slowly
    at first (not linearly). In tinyhil's convention the soft weight is 1 - a: 0.6 falling towards 0.2."""
    if epochs < 1:
        raise TinyhilError(f"distillation epochs must be >= 1, got {epochs}")
    weights, a = [], 0.4
    for epoch in range(epochs):
        a = a + (0.8 - a) * (epoch / epochs)
        weights.append(1.0 - a)
    return weights


@dataclass(frozen=True)
class KDPreset:
    """A named distillation setting; `temperature`/`alpha` None: the command line's (or the defaults)."""

    name: str
    temperature: float | None
    epochs: int | None  # None: the full-training schedule's (TrainConfig.full())
    scheduled: bool  # alpha follows paper_alpha_schedule over the epochs
    note: str


KD_PRESETS = {
    "tinyhil": KDPreset("tinyhil", None, None, False, "T and alpha from --temperature/--alpha (default 4.0, 0.5), "
                                                   "constant; epochs of the full-training schedule"),
    "paper": KDPreset("paper", 10.0, 50, True, "the LLM-NAS paper's kd_phase.py: T = 10, its alpha (weight of the "
                                               "cross-entropy term) 0.4 -> 0.8 over 50 epochs (soft weight 0.6 -> 0.2)"),
}


def resolve_kd(preset_name: str, temperature: float | None, alpha: float | None,
               epochs: int | None) -> tuple[float, float, int | None]:
    """(T, alpha of the first epoch, epochs or None for the full-training schedule's) of a preset and the
    command line's values; a preset that sets T and alpha refuses them from the command line."""
    preset = KD_PRESETS.get(preset_name)
    if preset is None:
        raise TinyhilError(f"unknown distillation preset {preset_name!r}: choose one of {', '.join(KD_PRESETS)}")
    if preset.scheduled:
        if temperature is not None or alpha is not None:
            raise TinyhilError(f"--kd-preset {preset_name} sets T = {preset.temperature:g} and the alpha schedule; drop "
                               "--temperature/--alpha, or use --kd-preset tinyhil to set them")
        epochs = epochs or preset.epochs
        return float(preset.temperature), paper_alpha_schedule(epochs or 1)[0], epochs
    return (4.0 if temperature is None else temperature), (0.5 if alpha is None else alpha), epochs


class Distiller:
    """The object tinyhil.ml.train.train calls: `loss(student_logits, labels, indices)`, and `start_epoch(epoch)`
    before each epoch (an alpha schedule takes that epoch's weight)."""

    def __init__(self, teacher_logits_cache: TeacherLogitsCache, temperature: float = 4.0, alpha: float = 0.9,
                 alpha_schedule: Sequence[float] | None = None):
        if temperature <= 0:
            raise TinyhilError(f"distillation temperature must be > 0, got {temperature}")
        schedule = list(alpha_schedule) if alpha_schedule is not None else None
        for value in [alpha] + (schedule or []):
            if not 0.0 <= value <= 1.0:
                raise TinyhilError(f"distillation alpha must be in [0, 1], got {value}")
        self.cache = teacher_logits_cache
        self.temperature = float(temperature)
        self.alpha_schedule = schedule
        self.alpha = float(schedule[0] if schedule else alpha)

    def start_epoch(self, epoch: int) -> None:
        """Epoch `epoch` (0-based) begins: take its weight from the schedule (past its end: the last one)."""
        if self.alpha_schedule:
            self.alpha = self.alpha_schedule[min(epoch, len(self.alpha_schedule) - 1)]

    def loss(self, student_logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        teacher_logits = self.cache.lookup(indices).to(student_logits.device)
        if teacher_logits.shape[1] != student_logits.shape[1]:
            raise TinyhilError(
                f"teacher has {teacher_logits.shape[1]} classes, student {student_logits.shape[1]}: fine-tune the "
                f"teacher on this dataset first (`tinyhil teacher finetune --dataset ...`)")
        return kd_loss(student_logits, teacher_logits, labels, self.temperature, self.alpha)

    def describe(self) -> dict[str, Any]:
        schedule = ({"alpha_schedule": [round(a, 6) for a in self.alpha_schedule]} if self.alpha_schedule else {})
        return {"temperature": self.temperature, "alpha": self.alpha, **schedule, **self.cache.key.to_dict()}
