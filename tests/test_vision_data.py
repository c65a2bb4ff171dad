"""Tests of budgetnas.vision: Fashion-MNIST IDX loader, digits, tensor datasets, training recipe."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from budgetnas.errors import DataError, LayerConfigError
from budgetnas.vision.data import (
    FASHION_MNIST_ENV,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    find_fashion_mnist,
    load_digits_images,
    load_fashion_mnist,
    make_loader,
    read_idx,
    to_tensor_dataset,
)
from budgetnas.vision.train import TrainConfig, evaluate, train_image_model

FMNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "image" / "fashion-mnist"
needs_fmnist = pytest.mark.skipif(
    not (FMNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"real Fashion-MNIST files not found in {FMNIST}",
)
NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def _write_idx(path: Path, arr: np.ndarray, magic_type: int = 0x08) -> None:
    header = bytes([0, 0, magic_type, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _fake_folder(tmp_path: Path, n: int = 5) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


# ---------------------------------------------------------------- real Fashion-MNIST


@needs_fmnist
def test_real_fashion_mnist_train_and_test():
    x, y = load_fashion_mnist(FMNIST, "train")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.int64
    assert np.array_equal(np.bincount(y), np.full(10, 6000))
    assert x.min() == 0 and x.max() == 255
    assert abs(x.mean() / 255 - FASHION_MNIST_MEAN) < 1e-3 and abs(x.std() / 255 - FASHION_MNIST_STD) < 1e-3
    xt, yt = load_fashion_mnist(str(FMNIST), "test")
    assert xt.shape == (10000, 28, 28) and np.array_equal(np.bincount(yt), np.full(10, 1000))
    assert x.flags.writeable


@needs_fmnist
def test_env_var_is_searched(monkeypatch):
    monkeypatch.setenv(FASHION_MNIST_ENV, str(FMNIST))
    assert find_fashion_mnist() == FMNIST
    x, y = load_fashion_mnist(split="test")
    assert len(x) == len(y) == 10000


def test_explicit_path_wins_over_env(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    folder = _fake_folder(tmp_path / "a")
    monkeypatch.setenv(FASHION_MNIST_ENV, str(tmp_path / "elsewhere"))
    x, y = load_fashion_mnist(folder, "train")
    assert x.shape == (5, 28, 28) and list(y) == [0, 1, 2, 3, 4]


def test_missing_folder_names_every_place_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(FASHION_MNIST_ENV, str(tmp_path / "env_dir"))
    with pytest.raises(DataError) as err:
        load_fashion_mnist()
    msg = str(err.value)
    assert str(tmp_path / "env_dir") in msg and "/usr/share/datasets/fashion-mnist" in msg
    assert FASHION_MNIST_ENV in msg and "path=" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    monkeypatch.delenv(FASHION_MNIST_ENV)
    with pytest.raises(DataError, match="path argument"):
        load_fashion_mnist(tmp_path / "nope")


def test_bad_split(tmp_path):
    with pytest.raises(DataError, match="split must be one of"):
        load_fashion_mnist(_fake_folder(tmp_path), "validation")


def test_corrupt_magic(tmp_path):
    folder = _fake_folder(tmp_path)
    with gzip.open(folder / NAMES[2], "wb") as f:
        f.write(b"\x1f\x00\x08\x03garbage")
    with pytest.raises(DataError, match="not an IDX file"):
        load_fashion_mnist(folder, "test")


def test_not_gzip(tmp_path):
    folder = _fake_folder(tmp_path)
    (folder / NAMES[2]).write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match="cannot read IDX file"):
        load_fashion_mnist(folder, "test")


def test_truncated_data_and_wrong_type(tmp_path):
    folder = _fake_folder(tmp_path)
    p = folder / NAMES[2]
    raw = gzip.decompress(p.read_bytes())
    with gzip.open(p, "wb") as f:
        f.write(raw[:-10])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_fashion_mnist(folder, "test")
    _write_idx(p, np.zeros((5, 28, 28)), magic_type=0x0D)
    with pytest.raises(DataError, match="0x0d is not supported"):
        read_idx(p)


def test_images_and_labels_disagree(tmp_path):
    folder = _fake_folder(tmp_path)
    _write_idx(folder / NAMES[3], np.arange(4))
    with pytest.raises(DataError, match="belong together"):
        load_fashion_mnist(folder, "test")


def test_read_idx_uncompressed(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "x-idx3-ubyte"
    p.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 3, 4) + arr.tobytes())
    assert np.array_equal(read_idx(p), arr)


# ---------------------------------------------------------------- digits, datasets, loaders


def test_load_digits_images():
    x, y = load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0 and sorted(set(y.tolist())) == list(range(10))
    x28, _ = load_digits_images(28)
    assert x28.shape == (1797, 1, 28, 28) and 0 <= x28.min() and x28.max() <= 1
    # upsampling keeps the image: mean intensity is preserved to within a few percent
    assert abs(x28.mean() - x.mean()) < 0.02
    with pytest.raises(ValueError):
        load_digits_images(0)


def test_to_tensor_dataset_normalises():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (50, 6, 6)).astype(np.uint8)
    ds = to_tensor_dataset(imgs, np.arange(50) % 10)
    x, y = ds.tensors
    assert x.shape == (50, 1, 6, 6) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-4
    ds2 = to_tensor_dataset(imgs, np.arange(50) % 10, mean=0.5, std=0.25)
    assert torch.allclose(ds2.tensors[0], (torch.from_numpy(imgs).float()[:, None] / 255 - 0.5) / 0.25)
    with pytest.raises(DataError, match="differ in length"):
        to_tensor_dataset(imgs, np.arange(49))
    with pytest.raises(DataError, match="constant channel"):
        to_tensor_dataset(np.zeros((4, 2, 2), np.uint8), np.arange(4))


def test_make_loader_is_seeded():
    ds = to_tensor_dataset(np.arange(40, dtype=np.float32).reshape(40, 1, 1, 1), np.arange(40), 0, 1)
    order = lambda seed: torch.cat([y for _, y in make_loader(ds, 8, True, seed)]).tolist()  # noqa: E731
    assert order(3) == order(3) and order(3) != order(4) and sorted(order(3)) == list(range(40))
    with pytest.raises(ValueError):
        make_loader(ds, 0)


# ---------------------------------------------------------------- training recipe


def _digits_split():
    x, y = load_digits_images()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    tr, va, te = idx[:1200], idx[1200:1500], idx[1500:]
    train = to_tensor_dataset(x[tr], y[tr])
    m, s = x[tr].mean(), x[tr].std()
    return train, to_tensor_dataset(x[va], y[va], m, s), to_tensor_dataset(x[te], y[te], m, s)


def _small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 10))


@pytest.mark.slow
def test_train_image_model_learns_digits():
    train, val, test = _digits_split()
    res = train_image_model(_small_cnn(), train, val, test, epochs=3, batch_size=64, lr=0.1)
    assert len(res.history) == 3 and res.history[-1]["lr"] < 0.01  # cosine reaches ~0
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert res.val_accuracy > 0.9 and res.test_accuracy > 0.9
    assert res.best_val_accuracy >= res.val_accuracy


def test_train_image_model_is_deterministic():
    train, val, _ = _digits_split()
    small = torch.utils.data.Subset(train, range(256))
    runs = [train_image_model(_small_cnn(), small, val, epochs=2, batch_size=32, lr=0.05, seed=7)
            for _ in range(2)]
    assert [r["train_loss"] for r in runs[0].history] == [r["train_loss"] for r in runs[1].history]
    assert runs[0].val_accuracy == runs[1].val_accuracy
    other = train_image_model(_small_cnn(), small, val, epochs=2, batch_size=32, lr=0.05, seed=8)
    assert other.history[0]["train_loss"] != runs[0].history[0]["train_loss"]  # seed drives order


def test_train_adam_label_smoothing_and_evaluate():
    train, val, _ = _digits_split()
    net = _small_cnn()
    cfg = TrainConfig(epochs=2, batch_size=64, optimizer="adam", lr=3e-3, label_smoothing=0.1,
                      warmup_epochs=0.5)
    res = train_image_model(net, train, val, config=cfg)
    assert res.test_accuracy is None and res.config["optimizer"] == "adam"
    loss, acc = evaluate(net, val)
    assert acc == res.val_accuracy and loss > 0
    assert net.training  # evaluate restores the mode


def test_train_config_errors():
    train, _, _ = _digits_split()
    with pytest.raises(LayerConfigError, match="optimizer"):
        train_image_model(_small_cnn(), train, optimizer="rmsprop")
    with pytest.raises(LayerConfigError, match="label_smoothing"):
        train_image_model(_small_cnn(), train, label_smoothing=1.0)
    with pytest.raises(TypeError):
        train_image_model(_small_cnn(), train, epochz=3)
    with pytest.raises(FloatingPointError, match="lower lr"):
        train_image_model(_small_cnn(), train, epochs=1, lr=1e30, momentum=0.0)
