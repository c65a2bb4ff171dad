"""A standalone training recipe for image classifiers (children, reference nets, benchmarks)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from budgetnas.errors import LayerConfigError
from budgetnas.vision.data import make_loader

__all__ = ["TrainConfig", "TrainResult", "evaluate", "train_image_model"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_image_model`.

    Defaults are a common small-image recipe: SGD with Nesterov momentum 0.9, learning rate 0.05
    with a linear warm-up then cosine decay to 0 (Loshchilov & Hutter 2017), weight decay 5e-5
    (not on BN and bias), batch 128.

    Attributes
    ----------
    epochs : int
    batch_size : int
    optimizer : {"sgd", "adam"}
    lr : float
        Peak learning rate.
    momentum : float
        SGD momentum (Adam's β1 stays at its default).
    nesterov : bool
    weight_decay : float
        Applied to weights of dimension ≥ 2 only.
    label_smoothing : float
        Cross-entropy label smoothing (BigNAS uses 0.1 for the largest child).
    warmup_epochs : float
        Linear warm-up length before the cosine decay.
    seed : int
        Drives shuffling, dropout and drop-path (the global RNG state is restored afterwards).
    device : str
    eval_batch_size : int
    grad_clip : float or None
        Max gradient norm; ``None`` disables clipping.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5
    label_smoothing: float = 0.0
    warmup_epochs: float = 0.0
    seed: int = 0
    device: str = "cpu"
    eval_batch_size: int = 512
    grad_clip: float | None = None

    def validate(self) -> None:
        """Raise :class:`LayerConfigError` naming the first bad field."""
        if self.optimizer not in ("sgd", "adam"):
            raise LayerConfigError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise LayerConfigError(
                f"epochs, batch_size and eval_batch_size must be >= 1, got {self.epochs}, "
                f"{self.batch_size}, {self.eval_batch_size}"
            )
        if not self.lr > 0:
            raise LayerConfigError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.label_smoothing < 1:
            raise LayerConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise LayerConfigError(
                f"warmup_epochs must be in [0, epochs={self.epochs}], got {self.warmup_epochs!r}"
            )


@dataclass
class TrainResult:
    """What :func:`train_image_model` returns.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch``, ``lr`` (at the epoch's end), ``train_loss``,
        ``train_accuracy`` (running, over the epoch's batches in train mode), ``val_loss``,
        ``val_accuracy`` (``None`` without validation data), ``seconds``.
    val_accuracy, test_accuracy : float or None
        Accuracy in [0, 1] of the final weights (no early stopping).
    best_val_accuracy : float or None
        Best validation accuracy over the epochs.
    seconds : float
        Wall-clock training time.
    config : dict
        The :class:`TrainConfig` used, as a dict.
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    best_val_accuracy: float | None = None
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


def _as_loader(data: Dataset | DataLoader, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    return data if isinstance(data, DataLoader) else make_loader(data, batch_size, shuffle, seed)


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Dataset | DataLoader, device: str = "cpu", batch_size: int = 512
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``data`` (eval mode, restored after).

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, C, H, W) images to (B, num_classes) logits.
    data : Dataset or DataLoader
        Yields ``(images, labels)``.

    Returns
    -------
    (loss, accuracy) : tuple of float
        Loss in nats per example, accuracy in [0, 1].
    """
    was_training = model.training
    model.eval()
    total, loss_sum, correct = 0, 0.0, 0
    for x, y in _as_loader(data, batch_size, False, 0):
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("evaluate: the data is empty")
    return loss_sum / total, correct / total


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)  # no decay on BN and biases
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_image_model(
    model: nn.Module,
    train_data: Dataset | DataLoader,
    val_data: Dataset | DataLoader | None = None,
    test_data: Dataset | DataLoader | None = None,
    config: TrainConfig | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train an image classifier with SGD/Adam, cosine learning rate and optional label smoothing.

    The model is trained in place; the learning rate follows a per-step linear warm-up then a
    cosine decay to zero. Validation runs after every epoch, the test set once at the end.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, C, H, W) float images to (B, num_classes) logits.
    train_data : Dataset or DataLoader
        ``(images, labels)`` pairs; a Dataset is batched with ``config.batch_size`` and shuffled
        with ``config.seed``.
    val_data, test_data : Dataset or DataLoader, optional
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``.
    **overrides
        Fields of :class:`TrainConfig` to replace, e.g. ``epochs=3, optimizer="adam"``.

    Returns
    -------
    TrainResult

    Raises
    ------
    LayerConfigError
        For an invalid configuration.
    TypeError
        For an override that is not a :class:`TrainConfig` field.
    FloatingPointError
        If the training loss becomes NaN or infinite.

    Examples
    --------
    >>> from budgetnas.vision.data import load_digits_images, to_tensor_dataset
    >>> x, y = load_digits_images()
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    >>> res = train_image_model(net, to_tensor_dataset(x, y), epochs=1, lr=0.1)  # doctest: +SKIP
    """
    cfg = replace(config or TrainConfig(), **overrides)
    cfg.validate()
    model.to(cfg.device)
    loader = _as_loader(train_data, cfg.batch_size, True, cfg.seed)
    steps_per_epoch = len(loader)
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    groups = _param_groups(model, cfg.weight_decay)
    if cfg.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0
        )
    else:
        opt = torch.optim.Adam(groups, lr=cfg.lr)
    result = TrainResult(config=asdict(cfg))
    start = time.perf_counter()
    step = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in loader:
                lr = _lr_at(step, total_steps, warmup, cfg.lr)
                for g in opt.param_groups:
                    g["lr"] = lr
                x, y = x.to(cfg.device), y.to(cfg.device)
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss is {float(loss.detach())} at epoch {epoch}, step {step}; lower lr "
                        f"(now {lr:.3g}) or set grad_clip"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                step += 1
                loss_sum += float(loss.detach()) * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
            row: dict[str, Any] = {
                "epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / max(seen, 1),
                "train_accuracy": correct / max(seen, 1), "val_loss": None, "val_accuracy": None,
            }
            if val_data is not None:
                row["val_loss"], row["val_accuracy"] = evaluate(
                    model, val_data, cfg.device, cfg.eval_batch_size
                )
            row["seconds"] = time.perf_counter() - t0
            result.history.append(row)
    if val_data is not None:
        result.val_accuracy = result.history[-1]["val_accuracy"]
        result.best_val_accuracy = max(r["val_accuracy"] for r in result.history)
    if test_data is not None:
        result.test_accuracy = evaluate(model, test_data, cfg.device, cfg.eval_batch_size)[1]
    result.seconds = time.perf_counter() - start
    return result
