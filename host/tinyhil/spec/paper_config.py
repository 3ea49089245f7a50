"""The LLM-NAS paper's published models (arXiv 2504.09685, github christophezei/llm-nas-kd-explainability) in
tinyhil terms: its `candidate_config` JSON -> an ArchSpec dict, its trained state_dict -> a TinyNet state_dict.

Their network, as their model.py builds it: no stem; per block config `num_layers` identical blocks (the first
with the config's stride, the rest stride 1); "mbconv" = 1x1 expand (always, at in_channels * expansion_factor),
BN, act, kxk depthwise, BN, act, [SE], 1x1 project, BN; "depthwise" = kxk depthwise, BN, act, [SE], 1x1 project,
BN (no activation after the projection, the expansion factor unused); SE only when use_se and se_ratio > 0;
a shortcut only when skip_op == "residual" and stride == 1, through a 1x1 conv + BN where channels change;
global average pool, one linear layer. That is tinyhil's ir block (expand = expansion_factor, or 1 for
"depthwise") with skip "residual" / "none", stem_channels 0 and head_channels 0.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import TinyhilError

PAPER_RESOLUTION = 160  # CIFAR-100 resized to 160x160 in their training and in their Table II
PAPER_CLASSES = 100
# their activation names -> tinyhil's; swish runs as hard-swish on int8 TFLite
ACTIVATION_MAP = {"relu6": "relu6", "leakyrelu": "leakyrelu", "swish": "hswish"}


class PaperImportError(TinyhilError):
    """A paper model file (JSON config or .pth weights) cannot be turned into a tinyhil spec / checkpoint."""


def candidate_config(data: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """The `candidate_config` object of a paper JSON (the file itself may be that object)."""
    config = data.get("candidate_config", data) if isinstance(data, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("blocks"), list):
        raise PaperImportError(f"{source}: not a paper candidate_config (expected an object with a 'blocks' list, "
                               "optionally under 'candidate_config')")
    return config


def is_paper_config(data: Any) -> bool:
    return isinstance(data, dict) and ("candidate_config" in data or ("blocks" in data and "stages" not in data))


def spec_from_paper(data: dict[str, Any], resolution: int = PAPER_RESOLUTION, source: str = "config") -> dict[str, Any]:
    """The tinyhil spec dict that builds, layer for layer, what the paper's model.py builds from `data`."""
    config = candidate_config(data, source)
    stages, problems = [], []
    for i, block in enumerate(config["blocks"], start=1):
        where = f"{source}: block {i}"
        if not isinstance(block, dict):
            problems.append(f"{where}: is {block!r}; each block is an object with output_channels, num_layers, "
                            "kernel_size, stride and conv_type")
            continue
        missing = [k for k in ("output_channels", "num_layers", "kernel_size", "stride", "conv_type") if k not in block]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        conv_type = block["conv_type"]
        if conv_type == "mbconv":
            expand = block.get("expansion_factor")
            if expand == 1:
                problems.append(f"{where}: mbconv with expansion_factor 1 has a 1x1 expand conv to the same width, "
                                "which tinyhil's ir block omits; not importable")
                continue
        elif conv_type == "depthwise":
            expand = 1  # their depthwise block ignores the expansion factor
        else:
            problems.append(f"{where}: conv_type {conv_type!r} not in {{mbconv, depthwise}}")
            continue
        activation = str(block.get("activation")).lower()
        if activation not in ACTIVATION_MAP:
            problems.append(f"{where}: activation {block.get('activation')!r} not in {{{', '.join(ACTIVATION_MAP)}}}")
            continue
        ratio = block.get("se_ratio") or 0
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
            problems.append(f"{where}: se_ratio {ratio!r} is not a number (the paper's: 0.25, or 0 for no SE)")
            continue
        stages.append({"block": "ir", "depth": block["num_layers"], "out_channels": block["output_channels"],
                       "stride": block["stride"], "kernel": block["kernel_size"], "expand": expand,
                       "se_ratio": ratio if block.get("use_se") and ratio > 0 else 0.0,
                       "skip": "residual" if block.get("skip_op") == "residual" else "none",
                       "activation": ACTIVATION_MAP[activation]})
    if problems:
        raise PaperImportError("; ".join(problems))
    return {"resolution": resolution, "stem_channels": 0, "stem_kernel": 1, "stem_stride": 1, "stages": stages,
            "head_channels": 0}


def read_spec_file(path: Path, resolution: int = PAPER_RESOLUTION) -> list[dict[str, Any]]:
    """Spec dicts from a JSON file holding a tinyhil spec, a paper candidate_config, or a list of either."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PaperImportError(f"{path}: no such file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise PaperImportError(f"{path}: not readable as JSON ({exc})") from None
    items = data if isinstance(data, list) else [data]
    return [spec_from_paper(item, resolution, f"{path}") if is_paper_config(item) else item for item in items]


# ---- weights ---------------------------------------------------------------------------------------------------

_KEY = re.compile(r"^layers\.(\d+)\.layers\.(\d+)\.(conv|res_proj)\.(\d+)\.(.+)$")


def _paper_modules(state: dict[str, Any]) -> dict[tuple[int, int], dict[str, dict[int, dict[str, Any]]]]:
    """(stage, block) -> {"conv": {index: {param: tensor}}, "res_proj": {...}} from their state_dict keys."""
    blocks: dict[tuple[int, int], dict[str, dict[int, dict[str, Any]]]] = {}
    for key, value in state.items():
        match = _KEY.match(key)
        if match is None:
            continue
        stage, block, part, index, param = match.groups()
        modules = blocks.setdefault((int(stage), int(block)), {"conv": {}, "res_proj": {}})
        modules[part].setdefault(int(index), {})[param] = value
    return blocks


def _conv_bn(target: dict[str, Any], prefix: str, conv: dict[str, Any], bn: dict[str, Any]) -> None:
    target[f"{prefix}.conv.weight"] = conv["weight"]
    for name, value in bn.items():
        target[f"{prefix}.bn.{name}"] = value


def state_dict_from_paper(state: dict[str, Any], spec: Any) -> dict[str, Any]:
    """Their LLMGenModel state_dict renamed for tinyhil.ml.model.TinyNet(spec) (a spec made by spec_from_paper).

    Inside one of their blocks the modules that hold parameters come in order: conv, BN, conv, BN, [SE], conv,
    BN (activations hold none); that order is mapped onto TinyNet's ConvBN / SqueezeExcite layers."""
    if "classifier.weight" not in state:
        raise PaperImportError("state_dict has no classifier.weight: not the paper's LLMGenModel")
    blocks = _paper_modules(state)
    out: dict[str, Any] = {"classifier.weight": state["classifier.weight"], "classifier.bias": state["classifier.bias"]}
    index = 0
    for s, stage in enumerate(spec.stages):
        for j in range(stage.depth):
            modules = blocks.pop((s, j), None)
            if modules is None:
                raise PaperImportError(f"state_dict has no layers.{s}.layers.{j}: it belongs to another architecture")
            parts = [modules["conv"][k] for k in sorted(modules["conv"])]
            layers: list[tuple[str, ...]] = []
            while parts:
                first = parts.pop(0)
                if "se.1.weight" in first:
                    layers.append(("se", first))
                elif "running_mean" not in first and parts and "running_mean" in parts[0]:
                    layers.append(("convbn", first, parts.pop(0)))
                else:
                    raise PaperImportError(f"layers.{s}.layers.{j}: unexpected module layout {sorted(first)}")
            for position, layer in enumerate(layers):
                prefix = f"blocks.{index}.layers.{position}"
                if layer[0] == "se":
                    se = layer[1]
                    out.update({f"{prefix}.reduce.weight": se["se.1.weight"], f"{prefix}.reduce.bias": se["se.1.bias"],
                                f"{prefix}.expand.weight": se["se.3.weight"], f"{prefix}.expand.bias": se["se.3.bias"]})
                else:
                    _conv_bn(out, prefix, layer[1], layer[2])
            if modules["res_proj"]:
                _conv_bn(out, f"blocks.{index}.projection", modules["res_proj"][0], modules["res_proj"][1])
            index += 1
    if blocks:
        extra = ", ".join(f"layers.{s}.layers.{j}" for s, j in sorted(blocks))
        raise PaperImportError(f"state_dict has blocks the config does not ({extra}): it belongs to another architecture")
    return out


def load_paper_weights(model: Any, path: Path) -> None:
    """Load their trained .pth (LLMGenModel state_dict) into `model` (TinyNet of the imported spec), strictly."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PaperImportError(f"{path}: no such file") from None
    except Exception as exc:  # torch raises many kinds on a corrupt or foreign file, some with pages of advice
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")[:160]
        raise PaperImportError(f"{path}: not a torch state_dict ({type(exc).__name__}: {first}); give the paper's "
                               f".pth of this candidate_config (its repository's models/ folder)") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    renamed = state_dict_from_paper(state, model.spec)
    try:
        model.load_state_dict(renamed, strict=True)
    except RuntimeError as exc:
        raise PaperImportError(f"{path}: weights do not fit the imported architecture: "
                               f"{str(exc).splitlines()[0]} (is it the .pth of this JSON?)") from None
