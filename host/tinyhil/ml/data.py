"""Datasets: Fashion-MNIST (offline default, real), scikit-learn digits (real, fastest tests), CIFAR-10/100
(official python archives, md5-checked) and image folders. Images are float NCHW in [-1, 1] ((x - 0.5) / 0.5),
the same normalisation training, export's representative set and input quantisation use."""

from __future__ import annotations

import gzip
import hashlib
import logging
import pickle
import tarfile
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import TinyhilError

log = logging.getLogger(__name__)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR = {  # name -> (url, md5, folder inside the archive), as published on cs.toronto.edu/~kriz/cifar.html
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
}


class DataError(TinyhilError):
    """A dataset is missing, corrupt or unknown."""


@dataclass
class Dataset:
    name: str
    train_x: torch.Tensor  # float32 NCHW in [-1, 1]
    train_y: torch.Tensor  # int64
    test_x: torch.Tensor  # the evaluation images: the test split, or a validation part held out of training
    test_y: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...]
    provenance: str
    augment_flip: bool = True
    eval_split: str = "test"  # what test_x holds: "test", or "validation" after hold_out_validation()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        _, c, h, w = self.train_x.shape
        return (int(h), int(w), int(c))

    def subset(self, train: int | None = None, test: int | None = None) -> "Dataset":
        """The first `train` / `test` samples (indices stay those of the subset)."""
        return replace(self, train_x=self.train_x[:train], train_y=self.train_y[:train],
                       test_x=self.test_x[:test], test_y=self.test_y[:test],
                       provenance=self.provenance + (f", first {train} training images" if train else ""))

    def hold_out_validation(self, fraction: float, seed: int) -> "Dataset":
        """The training split cut in two, stratified by class and seeded: training keeps (1 - fraction) of it, the
        rest becomes the evaluation part (test_x/test_y, eval_split "validation"). The test split is left out
        entirely, so nothing evaluated on this dataset has seen it."""
        if not 0.0 < fraction < 1.0:
            raise DataError(f"validation fraction {fraction} is not between 0 and 1 (exclusive); e.g. 0.1")
        from sklearn.model_selection import train_test_split

        labels = self.train_y.numpy()
        try:
            kept, held = train_test_split(np.arange(len(labels)), test_size=fraction, random_state=seed % (2**32),
                                          stratify=labels)
        except ValueError as exc:  # a class with a single image, or a validation part smaller than the classes
            raise DataError(f"cannot hold out {fraction:g} of {self.name}'s {len(labels)} training images as a "
                            f"stratified validation part ({exc}); pick a larger --validation-fraction") from None
        kept = np.sort(kept)  # held stays shuffled: its first N images (proxy evaluation) are a random sample
        return replace(self, train_x=self.train_x[kept], train_y=self.train_y[kept], test_x=self.train_x[held],
                       test_y=self.train_y[held], eval_split="validation",
                       provenance=self.provenance + f", validation: {len(held)} training images held out "
                                                    f"(stratified, seed {seed}); test split unused")

    def with_channels(self, channels: int) -> "Dataset":
        """The same images with `channels` channels: grey replicated to 3 (calibrating a colour model, e.g. the
        LLM-NAS paper's CIFAR-100 nets, on Fashion-MNIST, the offline set), or unchanged; anything else is a
        DataError naming both counts."""
        have = int(self.train_x.shape[1])
        if have == channels:
            return self
        if have == 1 and channels == 3:
            return replace(self, train_x=self.train_x.expand(-1, 3, -1, -1), test_x=self.test_x.expand(-1, 3, -1, -1),
                           provenance=self.provenance + ", grey replicated to 3 channels")
        raise DataError(f"the model takes {channels}-channel images and {self.name} has {have}-channel ones: pick "
                        f"a dataset with {channels} channel{'s' if channels != 1 else ''} (--dataset, --data-dir)")

    def batches(self, batch_size: int, generator: torch.Generator, augment: bool = True,
                resolution: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Shuffled training batches (x, y, index); index lets a distiller look up cached teacher logits."""
        order = torch.randperm(len(self.train_y), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x = self.train_x[idx]
            if augment:
                x = random_crop_flip(x, generator, self.augment_flip)
            yield to_resolution(x, resolution), self.train_y[idx], idx


def to_resolution(x: torch.Tensor, resolution: int | None) -> torch.Tensor:
    """Resize NCHW images to the spec's resolution (bilinear), channels_last for faster CPU convs."""
    if resolution is not None and x.shape[-1] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return x.contiguous(memory_format=torch.channels_last)


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, flip: bool, pad: int = 4) -> torch.Tensor:
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), value=-1.0)
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    out = padded[:, :, dy:dy + h, dx:dx + w]
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        out = torch.where(mask.view(-1, 1, 1, 1), out.flip(-1), out)
    return out


def _normalise(images_uint8: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1]."""
    x = torch.from_numpy(images_uint8.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    return ((x - 0.5) / 0.5).contiguous()


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(data_dir: Path | None = None) -> Dataset:
    root = Path(data_dir) if data_dir else FASHION_DIR
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    missing = [n for n in names if not (root / n).exists()]
    if missing:
        raise DataError(f"Fashion-MNIST files missing in {root}: {', '.join(missing)}. Install them with "
                        "`apt-get install dataset-fashion-mnist` (Debian) or pass --data-dir with the idx .gz files")
    arrays = [_read_idx(root / n) for n in names]
    # 28x28 is zero-padded (background) to 32x32 so the space's 32-px resolutions apply without resampling
    pad = lambda a: np.pad(a, ((0, 0), (2, 2), (2, 2)))[..., None]  # noqa: E731
    return Dataset("fashion-mnist", _normalise(pad(arrays[0])), torch.from_numpy(arrays[1].astype(np.int64)),
                   _normalise(pad(arrays[2])), torch.from_numpy(arrays[3].astype(np.int64)), 10, FASHION_CLASSES,
                   f"Fashion-MNIST (real images, Debian dataset-fashion-mnist, {root}; 28x28 zero-padded to 32x32)",
                   augment_flip=True)


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images = (d.images / 16.0 * 255.0).astype(np.uint8).repeat(4, axis=1).repeat(4, axis=2)[..., None]
    y = torch.from_numpy(d.target.astype(np.int64))
    x = _normalise(images)
    split = 1437  # fixed 80/20 split, first samples train
    return Dataset("digits", x[:split], y[:split], x[split:], y[split:], 10, tuple(str(i) for i in range(10)),
                   "digits (real, scikit-learn load_digits, 8x8 upscaled 4x to 32x32)", augment_flip=False)


def cifar_archive(name: str, data_dir: Path | None, download: bool = True) -> Path:
    url, md5 = CIFAR[name]
    root = Path(data_dir) if data_dir else Path.home() / ".cache" / "tinyhil" / "data"
    path = root / url.rsplit("/", 1)[1]
    if not path.exists():
        if not download:
            raise DataError(f"{path} not found: pass --data-dir with {path.name} from {url}")
        root.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s", url)
        try:
            urllib.request.urlretrieve(url, path.with_suffix(".part"))
        except OSError as exc:
            raise DataError(f"cannot download {url} ({exc}): download it elsewhere and pass --data-dir") from exc
        path.with_suffix(".part").rename(path)
    with open(path, "rb") as archive:
        actual = hashlib.file_digest(archive, "md5").hexdigest()
    if actual != md5:
        raise DataError(f"{path} has md5 {actual}, expected {md5}: the archive is corrupt; delete it and retry")
    return path


def load_cifar(name: str, data_dir: Path | None = None) -> Dataset:
    path = cifar_archive(name, data_dir)
    members = {"cifar10": ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta", b"labels", b"label_names"),
               "cifar100": (["train"], ["test"], "meta", b"fine_labels", b"fine_label_names")}[name]
    with tarfile.open(path) as tar:
        def load(member: str) -> dict:
            f = next(m for m in tar.getmembers() if m.name.endswith("/" + member))
            return pickle.load(tar.extractfile(f), encoding="bytes")
        parts = [[load(m) for m in group] for group in members[:2]]
        meta = load(members[2])
    def stack(group: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        x = np.concatenate([g[b"data"] for g in group]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.concatenate([np.asarray(g[members[3]]) for g in group]).astype(np.int64)
        return _normalise(x), torch.from_numpy(y)
    (trx, try_), (tex, tey) = stack(parts[0]), stack(parts[1])
    names = tuple(n.decode() for n in meta[members[4]])
    return Dataset(name, trx, try_, tex, tey, len(names), names, f"{name.upper()} (real, official archive {path.name}, md5 ok)")


def load_folder(path: Path, test_fraction: float = 0.2, size: int = 32) -> Dataset:
    """`path/<class>/<image>.png|jpg`; images resized to size x size RGB; a seeded split."""
    import matplotlib.image as mpimg

    root = Path(path)
    layout = "folder:PATH takes a folder holding one sub-folder of PNG/JPEG images per class"
    if not root.exists():
        raise DataError(f"dataset folder {root} does not exist; {layout}")
    if not root.is_dir():
        raise DataError(f"dataset folder {root} is a file, not a folder; {layout}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"dataset folder {root} has no class sub-folders; {layout}")
    xs, ys = [], []
    for label, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            img = np.asarray(mpimg.imread(f), dtype=np.float32)
            img = img / 255.0 if img.max() > 1.0 else img
            img = img[..., None].repeat(3, -1) if img.ndim == 2 else img[..., :3]
            t = torch.from_numpy(img).permute(2, 0, 1)[None]
            xs.append(F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0])
            ys.append(label)
    if not xs:
        raise DataError(f"{root}: no PNG/JPEG images found in the class folders")
    x, y = (torch.stack(xs) - 0.5) / 0.5, torch.tensor(ys)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    n_test = max(1, int(len(y) * test_fraction))
    te, tr = order[:n_test], order[n_test:]
    return Dataset(f"folder:{root}", x[tr], y[tr], x[te], y[te], len(classes), tuple(classes),
                   f"image folder {root} (real, {len(y)} images, resized to {size}x{size})")


def load_dataset(name: str, data_dir: Path | None = None) -> Dataset:
    """Names: fashion-mnist (offline default), digits, cifar10, cifar100, folder:PATH."""
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if name == "digits":
        return load_digits()
    if name in CIFAR:
        return load_cifar(name, data_dir)
    if name.startswith("folder:"):
        return load_folder(Path(name.split(":", 1)[1]))
    raise DataError(f"unknown dataset {name!r}: use fashion-mnist, digits, cifar10, cifar100 or folder:PATH")
