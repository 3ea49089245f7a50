"""Pretrained teachers load strictly into our own network definitions, and really are pretrained."""

from __future__ import annotations

import matplotlib.cbook as cbook
import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinyhil.ml import teacher as teacher_mod
from tinyhil.ml.teacher import AdaptedTeacher, InputAdapter, TeacherError, load_pretrained, load_teacher, save_teacher
from tinyhil.ml.teacher_nets import EfficientNetLite0, VitB16

IMAGENET_MILITARY_UNIFORM = 652


def test_efficientnet_lite0_imagenet_weights_load_with_no_missing_or_unexpected_keys():
    model, report = load_pretrained("efficientnet-lite0")
    print(f"loaded {report.source}: {len(model.state_dict())} tensors, missing {report.missing_keys}, "
          f"unexpected {report.unexpected_keys}")
    assert report.missing_keys == [] and report.unexpected_keys == []
    assert sum(p.numel() for p in model.parameters()) == 4_652_008


def test_pretrained_efficientnet_recognises_a_photo():
    """matplotlib ships Grace Hopper's portrait in uniform: ImageNet class 652 'military uniform'."""
    model, _ = load_pretrained("efficientnet-lite0")
    model.eval()
    photo = np.asarray(mpimg.imread(cbook.get_sample_data("grace_hopper.jpg")), dtype=np.float32)
    x = F.interpolate(torch.from_numpy(photo).permute(2, 0, 1)[None], size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        top5 = model((x - 127.0) / 128.0).topk(5).indices[0].tolist()
    print(f"top-5 ImageNet classes: {top5}")
    assert top5[0] == IMAGENET_MILITARY_UNIFORM


def test_vit_b16_has_timm_parameter_names_and_size():
    names = VitB16().state_dict()
    assert {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.11.attn.qkv.weight", "blocks.0.mlp.fc2.bias",
            "norm.weight", "head.bias"} <= set(names)
    assert sum(t.numel() for t in names.values()) == 86_567_656  # timm's vit_base_patch16_224


def test_vit_b16_offline_without_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYHIL_VIT_B16_WEIGHTS", raising=False)
    monkeypatch.setattr(teacher_mod, "VIT_B16_CACHE", tmp_path / "vit.safetensors")
    with pytest.raises(TeacherError, match="TINYHIL_VIT_B16_WEIGHTS") as info:
        load_pretrained("vit-b16", allow_download=False)
    assert str(tmp_path / "vit.safetensors") in str(info.value)


def test_saved_teacher_checkpoint_round_trips_with_its_input_adapter(tmp_path):
    torch.manual_seed(0)
    teacher = AdaptedTeacher("efficientnet-lite0", EfficientNetLite0(10), 32, InputAdapter(mean=0.5, std=0.25))
    path = save_teacher(teacher, tmp_path / "teacher.pt", num_classes=10, dataset="toy", test_accuracy=0.5)
    loaded = load_teacher(path)
    x = torch.rand(2, 1, 28, 28)
    teacher.eval()
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), teacher(x), atol=1e-5)
    assert loaded.teacher_id.startswith("efficientnet-lite0:") and loaded.meta["dataset"] == "toy"
    with pytest.raises(TeacherError, match="does not exist"):
        load_teacher(tmp_path / "absent.pt")


def test_vit_b16_weights_with_other_key_names_are_refused(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    wrong = tmp_path / "not_timm.safetensors"
    save_file({"vit.embeddings.cls_token": torch.zeros(1, 1, 768)}, str(wrong))  # Hugging Face transformers naming
    monkeypatch.setenv("TINYHIL_VIT_B16_WEIGHTS", str(wrong))
    with pytest.raises(TeacherError, match="does not match the vit-b16 network"):
        load_pretrained("vit-b16", allow_download=False)


def test_input_adapter_recovers_pixels_from_any_normalisation():
    from tinyhil.ml.teacher import adapter_for

    pixels = torch.rand(8, 1, 6, 6)
    pixels[0, 0, 0, :2] = torch.tensor([0.0, 1.0])  # real images hold a black and a white pixel somewhere
    normalised = (pixels - 0.2860) / 0.3530  # Fashion-MNIST's usual mean/std
    adapter = adapter_for(normalised)
    assert torch.allclose(normalised * adapter.std + adapter.mean, pixels, atol=1e-5)
