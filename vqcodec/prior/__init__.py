"""Autoregressive priors over codebook indices: float models for training, integer for coding."""

from .causal1d import CausalPrior, CausalPriorConfig, IntCausalPrior
from .pixelcnn2d import GatedPixelCNN, IntGatedPixelCNN, PixelCNNConfig

__all__ = ["CausalPrior", "CausalPriorConfig", "IntCausalPrior", "GatedPixelCNN",
           "IntGatedPixelCNN", "PixelCNNConfig"]
