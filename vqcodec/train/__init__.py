"""Training: data loaders, losses, and the two-stage trainer (autoencoder, then prior).

The trainer (and torch) load on first use, so `vqcodec pack` (train.packs) needs no torch.
"""

__all__ = ["Trainer", "TrainOptions", "train"]


def __getattr__(name: str):
    if name in __all__:
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
