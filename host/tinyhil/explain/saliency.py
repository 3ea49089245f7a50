"""What the network looks at: captum attributions on the float model and, by occlusion through the int8
reference interpreter, on the deployed int8 model; per-class PNG grids; deletion/insertion faithfulness.

Attribution maps are (N, H, W), non-negative, "how much this pixel supports the target class":
Grad-CAM on the last convolution (upsampled), |Integrated Gradients| summed over channels, and the
positive part of occlusion (the target score drop when a patch is replaced by the background value).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
import torch.nn as nn

from ..errors import TinyhilError

log = logging.getLogger(__name__)

FLOAT_METHODS = ("gradcam", "integrated_gradients", "occlusion")
METHOD_TITLES = {"gradcam": "Grad-CAM", "integrated_gradients": "Integrated Gradients",
                 "occlusion": "Occlusion (float)", "occlusion_int8": "Occlusion (int8)"}


class Int8Invoker(Protocol):
    def invoke(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Int8Model:
    """The deployed int8 model as a function of one NHWC int8 image: the host reference interpreter (or the
    host build of the generated C) plus the quantisation of its input and output."""

    runner: Int8Invoker
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int

    def forward(self, x_nchw: torch.Tensor) -> torch.Tensor:
        """Float NCHW batch at the model's resolution -> dequantised logits (N, classes)."""
        from ..ml.model_inputs import InputFormat, model_inputs

        _, channels, height, width = (int(d) for d in x_nchw.shape)
        q = model_inputs(x_nchw.detach(), InputFormat(height, width, channels, self.input_scale, self.input_zero_point))
        out = [self.runner.invoke(sample[None]).reshape(-1) for sample in q]
        logits = (np.stack(out).astype(np.float32) - self.output_zero_point) * self.output_scale
        return torch.from_numpy(logits)


def last_conv_layer(model: nn.Module) -> nn.Module:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise TinyhilError("Grad-CAM needs a convolution layer and this model has none")
    return convs[-1]


def _window(x: torch.Tensor) -> tuple[int, int]:
    side = int(x.shape[-1])
    window = max(2, side // 6)
    return window, max(1, window // 2)


def attribute(model: nn.Module | Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, target: torch.Tensor,
              method: str, background: float) -> torch.Tensor:
    """One attribution method -> (N, H, W) float, >= 0."""
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion

    if method == "gradcam":
        cam = LayerGradCam(model, last_conv_layer(model)).attribute(x, target=target, relu_attributions=True)
        maps = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")[:, 0]
    elif method == "integrated_gradients":
        baseline = torch.full_like(x, background)
        maps = IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=32).abs().sum(1)
    elif method in ("occlusion", "occlusion_int8"):
        window, stride = _window(x)
        with torch.no_grad():
            maps = Occlusion(model).attribute(
                x, target=target, baselines=background, perturbations_per_eval=16 if method == "occlusion" else 1,
                sliding_window_shapes=(x.shape[1], window, window), strides=(x.shape[1], stride, stride)).sum(1)
        maps = maps.clamp(min=0)
    else:
        raise TinyhilError(f"unknown attribution method {method!r}: one of {', '.join(METHOD_TITLES)}")
    return maps.detach().float()


def deletion_insertion_auc(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, saliency: torch.Tensor,
                           target: torch.Tensor, background: float, steps: int = 16) -> tuple[float, float]:
    """Mean over samples of the area under the target-probability curve while the most salient pixels are
    removed (deletion: lower is more faithful) or revealed on the background (insertion: higher is better)."""
    n, _, h, w = x.shape
    order = saliency.reshape(n, -1).argsort(dim=1, descending=True)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    deletion, insertion = [], []
    with torch.no_grad():
        for fraction in fractions:
            keep = torch.zeros(n, h * w, dtype=torch.bool)
            count = int(round(fraction * h * w))
            keep.scatter_(1, order[:, :count], True)
            mask = keep.reshape(n, 1, h, w)
            deleted = torch.where(mask, torch.tensor(background), x)
            inserted = torch.where(mask, x, torch.tensor(background))
            for batch, curve in ((deleted, deletion), (inserted, insertion)):
                probs = torch.softmax(forward(batch), dim=1)
                curve.append(probs.gather(1, target[:, None])[:, 0].numpy())
    d, i = np.stack(deletion, 1), np.stack(insertion, 1)
    return float(np.trapezoid(d, fractions, axis=1).mean()), float(np.trapezoid(i, fractions, axis=1).mean())


def map_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean Pearson correlation of two stacks of maps (did quantisation move the attention?)."""
    a2, b2 = a.reshape(a.shape[0], -1).double(), b.reshape(b.shape[0], -1).double()
    a2, b2 = a2 - a2.mean(1, keepdim=True), b2 - b2.mean(1, keepdim=True)
    denom = (a2.norm(dim=1) * b2.norm(dim=1)).clamp(min=1e-12)
    return float(((a2 * b2).sum(1) / denom).mean())


@dataclass
class ExplainResult:
    grids: dict[str, Path]  # class name -> PNG
    overview: Path
    faithfulness: dict[str, dict[str, float]]  # method -> {deletion_auc, insertion_auc}
    float_int8_occlusion_correlation: float | None
    methods: list[str]
    samples_per_class: int
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"grids": {k: str(v) for k, v in self.grids.items()}, "overview": str(self.overview),
                "faithfulness": self.faithfulness, "methods": self.methods, "samples_per_class": self.samples_per_class,
                "float_int8_occlusion_correlation": self.float_int8_occlusion_correlation}


def pick_per_class(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    chosen = [np.flatnonzero(labels == c)[:per_class] for c in range(num_classes)]
    return np.concatenate([c for c in chosen if c.size]).astype(np.int64)


def explain(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, class_names: list[str], out_dir: Path,
            *, int8: Int8Model | None = None, background: float | None = None, per_class: int = 2,
            methods: tuple[str, ...] = FLOAT_METHODS) -> ExplainResult:
    """Explain `model` on `per_class` test images of each class; write per-class PNG grids to out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    chosen = pick_per_class(labels.numpy(), per_class, len(class_names))
    x, y = images[chosen].float(), labels[chosen].long()
    bg = float(x.min()) if background is None else float(background)
    maps = {m: attribute(model, x, y, m, bg) for m in methods}
    forwards: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {m: model for m in methods}
    if int8 is not None:
        maps["occlusion_int8"] = attribute(int8.forward, x, y, "occlusion_int8", bg)
        forwards["occlusion_int8"] = int8.forward
    faithfulness = {}
    for method, saliency in maps.items():
        deletion, insertion = deletion_insertion_auc(forwards[method], x, saliency, y, bg)
        faithfulness[method] = {"deletion_auc": deletion, "insertion_auc": insertion}
        log.info("%s: deletion AUC %.3f (lower is better), insertion AUC %.3f", method, deletion, insertion)
    correlation = map_correlation(maps["occlusion"], maps["occlusion_int8"]) if int8 and "occlusion" in maps else None
    grids = {}
    for c, name in enumerate(class_names):
        rows = np.flatnonzero(y.numpy() == c)
        if rows.size:
            grids[name] = save_class_grid(out_dir / f"saliency_class{c}.png", name, x[rows], maps, rows,
                                          [METHOD_TITLES[m] for m in maps])
    first = np.array([int(np.flatnonzero(y.numpy() == c)[0]) for c in range(len(class_names)) if (y == c).any()])
    overview = save_overview(out_dir / "saliency_overview.png", x[first], {m: v[first] for m, v in maps.items()},
                             [class_names[int(y[i])] for i in first], [METHOD_TITLES[m] for m in maps])
    return ExplainResult(grids, overview, faithfulness, correlation, list(maps), per_class,
                         {m: v.numpy() for m, v in maps.items()})


def _image_for_display(x: torch.Tensor) -> tuple[np.ndarray, str | None]:
    img = x.detach().numpy()
    img = (img - img.min()) / max(1e-12, float(img.max() - img.min()))
    return (img[0], "gray") if img.shape[0] == 1 else (img.transpose(1, 2, 0), None)


def _plot_rows(path: Path, title: str, images: torch.Tensor, maps: dict[str, torch.Tensor], row_labels: list[str],
               method_titles: list[str]) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = images.shape[0], 1 + len(maps)
    height = 1.7 * rows + 0.5
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, height), squeeze=False)
    for r in range(rows):
        img, cmap = _image_for_display(images[r])
        axes[r, 0].imshow(img, cmap=cmap)
        axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
        for c, saliency in enumerate(maps.values(), start=1):
            axes[r, c].imshow(img, cmap=cmap)
            axes[r, c].imshow(saliency[r].numpy(), cmap="inferno", alpha=0.6)
    for c, name in enumerate(["input"] + method_titles):
        axes[0, c].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))  # keep the column titles clear of the suptitle
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def save_class_grid(path: Path, class_name: str, images: torch.Tensor, maps: dict[str, torch.Tensor],
                    rows: np.ndarray, method_titles: list[str]) -> Path:
    return _plot_rows(path, f"class: {class_name}", images, {m: v[rows] for m, v in maps.items()},
                      [f"sample {i + 1}" for i in range(len(rows))], method_titles)


def save_overview(path: Path, images: torch.Tensor, maps: dict[str, torch.Tensor], class_names: list[str],
                  method_titles: list[str]) -> Path:
    return _plot_rows(path, "one test image per class", images, maps, class_names, method_titles)
