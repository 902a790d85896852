"""Training: data loaders, losses, and the two-stage trainer (autoencoder, then prior)."""

from .trainer import Trainer, TrainOptions, train

__all__ = ["Trainer", "TrainOptions", "train"]
