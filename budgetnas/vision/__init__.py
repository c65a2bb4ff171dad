"""Image tasks: data loading (Fashion-MNIST, digits) and a training recipe for image models."""

from budgetnas.vision.data import (
    FASHION_MNIST_CLASSES,
    find_fashion_mnist,
    load_digits_images,
    load_fashion_mnist,
    make_loader,
    read_idx,
    to_tensor_dataset,
)
from budgetnas.vision.train import TrainConfig, TrainResult, evaluate, train_image_model

__all__ = [
    "FASHION_MNIST_CLASSES",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "find_fashion_mnist",
    "load_digits_images",
    "load_fashion_mnist",
    "make_loader",
    "read_idx",
    "to_tensor_dataset",
    "train_image_model",
]
