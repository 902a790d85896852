"""Autoregressive priors over codebook indices: float models for training (torch), integer
models for coding (numpy only, importable without torch)."""

from .int_causal1d import CausalPriorConfig, IntCausalPrior
from .int_pixelcnn2d import IntGatedPixelCNN, PixelCNNConfig

__all__ = ["CausalPrior", "CausalPriorConfig", "IntCausalPrior", "GatedPixelCNN",
           "IntGatedPixelCNN", "PixelCNNConfig"]


def __getattr__(name: str):
    if name == "CausalPrior":
        from .causal1d import CausalPrior

        return CausalPrior
    if name == "GatedPixelCNN":
        from .pixelcnn2d import GatedPixelCNN

        return GatedPixelCNN
    raise AttributeError(name)
