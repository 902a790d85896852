"""Vector quantisers behind one interface: straight-through, EMA and NSVQ, stacked as residual VQ."""

from .base import Quantizer, QuantizerOutput
from .ema import EMAQuantizer
from .nsvq import NSVQuantizer
from .residual import KINDS, ResidualVQ, make_quantizer
from .ste import STEQuantizer

__all__ = ["Quantizer", "QuantizerOutput", "EMAQuantizer", "NSVQuantizer", "STEQuantizer",
           "ResidualVQ", "make_quantizer", "KINDS"]
