"""Image data: Fashion-MNIST from its IDX files, scikit-learn's digits, and torch loaders.

Nothing here downloads: the machines this library targets may be offline, so every loader reads
local files and says where it looked when they are missing.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from budgetnas.errors import DataError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_ENV",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "FASHION_MNIST_SYSTEM_DIR",
    "find_fashion_mnist",
    "load_digits_images",
    "load_fashion_mnist",
    "make_loader",
    "read_idx",
    "to_tensor_dataset",
]

#: Environment variable naming a folder with the four Fashion-MNIST ``*-ubyte.gz`` files.
FASHION_MNIST_ENV = "BUDGETNAS_FASHION_MNIST"
#: Where Debian's ``dataset-fashion-mnist`` package installs the files.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Label names, index = label (Xiao et al. 2017).
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
#: Mean and standard deviation of the training pixels scaled to [0, 1] (60,000 images).
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_UBYTE = 0x08  # IDX data-type code of unsigned bytes


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file of unsigned bytes (optionally gzip-compressed) into a uint8 array.

    The IDX format (LeCun et al., MNIST): two zero bytes, a type byte (0x08 = uint8), a byte with
    the number of dimensions d, then d big-endian uint32 sizes, then the data.

    Parameters
    ----------
    path : path-like
        ``.gz`` files are decompressed on the fly.

    Returns
    -------
    numpy.ndarray
        uint8 array of the shape stored in the header, e.g. (60000, 28, 28).

    Raises
    ------
    DataError
        If the file cannot be read, is not gzip although named ``.gz``, has a bad magic number,
        a type other than uint8, or a data length that does not match its header.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read IDX file {path}: {e}. Re-copy the file; it may be corrupt.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path} is not an IDX file: expected magic bytes 00 00 <type> <ndim>, got "
            f"{raw[:4].hex(' ') or 'an empty file'}. Use the original Fashion-MNIST *-ubyte.gz files."
        )
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != _IDX_UBYTE:
        raise DataError(f"{path}: IDX type 0x{dtype_code:02x} is not supported; expected 0x08 (uint8)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(raw) - header}; the file is truncated or corrupt, re-copy it"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()  # writable


def find_fashion_mnist(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder holding the Fashion-MNIST files.

    Search order: ``path``; the folder in the environment variable ``BUDGETNAS_FASHION_MNIST``;
    ``/usr/share/datasets/fashion-mnist/`` (Debian's ``dataset-fashion-mnist``). A folder counts
    when it holds all four ``*-ubyte.gz`` files.

    Raises
    ------
    DataError
        If no candidate holds the files; the message lists every place looked at and how to fix it.
    """
    candidates: list[tuple[str, Path]] = []
    if path is not None:
        candidates.append(("path argument", Path(path)))
    env = os.environ.get(FASHION_MNIST_ENV)
    if env:
        candidates.append((f"${FASHION_MNIST_ENV}", Path(env)))
    candidates.append(("system folder", FASHION_MNIST_SYSTEM_DIR))
    needed = [name for pair in _FILES.values() for name in pair]
    looked = []
    for origin, folder in candidates:
        missing = [n for n in needed if not (folder / n).is_file()]
        if not missing:
            return folder
        looked.append(f"  {folder} ({origin}): missing {', '.join(missing)}")
        if origin == "path argument":  # an explicit path that is wrong is an error, not a hint
            break
    if path is None and not env:
        looked.append(f"  ${FASHION_MNIST_ENV} is not set")
    raise DataError(
        "Fashion-MNIST files not found. Looked in:\n" + "\n".join(looked) + "\n"
        f"Fix: pass path=<folder with {', '.join(needed)}>, set {FASHION_MNIST_ENV} to that folder, "
        "or install Debian's dataset-fashion-mnist package. Nothing is downloaded."
    )


def load_fashion_mnist(
    path: str | os.PathLike[str] | None = None, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST (Xiao et al. 2017) from the original IDX ``.gz`` files.

    Parameters
    ----------
    path : path-like, optional
        Folder with the four files; see :func:`find_fashion_mnist` for the search order.
    split : {"train", "test"}, default "train"
        60,000 training or 10,000 test images.

    Returns
    -------
    images : numpy.ndarray
        uint8 (N, 28, 28), pixel values 0–255.
    labels : numpy.ndarray
        int64 (N,), values 0–9 (see :data:`FASHION_MNIST_CLASSES`).

    Raises
    ------
    DataError
        If the files are missing or corrupt, the split is unknown, or images and labels disagree.

    Examples
    --------
    >>> x, y = load_fashion_mnist("../shared/data/image/fashion-mnist", "test")  # doctest: +SKIP
    >>> x.shape, y.shape  # doctest: +SKIP
    ((10000, 28, 28), (10000,))
    """
    if split not in _FILES:
        raise DataError(f"split must be one of {sorted(_FILES)}, got {split!r}")
    folder = find_fashion_mnist(path)
    img_name, lbl_name = _FILES[split]
    images = read_idx(folder / img_name)
    labels = read_idx(folder / lbl_name)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{folder}: expected images (N, 28, 28) and labels (N,), got {images.shape} and "
            f"{labels.shape}; check that the files belong together"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{folder / lbl_name}: labels must be 0-9, found {int(labels.max())}")
    return images, labels.astype(np.int64)


def load_digits_images(size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits (1,797 images, 10 classes) as float image tensors.

    The data ships with scikit-learn (UCI optical digits, 8×8, values 0–16), so this always works
    offline; it suits fast tests.

    Parameters
    ----------
    size : int, optional
        Resize to ``size × size`` with bilinear interpolation (e.g. 28 or 32 to match
        Fashion-MNIST / CIFAR-sized networks); ``None`` keeps 8×8.

    Returns
    -------
    images : numpy.ndarray
        float32 (N, 1, size, size) scaled to [0, 1].
    labels : numpy.ndarray
        int64 (N,).

    Raises
    ------
    ValueError
        If ``size`` is not positive.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
    if size is not None:
        if size <= 0:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if size != 8:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp_(0, 1)
    return x.numpy(), d.target.astype(np.int64)


def to_tensor_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> TensorDataset:
    """Make a normalised ``TensorDataset`` of (N, C, H, W) float32 images and int64 labels.

    uint8 images are scaled to [0, 1] first; (N, H, W) gets a channel axis. Then
    ``(x - mean) / std`` per channel; ``mean``/``std`` default to the data's own statistics
    (compute them on the training split and pass them for the test split).

    Raises
    ------
    DataError
        If images and labels have different lengths, the image array is not 3-D or 4-D, or
        ``std`` has a zero.
    """
    if len(images) != len(labels):
        raise DataError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
    if images.ndim not in (3, 4):
        raise DataError(f"images must be (N, H, W) or (N, C, H, W), got shape {images.shape}")
    x = torch.as_tensor(images)
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    c = x.shape[1]
    m = x.mean(dim=(0, 2, 3)) if mean is None else torch.as_tensor(mean, dtype=torch.float32).expand(c)
    s = x.std(dim=(0, 2, 3)) if std is None else torch.as_tensor(std, dtype=torch.float32).expand(c)
    if bool((s == 0).any()):
        raise DataError("std has a zero entry: a constant channel cannot be normalised; pass std=1")
    x = (x - m.view(1, c, 1, 1)) / s.view(1, c, 1, 1)
    return TensorDataset(x.contiguous(), torch.as_tensor(labels, dtype=torch.int64))


def make_loader(
    dataset: TensorDataset, batch_size: int = 128, shuffle: bool = False, seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A single-process ``DataLoader`` whose shuffling is driven by ``seed`` (reproducible).

    Raises
    ------
    ValueError
        If ``batch_size`` is not positive.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size!r}")
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen,
                      drop_last=drop_last)
